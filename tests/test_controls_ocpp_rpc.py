"""The household controls and session facts in a real Home Assistant against the strict ocpp-rpc
1.6 charger (``tests/js/charger.mjs``): every frame the availability switch and the start / stop
buttons send is validated against ocpp-rpc's own schemas, and the session the stop button ends
arrives as a session-ended event with its user and cost."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_RESPONSE_TIMEOUT, DOMAIN
from custom_components.ocpp_ems.core.ems.options import SESSION_PRICE

from .core.test_e2e_ocpp_rpc import ID_TAG, js_charger, wait_until
from .helpers.fixtures import accept_pending_charger, central_of
from .helpers.js_process import NODE
from .helpers.platform import only_platforms

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

CHARGER_ID = "JSCP1"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {
        CONF_RESPONSE_TIMEOUT: 5,
        CONF_ID_TAGS: [f"{ID_TAG} = Strict Sam"],
        SESSION_PRICE.key: 0.30,
    }


def entity_id(hass: HomeAssistant, platform: Platform, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{CHARGER_ID}_{key}")
    assert found is not None, key
    return found


async def press(hass: HomeAssistant, platform: Platform, service: str, key: str) -> None:
    await hass.services.async_call(
        str(platform), service, {"entity_id": entity_id(hass, platform, key)}, blocking=True
    )


async def test_controls_and_session_facts_against_ocpp_rpc_strict(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    central = central_of(server_entry)
    platforms = (Platform.SWITCH, Platform.BUTTON, Platform.SENSOR, Platform.EVENT)
    with only_platforms(*platforms):
        async with js_charger(f"ws://127.0.0.1:{central.port}/{CHARGER_ID}") as js:
            await accept_pending_charger(hass, CHARGER_ID)
            await js.wait_for("waiting_for_limit")
            charger = central.charger(CHARGER_ID)
            await wait_until(lambda: charger.connector(1).transaction is not None, "session")
            await hass.async_block_till_done()
            user = hass.states.get(entity_id(hass, Platform.SENSOR, "session_user"))
            assert user is not None
            assert user.state == "Strict Sam"

            # Out of service while it charges: the charger schedules it for the session's end.
            await press(hass, Platform.SWITCH, "turn_off", "availability")
            changes = js.received("ChangeAvailability")
            assert changes[-1]["params"] == {"connectorId": 0, "type": "Inoperative"}
            # A start while a session runs: the charger rejects it, and the user hears so.
            with pytest.raises(HomeAssistantError, match="Rejected"):
                await press(hass, Platform.BUTTON, "press", "start_charging")
            assert js.received("RemoteStartTransaction")[-1]["params"] == {
                "connectorId": 1,
                "idTag": "HomeAssistant",
            }

            await press(hass, Platform.BUTTON, "press", "stop_charging")
            stop = await js.wait_for("stop_transaction")
            await wait_until(lambda: charger.connector(1).transaction is None, "session end")
            await hass.async_block_till_done()
            ended = hass.states.get(entity_id(hass, Platform.EVENT, "session"))
            assert ended is not None
            assert ended.attributes["event_type"] == "ended"
            assert ended.attributes["user"] == "Strict Sam"
            assert ended.attributes["id_tag"] == ID_TAG
            assert ended.attributes["stop_reason"] == "Remote"
            energy_wh = ended.attributes["energy_wh"]
            assert energy_wh == pytest.approx(stop["energy_wh"])
            assert ended.attributes["cost"] == pytest.approx(energy_wh / 1000 * 0.30, abs=1e-4)

            assert stop["reason"] == "Remote"
            assert await js.wait_exit() == 0, js.transcript()
            transcript = js.transcript()
            assert not js.steps("strict_validation_failure"), transcript
            assert js.steps("done")[-1]["strict_failures"] == 0, transcript
