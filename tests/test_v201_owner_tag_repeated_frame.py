"""A card shown after a cable-first start (2.x: a Started without a token, the card in a later
Updated) is the session's owner also when the Updated carrying it repeats a seqNo and time: one
its own session sent already (a station that numbers and stamps it like the message before), or
one the old session of a reused transaction id had (the station's clock went back after a reboot).
A repeated frame counts no energy twice, but the card is a fact the session lacks: the session's
card and user sensors show it, and the session event says "identified".
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_RESPONSE_TIMEOUT, DOMAIN
from tests.core.test_v201_reused_id_clock_back import (
    NEW_BEGIN_WH,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    REUSED_ID,
    SESSION_WH,
    _ago,
    send_frames,
    session_frames,
)
from tests.core.v201_reuse import cable_started, card_shown, tx_frame

from .helpers.fixtures import central_of
from .helpers.platform import only_platforms
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x
from .test_events_hostile import _session_entity, _session_events

CARD = {"idToken": "TAG2", "type": "ISO14443"}
CARD_USER = "Bob"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_ID_TAGS: ["TAG1 = Alice", f"TAG2 = {CARD_USER}"]}


def _session_sensor(hass: HomeAssistant, charger_id: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"{charger_id}_{key}"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _assert_owner_shown(hass: HomeAssistant, charger_id: str, fired: list[dict[str, Any]]) -> None:
    assert _session_sensor(hass, charger_id, "session_id_tag") == CARD["idToken"]
    assert _session_sensor(hass, charger_id, "session_user") == CARD_USER
    assert [e["event_type"] for e in fired].count("identified") == 1


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_card_in_an_updated_that_repeats_its_sessions_seq_no_and_time(
    hass: HomeAssistant, onboard_any: OnboardAny, server_entry: MockConfigEntry, version: str
) -> None:
    """Started (no token, 1,000 Wh), Updated seqNo 1 (Charging, 1,500 Wh), then the card in an
    Updated with seqNo 1 and its time again (the same register): the session's owner is the
    card, its energy stays 500 Wh."""
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard_any(version) as (side, entry):
            assert isinstance(side, Side2x)
            fired = _session_events(hass, _session_entity(hass, entry))
            started_at, charging_at = _ago(20), _ago(10)
            charging = tx_frame(
                "Updated",
                1,
                charging_at,
                wh=OLD_BEGIN_WH + 500,
                trigger_reason="ChargingStateChanged",
                charging_state="Charging",
            )
            await send_frames(
                side.station,
                [
                    cable_started(OLD_BEGIN_WH, started_at),
                    charging,
                    card_shown(1, charging_at, CARD, meter_value=charging["meter_value"]),
                ],
            )
            await hass.async_block_till_done()
            running = central_of(server_entry).charger(side.charger_id).connector(1).transaction
            assert running is not None
            assert running.energy_wh == 500
            _assert_owner_shown(hass, side.charger_id, fired)


# When the new session "1" starts (minutes ago): before the old one (120 -> 90 minutes ago)
# began, or inside its span (the clock went back by less than the old one ran).
NEW_STARTED_MIN_AGO = {"before_the_old_session": 240, "inside_the_old_session": 110}
# The card is shown in an Updated with the seqNo and time of the old session's Updated.
CARD_SHOWN_MIN_AGO = OLD_STARTED_MIN_AGO - 15


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("new_started", NEW_STARTED_MIN_AGO)
async def test_card_after_a_cable_first_start_of_a_reused_id_after_the_clock_went_back(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    version: str,
    new_started: str,
) -> None:
    """The old session "1" (TAG1), the station reboots (seqNo 0 again, its clock behind) and the
    cable starts the new "1" at the old one's last register; the card TAG2 comes in an Updated
    with the seqNo and time of the old session's Updated. Then the old session's frames are sent
    again (its Started with TAG1) and the new one ends: the new session's owner is TAG2
    throughout, the old one keeps TAG1, each counts its own 1,000 Wh."""
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard_any(version) as (side, entry):
            assert isinstance(side, Side2x)
            fired = _session_events(hass, _session_entity(hass, entry))
            charger = central_of(server_entry).charger(side.charger_id)
            old = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
            await send_frames(side.station, old)
            new_started_at = _ago(NEW_STARTED_MIN_AGO[new_started])
            new = session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO[new_started])
            await send_frames(
                side.station,
                [
                    cable_started(NEW_BEGIN_WH, new_started_at),
                    card_shown(1, old[1]["timestamp"], CARD),
                ],
            )
            await send_frames(side.station, old)
            await hass.async_block_till_done()
            _assert_owner_shown(hass, side.charger_id, fired)
            await send_frames(side.station, new[2:])
            await hass.async_block_till_done()
            ended = [e for e in fired if e["event_type"] == "ended"]
            assert [(e["transaction_id"], e["id_tag"]) for e in ended] == [
                (REUSED_ID, "TAG1"),
                (REUSED_ID, CARD["idToken"]),
            ]
            assert [charger.recently_ended[i].energy_wh for i in (-2, -1)] == [
                SESSION_WH,
                SESSION_WH,
            ]
