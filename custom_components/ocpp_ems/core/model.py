"""Version-agnostic charger model.

Protocol adapters (``protocol/v16/``, later 2.0.1/2.1) translate OCPP messages into calls on
:class:`~.charger_state.ChargerState`, which changes these objects; Home Assistant entities read
from them. Nothing here names an OCPP version: a 1.6 StatusNotification and a 2.0.1
StatusNotification/TransactionEvent that mean the same thing end in the same method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import chain
from typing import Any, Protocol, runtime_checkable

from .reservations import ReservationBook
from .settings import SecurityProfile
from .tariff import PriceHistory
from .timeutil import LiveClockOffset, utcnow


class ConnectorStatus(StrEnum):
    """Normalised connector state (1.6 ChargePointStatus; 2.0.1 ConnectorStatus + ChargingState)."""

    AVAILABLE = "available"
    PREPARING = "preparing"
    CHARGING = "charging"
    SUSPENDED_EV = "suspended_ev"
    SUSPENDED_EVSE = "suspended_evse"
    FINISHING = "finishing"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"

    @property
    def plugged_in(self) -> bool:
        """True when a vehicle is connected (from the charger's own state, not from power)."""
        return self in _PLUGGED

    @property
    def charging(self) -> bool:
        return self is ConnectorStatus.CHARGING


_PLUGGED = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
        ConnectorStatus.OCCUPIED,
    }
)


class EventKind(StrEnum):
    """Things that happen to a charger, as opposed to state it has (become HA event entities)."""

    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    # An ended session's energy or cost changed (readings that arrived after its end): the
    # SESSION_ENDED facts brought up to date. A correction of that record, never a second end.
    SESSION_UPDATED = "session_updated"
    # A running session's card, presented after its start (a 2.x station that starts sessions on
    # plug-in): ``transaction_id``, ``id_tag``, ``authorized``. A 1.6 start names its card.
    SESSION_IDENTIFIED = "session_identified"
    AUTHORIZED = "authorized"
    AUTHORIZATION_REJECTED = "authorization_rejected"
    FAULT = "fault"
    DATA_TRANSFER = "data_transfer"
    FIRMWARE_STATUS = "firmware_status"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LIMIT_MISMATCH = "limit_mismatch"
    # A limit given with a duration ended (the previous one is back): ``hand_back_to`` (or None).
    LIMIT_EXPIRED = "limit_expired"
    # A security event the charger reported (2.x SecurityEventNotification; 1.6 security
    # extension) or the server recorded about it (a refused CSR ...): ``type``, ``timestamp``,
    # ``tech_info``, ``source`` ("charger" / "server").
    SECURITY_EVENT = "security_event"
    # A reservation ended without a session (expired, removed, cancelled by us): ``reservation_id``,
    # ``status``.
    RESERVATION_STATUS = "reservation_status"


@dataclass(frozen=True, kw_only=True)
class ChargerEvent:
    kind: EventKind
    connector_id: int = 0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class PhaseValues:
    """One value per phase (L1..L3); None where the charger did not report it."""

    l1: float | None = None
    l2: float | None = None
    l3: float | None = None

    def set(self, phase: str | None, value: float) -> None:
        """Store ``value`` for a phase name as chargers send it ("L1", "L1-N", None = L1)."""
        key = (phase or "L1").split("-")[0].lower()
        if key in ("l1", "l2", "l3"):
            setattr(self, key, value)

    def max(self) -> float | None:
        values = [v for v in (self.l1, self.l2, self.l3) if v is not None]
        return max(values) if values else None

    def active_phases(self, threshold: float = 1.0) -> int:
        return sum(1 for v in (self.l1, self.l2, self.l3) if v is not None and v >= threshold)


@dataclass(frozen=True, kw_only=True)
class RegisterPoint:
    """An energy register value, the time it stands for and when we received it (None: unknown):
    by our clock and by our monotonic clock (``time.monotonic``, which no clock correction moves;
    meaningless outside this process, so not in diagnostics)."""

    register_wh: float
    timestamp: datetime | None
    received_at: datetime | None
    _received_monotonic: float | None = None
    # The charger's own stamp when ``timestamp`` is not it (``meter_time.effective_time`` found it too
    # far ahead of our clock); None: ``timestamp`` is the charger's stamp, or there was none.
    charger_stamp: datetime | None = None
    # The charger's live clock offset settled when we received it (``LiveClockOffset.settled_s``;
    # s): whether it was received live is judged by it, not by one confirmed since (None: none
    # was settled, or not known: restored).
    live_offset_s: float | None = None


@dataclass(kw_only=True)
class MeterState:
    """Latest measured values of one connector (power in W, energy in Wh, current in A)."""

    power_w: float | None = None
    current_a: PhaseValues = field(default_factory=PhaseValues)
    voltage_v: PhaseValues = field(default_factory=PhaseValues)
    offered_current_a: float | None = None
    # The last plausible register value (see meter.apply_energy), as of ``energy_timestamp`` (a
    # reading, or a transaction's start/stop; older values are history and must not move it back),
    # received at ``energy_received_at`` (``_energy_received_monotonic`` by our monotonic clock).
    energy_register_wh: float | None = None
    energy_timestamp: datetime | None = None
    energy_received_at: datetime | None = None
    _energy_received_monotonic: float | None = None
    # The charger's own stamp of it when ``energy_timestamp`` is not it (RegisterPoint's).
    _energy_charger_stamp: datetime | None = None
    # The live clock offset confirmed when it was received (RegisterPoint's).
    _energy_live_offset_s: float | None = None
    # What is left of the tolerance above max power x time (None: all of it).
    energy_slack_wh: float | None = None
    # An implausible value (reset, jump or outlier) waiting for the next one to confirm it.
    energy_candidate: RegisterPoint | None = None
    # The register and its time (by the charger's clock) before a start stamped earlier (the
    # charger's clock went back, meter.count_from): readings below it stamped up to then are
    # history sent again (an offline queue kept through a reboot), never a reset to count.
    _history_before_clock_back: RegisterPoint | None = None
    soc_percent: float | None = None
    temperature_c: float | None = None
    # The latest signed meter data of the energy register, as the charger sent it.
    signed_meter_value: Any = None
    timestamp: datetime | None = None
    # The charger's own stamp of them when ``timestamp`` is not it (RegisterPoint's).
    _charger_stamp: datetime | None = None
    # The charger's own stamp of the values shown before them, and when they arrived, by our clock
    # and our monotonic clock (meter._before_shown).
    _previous_shown: tuple[datetime, tuple[datetime | None, float | None]] | None = None
    # The register (Wh, its unit settled) read with the values shown and taken as the base (None:
    # none came with them, or an implausible one): a reading whose register rose past it was
    # taken after them, whatever its stamp (meter._register_proves_after).
    _shown_register_wh: float | None = None
    # The charger's stamp of the first value after its register went down (a meter swap, a
    # register counting each session from 0; meter._reset_stamp: when we got it if that stamp
    # lay too far ahead): a reading stamped up to then may come from the
    # register's life before, whose values prove nothing against ``_shown_register_wh`` and
    # whose rise past the new life's base is no energy (meter._of_life_before). Stored.
    _register_reset_stamp: datetime | None = None
    # The register's life before its last reset (meter._remember_life_before): its last counted
    # point, and the session it was counted for (transaction id, start; None: none). A reading
    # of that life above it, sent after the reset, is held until the present life proves it is
    # not one of its own (meter._prove_life_before); ``_held_for_session``: it came with that
    # session. Stored.
    _life_before_end: RegisterPoint | None = None
    _life_before_session: tuple[str, datetime] | None = None
    _life_before_held: RegisterPoint | None = None
    _held_for_session: bool = False
    # When the values as of ``timestamp`` arrived, by our clock and our monotonic clock.
    _received_at: datetime | None = None
    _received_monotonic: float | None = None


@dataclass(kw_only=True)
class Transaction:
    """A charging session. ``transaction_id`` is a string for every OCPP version."""

    transaction_id: str
    connector_id: int
    id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    meter_last_wh: float
    ended_at: datetime | None = None
    stop_reason: str | None = None
    # Energy counted so far (plausible increments only, see meter.apply_energy); None: the
    # register's rise since the start.
    credited_wh: float | None = None
    # False when the id tag was not accepted: the transaction is stopped and gets no current.
    authorized: bool = True
    # When ``meter_last_wh`` was read (None: at the start). After a restart this is the base time:
    # replayed older readings are history, not a reset to be counted again.
    meter_last_at: datetime | None = None
    # The charger's message sequence numbers of this transaction (2.x ``seqNo``; None in 1.6).
    sequence: EventSequence | None = None
    # Signed meter data as the charger sent it (for billing checks): the first of the session and
    # the latest (its end once the session ended).
    signed_start: Any = None
    signed_end: Any = None
    # What the session's energy cost, in the currency of the price (meter.py adds each increment at
    # the charger's ``energy_price`` of that moment); None: no price was known while it charged.
    cost: float | None = None
    # Started without a register value where none was known before (a 2.x Started without
    # meter values on a new station): ``meter_start_wh`` is a placeholder until the connector's
    # next value, which becomes the start (meter._take); never a base to count from.
    start_pending: bool = False
    # The station booted (2.x BootNotification) after this open transaction's newest live
    # message: it may have lost it (v201.tx_boot_mark.lost_in_reboot). Persisted: a restart of
    # Home Assistant between the boot and the next Started must not keep a lost one open for good.
    _boot_since_last_message: bool = field(default=False, compare=False)

    @property
    def energy_wh(self) -> float:
        if self.credited_wh is not None:
            return self.credited_wh
        return max(0.0, self.meter_last_wh - self.meter_start_wh)

    def duration_s(self, now: datetime) -> float:
        """How long the session lasted (until ``now`` while it runs); never negative."""
        end = self.ended_at or now
        return max(0.0, (end - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "started_at": self.started_at.isoformat(),
            "meter_start_wh": self.meter_start_wh,
            "meter_last_wh": self.meter_last_wh,
            "energy_wh": self.energy_wh,
            "authorized": self.authorized,
            "meter_last_at": None if self.meter_last_at is None else self.meter_last_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "stop_reason": self.stop_reason,
            **({} if self.cost is None else {"cost": self.cost}),
            **({} if self.sequence is None else {"sequence": self.sequence.to_dict()}),
            **({} if self.signed_start is None else {"signed_start": self.signed_start}),
            **({} if self.signed_end is None else {"signed_end": self.signed_end}),
            **({"start_pending": True} if self.start_pending else {}),
            **({"boot_since_last_message": True} if self._boot_since_last_message else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transaction:
        return cls(
            transaction_id=str(data["transaction_id"]),
            connector_id=int(data["connector_id"]),
            id_tag=data.get("id_tag"),
            started_at=datetime.fromisoformat(data["started_at"]),
            meter_start_wh=float(data["meter_start_wh"]),
            meter_last_wh=float(data["meter_last_wh"]),
            credited_wh=None if data.get("energy_wh") is None else float(data["energy_wh"]),
            authorized=bool(data.get("authorized", True)),
            meter_last_at=_optional_datetime(data.get("meter_last_at")),
            ended_at=_optional_datetime(data.get("ended_at")),
            stop_reason=None if data.get("stop_reason") is None else str(data["stop_reason"]),
            cost=None if data.get("cost") is None else float(data["cost"]),
            sequence=(
                None if data.get("sequence") is None else EventSequence.from_dict(data["sequence"])
            ),
            signed_start=data.get("signed_start"),
            signed_end=data.get("signed_end"),
            start_pending=bool(data.get("start_pending", False)),
            _boot_since_last_message=bool(data.get("boot_since_last_message", False)),
        )


@dataclass(kw_only=True)
class EventSequence:
    """The sequence numbers a charger gave a transaction's messages (OCPP 2.x ``seqNo``): which
    arrived (``seen``: inclusive ranges), the highest one applied as current state (``latest``)
    and the newest message time (``latest_at``). The rules live in the 2.x adapter."""

    seen: list[tuple[int, int]] = field(default_factory=list)
    latest: int | None = None
    latest_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": [list(r) for r in self.seen],
            "latest": self.latest,
            "latest_at": None if self.latest_at is None else self.latest_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventSequence:
        return cls(
            seen=[(int(a), int(b)) for a, b in data.get("seen") or ()],
            latest=None if data.get("latest") is None else int(data["latest"]),
            latest_at=_optional_datetime(data.get("latest_at")),
        )


def _optional_datetime(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(kw_only=True)
class EnergyCounter:
    """Lifetime energy that survives register resets and backwards jumps.

    meter.apply_energy adds only plausible increments to ``total_wh`` (and keeps
    ``last_register_wh`` / ``last_register_at``). :meth:`update` is the plain rule without
    plausibility (a value lower than the last one starts a new baseline), for setting up state.
    """

    total_wh: float = 0.0
    last_register_wh: float | None = None
    # When ``last_register_wh`` was read (bounds what the next value may add after a restart).
    last_register_at: datetime | None = None
    # On a charger with a whole-charger meter (connector 0): how far its outlets' counted energy
    # is ahead of connector 0's (negative: behind), which the other's next rise holds too
    # (meter_lifetime.count_lifetime).
    outlets_ahead_wh: float = 0.0

    def update(self, register_wh: float) -> float:
        if self.last_register_wh is not None and register_wh >= self.last_register_wh:
            self.total_wh += register_wh - self.last_register_wh
        elif self.last_register_wh is None and self.total_wh == 0.0:
            self.total_wh = register_wh
        self.last_register_wh = register_wh
        return self.total_wh


# Error codes that mean "no error" (1.6 ChargePointErrorCode NoError, as chargers spell it).
NO_ERROR_CODES = frozenset({None, "", "NoError", "noError"})
# At most so many device-model problems are kept per connector (a station reporting one for
# every component it makes up must not grow the model).
MAX_PROBLEMS = 16


@dataclass(frozen=True, kw_only=True)
class DeviceProblem:
    """A problem a 2.x station's device model reports for one of its components (NotifyEvent):
    the station's own code and text for it, as it gave them."""

    code: str | None = None  # techCode
    info: str | None = None  # techInfo


@dataclass(kw_only=True)
class Connector:
    connector_id: int
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    status_timestamp: datetime | None = None
    # When the status as of ``status_timestamp`` arrived, by our clock and our monotonic clock.
    _status_received_at: datetime | None = None
    _status_received_monotonic: float | None = None
    # The charger's own stamp of that status (None: it sent none), also where ``status_timestamp``
    # replaced it (a clock too far ahead): statuses are ordered by one clock's stamps
    # (status_order.taken_after).
    _status_stamp: datetime | None = None
    error_code: str | None = None
    vendor_error: str | None = None
    # A 2.x station's problems (its StatusNotification has no error code), by component
    # (``ChargerState.record_problem``): shown as errors until cleared or the station boots.
    problems: dict[str, DeviceProblem] = field(default_factory=dict)
    # Those it had at its last boot, not reported since: one reported again after the boot is
    # the same fault (no second FAULT event).
    problems_before_boot: dict[str, DeviceProblem] = field(default_factory=dict)
    meter: MeterState = field(default_factory=MeterState)
    transaction: Transaction | None = None
    # The most recent ended transaction: recognises a charger re-sending its start or end (it
    # never saw our answer) so a replay neither opens a second session nor counts energy twice.
    last_transaction: Transaction | None = None
    last_session_energy_wh: float = 0.0
    # What the connected EV asked for (ISO 15118 via OCPP 2.x); None without such an EV.
    ev_charging_needs: EvChargingNeeds | None = None
    # Its register as last saved, restored after a restart (meter readings are not): the base its
    # next value counts from (persistence.py).
    stored_register: RegisterPoint | None = None
    # The fault it was in when saved (``fault``), until its first status after the restore: shown
    # meanwhile (a 1.6 charger that reconnects reports no status until one changes), and the same
    # fault reported again is no new one (no second FAULT event).
    restored_fault: str | None = None
    # Whether it had stopped for that fault (Faulted, Unavailable), not gone on (a warning).
    restored_fault_stopped: bool = True

    @property
    def fault(self) -> str | None:
        """The fault its status reports: its error code ("" for a Faulted without one), None for
        none. A 1.6 error code on another status is one too: a warning the charger goes on with
        (e.g. HighTemperature while it charges at a lower current). Not reported since a restart:
        the fault it was in before."""
        if self.status is ConnectorStatus.UNKNOWN:
            return self.restored_fault
        if self.status is ConnectorStatus.FAULTED:
            return self.error_code or ""
        return None if self.error_code in NO_ERROR_CODES else self.error_code

    @property
    def stopped_for_fault(self) -> bool:
        """Whether it does not go on with its fault: Faulted or Unavailable (not reported since a
        restart: as it was before)."""
        if self.status is ConnectorStatus.UNKNOWN:
            return self.restored_fault_stopped
        return self.status in (ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE)

    @property
    def has_error(self) -> bool:
        """Whether it reports an error: its status's fault, or a 2.x device-model problem."""
        return self.fault is not None or bool(self.problems)

    @property
    def energy_settled(self) -> bool:
        """Whether the energy is what the charger last reported: no session was open when the
        model was restored, or the charger reported its register since (a reading, a start or a
        stop; meter readings are not restored). A restored open session can be up to the save
        delay behind what was shown before a crash: showing it would be a dip, which Home
        Assistant's long-term statistics count as a meter reset (the whole value counted again)."""
        return self.transaction is None or self.meter.energy_register_wh is not None

    @property
    def session(self) -> Transaction | None:
        """The running session, else the last one (whose facts the user still wants to see)."""
        return self.transaction or self.last_transaction

    @property
    def session_energy_wh(self) -> float:
        """Energy of the running session, else of the last one (what users expect to see)."""
        if self.transaction is not None:
            return self.transaction.energy_wh
        return self.last_session_energy_wh


@dataclass(frozen=True, kw_only=True)
class EvChargingNeeds:
    """What an EV told the charger it needs (ISO 15118): inputs for the energy manager's planner.

    Units are the model's (Wh, A, V, W, %); None where the EV did not say."""

    requested_energy_transfer: str
    received_at: datetime
    departure_time: datetime | None = None
    energy_amount_wh: float | None = None
    ev_min_current_a: float | None = None
    ev_max_current_a: float | None = None
    ev_max_voltage_v: float | None = None
    ev_max_power_w: float | None = None
    soc_percent: float | None = None
    ev_energy_capacity_wh: float | None = None
    full_soc_percent: float | None = None
    bulk_soc_percent: float | None = None
    # The session's energy when the EV asked (its energy amount comes on top of it).
    session_energy_wh: float = 0.0

    @property
    def target_session_wh(self) -> float | None:
        """The session energy the EV wants by its departure (None: it asked for no amount)."""
        if self.energy_amount_wh is None:
            return None
        return self.session_energy_wh + self.energy_amount_wh


@dataclass(kw_only=True)
class ChargerInfo:
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    meter_type: str | None = None


class ChargingRateUnit(StrEnum):
    AMPERE = "A"
    WATT = "W"


# The most outlets a charger is taken to have (its configuration, its device model, our store):
# home and workplace chargers have 1-4; a value beyond is a fault or an attack, and every outlet
# counted becomes a set of entities (a NumberOfConnectors of 10**9 would stall Home Assistant).
MAX_CONNECTORS = 32
DEFAULT_CONNECTORS = 1  # what a charger that reports no plausible number is taken to have


def plausible_connector_id(value: int) -> bool:
    """Whether a connector or EVSE id names something a charger can have: 0 (the whole charger)
    up to MAX_CONNECTORS. Each id a charger names becomes a connector, and entities."""
    return 0 <= value <= MAX_CONNECTORS


def plausible_connector_count(value: int | None) -> int:
    """A reported number of outlets within 1..MAX_CONNECTORS (not reported or below 1: the
    default)."""
    if value is None or value < 1:
        return DEFAULT_CONNECTORS
    return min(value, MAX_CONNECTORS)


@dataclass(kw_only=True)
class Capabilities:
    """What the charger can do, learned from its configuration / device model after boot."""

    supported_profiles: frozenset[str] = frozenset()
    # The highest stack level it takes; None: not reported (0 is a real answer: level 0 only).
    max_stack_level: int | None = None
    # The units it takes in a profile; empty: not reported (A assumed, a preference is kept).
    rate_units: frozenset[ChargingRateUnit] = frozenset()
    max_schedule_periods: int = 1
    max_profiles_installed: int | None = None
    phase_switching: bool = False
    local_auth_list_max: int | None = None
    number_of_connectors: int = DEFAULT_CONNECTORS

    @property
    def smart_charging(self) -> bool:
        return "SmartCharging" in self.supported_profiles

    @property
    def local_auth_list(self) -> bool:
        return "LocalAuthListManagement" in self.supported_profiles


class ControlledBy(StrEnum):
    """Who sets a charger's current limit (see ``current_control.py``)."""

    ENERGY_MANAGER = "energy_manager"  # the energy manager, in a mode of its own
    MANUAL = "manual"  # the user took it over from the energy manager (its mode Manual)
    NONE = "none"  # no energy manager: the user and automations set it


@dataclass(frozen=True, kw_only=True)
class FixedProfile:
    """What one of the rarely written profiles (installation maximum, safe base) was written
    with: it is written again when the wanted one differs, or when this is unknown (None)."""

    limit: float  # in ``unit``
    unit: ChargingRateUnit
    stack_level: int


@dataclass(kw_only=True)
class LimitState:
    """The current limit we asked for, what the charger confirmed, and whether they agree."""

    requested_a: float | None = None
    requested_phases: int | None = None
    applied_a: float | None = None
    paused: bool = False
    mismatch: bool = False
    last_write: datetime | None = None
    # What the rarely written profiles hold (rewritten only when the wanted ones differ from
    # these; None: unknown, e.g. after the charger's profiles were cleared).
    charger_max: FixedProfile | None = None
    base: FixedProfile | None = None
    # When the charger last took one of them (None: never, or before this was kept): a boot a
    # day after it writes them again (``charger_state.FIXED_PROFILES_RECHECK``).
    fixed_written_at: datetime | None = None
    # Kept across restarts: a charger that reconnects before the energy manager is back is held
    # at its safe current like any other reconnect under the energy manager.
    controlled_by: ControlledBy = ControlledBy.NONE
    # When a limit given with a duration is lifted (kept across restarts, or it never would be).
    expires_at: datetime | None = None
    # What that limit returns to then: the request from before it (None: no limit).
    previous_a: float | None = None
    previous_phases: int | None = None
    # Who gets the charger back then: the energy manager's mode it was taken over from (None:
    # nobody, it stays the user's). Opaque to the core: passed on in the LIMIT_EXPIRED event.
    hand_back_to: str | None = None
    # The user's own limit: the last one requested without an end while the energy manager did
    # not control the charger (None: none, the installation maximum). Handing the charger back,
    # and the end of a limit taken over from the manager after it let go, return to it.
    user_a: float | None = None
    user_phases: int | None = None


Listener = Callable[[ChargerEvent | None], None]


@runtime_checkable
class ClockStamped(Protocol):
    """Adapter bookkeeping (``Charger.protocol_state``) ordered by the charger's timestamps."""

    def clock_set(self, now: datetime) -> None:
        """The charger was told the time ``now`` (and may set its clock back): stamps ahead of it
        are pulled back, or the charger's next reports would look older and be ignored."""


# How many ended transactions a charger model remembers besides its connectors' last ones.
RECENTLY_ENDED = 16


@dataclass(frozen=True, kw_only=True)
class ConnectionSecurity:
    """How a charger's connection was secured (set at the handshake; nothing secret in it)."""

    # The way it connected: 1 plain ws, 2 TLS without a client certificate, 3 TLS with one.
    profile: SecurityProfile
    # Its profile in the settings at that moment; ``downgraded`` when ``profile`` is lower (only
    # when the user allowed a downgrade).
    configured_profile: SecurityProfile
    downgraded: bool = False
    # It logged in with its Basic-auth password.
    basic_auth: bool = False
    tls_version: str | None = None  # "TLSv1.3"; None on plain ws
    cipher: str | None = None
    # Its client certificate (profile 3): common name, serial (hex), SHA-256 fingerprint, expiry.
    certificate_cn: str | None = None
    certificate_serial: str | None = None
    certificate_fingerprint: str | None = None
    certificate_expires: datetime | None = None


@dataclass(kw_only=True)
class Charger:
    """Everything known about one charge point, whatever OCPP version it speaks."""

    charger_id: str
    ocpp_version: str | None = None
    info: ChargerInfo = field(default_factory=ChargerInfo)
    capabilities: Capabilities = field(default_factory=Capabilities)
    configuration: dict[str, str | None] = field(default_factory=dict)
    connectors: dict[int, Connector] = field(default_factory=dict)
    lifetime_energy: EnergyCounter = field(default_factory=EnergyCounter)
    limit: LimitState = field(default_factory=LimitState)
    connected: bool = False
    booted: bool = False
    # Basic auth in two phases. ``auth_provisioned``: the charger accepted our AuthorizationKey
    # (the password is offered; it may still connect without it). ``auth_committed``: it logged in
    # with the password once; from then on only the password works.
    auth_provisioned: bool = False
    auth_committed: bool = False
    # Connections without credentials since the key was offered (a charger that ignores the key).
    auth_unused_logins: int = 0
    # How its last connection was secured (None before its first one since the start).
    connection_security: ConnectionSecurity | None = None
    # Measurands the charger refused to sample: not asked for again after a reconnect or restart.
    rejected_measurands: frozenset[str] = frozenset()
    last_seen: datetime | None = None
    last_heartbeat: datetime | None = None
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    # Seconds the charger's clock is off ours (meter_time.effective_time, follow_live_clock):
    # ahead (> 0) beyond meter_time.MAX_CLOCK_AHEAD_S (its timestamps are replaced by our time
    # then), or behind (< 0) beyond meter_time.MAX_CLOCK_BEHIND_S as its live readings show (its
    # timestamps are kept; the energy manager moves them by that much); None when it is right.
    clock_skew_s: float | None = None
    # What the charger's live readings show of its clock (not in diagnostics: ``clock_skew_s`` is).
    _live_clock: LiveClockOffset = field(default_factory=LiveClockOffset, repr=False)
    # Recently ended transactions (newest last, at most :data:`RECENTLY_ENDED`, persisted): a
    # charger replaying messages of one of them (it never saw our answer, also after a restart)
    # must not open it again.
    recently_ended: list[Transaction] = field(default_factory=list, repr=False)
    # The 2.x station showed it numbers its transactions per EVSE, against the spec: two of one
    # id ran at once as we received them (v201.tx_boot_mark.numbers_per_evse). Persisted: a
    # station keeps its numbering, and the ended ones that showed it are soon forgotten.
    _numbers_per_evse: bool = field(default=False, repr=False)
    # When the 2.x station's last BootNotification came, by our clock and our monotonic clock
    # (``meter_time.reception``; None: none known, or its clock was known ahead then): a message
    # stamped well after it was written after the reboot (v201.tx_boot_mark.written_since_boot,
    # which moves it by the step our clock took since).
    # Persisted without the monotonic clock: a restart of Home Assistant is no boot of the
    # station, which sends no BootNotification for it (our clock's step across it is not known).
    _booted_at: tuple[datetime, float | None] | None = field(default=None, repr=False)
    # By EVSE, the id of the 2.x transaction last started there whose first message came live
    # since the station's last BootNotification: none of its messages was written before that
    # boot (v201.tx_boot_mark.began_since_boot). Persisted, as ``_booted_at``.
    _started_since_boot: dict[int, str] = field(default_factory=dict, repr=False, compare=False)
    # The energy price, per kWh in the currency's main unit, now and since when (the HA layer
    # follows the user's price entity or fixed price; the history is persisted, the price now is
    # set again): see :attr:`energy_price`.
    energy_prices: PriceHistory = field(default_factory=PriceHistory)
    # The reservations the charger accepted from us (persisted: the charger keeps them).
    reservations: ReservationBook = field(default_factory=ReservationBook)
    # Protocol adapters' own bookkeeping that outlives a connection (not persisted), by adapter.
    protocol_state: dict[str, Any] = field(default_factory=dict, repr=False)
    _listeners: list[Listener] = field(default_factory=list, repr=False)
    # What was warned of once for this charger (see :meth:`first_warning`; not persisted, not in
    # diagnostics).
    _warned: set[str] = field(default_factory=set, repr=False)

    # --- observers -------------------------------------------------------------------------------
    @property
    def energy_price(self) -> float | None:
        """The energy price now; None: unknown, the energy is not costed."""
        return self.energy_prices.current

    @energy_price.setter
    def energy_price(self, price: float | None) -> None:
        self.energy_prices.record(price, utcnow())

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(None)`` on any state change and ``listener(event)`` on events."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify(self, event: ChargerEvent | None = None) -> None:
        for listener in list(self._listeners):
            listener(event)

    def first_warning(self, topic: str) -> bool:
        """True the first time ``topic`` is warned of for this charger while Home Assistant runs:
        a warning logged once per charger (forgotten with the charger, never shared by another)."""
        if topic in self._warned:
            return False
        self._warned.add(topic)
        return True

    # --- access ----------------------------------------------------------------------------------
    def connector(self, connector_id: int) -> Connector:
        """The connector with this id, created on first mention (chargers announce them lazily)."""
        if connector_id not in self.connectors:
            self.connectors[connector_id] = Connector(connector_id=connector_id)
        return self.connectors[connector_id]

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        for connector in self.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.transaction_id == transaction_id:
                return tx
        return None

    def ended_transactions(self, connector_id: int | None = None) -> Iterator[Transaction]:
        """The ended transactions we know (of ``connector_id``; None: of all), each once: the
        connectors' last ones first (kept beyond the bounded recently ended list, and stored
        before it was persisted), then the recently ended ones, newest first."""
        seen: set[int] = set()
        lasts = (c.last_transaction for c in self.connectors.values())
        for transaction in chain(lasts, reversed(self.recently_ended)):
            if (
                transaction is not None
                and id(transaction) not in seen
                and connector_id in (None, transaction.connector_id)
            ):
                seen.add(id(transaction))
                yield transaction

    def find_ended_transaction(self, transaction_id: str) -> Transaction | None:
        """A transaction that ended already (a connector's last one, or a recently ended one)."""
        return next(
            (t for t in self.ended_transactions() if t.transaction_id == transaction_id), None
        )

    @property
    def energy_settled(self) -> bool:
        """Whether every connector's energy (its sessions) is settled."""
        return all(connector.energy_settled for connector in self.connectors.values())

    @property
    def lifetime_settled(self) -> bool:
        """Whether the lifetime total is settled: connector 0 (the whole charger) has reported
        its register since the restore, which is the total then
        (``meter_lifetime.counts_for_lifetime``); else every connector's energy is settled (the
        total adds them up)."""
        whole = self.connectors.get(0)
        if whole is not None and whole.meter.energy_register_wh is not None:
            return True
        return self.energy_settled

    @property
    def operative(self) -> bool:
        """Whether the charger is in service, by its own status: out of service when the whole
        charger (connector 0, 1.6) or every outlet reports Unavailable (ChangeAvailability)."""
        whole = self.connectors.get(0)
        if whole is not None and whole.status is ConnectorStatus.UNAVAILABLE:
            return False
        outlets = self.outlets
        return not outlets or any(c.status is not ConnectorStatus.UNAVAILABLE for c in outlets)

    @property
    def outlets(self) -> list[Connector]:
        """Real connectors (id >= 1): connector 0 is the charger as a whole in 1.6."""
        return [c for cid, c in sorted(self.connectors.items()) if cid > 0]

    @property
    def running_transactions(self) -> dict[str, int]:
        """The running transactions, each with its outlet (in outlet order)."""
        return {
            c.transaction.transaction_id: c.connector_id
            for c in self.outlets
            if c.transaction is not None
        }

    @property
    def outlet_ids(self) -> tuple[int, ...]:
        """The charger's outlets: those it reported, and as many as its configuration says
        (at least one), reported or not yet."""
        configured = range(1, max(1, self.capabilities.number_of_connectors) + 1)
        return tuple(sorted({cid for cid in self.connectors if cid > 0} | set(configured)))
