"""A car that starts a transaction by itself on a charger the USER paused by remote stop.

The user turns "Charging enabled" off (or calls the pause action) on a charger that pauses by
remote stop / start (option "Smart charging" off, or the pause strategy the user picked). Paused
with no car, nothing is stopped; then a car starts a transaction of its own (free vend, an RFID
card, a station that starts on plug-in). Nothing went out: the car charged at the charger's full
current though the switch said off. Each new transaction is stopped, once; turning charging on
starts the charger again as before.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_PAUSE_STRATEGY,
    CONF_SMART_CHARGING,
    DOMAIN,
)
from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.model import ControlledBy

from .helpers.charger import wait_for
from .helpers.ems import (
    POWER,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import central_of
from .helpers.lost_frames import charge_point_of, lose_next
from .helpers.self_started import loop_issue, stop_action, stopped, stopped_three_times
from .helpers.versions import OCPP16, VERSIONS, ChargerSide, OnboardAny, Side16

CHARGING = "switch.acme_wallbox_1_charging_enabled"
# The start command of each version.
START = {OCPP16: "RemoteStartTransaction"}
START_2X = "RequestStartTransaction"
REFUSED = "did not stop a transaction it started"
LOOP = "starts a new charge each time one is stopped"


def _started(charger: ChargerSide) -> list[dict[str, Any]]:
    """The remote starts the central system sent the charger."""
    return charger.commands(START.get(charger.version, START_2X))


async def _switch(hass: HomeAssistant, *, on: bool) -> None:
    service = SERVICE_TURN_ON if on else SERVICE_TURN_OFF
    await hass.services.async_call(
        Platform.SWITCH, service, {ATTR_ENTITY_ID: CHARGING}, blocking=True
    )


def _charging_enabled(hass: HomeAssistant) -> str:
    state = hass.states.get(CHARGING)
    assert state is not None
    return state.state


async def _paused_by_the_user(
    hass: HomeAssistant, charger: ChargerSide, entry: MockConfigEntry
) -> None:
    """Smart charging off (paused by remote stop); the user turns charging off with no car."""
    await async_set_charger_options(hass, entry, **{CONF_SMART_CHARGING: "off"})
    await _switch(hass, on=False)
    assert _charging_enabled(hass) == "off"
    assert stopped(charger) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_car_starting_by_itself_while_the_user_paused_is_stopped(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """Stopped, once per transaction (not again at each reading); the next one too; turning
    charging on starts the charger again, and that transaction is left to charge."""
    async with onboard_any(version) as (charger, entry):
        await _paused_by_the_user(hass, charger, entry)

        await charger.plug_in()
        first = await charger.start_session()
        await wait_for(lambda: stopped(charger), what="the new transaction stopped")
        await charger.meter(energy_wh=1100, power_w=11000)
        await hass.async_block_till_done()
        assert stopped(charger) == [first]
        assert _charging_enabled(hass) == "off"

        # The charger ends it; the car starts again by itself (a card held to it): stopped too.
        await charger.end_session(reason="Remote")
        second = await charger.start_session()
        await wait_for(lambda: len(stopped(charger)) == 2, what="the next one stopped")
        assert stopped(charger) == [first, second]
        await charger.end_session(reason="Remote")

        # The user turns charging on: started again, and the transaction that follows runs.
        await _switch(hass, on=True)
        assert len(_started(charger)) == 1
        await charger.start_session()
        await charger.meter(energy_wh=1200, power_w=11000)
        await hass.async_block_till_done()
        assert stopped(charger) == [first, second]
        assert _charging_enabled(hass) == "on"


async def test_a_refused_stop_is_told_once_and_not_asked_again(
    hass: HomeAssistant, onboard_any: OnboardAny, caplog: pytest.LogCaptureFixture
) -> None:
    """The charger refuses to stop the car's transaction: one warning, no stop at every reading;
    the next transaction is asked once too, its refusal at debug level."""
    async with onboard_any(OCPP16) as (charger, entry):
        assert isinstance(charger, Side16)
        await _paused_by_the_user(hass, charger, entry)
        charger.sim.statuses["RemoteStopTransaction"] = "Rejected"

        await charger.plug_in()
        first = await charger.start_session()
        await wait_for(lambda: REFUSED in caplog.text, what="the refusal told")
        for reading in range(1, 6):
            await charger.meter(energy_wh=1000 + 10 * reading, power_w=11000)
        await hass.async_block_till_done()
        assert stopped(charger) == [first]

        await charger.end_session()
        second = await charger.start_session()
        await wait_for(lambda: len(stopped(charger)) == 2, what="the next one asked")
        await hass.async_block_till_done()
        assert stopped(charger) == [first, second]
        warnings = [
            r for r in caplog.records if REFUSED in r.getMessage() and r.levelno >= logging.WARNING
        ]
        assert len(warnings) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_unanswered_stop_is_asked_again(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    """The charger does not answer the stop (a lost frame, a busy charger): unlike a refusal,
    the car may still charge. Asked again after the retry time, and answered then."""
    monkeypatch.setattr(CurrentController, "self_started_stop_retry_s", 0.05)
    async with onboard_any(version) as (charger, entry):
        await _paused_by_the_user(hass, charger, entry)
        lost = lose_next(charge_point_of(charger), stop_action(charger))

        await charger.plug_in()
        transaction = await charger.start_session()
        await wait_for(lambda: lost, what="the stop lost")
        # (after the response timeout, 3 s)
        await wait_for(lambda: stopped(charger), seconds=10, what="the stop asked again")
        assert stopped(charger) == [transaction]
        assert _charging_enabled(hass) == "off"


@pytest.mark.usefixtures("fast_ems_debounce")
async def test_the_pause_action_taking_over_from_the_energy_manager(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The user's own pause strategy (remote stop / start, smart charging on), paused with the
    pause action while the energy manager runs: the charger becomes the user's (Manual), and a
    transaction the car starts is stopped, once (the manager's own rule leaves it alone)."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    # The energy manager on (the other tests run without it).
    options = ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})
    hass.config_entries.async_update_entry(server_entry, options=options)
    await hass.async_block_till_done()
    async with onboard_any(OCPP16) as (charger, entry):
        await async_set_charger_options(hass, entry, **{CONF_PAUSE_STRATEGY: "remote_stop_start"})
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, charger.charger_id), entry.entry_id
        )
        assert device is not None
        await hass.services.async_call(
            DOMAIN, "pause_charging", {"device_id": device.id}, blocking=True
        )
        model = central_of(server_entry).charger(charger.charger_id)
        assert (model.limit.paused, model.limit.controlled_by) == (True, ControlledBy.MANUAL)

        await charger.plug_in()
        transaction = await charger.start_session()
        await wait_for(lambda: stopped(charger), what="the new transaction stopped")
        await set_sources(hass, grid=11000)
        await charger.meter(energy_wh=1100, power_w=11000)
        await hass.async_block_till_done()
        assert stopped(charger) == [transaction]


async def test_a_zero_amp_pause_holds_a_new_transaction_without_a_stop(
    hass: HomeAssistant, onboard_any: OnboardAny
) -> None:
    """Paused by a 0 A limit (smart charging on, the default strategy): the TxDefault profile
    holds the car's new transaction; nothing is stopped."""
    async with onboard_any(OCPP16) as (charger, _entry):
        await _switch(hass, on=False)
        await charger.plug_in()
        await charger.start_session()
        await charger.meter(energy_wh=1100, power_w=0)
        await hass.async_block_till_done()
        assert stopped(charger) == []
        assert charger.live_limit() == 0.0


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_station_in_a_start_stop_loop_is_left_to_charge(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
    version: str,
) -> None:
    """The station opens a new transaction each time one is stopped, the cable in: after the
    third, the next is left to charge (not stopped for ever: relay wear, the car's contactor),
    told once in the log and by a repair issue, which goes when the car is unplugged; then the
    count starts afresh."""
    async with onboard_any(version) as (charger, entry):
        await _paused_by_the_user(hass, charger, entry)
        await stopped_three_times(charger)
        await wait_for(lambda: loop_issue(issue_registry, charger), what="the repair issue")
        await charger.meter(energy_wh=1100, power_w=11000)
        await hass.async_block_till_done()
        assert len(stopped(charger)) == 3
        issue = loop_issue(issue_registry, charger)
        assert issue is not None
        assert issue.translation_placeholders == {
            "charger_id": charger.charger_id,
            "connectors": "1",
        }
        assert caplog.text.count(LOOP) == 1

        # Unplugged: the transaction ends so (before the connector's status says Available).
        await charger.end_session(reason="EVDisconnected")
        await wait_for(lambda: loop_issue(issue_registry, charger) is None, what="issue gone")
        await charger.plug_in()
        await charger.start_session()
        await wait_for(lambda: len(stopped(charger)) == 4, what="a new car's charge stopped")


async def test_the_loop_issue_goes_when_the_pause_ends(
    hass: HomeAssistant, onboard_any: OnboardAny, issue_registry: ir.IssueRegistry
) -> None:
    """The user turns charging on: the loop is over (the car charges as allowed)."""
    async with onboard_any(OCPP16) as (charger, entry):
        await _paused_by_the_user(hass, charger, entry)
        await stopped_three_times(charger)
        await wait_for(lambda: loop_issue(issue_registry, charger), what="the repair issue")

        await _switch(hass, on=True)
        await wait_for(lambda: loop_issue(issue_registry, charger) is None, what="issue gone")
