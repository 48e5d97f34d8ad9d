"""A charger whose clock is off, in a real Home Assistant with a real 1.6 charger.

Behind: its live readings would look too old to the energy manager (it would take the commanded
current for the car's draw, for good); ahead by more than an hour: its times were replaced by ours
before the clock check saw them. Either way the clock repair tells the user, and the energy manager
takes the readings as of when they arrived. Readings re-sent after a reconnect stay as old as they
are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

import pytest
from freezegun import freeze_time
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import DOMAIN, ISSUE_CLOCK_SKEW, repair_issue_id
from custom_components.ocpp_ems.core import timeutil
from custom_components.ocpp_ems.core.ems import Reading
from custom_components.ocpp_ems.ems_inputs import charger_inputs

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard, central_of

TWO_HOURS_S = 7200.0
# Readings sent this far apart are two bursts here (``timeutil.CLOCK_BURST_S``, shortened).
BURST_S = 0.3
# The energy manager's charger_max_age_s (core/ems/config.py).
MAX_AGE_S = 180.0
# How long a charger was offline, queueing its readings.
OUTAGE_S = 1000.0


@pytest.fixture(autouse=True)
def _short_bursts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeutil, "CLOCK_BURST_S", BURST_S, raising=False)


def clock_issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, repair_issue_id(ISSUE_CLOCK_SKEW, "CP1"))


def power_age_s(server_entry: MockConfigEntry) -> float:
    """How old the energy manager takes the charger's power reading to be."""
    power = charger_inputs(central_of(server_entry).charger("CP1")).power_w
    assert isinstance(power, Reading)
    return time.time() - power.at


async def live_readings(hass: HomeAssistant, sim: SimCharger, ago_s: float, count: int = 2) -> None:
    """``count`` readings sent as they are taken, stamped by a clock ``ago_s`` behind ours."""
    for _ in range(count):
        await asyncio.sleep(2 * BURST_S)
        await sim.meter_values(power_w=7000.0, ago_s=ago_s)
    await hass.async_block_till_done()


async def test_a_clock_two_hours_behind_is_flagged_and_its_readings_are_fresh(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard() as (sim, _entry):
        await live_readings(hass, sim, TWO_HOURS_S)
        issue = clock_issue(hass)
        assert issue is not None
        assert issue.translation_key == f"{ISSUE_CLOCK_SKEW}_behind"
        assert issue.translation_placeholders == {"charger_id": "CP1", "minutes": "120"}
        # The energy manager takes the car's draw from the meter, not the commanded current.
        assert power_age_s(server_entry) < 30.0

        # The clock is set right: the issue goes.
        await live_readings(hass, sim, 0.0)
        assert clock_issue(hass) is None
        assert power_age_s(server_entry) < 30.0


@contextmanager
def _an_outage_later() -> Iterator[None]:
    """Our clock (and the charger's) on by :data:`OUTAGE_S`, running on: what the charger queued
    meanwhile is sent now. The event loop's monotonic clock runs on unchanged."""
    monotonic = time.monotonic
    with (
        freeze_time(dt_util.utcnow() + timedelta(seconds=OUTAGE_S), tick=True),
        patch.object(time, "monotonic", monotonic),
    ):
        yield


async def queued_readings(hass: HomeAssistant, sim: SimCharger, behind_s: float) -> None:
    """The readings a charger queued during the outage (15 to 5 minutes ago), sent at once."""
    await asyncio.sleep(2 * BURST_S)
    for ago_s in (900.0, 600.0, 300.0):
        await sim.meter_values(power_w=7000.0, ago_s=behind_s + ago_s)
    await hass.async_block_till_done()


async def test_readings_re_sent_after_an_outage_are_no_clock_behind(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """A right clock: the queue sent after an outage is old, not a clock behind (no repair), and
    the energy manager takes it for as old as it is (stale)."""
    async with onboard() as (sim, _entry):
        await live_readings(hass, sim, 0.0)
        with _an_outage_later():
            await queued_readings(hass, sim, 0.0)
            assert clock_issue(hass) is None
            assert MAX_AGE_S < power_age_s(server_entry) < 330.0
            await live_readings(hass, sim, 0.0)
            assert clock_issue(hass) is None
            assert power_age_s(server_entry) < 30.0


async def test_readings_re_sent_by_a_clock_behind_stay_as_old_as_they_are(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """A clock known to be two hours behind: the queue sent after an outage is as old as it is on
    our clock (stale), not fresh, and not taken for another offset."""
    async with onboard() as (sim, _entry):
        await live_readings(hass, sim, TWO_HOURS_S)
        assert clock_issue(hass) is not None
        with _an_outage_later():
            await queued_readings(hass, sim, TWO_HOURS_S)
            issue = clock_issue(hass)
            assert issue is not None
            assert (issue.translation_placeholders or {})["minutes"] == "120"
            assert MAX_AGE_S < power_age_s(server_entry) < 330.0


async def test_a_clock_two_hours_ahead_raises_the_repair(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard() as (sim, _entry):
        await live_readings(hass, sim, -TWO_HOURS_S, count=1)
        issue = clock_issue(hass)
        assert issue is not None
        assert issue.translation_key == ISSUE_CLOCK_SKEW
        assert issue.translation_placeholders == {"charger_id": "CP1", "minutes": "120"}
        assert power_age_s(server_entry) < 30.0

        await live_readings(hass, sim, 0.0, count=1)
        assert clock_issue(hass) is None


def test_the_live_offset_is_the_newest_reading_of_each_burst() -> None:
    """Two samples a message (the older one 5 s before): the newest of each message shows the
    clock's offset. A queue of 10 s samples, each message sent as soon as the one before was
    answered, never agrees with the live ones around it."""
    t0 = dt_util.utcnow()
    behind = timedelta(hours=2)
    clock = timeutil.LiveClockOffset()
    confirmed = []
    for message in range(3):
        received = t0 + timedelta(seconds=10 * message)
        for sample_ago_s in (5.0, 0.0):
            stamp = received - behind - timedelta(seconds=sample_ago_s)
            confirmed.append(clock.observe(stamp, received))
    assert confirmed[:2] == [None, None]  # the first message: nothing to agree with yet
    assert confirmed[-1] == -TWO_HOURS_S

    clock = timeutil.LiveClockOffset()
    assert clock.observe(t0, t0) is None
    drained = t0 + timedelta(minutes=5)
    for index, sample_ago_s in enumerate((40.0, 30.0, 20.0, 10.0)):
        received = drained + timedelta(seconds=0.1 * index)
        assert clock.observe(received - timedelta(seconds=sample_ago_s), received) is None
