"""The household controls and session facts work alike for a 1.6 and a 2.x charger: one charger
model command each (ChangeAvailability, remote start / stop), one cost and tag-name rule."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_RESPONSE_TIMEOUT, DOMAIN
from custom_components.ocpp_ems.core.ems.options import SESSION_PRICE

from .helpers.platform import only_platforms
from .helpers.versions import OCPP16, VERSIONS, ChargerSide, OnboardAny, Side2x, Side16


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_ID_TAGS: ["CARD1 = Alice"], SESSION_PRICE.key: 0.25}


def state(hass: HomeAssistant, platform: Platform, key: str) -> State:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"CP1_{key}")
    assert found is not None, key
    result = hass.states.get(found)
    assert result is not None
    return result


async def act(hass: HomeAssistant, platform: Platform, service: str, key: str) -> None:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"CP1_{key}")
    await hass.services.async_call(str(platform), service, {"entity_id": found}, blocking=True)
    await hass.async_block_till_done()


async def report(charger: ChargerSide, status: str) -> None:
    """The outlet's status in the charger's version (2.x has Unavailable / Available too)."""
    if isinstance(charger, Side16):
        await charger.sim.status(status)
    else:
        assert isinstance(charger, Side2x)
        await charger.station.status(1, 1, status)


@pytest.mark.parametrize("version", VERSIONS)
async def test_controls_and_facts_in_every_version(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    platforms = (Platform.SWITCH, Platform.BUTTON, Platform.SENSOR, Platform.EVENT)
    with only_platforms(*platforms):
        async with onboard_any(version) as (charger, _entry):
            v16 = version == OCPP16
            await act(hass, Platform.SWITCH, "turn_off", "availability")
            sent = charger.commands("ChangeAvailability")[-1]
            if v16:
                assert sent == {"connector_id": 0, "type": "Inoperative"}
            else:
                assert sent == {"operationalStatus": "Inoperative"}  # the whole station
            await report(charger, "Unavailable")
            await hass.async_block_till_done()
            assert state(hass, Platform.SWITCH, "availability").state == "off"
            await act(hass, Platform.SWITCH, "turn_on", "availability")
            await report(charger, "Available")
            await hass.async_block_till_done()
            assert state(hass, Platform.SWITCH, "availability").state == "on"

            await act(hass, Platform.BUTTON, "press", "start_charging")
            assert charger.commands("RemoteStartTransaction" if v16 else "RequestStartTransaction")
            transaction_id = await charger.start_session("CARD1")
            await charger.meter(energy_wh=3000, ago_s=1800)  # 2 kWh at 0.25
            await hass.async_block_till_done()
            assert state(hass, Platform.SENSOR, "session_user").state == "Alice"
            assert float(state(hass, Platform.SENSOR, "session_cost").state) == pytest.approx(0.5)

            await act(hass, Platform.BUTTON, "press", "stop_charging")
            stop = charger.commands("RemoteStopTransaction" if v16 else "RequestStopTransaction")
            assert str(stop[-1]["transaction_id" if v16 else "transactionId"]) == transaction_id
            await charger.end_session(reason="Remote")
            await hass.async_block_till_done()
            ended = state(hass, Platform.EVENT, "session").attributes
            assert ended["event_type"] == "ended"
            assert ended["transaction_id"] == transaction_id
            assert ended["user"] == "Alice"
            assert ended["cost"] == pytest.approx(0.5)
            assert ended["energy_wh"] == 2000.0
            assert ended["duration_s"] == pytest.approx(3600, abs=5)
