"""Red team 12a of d59dcb4 (meter_time.rise_allowance judges whether a register base was received
live by ``RegisterPoint.live_offset_s``, the live clock offset confirmed when we received it).
Honest and hostile sequences driven through ``ChargerState`` (what the 1.6 adapter calls with
readings not flagged live, the 2.x adapters with live ones flagged ``live``), a 22 kW car, our
clock run by :class:`OurClock` (NTP steps; our host's sleep: the time of day runs on, the
monotonic clock does not), restarts as a persistence round trip. Findings: see each test."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from freezegun import freeze_time

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.meter_values import Reading
from custom_components.ocpp_ems.core.model import Charger, ChargerInfo, Transaction
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict

from .test_energy_rules import make_state
from .test_time_hostile import OurClock

CAR_W = 22_000.0
START_WH = 10_000.0
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@contextmanager
def run_clock() -> Iterator[OurClock]:
    """Our clock (time of day and monotonic) as the test runs it, from T0."""
    with freeze_time(T0) as frozen:
        clock = OurClock(frozen, 1000.0)  # type: ignore[arg-type]
        with patch.object(time, "monotonic", clock.monotonic):
            yield clock


@dataclass
class Site:
    """One station charging one car, and us."""

    clock: OurClock
    state: ChargerState
    live: bool  # 2.x: readings sent live are flagged so (not offline)
    true_s: float = 0.0  # the true time since T0
    our_error_s: float = 0.0  # our clock's error (NTP steps it)
    station_offset_s: float = 0.0  # the station's clock off the true time
    wh: float = START_WH
    online: bool = True
    queue: list[Reading] = field(default_factory=list)
    transaction: Transaction | None = None

    def start(self) -> None:
        self.transaction = self.state.start_transaction(
            1, "1", id_tag="TAG", started=self._stamp(), meter_start_wh=self.wh, authorized=True
        )

    def _stamp(self) -> datetime:
        return T0 + timedelta(seconds=self.true_s + self.station_offset_s)

    def pass_time(self, seconds: float) -> None:
        self.true_s += seconds
        self.clock.tick(seconds)

    def charge(self, readings: int, every_s: float, power_w: float = CAR_W) -> None:
        for _ in range(readings):
            self.pass_time(every_s)
            self.wh += power_w * every_s / 3600
            reading = Reading(timestamp=self._stamp(), energy_register_wh=round(self.wh, 3))
            if self.online:
                self._send(reading, live=self.live)
            else:
                self.queue.append(reading)

    def send_outlier(self, extra_wh: float) -> None:
        """One bogus reading ``extra_wh`` above the register, a minute after the last."""
        self.pass_time(60)
        self.wh += CAR_W / 60
        bogus = Reading(timestamp=self._stamp(), energy_register_wh=self.wh + extra_wh)
        self._send(bogus, live=self.live)

    def _send(self, reading: Reading, *, live: bool) -> None:
        self.state.record_meter(1, [reading], "1", live=live)

    def our_answer_sets_its_clock(self, boot: bool) -> None:
        """A Heartbeat / Boot: the station sets its clock to our answer (our clock's time)."""
        if boot:
            self.state.record_boot(ChargerInfo(vendor="v", model="m"))
        else:
            self.state.record_heartbeat()
        self.station_offset_s = self.our_error_s

    def flush(self) -> None:
        """Back online: the queue, taken before (2.x: flagged offline)."""
        self.online = True
        for reading in self.queue:
            self._send(reading, live=False)
        self.queue.clear()

    def our_clock_stepped(self, seconds: float) -> None:
        self.our_error_s += seconds
        self.clock.step(timedelta(seconds=seconds))

    def our_host_sleeps(self, seconds: float) -> None:
        """Our host sleeps: the time of day runs on, the monotonic clock does not; the station,
        offline meanwhile, queues one reading at its end."""
        self.online = False
        self.true_s += seconds
        self.clock.step(timedelta(seconds=seconds))
        self.wh += CAR_W * seconds / 3600
        self.queue.append(Reading(timestamp=self._stamp(), energy_register_wh=round(self.wh, 3)))

    def go_offline(self) -> None:
        self.online = False

    def restart(self) -> None:
        charger = charger_from_dict(charger_to_dict(self.state.charger))
        self.state = make_state(charger)
        self.transaction = charger.connector(1).transaction

    @property
    def session_wh(self) -> float:
        connector = self.state.charger.connector(1)
        tx = connector.transaction or connector.last_transaction
        assert tx is not None
        return tx.energy_wh

    @property
    def lifetime_wh(self) -> float:
        return self.state.charger.lifetime_energy.total_wh - START_WH


Scenario = Callable[[Site], None]
PROTOCOLS = {"v16": False, "v2x": True}  # live readings flagged live (2.x) or not (1.6)


def run(scenario: Scenario, *, live: bool, station_offset_s: float = 0.0) -> Site:
    """``scenario`` after a start and 3 live readings a minute apart, ended by 3 more."""
    with run_clock() as clock:
        site = Site(clock, make_state(Charger(charger_id="c")), live)
        site.station_offset_s = station_offset_s
        site.start()
        site.charge(3, 60.0)
        scenario(site)
        if not site.online:
            site.pass_time(5)
            site.flush()
        site.charge(3, 60.0)
    return site


def _outlier_after_our_answer(boot: bool) -> Scenario:
    def scenario(site: Site) -> None:
        site.pass_time(30)
        site.our_answer_sets_its_clock(boot)
        site.pass_time(30)
        site.send_outlier(50_000)

    return scenario


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
@pytest.mark.parametrize("boot", [False, True], ids=["heartbeat", "boot"])
def test_gain_an_outlier_right_after_our_answer_set_a_clock_2h_behind_is_not_counted(
    live: bool, boot: bool
) -> None:
    """Gain of d59dcb4 (held in every variant): d59dcb4^ counted 52,200 Wh of 2,567."""
    site = run(_outlier_after_our_answer(boot), live=live, station_offset_s=-7200.0)
    assert site.session_wh == pytest.approx(site.wh - START_WH)
    assert site.lifetime_wh == pytest.approx(site.wh - START_WH)


def _two_queues_after_our_heartbeat(site: Site) -> None:
    """Our Heartbeat sets the clock (10 min behind) right; two offline stretches follow, each
    queue flushed as the station reconnects (no clock set): the first queue's reading aged 10 min
    confirms the old offset again, the second's (aged 10 min 5 s) is then taken for live."""
    site.pass_time(30)
    site.our_answer_sets_its_clock(boot=False)
    for first_s, last_s in [(600.0, 600.0), (3600.0, 600.0)]:
        site.go_offline()
        site.charge(1, first_s)
        site.charge(1, last_s)
        site.flush()
        site.pass_time(5)


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
def test_regression_a_queued_base_on_the_old_offset_stays_judged_live(live: bool) -> None:
    """The old offset that queued reading confirmed again across our answer is not settled
    (LiveClockOffset.settled_s): not recorded with the base, which is judged by the offset
    confirmed when a reading arrives. Was (d59dcb4): a queued reading aged as the clock's
    correction kept the old offset recorded as its base's: 31,533 Wh of 35,200 (d59dcb4^:
    35,200)."""
    site = run(_two_queues_after_our_heartbeat, live=live, station_offset_s=-600.0)
    assert site.session_wh == pytest.approx(site.wh - START_WH)
    assert site.lifetime_wh == pytest.approx(site.wh - START_WH)


def _our_host_sleeps_then_its_clock_steps_back(answer_before: bool) -> Scenario:
    """A live base; our host sleeps 10 min while the station charges offline and, waking, our
    clock is set back 290 s (NTP; its stamps then lie 290 s ahead, not too far): our clocks count
    315 s of the 605 s since the base. Our answer sets the station's clock (right already) before
    it goes offline (``answer_before``: a Heartbeat) or as it reconnects (a Boot, then the
    queue)."""

    def scenario(site: Site) -> None:
        if answer_before:
            site.pass_time(30)
            site.our_answer_sets_its_clock(boot=False)
        site.our_host_sleeps(600.0)
        site.our_clock_stepped(-290.0)
        if not answer_before:
            site.pass_time(5)
            site.our_answer_sets_its_clock(boot=True)
            site.flush()

    return scenario


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
@pytest.mark.parametrize("answer_before", [True, False], ids=["heartbeat_before", "boot_after"])
def test_regression_our_host_sleeps_and_its_clock_steps_back_after_our_answer(
    live: bool, answer_before: bool
) -> None:
    """A live base allows our elapsed time plus what our clock stepped (meter_time.clock_step_s:
    310 s here) beyond it. Was (d59dcb4): the base kept the offset recorded before our answer,
    judged live, bounded by our clocks alone, which missed the sleep: 2,200 Wh of 5,867
    (d59dcb4^: 5,867, the answer cleared the offset and the station's stamps counted)."""
    site = run(_our_host_sleeps_then_its_clock_steps_back(answer_before), live=live)
    assert site.session_wh == pytest.approx(site.wh - START_WH)


def _our_clock_back_then_our_host_sleeps(site: Site) -> None:
    site.our_clock_stepped(-3600.0)
    site.our_host_sleeps(3600.0)


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
@pytest.mark.xfail(
    strict=True,
    reason="old gap (d59dcb4^ too): our clock set back 1 h then our host sleeping 1 h: no clock "
    "of ours counts the hour; 2,200 Wh of 24,200",
)
def test_old_gap_our_clock_set_back_then_our_host_sleeps(live: bool) -> None:
    site = run(_our_clock_back_then_our_host_sleeps, live=live)
    assert site.session_wh == pytest.approx(site.wh - START_WH)


EVERY_S = [1.0, 10.0, 60.0, 900.0]
HOST_CLOCK_EVENTS = {"our_step", "sleep"}


def _random_events(rng: random.Random) -> tuple[Scenario, set[str]]:
    """Up to 10 honest events: readings every 1 s to 15 min, offline stretches, reconnects (the
    queue flushed before or after our Heartbeat / Boot answer sets the clock, or no set), our
    Heartbeat answers, the station's own clock steps, our clock's NTP steps, our host's sleep,
    restarts. With the names of the events drawn."""
    events = [rng.choice(_EVENTS) for _ in range(rng.randint(4, 10))]
    every = [rng.choice(EVERY_S)]

    def scenario(site: Site) -> None:
        for event in events:
            event(site, rng, every)

    return scenario, {event.__name__ for event in events}


def charge(site: Site, rng: random.Random, every: list[float]) -> None:
    site.charge(rng.randint(1, 6), every[0])


def offline(site: Site, rng: random.Random, every: list[float]) -> None:
    site.go_offline()


def reconnect(site: Site, rng: random.Random, every: list[float]) -> None:
    if site.online:
        return
    order, boot = rng.choice(["set_then_flush", "flush_then_set", "flush"]), rng.random() < 0.5
    if order == "set_then_flush":
        site.pass_time(5)
        site.our_answer_sets_its_clock(boot)
    site.flush()
    if order == "flush_then_set":
        site.pass_time(5)
        site.our_answer_sets_its_clock(boot)


def heartbeat(site: Site, rng: random.Random, every: list[float]) -> None:
    if site.online:
        site.pass_time(rng.choice([1, 30]))
        site.our_answer_sets_its_clock(boot=False)


def station_step(site: Site, rng: random.Random, every: list[float]) -> None:
    site.station_offset_s += rng.choice([-3600.0, -300.0, 300.0, 3600.0, 7200.0])


def our_step(site: Site, rng: random.Random, every: list[float]) -> None:
    site.our_clock_stepped(rng.choice([-3600.0, -120.0, 120.0, 3600.0]))


def sleep(site: Site, rng: random.Random, every: list[float]) -> None:
    site.our_host_sleeps(rng.choice([600.0, 3600.0]))


def restart(site: Site, rng: random.Random, every: list[float]) -> None:
    site.restart()


def interval(site: Site, rng: random.Random, every: list[float]) -> None:
    every[0] = rng.choice(EVERY_S)


_EVENTS = [charge, offline, reconnect, heartbeat, station_step, our_step, sleep, restart, interval]


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
def test_fuzz_honest_sequences_never_overcount_and_are_exact_on_our_steady_clock(
    live: bool,
) -> None:
    """150 seeds x (1.6, 2.x): never more than the truth; exact whenever our own clock neither
    stepped nor slept (31 sequences each). Run at d59dcb4 and d59dcb4^ (scratch copies, 400 seeds
    x 2): d59dcb4 counts less than d59dcb4^ in seeds 72, 104, 176 only (each protocol; 2,200 Wh
    of 5,867 twice, 2,231 of 24,231; d59dcb4^ exact): our host slept and our clock was set back
    after our answer (the regression above); an earlier draw found the queued-base one (seed 111).
    Below the truth: 104 of 800 at d59dcb4, 98 at d59dcb4^, all but 4 with our clock stepped or
    asleep; the 4 (seeds 257, 270): a station clock stepped an hour ahead while offline, its
    queue's stamps replaced by the time they arrived (2,567 of 4,400; 5,059 of 5,500): old."""
    steady = 0
    for seed in range(150):
        rng = random.Random(seed)
        offset = rng.choice([-7200.0, -600.0, -30.0, 0.0, 120.0, 3600.0])
        scenario, events = _random_events(rng)
        site = run(scenario, live=live, station_offset_s=offset)
        truth = site.wh - START_WH
        assert site.session_wh <= truth + 1e-3, (seed, events)
        if not events & HOST_CLOCK_EVENTS:
            steady += 1
            assert site.session_wh == pytest.approx(truth), (seed, events)
            assert site.lifetime_wh == pytest.approx(truth), (seed, events)
    assert steady > 20


def _alternating_clock(swing_s: float) -> Scenario:
    """A station alternating its clock between right and ``swing_s`` behind every minute, a
    reading 50 kWh high on each clock set right (the recorded offset never agrees twice)."""

    def scenario(site: Site) -> None:
        for _ in range(3):
            site.station_offset_s = -swing_s
            site.charge(1, 60.0)
            site.station_offset_s = 0.0
            site.send_outlier(50_000)

    return scenario


def _own_clock_step_then_outlier(step_s: float) -> Scenario:
    """The station steps its own clock (NTP, no answer of ours), then sends one reading 50 kWh
    high."""

    def scenario(site: Site) -> None:
        site.station_offset_s += step_s
        site.send_outlier(50_000)

    return scenario


HOSTILE = {
    "alternating_6h": (_alternating_clock(6 * 3600.0), 0.0),
    "alternating_2h": (_alternating_clock(7200.0), 0.0),
    "own_step_2h_from_2h_behind": (_own_clock_step_then_outlier(7200.0), -7200.0),
    "own_step_4min": (_own_clock_step_then_outlier(240.0), 0.0),
}


@pytest.mark.parametrize("live", PROTOCOLS.values(), ids=PROTOCOLS.keys())
@pytest.mark.parametrize(("scenario", "offset_s"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_clock_games_stay_bounded(live: bool, scenario: Scenario, offset_s: float) -> None:
    """Bounded at d59dcb4 and d59dcb4^ alike (no outlier counted): a guard for its fix."""
    site = run(scenario, live=live, station_offset_s=offset_s)
    assert site.session_wh == pytest.approx(site.wh - START_WH)
    assert site.lifetime_wh == pytest.approx(site.wh - START_WH)
