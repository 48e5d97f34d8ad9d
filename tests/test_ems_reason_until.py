"""The reason sensor of a real 1.6 charger that leaves SetChargingProfile unanswered.

Over a failure and two retries its state (the reason AND its attributes, each change a recorder
row and an automation trigger) changes once per try: its ``until`` is the run's latest retry time
(the next one; through its round trip, the one under way). It changed twice per retry: blank for
the round trip, then the next retry's time (5 changes, now 3). And "not answering" goes once the
charger answers: after the manager is switched off and on (a refused hand-back), or when it takes
a limit its current control writes by itself (the retry is brought forward).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_RESPONSE_TIMEOUT

from .helpers.charger import wait_for
from .helpers.ems import REASON, ems_server_options
from .helpers.fixtures import Onboard
from .test_ems_entities import NEXT_CHANGE, state_of
from .test_ems_pause import switch_manager
from .test_reason_charger_not_answering import PROFILE
from .test_redteam7_signals import (
    FAILED,
    charging_fast_at_16_a,
    raised_to_20_a_unanswered,
    retries_watched,
)

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

TRIES = 3  # the first write and two retries
RESPONSE_TIMEOUT_S = 1
LONG_RETRY_S = 30.0  # the first wait after a write left unanswered, as in use
NOT_ANSWERING = "charger_not_answering"
HAND_BACK_FAILED = "could not hand charger CP1 back"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(
        **{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: RESPONSE_TIMEOUT_S}
    )


def _changes(hass: HomeAssistant, entity_id: str) -> list[tuple[str, str | None]]:
    """Every change of the entity's state object from now on: (state, its ``until``)."""
    changes: list[tuple[str, str | None]] = []

    @callback
    def _changed(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if old is not None and new is not None and old != new:
            changes.append((new.state, new.attributes.get("until")))

    async_track_state_change_event(hass, entity_id, _changed)
    return changes


async def first_try_of_20_a_failed(
    hass: HomeAssistant, sim: Any, caplog: pytest.LogCaptureFixture
) -> asyncio.Event:
    """20 A left unanswered, its first try failed; set the event to have the charger answer."""
    answering = await raised_to_20_a_unanswered(hass, sim, caplog)
    await wait_for(lambda: FAILED in caplog.text, 15.0, what="20 A unanswered")
    return answering


def _moment(text: str | None) -> datetime:
    moment = dt_util.parse_datetime(text or "")
    assert moment is not None, text
    return moment


async def test_the_reason_changes_once_per_retry_and_says_when_the_next_one_goes(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await retries_watched(hass, monkeypatch, caplog)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        reason, next_change = _changes(hass, REASON), _changes(hass, NEXT_CHANGE)
        answering = await raised_to_20_a_unanswered(hass, sim, caplog)
        await wait_for(lambda: caplog.text.count(FAILED) >= TRIES, 15.0, what="two retries")

        # Once per try: not answering at the failure, then each retry's failure moves `until`
        # on to the next retry (5 changes before: blank for each round trip, then the time).
        assert [state for state, _ in reason] == [NOT_ANSWERING] * TRIES, reason
        untils = [_moment(until) for _, until in reason]
        assert untils == sorted(set(untils))
        assert len(next_change) == TRIES  # (the countdown sensor shows the same time)
        # True: each `until` is when the next try went out, its failure a response timeout
        # later (whole seconds, rounded up: it goes out in the second before, or just after
        # with the timer's slack).
        sent = [
            dt_util.utc_from_timestamp(record.created - RESPONSE_TIMEOUT_S)
            for record in caplog.records
            if FAILED in record.getMessage()
        ]
        for until, try_sent in zip(untils[:-1], sent[1:], strict=True):
            assert until - timedelta(seconds=1) <= try_sent <= until + timedelta(seconds=0.5)

        answering.set()  # the next try is taken: the manager's reason, no wait
        await wait_for(lambda: sim.live_limit() == 20.0, 10.0, what="the next try")
        await wait_for(lambda: reason[-1][0] == "fast", what="the reason back")
        assert state_of(hass, REASON).attributes["until"] is None


async def test_switched_off_while_silent_then_on_after_a_refused_hand_back(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pinned (correct here before the driver's fix: the chargers' entries reload on the switch,
    and a reload starts each charger afresh; ``tests/ems/test_driver_hand_back_after_off.py``
    has the driver alone). The manager is switched off while the charger leaves 20 A
    unanswered; it answers the hand-back with a refusal; switched on, the reason is the
    manager's and its 20 A goes out, not held for the old run's wait."""
    await retries_watched(hass, monkeypatch, caplog)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        answering = await first_try_of_20_a_failed(hass, sim, caplog)
        await switch_manager(hass, server_entry, on=False)
        sim.statuses[PROFILE] = "Rejected"
        answering.set()
        await wait_for(lambda: HAND_BACK_FAILED in caplog.text, 15.0, what="hand-back refused")
        del sim.statuses[PROFILE]
        await switch_manager(hass, server_entry, on=True)
        await wait_for(lambda: sim.live_limit() == 20.0, 10.0, what="20 A written again")
        await wait_for(lambda: state_of(hass, REASON).state == "fast", what="the reason back")


async def test_a_limit_the_charger_takes_meanwhile_brings_the_retry_forward(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The charger leaves 20 A unanswered (the next try 30 s away), then answers again: a new
    session's Tx profile, which its current control writes by itself, is taken. The manager's
    20 A goes out then, not 30 s later ("not answering" shown meanwhile, its writes held)."""
    await retries_watched(hass, monkeypatch, caplog)
    monkeypatch.setattr(energy_manager, "EMS_RETRY_S", LONG_RETRY_S)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        answering = await first_try_of_20_a_failed(hass, sim, caplog)
        assert state_of(hass, REASON).state == NOT_ANSWERING
        answering.set()
        await sim.stop_transaction()
        await sim.start_transaction()  # (its Tx profile: the current control's own write)
        await wait_for(lambda: sim.live_limit() == 20.0, 5.0, what="20 A well before its retry")
        await wait_for(lambda: state_of(hass, REASON).state == "fast", what="the reason back")
