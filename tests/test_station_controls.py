"""Controls and actions on 2.x stations when the station refuses, or has two EVSEs: what is shown
is what the station holds, every EVSE is paused and stopped, events land on their EVSE."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_ems.const import DOMAIN

from .helpers.charger import wait_for
from .helpers.station201 import OCPP21
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x

PREFIX = "acme_wallbox_1"
CURRENT_LIMIT = f"number.{PREFIX}_current_limit"
ACTIVE_LIMIT = f"sensor.{PREFIX}_active_limit"
CHARGING_SWITCH = f"switch.{PREFIX}_charging_enabled"


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def set_number(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": value}, blocking=True
    )
    await hass.async_block_till_done()


def find_device(hass: HomeAssistant, identifier: str, entry: Any) -> Any:
    registry = dr.async_get(hass)
    return registry.async_get_device_by_identifier(
        (DOMAIN, identifier), entry.entry_id
    ) or registry.async_get_child_device_by_identifier((DOMAIN, identifier), entry.entry_id)


async def device_id(hass: HomeAssistant, identifier: str, entry: Any) -> str:
    device = find_device(hass, identifier, entry)
    assert device is not None
    return str(device.id)


# --- 2.1: a station that answers UpdateDynamicSchedule with a CALLERROR -------------------------
async def test_21_update_dynamic_schedule_callerror_falls_back_to_set_charging_profile(
    hass: HomeAssistant, onboard_any: OnboardAny
) -> None:
    """A 2.1 station that advertises dynamic profiles but answers UpdateDynamicSchedule with a
    CALLERROR (NotSupported): the limit change must still reach it (a full SetChargingProfile, as
    for a Rejected update), not fail the user's change."""
    async with onboard_any(OCPP21) as (charger, _entry):
        assert isinstance(charger, Side2x)
        charger.station.fail_with_error["UpdateDynamicSchedule"] = "NotSupported"
        await set_number(hass, 10)  # expected: falls back, succeeds
        assert charger.live_limit() == 10.0
        assert state(hass, CURRENT_LIMIT) == "10.0"


# --- a refused limit must not be shown as in force ------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_refused_limit_is_not_shown_as_the_limit(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """The station refuses the new live profile: the action fails, and the number and the active
    limit sensor keep showing what the charger holds (32 A), not the refused 10 A."""
    async with onboard_any(version) as (charger, _entry):
        assert isinstance(charger, Side2x)
        assert state(hass, CURRENT_LIMIT) == "32.0"
        charger.station.status_override["SetChargingProfile"] = "Rejected"
        # (answers, not status_override: the simulator would apply the update, then say Rejected)
        charger.station.answers["UpdateDynamicSchedule"] = {"status": "Rejected"}
        with pytest.raises(HomeAssistantError) as err:
            await set_number(hass, 10)
        assert err.value.translation_key == "command_rejected"
        await hass.async_block_till_done()
        assert charger.live_limit() == 32.0
        assert state(hass, ACTIVE_LIMIT) == "32.0"
        assert state(hass, CURRENT_LIMIT) == "32.0"


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_refused_pause_leaves_the_charging_switch_on(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """Turning charging off is refused by the station (0 A profile Rejected): an error, and the
    switch stays on (the car still charges at 32 A)."""
    async with onboard_any(version) as (charger, _entry):
        assert isinstance(charger, Side2x)
        assert state(hass, CHARGING_SWITCH) == "on"
        charger.station.status_override["SetChargingProfile"] = "Rejected"
        # (answers, not status_override: the simulator would apply the update, then say Rejected)
        charger.station.answers["UpdateDynamicSchedule"] = {"status": "Rejected"}
        with pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                "switch", "turn_off", {"entity_id": CHARGING_SWITCH}, blocking=True
            )
        await hass.async_block_till_done()
        assert charger.live_limit() == 32.0
        assert state(hass, CHARGING_SWITCH) == "on"
        assert state(hass, ACTIVE_LIMIT) == "32.0"


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_refused_limit_is_not_written_later_behind_the_users_back(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """The user was told the 10 A limit failed. When the station accepts profiles again (e.g. the
    next forced write on a session start), the refused value must not silently reach it."""
    async with onboard_any(version) as (charger, _entry):
        assert isinstance(charger, Side2x)
        charger.station.status_override["SetChargingProfile"] = "Rejected"
        # (answers, not status_override: the simulator would apply the update, then say Rejected)
        charger.station.answers["UpdateDynamicSchedule"] = {"status": "Rejected"}
        with pytest.raises(HomeAssistantError):
            await set_number(hass, 10)
        charger.station.status_override.clear()
        charger.station.answers.pop("UpdateDynamicSchedule")
        await charger.plug_in()
        await charger.start_session()  # current control re-checks its live profile
        await hass.async_block_till_done()
        await asyncio.sleep(0.5)
        assert charger.live_limit() == 32.0


# --- a 2.x station with two EVSEs ---------------------------------------------------------------
async def two_evses(hass: HomeAssistant, charger: Side2x, entry: Any) -> None:
    await charger.station.status(1, 1, "Available")
    await charger.station.status(2, 1, "Available")
    await hass.async_block_till_done()
    # Several outlets: the entry reloads so every connector gets its own device.
    await wait_for(
        lambda: find_device(hass, "DUO_2", entry) is not None,
        what="connector device",
    )
    await hass.async_block_till_done()


async def charging_on_both(station: Any) -> None:
    """A session charging on EVSE 1 (tx-evse-1) and on EVSE 2 (tx-evse-2)."""
    for evse in (1, 2):
        await station.tx_event(
            "Started",
            f"tx-evse-{evse}",
            trigger_reason="Authorized",
            evse={"id": evse, "connectorId": 1},
            id_token={"idToken": "HomeAssistant", "type": "Central"},
            charging_state="Charging",
        )


def reservation_events(hass: HomeAssistant) -> dict[str, Any]:
    return {
        s.entity_id: s.attributes.get("event_type")
        for s in hass.states.async_all("event")
        if s.entity_id.endswith("_reservation")
    }


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_reservation_end_fires_only_on_the_reserved_evse(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """A reservation made on EVSE 2 that expires: only EVSE 2's reservation event fires (not
    EVSE 1's as well)."""
    async with onboard_any(version, "DUO") as (charger, entry):
        assert isinstance(charger, Side2x)
        await two_evses(hass, charger, entry)
        evse2 = await device_id(hass, "DUO_2", entry)
        reserved = await hass.services.async_call(
            DOMAIN,
            "reserve_now",
            {"device_id": evse2, "id_tag": "CARD", "expiry": "2099-01-01T00:00:00+00:00"},
            blocking=True,
            return_response=True,
        )
        assert charger.commands("ReserveNow")[-1]["evseId"] == 2
        events = reservation_events(hass)
        assert len(events) == 2
        assert set(events.values()) == {None}
        answer = await charger.station.request(
            "ReservationStatusUpdate",
            {"reservationId": reserved["reservation_id"], "reservationUpdateStatus": "Expired"},
        )
        assert answer.ok
        await hass.async_block_till_done()
        fired = [eid for eid, kind in reservation_events(hass).items() if kind == "ended"]
        assert len(fired) == 1, fired
        assert "connector_2" in fired[0]


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_stop_charging_on_the_station_stops_every_evse_even_if_one_refuses(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """stop_charging on the station's device with sessions on EVSE 1 and 2: EVSE 1 refuses its
    RequestStopTransaction; EVSE 2's session must still be asked to stop (and the error told)."""
    async with onboard_any(version, "DUO") as (charger, entry):
        assert isinstance(charger, Side2x)
        await two_evses(hass, charger, entry)
        station = charger.station
        await charging_on_both(station)
        await hass.async_block_till_done()
        station.answers["RequestStopTransaction"] = lambda payload: {
            "status": "Rejected" if payload["transactionId"] == "tx-evse-1" else "Accepted"
        }
        with pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                DOMAIN,
                "stop_charging",
                {"device_id": await device_id(hass, "DUO", entry)},
                blocking=True,
            )
        asked = [p["transactionId"] for p in charger.commands("RequestStopTransaction")]
        assert "tx-evse-2" in asked, asked


def evse_limit(station: Any, evse_id: int) -> float | None:
    """What an EVSE applies by OCPP 2.x rules: its TxProfile if it has one (it overrides
    TxDefault), else the highest-stack TxDefaultProfile for it or the station (evseId 0)."""

    def limit(profile: dict[str, Any]) -> float:
        return float(profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"])

    for purpose in ("TxProfile", "TxDefaultProfile"):
        candidates = [
            p
            for p in station.profiles.values()
            if p["chargingProfilePurpose"] == purpose
            and p["evseId"] in ((evse_id,) if purpose == "TxProfile" else (0, evse_id))
        ]
        if candidates:
            return limit(max(candidates, key=lambda p: int(p["stackLevel"])))
    return None


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_charging_off_pauses_every_evse_with_tx_profiles(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """Live profile purpose "tx" (the quirk option) on a two-EVSE station with a session on each
    EVSE: turning charging off must bring both EVSEs to 0 A (each transaction has its own Tx
    profile: one shared id would leave EVSE 2 on the old TxDefault limit, 32 A)."""
    from custom_components.ocpp_ems.const import CONF_PROFILE_PURPOSE

    async with onboard_any(version, "DUO") as (charger, entry):
        assert isinstance(charger, Side2x)
        await two_evses(hass, charger, entry)
        hass.config_entries.async_update_entry(entry, options={CONF_PROFILE_PURPOSE: "tx"})
        await hass.async_block_till_done()
        station = charger.station
        await charging_on_both(station)
        await hass.async_block_till_done()
        await wait_for(
            lambda: any(
                p["chargingProfilePurpose"] == "TxProfile" for p in station.profiles.values()
            ),
            what="tx profile",
        )
        await hass.services.async_call(
            "switch", "turn_off", {"entity_id": CHARGING_SWITCH}, blocking=True
        )
        await hass.async_block_till_done()
        assert evse_limit(station, 1) == 0.0
        assert evse_limit(station, 2) == 0.0
