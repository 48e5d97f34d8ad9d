"""A car that starts a transaction by itself on a charger the energy manager paused by remote stop.

A charger that takes no current limit (here: option "Smart charging" off) is paused by a remote
stop and resumed by a remote start. Paused with no car, nothing is stopped; then a car starts a
transaction of its own (free vend, an RFID card, a station that starts on plug-in). The manager's
target was still "paused", already written, so nothing went out: the car charged at the charger's
full current, from the grid in Solar mode without sun. The new transaction is stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_INSTALLATION_MAX,
    CONF_SMART_CHARGING,
)

from .helpers.charger import wait_for
from .helpers.ems import (
    POWER,
    REASON,
    TARGET,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import central_of
from .helpers.lost_frames import charge_point_of, lose_next
from .helpers.self_started import loop_issue, stop_action, stopped, stopped_three_times
from .helpers.versions import OCPP16, VERSIONS, ChargerSide, OnboardAny, Side16

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


@contextmanager
def _decisions(hass: HomeAssistant, server_entry: MockConfigEntry) -> Iterator[Callable[[], int]]:
    """Counts the energy manager's decisions from now (read with the callable given)."""
    count = 0

    @callback
    def _decided() -> None:
        nonlocal count
        count += 1

    unsub = async_dispatcher_connect(hass, energy_manager.signal(server_entry.entry_id), _decided)
    try:
        yield lambda: count
    finally:
        unsub()


async def _decided_since(decisions: Callable[[], int], seen: int) -> None:
    await wait_for(lambda: decisions() > seen, what="a decision")


async def _five_decisions_while_the_car_draws(
    hass: HomeAssistant, charger: ChargerSide, server_entry: MockConfigEntry
) -> None:
    """Five readings of the car drawing 11 kW from the grid, each waited for a decision on."""
    with _decisions(hass, server_entry) as decisions:
        for reading in range(1, 6):
            seen = decisions()
            await set_sources(hass, grid=11500 + reading)
            await charger.meter(energy_wh=1000 + 10 * reading, power_w=11000)
            await _decided_since(decisions, seen)


async def _paused_without_a_car(
    hass: HomeAssistant, charger: ChargerSide, entry: MockConfigEntry, server: MockConfigEntry
) -> None:
    """Smart charging off (paused by remote stop), Solar mode, the grid importing: the manager
    pauses the charger with no car at it (nothing to stop)."""
    await async_set_charger_options(
        hass, entry, **{CONF_SMART_CHARGING: "off", CONF_INSTALLATION_MAX: 16}
    )
    model = central_of(server).charger(charger.charger_id)
    await wait_for(lambda: model.limit.paused, what="paused without a car")
    assert stopped(charger) == []


async def car_start_with_its_stop_refused(
    hass: HomeAssistant, charger: ChargerSide, entry: MockConfigEntry, server: MockConfigEntry
) -> str:
    """Paused without a car (:func:`_paused_without_a_car`), a car starts a transaction by
    itself, and the 1.6 charger refuses its stop: the transaction."""
    assert isinstance(charger, Side16)
    await _paused_without_a_car(hass, charger, entry, server)
    charger.sim.statuses["RemoteStopTransaction"] = "Rejected"
    await charger.plug_in()
    transaction = await charger.start_session()
    await wait_for(lambda: stopped(charger), what="the stop, refused")
    return transaction


async def car_start_with_its_stop_lost(
    hass: HomeAssistant,
    charger: ChargerSide,
    entry: MockConfigEntry,
    server: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Paused without a car (:func:`_paused_without_a_car`), a car starts a transaction by
    itself, and the charger leaves its stop unanswered (the response timeout passed)."""
    await _paused_without_a_car(hass, charger, entry, server)
    lost = lose_next(charge_point_of(charger), stop_action(charger))
    await charger.plug_in()
    await charger.start_session()
    await wait_for(lambda: lost, what="the stop lost")
    await wait_for(lambda: "no answer" in caplog.text, what="the response timeout (3 s)")


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_car_starting_by_itself_on_a_paused_charger_is_stopped(
    hass: HomeAssistant, onboard_any: OnboardAny, server_entry: MockConfigEntry, version: str
) -> None:
    """Stopped, with the reason it waits for (no surplus); and so is the next one."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)  # importing: no surplus
    async with onboard_any(version) as (charger, entry):
        await _paused_without_a_car(hass, charger, entry, server_entry)

        await charger.plug_in()
        first = await charger.start_session()
        await wait_for(lambda: stopped(charger), what="the new transaction stopped")
        assert stopped(charger) == [first]
        await hass.async_block_till_done()
        assert (_state(hass, REASON), _state(hass, TARGET)) == ("waiting_for_surplus", "0.0")

        # The charger ends it; the car starts again by itself (a card held to it): stopped too.
        await charger.end_session(reason="Remote")
        second = await charger.start_session()
        await wait_for(lambda: len(stopped(charger)) == 2, what="the next one stopped")
        assert stopped(charger) == [first, second]


async def test_a_refused_stop_is_not_asked_again_at_every_update(
    hass: HomeAssistant, onboard_any: OnboardAny, server_entry: MockConfigEntry
) -> None:
    """The charger refuses to stop the car's transaction (one it authorized itself): asked
    again at every decision (every grid reading, every meter value), each refused again. It
    is asked again after the retry time only."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)
    async with onboard_any(OCPP16) as (charger, entry):
        transaction = await car_start_with_its_stop_refused(hass, charger, entry, server_entry)
        await _five_decisions_while_the_car_draws(hass, charger, server_entry)
        assert stopped(charger) == [transaction]
        # The reason says the charger refused the stop, the manager's own one beside it.
        assert (_state(hass, REASON), _state(hass, TARGET)) == ("charger_refused", "0.0")
        reason = hass.states.get(REASON)
        assert reason is not None
        assert reason.attributes["controller_reason"] == "waiting_for_surplus"


async def test_an_unanswered_stop_is_not_asked_again_at_every_update(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The charger does not answer the stop of the car's transaction (a lost frame, a busy
    charger): asked again after the retry time, as a refused one (the driver's tests), not at
    every decision (each stop waiting out the response timeout of a charger that may be busy)."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)
    async with onboard_any(OCPP16) as (charger, entry):
        await car_start_with_its_stop_lost(hass, charger, entry, server_entry, caplog)
        await _five_decisions_while_the_car_draws(hass, charger, server_entry)
        assert stopped(charger) == []


async def test_a_station_in_a_start_stop_loop_is_left_to_charge(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The station opens a new transaction each time the manager's pause stops one, the cable
    in: after the third, the next is left to charge, with the repair issue (counted where the
    user's pause counts: tests/test_user_pause_self_started.py)."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)
    async with onboard_any(OCPP16) as (charger, entry):
        await _paused_without_a_car(hass, charger, entry, server_entry)
        await stopped_three_times(charger)
        await wait_for(lambda: loop_issue(issue_registry, charger), what="the repair issue")
        with _decisions(hass, server_entry) as decisions:
            seen = decisions()
            await set_sources(hass, grid=11500)
            await charger.meter(energy_wh=1100, power_w=11000)
            await _decided_since(decisions, seen)
        await hass.async_block_till_done()
        assert len(stopped(charger)) == 3
