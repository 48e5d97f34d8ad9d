"""A simulated OCPP 2.0.1 / 2.1 charging station for the Home Assistant tests.

The station is the core harness's (``tests/core/v201_harness.py``): the ``ocpp`` package's v201 /
v21 client over a real websocket, answering every CSMS -> station action with a small device model,
charging profiles and its composite schedule. Here it gets what the Home Assistant tests need of it:

- the identity and the capabilities of the 1.6 :class:`~.charger.SimCharger` (Acme "Wallbox 1",
  serial SN-0001, firmware 1.2.3; one EVSE with one connector, limits in A only, 8 stack levels,
  5 periods per schedule, no phase switching), so both describe the same wallbox in two versions;
- its boots (the triggered one too) keep that identity, and the last boot's status is kept;
- on 2.1 it takes dynamic profiles (``SmartChargingCtrlr.SupportsFeature[DynamicProfiles]``) and
  applies UpdateDynamicSchedule to the profile it holds (what 2.1 offers more);
- :func:`station_connection` connects it to a test server, with the Basic-auth password it was
  given (``station.password``) when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.core.v201_harness import OCPP21, OCPP201, SimStation, SimStation21

from .charger import basic_auth_header

__all__ = ["OCPP21", "OCPP201", "HaStation", "HaStation21", "station_connection"]

# (component, evse, connector, variable, attribute type) as the harness's device model keys it.
type _Key = tuple[str, int | None, int | None, str, str]


def _actual(component: str, variable: str) -> _Key:
    return (component, None, None, variable, "Actual")


# The 1.6 SimCharger's DEFAULT_CONFIGURATION in device-model words.
PARITY_DEVICE_MODEL: dict[_Key, str] = {
    _actual("SmartChargingCtrlr", "RateUnit"): "A",
    _actual("SmartChargingCtrlr", "ProfileStackLevel"): "8",
    _actual("SmartChargingCtrlr", "PeriodsPerSchedule"): "5",
    _actual("SmartChargingCtrlr", "Entries"): "10",
    _actual("SmartChargingCtrlr", "Phases3to1"): "false",
    _actual("LocalAuthListCtrlr", "Entries"): "20",
    _actual("LocalAuthListCtrlr", "ItemsPerMessage"): "20",
    _actual("SampledDataCtrlr", "TxUpdatedInterval"): "60",
    _actual("SampledDataCtrlr", "TxUpdatedMeasurands"): "Energy.Active.Import.Register",
    _actual("OCPPCommCtrlr", "HeartbeatInterval"): "300",
    _actual("SecurityCtrlr", "SecurityProfile"): "0",
    # SupportedFeatureProfiles "...,Reservation,...".
    _actual("ReservationCtrlr", "Available"): "true",
    _actual("ReservationCtrlr", "Enabled"): "true",
}
PASSWORD_KEY: _Key = ("SecurityCtrlr", None, None, "BasicAuthPassword", "Actual")


class _HaStationMixin:
    """What the Home Assistant tests add to the harness's station (see the module docstring)."""

    dynamic_profiles: ClassVar[bool] = False

    # Provided by the harness's station.
    device_model: dict[_Key, str]
    profiles: dict[int, dict[str, Any]]
    received: list[tuple[str, dict[str, Any]]]
    answers: dict[str, Any]
    _background: set[asyncio.Future[Any]]
    _ocpp_version: str

    def _init_ha(self, **kwargs: Any) -> None:
        self.vendor: str = kwargs.get("vendor", "Acme")
        self.model: str = kwargs.get("model", "Wallbox 1")
        self.serial: str = kwargs.get("serial", "SN-0001")
        self.firmware: str = kwargs.get("firmware", "1.2.3")
        self.boot_status: str | None = None
        self.device_model.update(PARITY_DEVICE_MODEL)
        self.device_model.update(kwargs.get("device_model", {}))
        # What the 1.6 SimCharger answers (``data_transfer_answer``).
        self.answers.setdefault("DataTransfer", {"status": "Accepted", "data": "pong"})

    @property
    def version(self) -> str:
        return OCPP21 if self._ocpp_version == "2.1" else OCPP201

    @property
    def password(self) -> str | None:
        """The Basic-auth password the CSMS gave us (None: none yet)."""
        return self.device_model.get(PASSWORD_KEY) or None

    async def boot(self, reason: str = "PowerUp", **station: Any) -> Any:
        station.setdefault("vendor_name", self.vendor)
        station.setdefault("model", self.model)
        station.setdefault("serial_number", self.serial)
        station.setdefault("firmware_version", self.firmware)
        result = await super().boot(reason, **station)  # type: ignore[misc]
        self.boot_status = str(result.status)
        return result

    def report_data(self) -> list[dict[str, Any]]:
        """The device model as NotifyReport entries; on 2.1 with the dynamic-profile feature (a
        variable instance, which the harness's model does not key)."""
        entries: list[dict[str, Any]] = super().report_data()  # type: ignore[misc]
        if self.dynamic_profiles:
            entries.append(
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "SupportsFeature", "instance": "DynamicProfiles"},
                    "variableAttribute": [
                        {"type": "Actual", "mutability": "ReadOnly", "value": "true"}
                    ],
                }
            )
        return entries

    def live_limit(self, evse_id: int = 1) -> float | None:
        """The limit of the highest-stack TxDefault/Tx profile for the EVSE (what it applies under
        the station maximum), in the profile's unit (A here)."""
        candidates = [
            p
            for p in self.profiles.values()
            if p["chargingProfilePurpose"] in ("TxDefaultProfile", "TxProfile")
            and p["evseId"] in (0, evse_id)
        ]
        if not candidates:
            return None
        top = max(candidates, key=lambda p: int(p["stackLevel"]))
        return float(top["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])

    def _answer_UpdateDynamicSchedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        """2.1: the new limit of a dynamic profile we hold, in place."""
        profile = self.profiles.get(payload["chargingProfileId"])
        if profile is None or profile.get("chargingProfileKind") != "Dynamic":
            return {"status": "Rejected"}
        update = payload["scheduleUpdate"]
        period = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
        if "limit" in update:
            period["limit"] = update["limit"]
        return {"status": "Accepted"}

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        with suppress(Exception):
            await asyncio.gather(*self._background, return_exceptions=True)


class HaStation(_HaStationMixin, SimStation):
    """The OCPP 2.0.1 station of the Home Assistant tests."""

    def __init__(self, charger_id: str, connection: ClientConnection, **kwargs: Any) -> None:
        super().__init__(charger_id, connection)
        self._init_ha(**kwargs)


class HaStation21(_HaStationMixin, SimStation21):
    """The same station speaking OCPP 2.1, with dynamic profiles."""

    dynamic_profiles = True

    def __init__(self, charger_id: str, connection: ClientConnection, **kwargs: Any) -> None:
        super().__init__(charger_id, connection)
        self._init_ha(**kwargs)


type AnyStation = HaStation | HaStation21

_STATIONS: dict[str, type[HaStation] | type[HaStation21]] = {
    OCPP201: HaStation,
    OCPP21: HaStation21,
}


@asynccontextmanager
async def station_connection(
    port: int,
    charger_id: str,
    *,
    version: str = OCPP201,
    password: bytes | None = None,
    **kwargs: Any,
) -> AsyncIterator[AnyStation]:
    """Connect a simulated 2.x station (no BootNotification yet); disconnect it on exit."""
    headers = {} if password is None else {"Authorization": basic_auth_header(charger_id, password)}
    websocket = await connect(
        f"ws://127.0.0.1:{port}/{charger_id}",
        subprotocols=[Subprotocol(version)],
        additional_headers=headers,
        open_timeout=5,
    )
    assert websocket.subprotocol == version
    station = _STATIONS[version](charger_id, websocket, **kwargs)
    runner = asyncio.get_running_loop().create_task(station.start())
    try:
        yield station
    finally:
        # Stop answering first: a late command must not spawn a follow-up on a closed socket.
        runner.cancel()
        with suppress(BaseException):
            await runner
        await station.aclose()
        await websocket.close()
