"""One charger, any OCPP version: the Home Assistant tests that must hold for 1.6, 2.0.1 and 2.1.

:class:`ChargerSide` plays a charger's side in words every version has (plug in, start a session,
send a reading, end it, unplug) and reads back what reached it (the live limit of its charging
profiles, the commands it received). :class:`Side16` drives the 1.6 :class:`~.charger.SimCharger`,
:class:`Side2x` the 2.x station of :mod:`.station201` (TransactionEvent Started / Updated / Ended
with ``seqNo``, ``chargingState``, Transaction.Begin / End readings, StatusNotification per EVSE and
connector).

``onboard_any(version)`` onboards a charger of that version exactly as the ``onboard`` fixture
does for 1.6: it connects without credentials and boots (Pending), the user accepts it in the
discovery flow, the server gives it its Basic-auth password (1.6: ChangeConfiguration
AuthorizationKey; 2.x: SetVariables SecurityCtrlr.BasicAuthPassword and SecurityProfile 1) and
asks for a new boot (Accepted), reads what it can do (2.x: GetBaseReport -> NotifyReport pages)
and runs current control (the live profile reached it). With ``reconnect=True`` it then
reconnects with the password it was given (Basic auth), boots (Accepted) and is under current
control again on the new connection.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from tests.core.v201_harness import sampled

from .charger import SimCharger, charger_connection, wait_for
from .fixtures import accept_pending_charger, central_of
from .station201 import OCPP21, OCPP201, AnyStation, station_connection

OCPP16 = "ocpp1.6"
VERSIONS = (OCPP16, OCPP201, OCPP21)
VERSIONS_2X = (OCPP201, OCPP21)

# 2.x transaction ids: strings, unique in a test run.
_TRANSACTION_IDS = itertools.count(1)


class ChargerSide(ABC):
    """A charger of some OCPP version, seen from its side (see the module docstring)."""

    version: str
    charger_id: str
    transaction_id: str | None = None

    @property
    @abstractmethod
    def boot_status(self) -> str | None:
        """The status of the last BootNotification answer."""

    @abstractmethod
    async def boot(self) -> str:
        """A BootNotification; the status answered."""

    @abstractmethod
    async def plug_in(self) -> None:
        """A car plugs in (no transaction yet)."""

    @abstractmethod
    async def start_session(
        self, id_tag: str = "HomeAssistant", *, started_ago_s: float = 3600.0
    ) -> str:
        """A transaction starts (``started_ago_s`` ago, charger time) and the car charges; its
        transaction id as the model keeps it (a string)."""

    @abstractmethod
    async def meter(
        self,
        *,
        energy_wh: float | None = None,
        power_w: float | None = None,
        current_a: tuple[float, float, float] | None = None,
        voltage_v: tuple[float, float, float] | None = None,
        offered_a: float | None = None,
        soc: float | None = None,
        ago_s: float = 0.0,
    ) -> None:
        """One reading taken ``ago_s`` ago (charger time), in the running transaction if any.
        Readings are physically possible only: no more energy than the charger's maximum power
        gives in the time since the last one (the central system holds back the rest)."""

    @abstractmethod
    async def end_session(self, *, energy_wh: float | None = None, reason: str = "Local") -> None:
        """The transaction ends (meter stop ``energy_wh``, else the last register); the car is
        still plugged in."""

    @abstractmethod
    async def unplug(self) -> None:
        """The car leaves."""

    @abstractmethod
    async def authorize(self, id_tag: str) -> str:
        """An Authorize; the status answered (Accepted / Invalid ...)."""

    @abstractmethod
    async def fault(self, error_code: str, info: str) -> None:
        """The connector faults (2.x: a Faulted status; it carries no error code or info)."""

    @abstractmethod
    async def data_transfer(self, vendor_id: str, message_id: str, data: str) -> None:
        """A DataTransfer from the charger."""

    @abstractmethod
    async def security_event(self, event_type: str, timestamp: str, tech_info: str) -> None:
        """A SecurityEventNotification (1.6: the security extension's)."""

    @abstractmethod
    async def firmware_and_log_status(self, firmware: str, log: str) -> None:
        """A firmware update's and a log upload's progress (1.6: DiagnosticsStatusNotification;
        2.x: LogStatusNotification)."""

    @abstractmethod
    def live_limit(self) -> float | None:
        """The limit of the highest-stack TxDefault/Tx profile the charger holds (A)."""

    @abstractmethod
    def has_live_profile(self) -> bool:
        """Whether current control's live profile reached the charger."""

    @abstractmethod
    def commands(self, action: str) -> list[dict[str, Any]]:
        """The payloads of ``action`` (this version's name) the central system sent."""

    @abstractmethod
    def provisioned_password(self) -> bytes | None:
        """The Basic-auth password the central system gave the charger."""


class Side16(ChargerSide):
    version = OCPP16

    def __init__(self, sim: SimCharger) -> None:
        self.sim = sim
        self.charger_id = sim.id

    @property
    def boot_status(self) -> str | None:
        return self.sim.boot_status

    async def boot(self) -> str:
        return await self.sim.boot()

    async def plug_in(self) -> None:
        await self.sim.status("Preparing")

    async def start_session(
        self, id_tag: str = "HomeAssistant", *, started_ago_s: float = 3600.0
    ) -> str:
        transaction_id = await self.sim.start_transaction(id_tag, started_ago_s=started_ago_s)
        await self.sim.status("Charging")
        self.transaction_id = str(transaction_id)
        return self.transaction_id

    async def meter(self, **values: Any) -> None:
        await self.sim.meter_values(**values)

    async def end_session(self, *, energy_wh: float | None = None, reason: str = "Local") -> None:
        if energy_wh is not None:
            self.sim.meter_wh = int(energy_wh)
        await self.sim.stop_transaction(reason)
        await self.sim.status("Finishing")
        self.transaction_id = None

    async def unplug(self) -> None:
        await self.sim.status("Available")

    async def authorize(self, id_tag: str) -> str:
        return await self.sim.authorize(id_tag)

    async def fault(self, error_code: str, info: str) -> None:
        await self.sim.status("Faulted", error_code=error_code, info=info)

    async def data_transfer(self, vendor_id: str, message_id: str, data: str) -> None:
        await self.sim.send_data_transfer(vendor_id, message_id, data)

    async def firmware_and_log_status(self, firmware: str, log: str) -> None:
        await self.sim.call(call16.FirmwareStatusNotification(status=firmware))
        await self.sim.call(call16.DiagnosticsStatusNotification(status=log))

    async def security_event(self, event_type: str, timestamp: str, tech_info: str) -> None:
        await self.sim.call(
            call16.SecurityEventNotification(
                type=event_type, timestamp=timestamp, tech_info=tech_info
            )
        )

    def live_limit(self) -> float | None:
        return self.sim.live_limit()

    def has_live_profile(self) -> bool:
        return LIVE_PROFILE_ID in self.sim.profiles

    def commands(self, action: str) -> list[dict[str, Any]]:
        return self.sim.commands(action)

    def provisioned_password(self) -> bytes | None:
        key = self.sim.authorization_key
        return None if key is None else bytes.fromhex(key)


class Side2x(ChargerSide):
    """A 2.0.1 / 2.1 station: EVSE 1, connector 1."""

    def __init__(self, station: AnyStation) -> None:
        self.station = station
        self.version = station.version
        self.charger_id = station.id
        self.meter_wh = 1000.0

    @property
    def boot_status(self) -> str | None:
        return self.station.boot_status

    async def boot(self) -> str:
        return str((await self.station.boot()).status)

    async def plug_in(self) -> None:
        await self.station.status(1, 1, "Occupied")

    @staticmethod
    def _token(id_tag: str) -> dict[str, str]:
        kind = "Central" if id_tag == "HomeAssistant" else "ISO14443"
        return {"idToken": id_tag, "type": kind}

    def _register(self, context: str, at: datetime) -> list[dict[str, Any]]:
        sample = sampled(self.meter_wh, "Energy.Active.Import.Register", unit="Wh", context=context)
        return [{"timestamp": at.isoformat(), "sampledValue": [sample]}]

    async def start_session(
        self, id_tag: str = "HomeAssistant", *, started_ago_s: float = 3600.0
    ) -> str:
        started = datetime.now(UTC) - timedelta(seconds=started_ago_s)
        transaction_id = f"{self.charger_id}-tx-{next(_TRANSACTION_IDS)}"
        self.transaction_id = transaction_id
        await self.station.tx_event(
            "Started",
            transaction_id,
            trigger_reason="Authorized",
            timestamp=started.isoformat(),
            evse={"id": 1, "connectorId": 1},
            id_token=self._token(id_tag),
            charging_state="Charging",
            meter_value=self._register("Transaction.Begin", started),
        )
        return transaction_id

    async def meter(
        self,
        *,
        energy_wh: float | None = None,
        power_w: float | None = None,
        current_a: tuple[float, float, float] | None = None,
        voltage_v: tuple[float, float, float] | None = None,
        offered_a: float | None = None,
        soc: float | None = None,
        ago_s: float = 0.0,
    ) -> None:
        periodic = "Sample.Periodic"
        samples: list[dict[str, Any]] = []
        if energy_wh is not None:
            self.meter_wh = energy_wh
            samples.append(
                sampled(energy_wh, "Energy.Active.Import.Register", unit="Wh", context=periodic)
            )
        if power_w is not None:
            samples.append(sampled(power_w, "Power.Active.Import", unit="W", context=periodic))
        for measurand, unit, values in (
            ("Current.Import", "A", current_a),
            ("Voltage", "V", voltage_v),
        ):
            for phase, value in zip(("L1", "L2", "L3"), values or (), strict=False):
                samples.append(sampled(value, measurand, unit=unit, phase=phase, context=periodic))
        if offered_a is not None:
            samples.append(sampled(offered_a, "Current.Offered", unit="A", context=periodic))
        if soc is not None:
            samples.append(sampled(soc, "SoC", unit="Percent", context=periodic))
        taken = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
        if self.transaction_id is None:
            await self.station.meter_values(1, samples, timestamp=taken)
            return
        await self.station.tx_event(
            "Updated",
            self.transaction_id,
            trigger_reason="MeterValuePeriodic",
            timestamp=taken,
            meter_value=[{"timestamp": taken, "sampledValue": samples}],
        )

    async def end_session(self, *, energy_wh: float | None = None, reason: str = "Local") -> None:
        assert self.transaction_id is not None
        if energy_wh is not None:
            self.meter_wh = energy_wh
        now = datetime.now(UTC)
        await self.station.tx_event(
            "Ended",
            self.transaction_id,
            trigger_reason="StopAuthorized" if reason == "Local" else "RemoteStop",
            timestamp=now.isoformat(),
            stopped_reason=reason,
            meter_value=self._register("Transaction.End", now),
        )
        self.transaction_id = None

    async def unplug(self) -> None:
        await self.station.status(1, 1, "Available")

    async def authorize(self, id_tag: str) -> str:
        result = await self.station.authorize(id_tag, self._token(id_tag)["type"])
        return str(result.id_token_info["status"])

    async def fault(self, error_code: str, info: str) -> None:
        await self.station.status(1, 1, "Faulted")

    async def data_transfer(self, vendor_id: str, message_id: str, data: str) -> None:
        await self.station.call(
            self.station._call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        )

    async def firmware_and_log_status(self, firmware: str, log: str) -> None:
        calls = self.station._call
        await self.station.call(calls.FirmwareStatusNotification(status=firmware, request_id=1))
        await self.station.call(calls.LogStatusNotification(status=log, request_id=2))

    async def security_event(self, event_type: str, timestamp: str, tech_info: str) -> None:
        await self.station.call(
            self.station._call.SecurityEventNotification(
                type=event_type, timestamp=timestamp, tech_info=tech_info
            )
        )

    def live_limit(self) -> float | None:
        return self.station.live_limit()

    def has_live_profile(self) -> bool:
        return LIVE_PROFILE_ID in self.station.profiles

    def commands(self, action: str) -> list[dict[str, Any]]:
        return self.station.actions(action)

    def provisioned_password(self) -> bytes | None:
        password = self.station.password
        return None if password is None else password.encode()


@asynccontextmanager
async def connect_any(
    version: str, port: int, charger_id: str, *, password: bytes | None = None, **kwargs: Any
) -> AsyncIterator[ChargerSide]:
    """Connect a simulated charger of ``version`` (no boot yet); disconnect it on exit."""
    if version == OCPP16:
        async with charger_connection(port, charger_id, password=password, **kwargs) as sim:
            yield Side16(sim)
        return
    async with station_connection(
        port, charger_id, version=version, password=password, **kwargs
    ) as station:
        yield Side2x(station)


type OnboardAny = Callable[..., AbstractAsyncContextManager[tuple[ChargerSide, MockConfigEntry]]]


@pytest.fixture
def onboard_any(hass: HomeAssistant, server_entry: MockConfigEntry) -> OnboardAny:
    """Onboard a charger of the version given (see the module docstring)."""

    async def under_control(charger: ChargerSide) -> None:
        model = central_of(server_entry).charger(charger.charger_id)
        await wait_for(lambda: charger.boot_status == "Accepted", what="accepted boot")
        await wait_for(lambda: model.booted and charger.has_live_profile(), what="live limit")
        await hass.async_block_till_done()

    @asynccontextmanager
    async def _onboard(
        version: str = OCPP16,
        charger_id: str = "CP1",
        *,
        reconnect: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[tuple[ChargerSide, MockConfigEntry]]:
        central = central_of(server_entry)
        async with connect_any(version, central.port, charger_id, **kwargs) as charger:
            assert await charger.boot() == "Pending"
            entry = await accept_pending_charger(hass, charger_id, name)
            await under_control(charger)
            password = charger.provisioned_password()
            if not reconnect:
                yield charger, entry
                return
        assert password is not None, "no password provisioned"
        await wait_for(lambda: central.session(charger_id) is None, what="disconnected")
        async with connect_any(
            version, central.port, charger_id, password=password, **kwargs
        ) as charger:
            assert await charger.boot() == "Accepted"
            await under_control(charger)
            yield charger, entry

    return _onboard
