"""meter_time.rise_allowance from a base received live: the charger's clock set forward since makes
no allowance (a reading 50 kWh high counted), while an offline queue keeps its stamps' time (also
one whose first reading lies off our clock by the offset confirmed before our answer set the
clock: LiveClockOffset.settled_s), and so does our host's sleep that our clock's step back hid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.meter_time import max_energy_wh, rise_allowance
from custom_components.ocpp_ems.core.meter_values import Reading
from custom_components.ocpp_ems.core.model import RegisterPoint
from custom_components.ocpp_ems.core.timeutil import CLOCK_OFFSET_TOLERANCE_S, LiveClockOffset

from .test_redteam12a_live_base import CAR_W, START_WH, Site, run

POWER_W = 22_000.0
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BEHIND = timedelta(hours=-2)  # the charger's clock, as its live readings confirmed it
MINUTE = timedelta(minutes=1)


def _point(
    stamp: datetime,
    received: datetime,
    received_monotonic: float,
    live_offset_s: float | None = None,
) -> RegisterPoint:
    return RegisterPoint(
        register_wh=10_000.0,
        timestamp=stamp,
        received_at=received,
        _received_monotonic=received_monotonic,
        live_offset_s=live_offset_s,
    )


def test_a_clock_set_forward_after_a_live_base_allows_only_the_time_we_waited() -> None:
    base = _point(NOW + BEHIND, NOW, 100.0)
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=BEHIND.total_seconds())
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0 + CLOCK_OFFSET_TOLERANCE_S))


def test_a_base_not_on_the_live_clock_keeps_the_stamps_time() -> None:
    """An offline queue: its first reading, stamped two hours ago, is the base of the next one
    that arrives with it; the charger's clock is right (confirmed offset 0)."""
    queued_first = _point(NOW + BEHIND, NOW, 100.0)
    queued_next = _point(NOW + BEHIND + MINUTE, NOW, 100.0)
    allowance = rise_allowance(POWER_W, None, queued_first, queued_next, live_offset_s=0.0)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0))


def test_a_queue_flushed_after_a_live_base_keeps_the_time_it_was_offline() -> None:
    base = _point(NOW, NOW, 100.0)
    hours_later = timedelta(hours=2)
    queued = _point(NOW + hours_later - MINUTE, NOW + hours_later, 100.0 + 7200.0)
    allowance = rise_allowance(POWER_W, None, base, queued, live_offset_s=0.0)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 7200.0))


@pytest.mark.parametrize("confirmed_now", [None, 0.0], ids=["none_since_the_set", "the_new_clock"])
def test_a_base_is_judged_by_the_offset_confirmed_when_we_received_it(
    confirmed_now: float | None,
) -> None:
    """We told the charger the time since the base: no offset is confirmed now, or the new
    clock's (0); the base, received on the old clock's (2 h behind), was received live."""
    base = _point(NOW + BEHIND, NOW, 100.0, live_offset_s=BEHIND.total_seconds())
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=confirmed_now)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 60.0 + CLOCK_OFFSET_TOLERANCE_S))


def test_a_base_that_does_not_say_is_judged_by_the_offset_confirmed_now() -> None:
    """A restored base (no offset recorded): a queue's stamps keep their time unless the offset
    confirmed now shows the base live."""
    base = _point(NOW + BEHIND, NOW, 100.0)
    set_right = _point(NOW + MINUTE, NOW + MINUTE, 160.0)
    allowance = rise_allowance(POWER_W, None, base, set_right, live_offset_s=None)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 7260.0))


def test_our_host_slept_and_its_clock_went_back_after_a_live_base() -> None:
    """Our host slept 10 min (the monotonic clock stood), then NTP set our clock back 290 s; 5 s
    later a reading arrives stamped 605 s after the live base: our clocks count 315 s and 5 s,
    our clock stepped 310 s (meter_time.clock_step_s). Was (d59dcb4): 320 s."""
    base = _point(NOW, NOW, 100.0, live_offset_s=0.0)
    later = _point(NOW + timedelta(seconds=605), NOW + timedelta(seconds=315), 105.0)
    allowance = rise_allowance(POWER_W, None, base, later, live_offset_s=0.0)
    assert allowance == pytest.approx(max_energy_wh(POWER_W, 605.0))


AGE = timedelta(minutes=10)  # a queued reading's age, equal to the clock's correction


def test_an_offset_confirmed_across_our_answer_is_not_settled() -> None:
    """Live readings a minute apart confirm a clock 10 min behind; our answer sets it right; the
    queue flushed next begins with a reading 10 min old, which confirms the old offset again:
    no sign it was received live, until readings since our answer confirm one."""
    clock, minute = LiveClockOffset(), timedelta(minutes=1)
    for received in (NOW - 2 * minute, NOW - minute):
        clock.observe(received - AGE, received)
    assert clock.settled_s == -AGE.total_seconds()
    clock.clock_set()
    assert clock.observe(NOW - AGE, NOW) == -AGE.total_seconds()
    assert clock.settled_s is None
    clock.observe(NOW, NOW)  # the queue's newest, on the clock set right
    assert clock.observe(NOW + minute, NOW + minute) == 0.0
    assert clock.settled_s == 0.0


KWH = 1000.0
SLOW_W = 5_500.0


def _coarse_queue_then_live(site: Site) -> None:
    """A register in kWh steps, a slow car (5.5 kW): our Heartbeat sets the clock (10 min
    behind) right; offline 20 min, the queue's two readings read the same step (the first, 10
    min old, confirms the old offset); 1 min after the flush the register reads the next step,
    live."""

    def coarse(every_s: float, *, send: bool) -> None:
        site.pass_time(every_s)
        site.wh += SLOW_W * every_s / 3600
        reading = Reading(timestamp=site._stamp(), energy_register_wh=site.wh // KWH * KWH)
        if send:
            site._send(reading, live=site.live)
        else:
            site.queue.append(reading)

    site.pass_time(30)
    site.our_answer_sets_its_clock(boot=False)
    site.go_offline()
    coarse(600.0, send=False)
    coarse(600.0, send=False)
    site.flush()
    coarse(60.0, send=True)


@pytest.mark.parametrize("live", [False, True], ids=["v16", "v2x"])
def test_a_queued_base_on_the_old_offset_is_not_judged_live_for_good(live: bool) -> None:
    """The queue's first reading stays the base while the second reads the same step (energy may
    flow: the base keeps its time). Was (d59dcb4): judged live by the old offset recorded with it
    for as long as it was the base, each later reading allowed the time since we received it:
    3,125 Wh of 4,125. Now judged by the offset confirmed when a reading arrives (the next step,
    still the old one's, is held; the reading after it, the new clock's: 12 minutes)."""
    site = run(_coarse_queue_then_live, live=live, station_offset_s=-AGE.total_seconds())
    assert site.session_wh == pytest.approx(site.wh - START_WH)


def _own_step_within_a_burst(site: Site) -> None:
    """No answer of ours: the station (2 h behind, confirmed) steps its own clock right and, a
    second after a live reading, sends one 40 kWh high."""
    site.station_offset_s = 0.0
    site.pass_time(1)
    site.wh += CAR_W / 3600
    site._send(
        Reading(timestamp=site._stamp(), energy_register_wh=site.wh + 40_000), live=site.live
    )


@pytest.mark.parametrize("live", [False, True], ids=["v16", "v2x"])
def test_a_clock_stepped_within_a_burst_makes_no_allowance(live: bool) -> None:
    """A guard for the fix of the queued base: a reading stamped later in the base's burst does
    not by itself show the base queued (a rule that took it so counted 41,839 Wh of 2,206)."""
    site = run(_own_step_within_a_burst, live=live, station_offset_s=BEHIND.total_seconds())
    assert site.session_wh == pytest.approx(site.wh - START_WH)
