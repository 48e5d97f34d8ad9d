"""Real chargers' quirks against the wire layer and smart charging, in a real Home Assistant.

Each test plays a charger that does something real firmware does wrong, over a real websocket,
and checks that the charger still gets the limit we intend and the user sees what it holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from homeassistant.components.number import DOMAIN as NUMBER_DOMAIN
from homeassistant.components.number.const import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from custom_components.ocpp_ems.core import current_control
from custom_components.ocpp_ems.core.current_control import BASE_PROFILE_ID, LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.model import ConnectorStatus
from custom_components.ocpp_ems.core.server import CentralSystem

from .helpers.charger import Received, SimCharger, now_iso, on, wait_for
from .helpers.fixtures import ConnectCharger, Onboard
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x

LIMIT = "number.acme_wallbox_1_current_limit"
MISMATCH = "binary_sensor.acme_wallbox_1_limit_mismatch"


async def set_limit(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN, SERVICE_SET_VALUE, {ATTR_ENTITY_ID: LIMIT, ATTR_VALUE: value}, blocking=True
    )


def shown(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def shown_limit(hass: HomeAssistant) -> str:
    return shown(hass, LIMIT)


def period_limit(profile: dict[str, Any]) -> float:
    return float(profile["charging_schedule"]["charging_schedule_period"][0]["limit"])


class RefusesConnectorZeroDefaults(SimCharger):
    """Takes a TxDefaultProfile only on its outlet: connector 0 is refused (single-outlet
    firmware that knows no 'whole charger'). ChargePointMaxProfile on 0 is taken."""

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        purpose = cs_charging_profiles["charging_profile_purpose"]
        if connector_id == 0 and purpose == "TxDefaultProfile":
            payload = {"connector_id": 0, "cs_charging_profiles": cs_charging_profiles}
            self.received.append(Received(action="SetChargingProfile", payload=payload))
            return call_result.SetChargingProfile(status="Rejected")
        return await super().on_set_charging_profile(
            connector_id=connector_id, cs_charging_profiles=cs_charging_profiles, **kwargs
        )

    def tx_defaults_on(self, connector_id: int) -> list[dict[str, Any]]:
        return [
            p
            for p in self.commands("SetChargingProfile")
            if p["connector_id"] == connector_id
            and p["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        ]


async def test_a_charger_refusing_defaults_on_connector_0_gets_them_on_its_outlet(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """Without the fallback the safe base and the live limit never reached such a charger: it
    charged at its own maximum, whatever the user or the energy manager set."""
    async with onboard(factory=RefusesConnectorZeroDefaults) as (sim, _entry):
        assert isinstance(sim, RefusesConnectorZeroDefaults)
        assert BASE_PROFILE_ID in sim.profiles  # the safe base (fallback when HA is gone)
        await set_limit(hass, 10)
        assert period_limit(sim.profiles[LIVE_PROFILE_ID]) == 10.0
        assert sim.tx_defaults_on(1)[-1]["cs_charging_profiles"]["charging_profile_id"] == (
            LIVE_PROFILE_ID
        )
        assert shown_limit(hass) == "10.0"
        # Learned once: later writes go to the outlet straight away (no refusal per write).
        assert len(sim.tx_defaults_on(0)) == 1


class RefusesEveryLimit(SimCharger):
    """Answers Rejected to every SetChargingProfile (a Schneider with "EM controlled by external
    system" off) until its ``statuses`` are cleared (the user turned it on)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statuses["SetChargingProfile"] = "Rejected"


async def test_a_charger_refusing_every_limit_shows_it_and_is_told_once(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    central: CentralSystem,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user turned the charger's "EM controlled by external system" off, and it rebooted:
    its refusals were a WARNING each (every 30 s, forever), and nothing on its device showed that
    it is no longer under the limit Home Assistant keeps for it."""
    caplog.set_level(logging.DEBUG, logger=current_control.__name__)
    async with onboard() as (first, _entry):
        await set_limit(hass, 16)
        await first._connection.close()
        charger = central.charger("CP1")
        await wait_for(lambda: not charger.connected, what="gone")
    async with connect("CP1", factory=RefusesEveryLimit) as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: shown(hass, MISMATCH) == "on", what="mismatch shown")
        with pytest.raises(HomeAssistantError):  # a change is still tried at once
            await set_limit(hass, 10)
        warnings = [
            record.getMessage()
            for record in caplog.records
            if record.name == current_control.__name__ and record.levelno >= logging.WARNING
        ]
        assert len(warnings) == 1, warnings
        assert "EM controlled by external system" in warnings[0]
        sim.statuses.clear()  # turned on again
        await set_limit(hass, 10)
        assert period_limit(sim.profiles[LIVE_PROFILE_ID]) == 10.0
        await wait_for(lambda: shown(hass, MISMATCH) == "off", what="mismatch cleared")


class AnswersLoosely(SimCharger):
    """Applies what it is sent but answers ``{"status": "Accepted"}`` loosely once ``loose`` is
    set: in the wrong case, or with a field 1.6 does not have (a 2.x ``statusInfo``)."""

    loose: str | None = None

    async def _send(self, message: str) -> None:
        frame = json.loads(message)
        if self.loose and frame[0] == 3 and frame[2] == {"status": "Accepted"}:
            if self.loose == "case":
                frame[2] = {"status": "accepted"}
            else:
                frame[2] = {"status": "Accepted", "statusInfo": {"reasonCode": "NoError"}}
            message = json.dumps(frame)
        await super()._send(message)


@pytest.mark.parametrize("loose", ["case", "extra_field"])
async def test_a_loosely_written_acceptance_is_an_acceptance(
    hass: HomeAssistant, onboard: Onboard, loose: str
) -> None:
    """The charger applied 20 A. Taken as a refusal, the raise was undone: Home Assistant showed
    (and the energy manager counted) 13 A while the car drew 20 A until the next write."""
    async with onboard(factory=AnswersLoosely) as (sim, _entry):
        assert isinstance(sim, AnswersLoosely)
        await set_limit(hass, 13)
        sim.loose = loose
        await set_limit(hass, 20)
        assert period_limit(sim.profiles[LIVE_PROFILE_ID]) == 20.0
        await wait_for(lambda: shown_limit(hass) == "20.0", what="20 A shown")


class IgnoresCompositeSchedule(SimCharger):
    """Never answers GetCompositeSchedule (firmware without it that drops unknown CALLs)."""

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame[0] == 2 and frame[2] == "GetCompositeSchedule":
            self.received.append(Received(action="GetCompositeSchedule", payload=frame[3]))
            return
        await super().route_message(raw_msg)


async def test_an_unanswered_verification_does_not_hold_up_the_next_limit(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """Each write is checked with GetCompositeSchedule; OCPP-J sends one CALL at a time. A
    charger that never answers it kept the next limit (a fuse guard's drop) off the wire for the
    whole response timeout (30 s by default, 3 s here), after every write."""
    async with onboard(factory=IgnoresCompositeSchedule) as (sim, _entry):
        await set_limit(hass, 10)
        await wait_for(lambda: sim.commands("GetCompositeSchedule"), what="verification")
        started = time.monotonic()
        await set_limit(hass, 8)
        assert period_limit(sim.profiles[LIVE_PROFILE_ID]) == 8.0
        assert time.monotonic() - started < 1.5
        # Once a question timed out, it is not asked again on this connection: it would hold
        # every other command (a pause, a remote stop) back as long.
        await wait_for(lambda: len(sim.commands("GetCompositeSchedule")) == 2, what="8 A checked")
        await asyncio.sleep(3.5)  # its response timeout
        await set_limit(hass, 9)
        await set_limit(hass, 7)
        await asyncio.sleep(0.2)
        assert len(sim.commands("GetCompositeSchedule")) == 2


async def send_raw(side: Any, action: str, payload: dict[str, Any]) -> None:
    """A CALL as the charger's firmware writes it (the client library would refuse to send it)."""
    await side._connection.send(json.dumps([2, f"raw-{time.monotonic_ns()}", action, payload]))


async def test_a_status_in_the_wrong_case_is_taken(
    hass: HomeAssistant, onboard: Onboard, central: CentralSystem
) -> None:
    """'charging' / 'noError': refused with a CALLERROR, the charger's state was lost (shown not
    charging while the car charged; the energy manager then counted it as idle)."""
    async with onboard() as (sim, _entry):
        await sim.status("Preparing")
        await send_raw(
            sim,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "noError", "status": "charging"},
        )
        connector = central.charger("CP1").connector(1)
        await wait_for(lambda: connector.status is ConnectorStatus.CHARGING, what="Charging")


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_a_2x_status_in_the_wrong_case_is_taken(
    hass: HomeAssistant, onboard_any: OnboardAny, central: CentralSystem, version: str
) -> None:
    """2.x: a connectorStatus 'faulted' was refused; the fault was never shown."""
    async with onboard_any(version) as (side, _entry):
        assert isinstance(side, Side2x)
        status = {"timestamp": now_iso(), "connectorStatus": "faulted", "evseId": 1}
        await send_raw(side.station, "StatusNotification", {**status, "connectorId": 1})
        connector = central.charger("CP1").connector(1)
        await wait_for(lambda: connector.status is ConnectorStatus.FAULTED, what="Faulted")
