"""What the simulated wallbox is, whatever OCPP version it speaks: the car, the meter, the charging
profiles it has installed and the limit they give, and the state file.

The protocol modules (:mod:`.v16`, :mod:`.v201`) translate their messages into these terms: a
profile arrives as a version-neutral :class:`Profile`, the connector's state is one of the 1.6
status names (:data:`STATUSES`, which the 2.x station maps onto ``connectorStatus`` and
``chargingState``) and a meter reading is a list of :class:`Sample`.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

VOLTAGE = 230.0
PHASES = 3
CAR_MAX_A = 16.0  # what the simulated car draws at most per phase
MIN_CURRENT_A = 6.0  # IEC 61851: below this the EVSE pauses the car
RAMP_S = 1.0  # how long the car takes to settle to a new limit
HARDWARE_MAX_A = 32.0
BATTERY_WH = 60_000.0
ARRIVAL_SOC = 35.0  # every car arrives half empty
CONNECTOR = 1  # the one connector (1.6), the one EVSE with its connector 1 (2.x)

VENDOR = "Simulated"
MODEL = "OCPP EMS Dev Wallbox"
SERIAL = "SIM-0001"
FIRMWARE = "1.0.0-sim"
METER_TYPE = "SimMeter 3P"

# Connector states, in 1.6 words (2.x: connectorStatus + the transaction's chargingState).
STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# --- charging profiles ----------------------------------------------------------------------------
class Purpose(StrEnum):
    """What a profile limits (1.6 and 2.x names map onto these)."""

    STATION_MAX = "station_max"  # ChargePointMaxProfile / ChargingStationMaxProfile
    TX_DEFAULT = "tx_default"
    TX = "tx"


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int
    limit: float | None  # None: 2.1 setpoint-only period (no limit)
    number_phases: int | None = None


@dataclass(slots=True)
class Profile:
    """One charging profile as the station understands it (either version)."""

    profile_id: int
    purpose: Purpose
    stack_level: int
    kind: str  # Absolute, Recurring, Relative (2.1: Dynamic)
    unit: str  # "A" or "W"
    periods: list[Period]
    start_schedule: datetime | None = None
    duration_s: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    recurrency: str | None = None  # Daily / Weekly
    transaction_id: str | None = None
    # The profile as it arrived (snake_case, as the ocpp library hands it over), for reports.
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Installed:
    target: int  # 0: the whole station; else the connector (1.6) / EVSE (2.x)
    profile: Profile
    installed_at: datetime


def profile_from_schedule(
    *,
    profile_id: int,
    purpose: Purpose,
    stack_level: int,
    kind: str,
    schedule: dict[str, Any],
    profile: dict[str, Any],
    transaction_id: Any = None,
) -> Profile:
    """A :class:`Profile` from one snake_case ``charging_schedule`` (both versions name its fields
    alike) and the profile around it."""
    periods = [
        Period(
            start_s=int(period["start_period"]),
            limit=None if period.get("limit") is None else float(period["limit"]),
            number_phases=period.get("number_phases"),
        )
        for period in schedule["charging_schedule_period"]
    ]
    return Profile(
        profile_id=profile_id,
        purpose=purpose,
        stack_level=stack_level,
        kind=kind,
        unit=schedule["charging_rate_unit"],
        periods=sorted(periods, key=lambda p: p.start_s),
        start_schedule=parse_time(schedule.get("start_schedule")),
        duration_s=schedule.get("duration"),
        valid_from=parse_time(profile.get("valid_from")),
        valid_to=parse_time(profile.get("valid_to")),
        recurrency=profile.get("recurrency_kind"),
        transaction_id=None if transaction_id is None else str(transaction_id),
        raw=profile,
    )


# --- meter ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value (each version formats it its own way)."""

    measurand: str
    value: float
    unit: str
    phase: str | None = None
    location: str = "Outlet"


@dataclass
class SimState:
    """Everything the wallbox knows; the persistent part lives in ``state_file``.

    ``config`` is the 1.6 configuration (the 2.x device model lives in :mod:`.device_model`)."""

    state_file: Path
    energy_wh: float = 4_200_000.0
    password: str | None = None
    # A password the server sent that the station does not use yet (1.6 AuthorizationKey).
    authorization_key: str | None = None
    # Security (1.6 security extension): the profile it connects with (0 and 1: ws://, 2: wss://
    # with the password, 3: wss:// with its client certificate), the one to fall back to while a
    # new one has not connected yet, the root certificates installed by type (PEM), its client
    # certificate and key, and the key of a CSR sent that waits for its certificate.
    security_profile: int = 0
    previous_profile: int | None = None
    root_certificates: dict[str, list[str]] = field(default_factory=dict)
    certificate_pem: str | None = None
    key_pem: str | None = None
    pending_key_pem: str | None = None
    # 2.x network connection profiles (B09) by configuration slot ("0": the --url it started
    # with): {"url", "security_profile"} of each SetNetworkProfile, and their order.
    network_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    network_priority: str = "0"
    profiles: list[Installed] = field(default_factory=list)
    status: str = "Available"
    transaction_id: int | str | None = None
    transaction_start: datetime | None = None
    soc: float = ARRIVAL_SOC
    plugged: bool = False
    # The connector is operative (ChangeAvailability); an inoperative one takes no new car.
    operative: bool = True
    # (reservation id, id tag, expiry) of the reservation the connector holds.
    reservation: tuple[int, str, datetime] | None = None
    local_list_version: int = 0
    local_list: dict[str, str] = field(default_factory=dict)
    # What the car draws per phase now (A); the meter integrates it between two samples.
    drawn_a: float = 0.0
    charging_s: float = 0.0  # time spent charging in the running transaction
    # For benchmarks (restart_chaos.py), in the state file: the highest register the server
    # acknowledged (MeterValues, StartTransaction or StopTransaction answered) and the running
    # transaction's meterStart.
    last_sent_wh: int | None = None
    meter_start_wh: int | None = None
    # 2.x: the running transaction's next seqNo; the state file keeps it with the transaction and
    # the version that started it, so a 2.x station ends it after a power loss (restart).
    seq_no: int = 0
    ocpp_version: str = "1.6"
    # A transaction left open by the previous run of the simulator (2.x ends it after boot).
    stale_transaction: dict[str, Any] | None = None
    config: dict[str, list[Any]] = field(
        default_factory=lambda: {
            "SupportedFeatureProfiles": [
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
                "RemoteTrigger",
                True,
            ],
            "ChargeProfileMaxStackLevel": ["8", True],
            "ChargingScheduleAllowedChargingRateUnit": ["Current,Power", True],
            "ChargingScheduleMaxPeriods": ["24", True],
            "MaxChargingProfilesInstalled": ["10", True],
            "ConnectorSwitch3to1PhaseSupported": ["false", True],
            "NumberOfConnectors": ["1", True],
            "HeartbeatInterval": ["300", False],
            "MeterValueSampleInterval": ["10", False],
            "MeterValuesSampledData": ["Energy.Active.Import.Register,Power.Active.Import", False],
            "MeterValuesSampledDataMaxLength": ["8", True],
            "LocalAuthListEnabled": ["true", False],
            "LocalAuthListMaxLength": ["100", True],
            "SendLocalListMaxLength": ["100", True],
            "AuthorizeRemoteTxRequests": ["false", False],
            "SecurityProfile": ["0", False],
        }
    )

    # --- persistence ------------------------------------------------------------------------------
    def load(self) -> None:
        """Register and password (any version); an open 2.x transaction of the previous run is
        kept as ``stale_transaction`` (a 1.6 one is forgotten, as before)."""
        if not self.state_file.is_file():
            return
        data = json.loads(self.state_file.read_text())
        self.energy_wh = float(data.get("energy_wh", self.energy_wh))
        self.password = data.get("password")
        self.security_profile = int(data.get("security_profile") or (1 if self.password else 0))
        self.previous_profile = data.get("previous_profile")
        self.root_certificates = dict(data.get("root_certificates") or {})
        self.certificate_pem = data.get("certificate_pem")
        self.key_pem = data.get("key_pem")
        self.pending_key_pem = data.get("pending_key_pem")
        self.network_profiles = dict(data.get("network_profiles") or {})
        self.network_priority = str(data.get("network_priority") or "0")
        self.config["SecurityProfile"][0] = str(self.security_profile)
        if data.get("transaction_id") is not None and str(data.get("ocpp", "1.6")).startswith("2"):
            self.stale_transaction = {
                "ocpp": data["ocpp"],
                "transaction_id": str(data["transaction_id"]),
                "seq_no": int(data.get("seq_no") or 0),
                "register_wh": data.get("last_sent_wh") or round(self.energy_wh),
                "at": data.get("saved_at"),
            }

    def save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "energy_wh": round(self.energy_wh, 1),
            "password": self.password,
            "security_profile": self.security_profile,
            "previous_profile": self.previous_profile,
            "root_certificates": self.root_certificates,
            "certificate_pem": self.certificate_pem,
            "key_pem": self.key_pem,
            "pending_key_pem": self.pending_key_pem,
            "network_profiles": self.network_profiles,
            "network_priority": self.network_priority,
            "last_sent_wh": self.last_sent_wh,
            "transaction_id": self.transaction_id,
            "meter_start_wh": self.meter_start_wh,
            "ocpp": self.ocpp_version,
            "seq_no": self.seq_no,
            "saved_at": iso(),
        }
        if self.transaction_id is None and self.stale_transaction is not None:
            # Not told to the server yet: keep it for the next run.
            data["transaction_id"] = self.stale_transaction["transaction_id"]
            data["ocpp"] = self.stale_transaction["ocpp"]
            data["seq_no"] = self.stale_transaction["seq_no"]
            data["saved_at"] = self.stale_transaction["at"]
        # Replaced atomically: a reader never sees half a file.
        partial = self.state_file.with_name(self.state_file.name + ".tmp")
        partial.write_text(json.dumps(data))
        partial.replace(self.state_file)

    def all_roots(self) -> list[str]:
        """Every root certificate installed (PEM), whatever its type."""
        return [pem for pems in self.root_certificates.values() for pem in pems]

    def acknowledged(self, register_wh: int) -> None:
        self.last_sent_wh = max(self.last_sent_wh or register_wh, register_wh)

    # --- smart charging: highest stack level per purpose wins (1.6 3.13, 2.0.1 K) ----------------
    def _schedule_start(self, entry: Installed, at: datetime) -> datetime | None:
        profile = entry.profile
        start = profile.start_schedule
        if profile.kind == "Relative" and start is None:
            start = self.transaction_start
        start = start or profile.valid_from or entry.installed_at
        if profile.kind == "Recurring" and profile.recurrency in ("Daily", "Weekly"):
            period = timedelta(days=1 if profile.recurrency == "Daily" else 7)
            if at >= start:
                start += period * math.floor((at - start) / period)
        return start

    def _limit_of(self, entry: Installed, at: datetime) -> float | None:
        """The entry's limit now, in A per phase (None: it does not apply now)."""
        profile = entry.profile
        if (profile.valid_from and at < profile.valid_from) or (
            profile.valid_to and at >= profile.valid_to
        ):
            return None
        start = self._schedule_start(entry, at)
        if start is None:
            return None
        elapsed = (at - start).total_seconds()
        if elapsed < 0 or (profile.duration_s is not None and elapsed >= profile.duration_s):
            return None
        active = None
        for period in profile.periods:
            if period.start_s <= elapsed:
                active = period
        if active is None or active.limit is None:
            return None
        if profile.unit == "W":
            return active.limit / (VOLTAGE * (active.number_phases or PHASES))
        return active.limit

    def _winning(self, purpose: Purpose, targets: tuple[int, ...], at: datetime) -> float | None:
        candidates = []
        for entry in self.profiles:
            profile = entry.profile
            if profile.purpose is not purpose or entry.target not in targets:
                continue
            if purpose is Purpose.TX and profile.transaction_id not in (
                None,
                str(self.transaction_id),
            ):
                continue
            limit = self._limit_of(entry, at)
            if limit is not None:
                candidates.append((profile.stack_level, limit))
        return max(candidates)[1] if candidates else None

    def offered_a(self, target: int = CONNECTOR, at: datetime | None = None) -> float:
        """The current the station offers (now, or ``at``; A per phase): its hardware, capped by
        the station maximum and the transaction's (else the default) profile of the connector
        (target 0: the station as a whole)."""
        at = at or now()
        station_max = self._winning(Purpose.STATION_MAX, (0,), at)
        limits = [HARDWARE_MAX_A, *(x for x in (station_max,) if x is not None)]
        if target:
            tx = (
                self._winning(Purpose.TX, (0, target), at)
                if self.transaction_id is not None
                else None
            )
            live = tx if tx is not None else self._winning(Purpose.TX_DEFAULT, (0, target), at)
            if live is not None:
                limits.append(live)
        return round(min(limits), 1)

    def composite(self, target: int, duration_s: int) -> list[tuple[int, float]]:
        """The composite schedule from now over ``duration_s``: (offset s, A per phase) at each
        change of the offered current (GetCompositeSchedule)."""
        start = now()
        end = start + timedelta(seconds=duration_s)
        moments = {start}
        for entry in self.profiles:
            profile = entry.profile
            begin = self._schedule_start(entry, start)
            edges = [profile.valid_from, profile.valid_to]
            if begin is not None:
                edges += [begin + timedelta(seconds=p.start_s) for p in profile.periods]
                if profile.duration_s is not None:
                    edges.append(begin + timedelta(seconds=profile.duration_s))
            moments.update(e for e in edges if e is not None and start < e < end)
        periods: list[tuple[int, float]] = []
        for moment in sorted(moments):
            offset, limit = int((moment - start).total_seconds()), self.offered_a(target, moment)
            if periods and periods[-1][0] == offset:
                periods.pop()
            if not periods or periods[-1][1] != limit:
                periods.append((offset, limit))
        return periods

    def install(self, target: int, profile: Profile) -> None:
        """Install ``profile``: it replaces the one with its id, and (1.6) the one of its purpose
        and stack level on the same target."""
        self.profiles = [
            e
            for e in self.profiles
            if e.profile.profile_id != profile.profile_id
            and not (
                e.profile.purpose is profile.purpose
                and e.profile.stack_level == profile.stack_level
                and e.target == target
            )
        ]
        self.profiles.append(Installed(target, profile, now()))

    def conflicting(self, target: int, profile: Profile) -> Installed | None:
        """2.x: another profile (other id) of the same purpose and stack level on the
        same EVSE (and transaction) whose validity overlaps."""
        for entry in self.profiles:
            other = entry.profile
            if (
                other.profile_id == profile.profile_id
                or entry.target != target
                or other.purpose is not profile.purpose
                or other.stack_level != profile.stack_level
                or (
                    profile.purpose is Purpose.TX and other.transaction_id != profile.transaction_id
                )
            ):
                continue
            starts_after = (
                other.valid_to and profile.valid_from and profile.valid_from >= other.valid_to
            )
            ends_before = (
                profile.valid_to and other.valid_from and profile.valid_to <= other.valid_from
            )
            if not (starts_after or ends_before):
                return entry
        return None

    def clear_tx_profiles(self) -> None:
        self.profiles = [e for e in self.profiles if e.profile.purpose is not Purpose.TX]

    # --- the car ------------------------------------------------------------------------------------
    def charging_current_a(self) -> float:
        """What the car takes of the offered current: nothing below 6 A (IEC 61851: the EVSE
        pauses the car, SuspendedEVSE), else the offer up to the car's own maximum."""
        if self.transaction_id is None or self.soc >= 100.0:
            return 0.0
        offered = self.offered_a()
        return 0.0 if offered < MIN_CURRENT_A else min(offered, CAR_MAX_A)

    def wanted_status(self) -> str:
        """The connector state the car and the limit make (a transaction is running)."""
        if self.soc >= 100.0:
            return "SuspendedEV"
        if self.charging_current_a() > 0:
            return "Charging"
        return "SuspendedEVSE"

    def idle_status(self) -> str:
        """The connector state without a transaction."""
        if not self.operative:
            return "Unavailable"
        if self.plugged:
            return "Preparing"
        if self.reservation is not None:
            return "Reserved"
        return "Available"

    def add_energy(self, elapsed_s: float) -> None:
        """The energy drawn over ``elapsed_s`` at the current of then."""
        drawn_wh = VOLTAGE * PHASES * self.drawn_a * elapsed_s / 3600
        self.energy_wh += drawn_wh
        self.soc = min(100.0, self.soc + drawn_wh / BATTERY_WH * 100)
        if self.drawn_a > 0 and self.transaction_id is not None:
            self.charging_s += elapsed_s

    def samples(self, current_a: float) -> list[Sample]:
        """A meter reading while the car draws ``current_a`` per phase."""
        power = VOLTAGE * current_a * PHASES
        # A little noise so the graphs look alive.
        wobble = 0.1 * math.sin(time.monotonic() / 7) if current_a else 0.0
        readings = [
            Sample("Energy.Active.Import.Register", self.energy_wh, "Wh"),
            Sample("Power.Active.Import", power, "W"),
            *(
                Sample("Current.Import", current_a + wobble if current_a else 0.0, "A", phase)
                for phase in ("L1", "L2", "L3")
            ),
            Sample("Current.Offered", self.offered_a(), "A"),
            *(
                Sample("Voltage", VOLTAGE + 2 * math.sin(time.monotonic() / 11 + i), "V", phase)
                for i, phase in enumerate(("L1-N", "L2-N", "L3-N"))
            ),
            Sample("Temperature", 28.0 + current_a / 4, "Celsius", location="Body"),
        ]
        if self.transaction_id is not None:
            readings.append(Sample("SoC", self.soc, "Percent", location="EV"))
        return readings


def data_transfer_answer(vendor_id: str) -> tuple[str, str]:
    """DataTransfer, both versions: accepted, echoing the vendor."""
    return "Accepted", json.dumps({"vendor": vendor_id})
