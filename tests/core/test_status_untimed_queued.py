"""1.6: a charger whose live statuses carry no timestamp (optional in StatusNotification; many
chargers omit it) but whose offline queue, flushed after a reconnect, carries stamped ones. An
untimed status counts as of its arrival; a queued one is ordered against it by its stamp.

A Preparing queued 10 minutes before the untimed Charging shown must not replace it (a NO_FLOW
status: it would clear the car's 22 kW the energy manager reads), whatever clock stepped since:
ours back (an NTP correction) with the charger's clock or without it, or the charger's. A new
live status the charger stamps after that (its clock a few minutes ahead of ours or behind it)
is taken.

Our clock going back an hour while the charger's did not, or with it, had the queued Preparing
taken: its stamp lay more than MAX_CLOCK_AHEAD_S ahead of our clock, so the time we got it stood
for it, later than the Charging's arrival; nothing compared it with the charger's lead, as for a
stamped status shown (``taken_after``). A clock behind ours had its live status
dropped while its stamp lay before the untimed one's arrival by our clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, OurClock, energy, our_clock
from .v16_harness import Harness, SimCharger

QUEUED_BEFORE_S = 600  # the Preparing was stamped this long before the Charging arrived
POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}


class Clocks(NamedTuple):
    """The charger's clock ahead of ours (s; < 0: behind) while it charges, then how far ours
    and its own go back (s) before its queue arrives."""

    lead_s: float
    our_step_back_s: float = 0.0
    charger_step_back_s: float = 0.0

    def lead_after_s(self) -> float:
        return self.lead_s + self.our_step_back_s - self.charger_step_back_s


CASES = {
    "no_step_3_min_behind": Clocks(-180),
    "no_step_on_ours": Clocks(0),
    "no_step_3_min_ahead": Clocks(180),
    "ours_back_4_min_charger_not": Clocks(0, our_step_back_s=240),
    "ours_back_1_h_charger_not": Clocks(0, our_step_back_s=3600),
    "both_back_1_h": Clocks(0, our_step_back_s=3600, charger_step_back_s=3600),
    "ours_was_1_h_ahead_of_the_charger": Clocks(-3600, our_step_back_s=3600),
    "the_chargers_back_1_h": Clocks(0, charger_step_back_s=3600),
}


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


def stamp(at: datetime, lead_s: float) -> str:
    """What the charger's clock, ``lead_s`` ahead of ours, read at ``at`` (our clock)."""
    return (at + timedelta(seconds=lead_s)).isoformat()


def now() -> datetime:
    return datetime.now(UTC)


async def untimed_charging(
    h: Harness, clock: OurClock, lead_s: float
) -> tuple[SimCharger, datetime]:
    """A 22 kW session whose statuses come untimed and whose readings live, stamped by a clock
    ``lead_s`` ahead of ours (two a minute apart: its offset is confirmed): the charger and when
    its Charging arrived."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=stamp(now(), lead_s - 60))
    await sim.status(1, "Preparing")
    await sim.meter(1, energy(10_000), started.transaction_id, timestamp=stamp(now(), lead_s))
    clock.tick(55)
    await sim.status(1, "Charging")
    charging_at = now()
    clock.tick(5)
    readings = [*energy(10_400), POWER]
    await sim.meter(1, readings, started.transaction_id, timestamp=stamp(now(), lead_s))
    assert_charging(h)
    return sim, charging_at


def assert_charging(h: Harness) -> None:
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)


@pytest.mark.parametrize("clocks", CASES.values(), ids=CASES.keys())
async def test_a_queued_status_does_not_replace_an_untimed_live_one(
    h: Harness, clocks: Clocks
) -> None:
    with our_clock() as clock:
        sim, charging_at = await untimed_charging(h, clock, clocks.lead_s)
        clock.tick(10)
        clock.step(-timedelta(seconds=clocks.our_step_back_s))
        clock.tick(5)
        # Taken before any step, by the charger's clock then.
        await sim.status(
            1, "Preparing", timestamp=stamp(charging_at, clocks.lead_s - QUEUED_BEFORE_S)
        )
        assert_charging(h)


LIVE_AFTER_UNTIMED = {
    key: CASES[key]
    for key in (
        "no_step_3_min_behind",
        "no_step_on_ours",
        "no_step_3_min_ahead",
        "ours_back_4_min_charger_not",
        "ours_back_1_h_charger_not",
        "both_back_1_h",
        "ours_was_1_h_ahead_of_the_charger",
    )
}


@pytest.mark.parametrize("clocks", LIVE_AFTER_UNTIMED.values(), ids=LIVE_AFTER_UNTIMED.keys())
async def test_a_live_stamped_status_after_untimed_ones_is_taken(
    h: Harness, clocks: Clocks
) -> None:
    """After a string of untimed statuses (Preparing, Charging, SuspendedEV), the charger's
    live Finishing, stamped by its clock 10 s after the last one, shows and clears the power.
    (A clock that went back on its own, ours not, is not here: its live stamp lies an hour
    before, like a status queued an hour ago, test_v16_status_clock_steps.py.)"""
    with our_clock() as clock:
        sim, _ = await untimed_charging(h, clock, clocks.lead_s)
        clock.tick(10)
        await sim.status(1, "SuspendedEV")
        clock.step(-timedelta(seconds=clocks.our_step_back_s))
        clock.tick(10)
        await sim.status(1, "Finishing", timestamp=stamp(now(), clocks.lead_after_s()))
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FINISHING, 0.0)


async def test_a_queued_status_younger_than_a_clock_lead_stays_out(h: Harness) -> None:
    """No step; the charger's clock 3 min ahead of ours: a Preparing queued 2 min before the
    untimed Charging came is stamped after its arrival by our clock (was: taken); the lead its
    live readings confirmed puts the Charging on the charger's clock (``clock_off_s``)."""
    with our_clock() as clock:
        sim, charging_at = await untimed_charging(h, clock, 180)
        clock.tick(5)
        await sim.status(1, "Preparing", timestamp=stamp(charging_at, 180 - 120))
        assert_charging(h)
