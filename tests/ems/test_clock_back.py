"""Home Assistant's wall clock jumps (an NTP correction; a Raspberry Pi without a real-time clock
that booted with a wrong time) while the energy manager runs: closed loops whose meters keep
reporting in real time, each reading stamped by the wall clock of its moment. The waits under
way must end when they would have, not an hour later, and nothing learned may be poisoned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerCommand,
    ChargerInputs,
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    PhaseReading,
    Reading,
    SiteInputs,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.discharge import DischargeEntity
from custom_components.ocpp_ems.core.ems.meter_sign import BALANCE_S
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, rig
from .util import car, site

HOUR = 3600.0
VOLTAGE = 230.0


class ClockLoop:
    """A closed loop (no house load) in real seconds, whose wall clock can jump (:meth:`jump`).

    The manager runs every second by the wall clock. The charger applies a write ``apply_s``
    after it and the car then draws the limit on the written phases (1p on L1). The charger's
    meter reports every ``meter_s``, the grid meter every ``grid_s``, each stamped with the wall
    clock of its moment: a reading taken before a jump keeps its stamp until the next report.
    """

    def __init__(
        self,
        manager: EnergyManager,
        *,
        sun_w: float = 0.0,
        apply_s: float = 2.0,
        meter_s: float = 10.0,
        grid_s: float = 2.0,
    ) -> None:
        self.manager = manager
        self.sun_w = sun_w
        self.apply_s, self.meter_s, self.grid_s = apply_s, meter_s, grid_s
        self.real = 0.0
        self._offset = 0.0
        self.applied = ChargerCommand.pause(3)
        self._pending: list[tuple[float, ChargerCommand]] = []
        self.writes: list[tuple[float, ChargerCommand]] = []  # (real time, command)
        self._grid = Reading(0.0, -HOUR)
        self._meter = PhaseReading((0.0, 0.0, 0.0), -HOUR)
        self._power = Reading(0.0, -HOUR)
        self._grid_due = self._meter_due = 0.0

    @property
    def wall(self) -> float:
        return self.real + self._offset

    def jump(self, seconds: float) -> None:
        """The wall clock moves by ``seconds`` (negative: back); real time runs on."""
        self._offset += seconds

    @property
    def running(self) -> bool:
        return not self.applied.paused

    def _currents(self) -> tuple[float, float, float]:
        command = self.applied
        if command.paused:
            return (0.0, 0.0, 0.0)
        if command.phases == 1:
            return (command.current_a, 0.0, 0.0)
        return (command.current_a, command.current_a, command.current_a)

    def step(self) -> Decision:
        for due, command in list(self._pending):
            if due <= self.real:
                self.applied = command
                self._pending.remove((due, command))
        currents = self._currents()
        if self.real >= self._grid_due:
            self._grid = Reading(sum(currents) * VOLTAGE - self.sun_w, self.wall)
            self._grid_due = self.real + self.grid_s
        if self.real >= self._meter_due:
            self._meter = PhaseReading(currents, self.wall)
            self._meter_due = self.real + self.meter_s
            self._power = Reading(sum(currents) * VOLTAGE, self.wall)
        charger = ChargerInputs(
            plugged=True,
            charging=self._power.value is not None and self._power.value > 0.0,
            power_w=self._power,
            currents_a=self._meter,
        )
        decision = self.manager.update(
            SiteInputs(grid_w=self._grid, chargers={"a": charger}), self.wall
        )
        if (write := decision.chargers["a"].write) is not None:
            self._pending.append((self.real + self.apply_s, write))
            self.writes.append((self.real, write))
        self.real += 1.0
        return decision

    def run(self, seconds: float) -> Decision:
        decision = self.step()
        for _ in range(int(seconds) - 1):
            decision = self.step()
        return decision

    def seconds_until(self, done: Callable[[Decision], bool], limit_s: float = 2 * HOUR) -> float:
        """Real seconds from now until ``done`` holds for a decision (fails past ``limit_s``)."""
        start = self.real
        while self.real - start <= limit_s:
            if done(self.step()):
                return self.real - 1.0 - start
        raise AssertionError(f"not within {limit_s:.0f} s")


def _manager(solar: SolarSettings, *, can_switch_phases: bool = False) -> EnergyManager:
    charger = ChargerSettings(mode=Mode.SOLAR, can_switch_phases=can_switch_phases)
    return EnergyManager(SiteSettings(solar=solar), {"a": charger})


def _paused(decision: Decision) -> bool:
    return decision.chargers["a"].target.paused


def test_a_solar_start_after_the_clock_went_back_waits_for_its_start_delay_only() -> None:
    """The car was paused a moment before the clock went back an hour; the sun comes as it
    does: it starts after its start delay (60 s) and the write interval, not an hour later
    (its last write "in the future"), and not sooner (no delay skipped)."""
    loop = ClockLoop(_manager(SolarSettings(regulation_margin_w=0.0, disable_delay_s=60)))
    loop.sun_w = 6000.0
    loop.run(120)
    assert loop.running
    loop.sun_w = 0.0
    loop.seconds_until(_paused, 600)
    loop.run(5)
    loop.jump(-HOUR)
    loop.sun_w = 6000.0
    started = loop.seconds_until(lambda _: loop.running)  # (the charger applied the start)
    assert 60.0 <= started <= 60.0 + 10.0 + loop.apply_s, started


def test_a_stop_delay_running_when_the_clock_goes_back_ends_when_it_would_have() -> None:
    """100 s into a 180 s stop delay the clock goes back an hour: the car stops 80 s later (to a
    second), not an hour and 80 s later, and not at once."""
    solar = SolarSettings(regulation_margin_w=0.0, disable_delay_s=180, restart_cost_factor=0.0)
    loop = ClockLoop(_manager(solar), sun_w=6000.0)
    loop.run(120)
    assert loop.running
    loop.sun_w = 2000.0  # below the 3p minimum (4.1 kW)
    loop.run(100)
    assert not _paused(loop.step())
    loop.jump(-HOUR)
    stopped = loop.seconds_until(_paused)
    assert 78.0 <= stopped <= 82.0, stopped


def test_a_phase_switch_before_the_clock_went_back_holds_the_next_its_settle_time() -> None:
    """A 1p/3p charger switched down to 1p; 5 s later the clock goes back an hour and the sun
    comes back: it switches up after its up delay (60 s), never sooner than the settle time
    (60 s) after the last switch, and not an hour later."""
    solar = SolarSettings(
        regulation_margin_w=0.0, disable_delay_s=900, restart_cost_factor=0.0, phase_settle_s=60
    )
    loop = ClockLoop(_manager(solar, can_switch_phases=True), sun_w=8000.0)
    loop.run(200)
    assert loop.running
    assert loop.applied.phases == 3
    loop.sun_w = 2500.0  # a 1p charge takes it, a 3p one imports
    loop.seconds_until(lambda _: loop.writes[-1][1].phases == 1, 600)
    down_at = loop.writes[-1][0]
    loop.run(5)
    loop.jump(-HOUR)
    loop.sun_w = 8000.0
    loop.seconds_until(lambda _: loop.writes[-1][1].phases == 3)
    up_at = loop.writes[-1][0]
    assert up_at - down_at >= solar.phase_settle_s
    assert up_at - down_at <= 5.0 + solar.phase_up_delay_s + 5.0, up_at - down_at


def test_a_response_watched_across_the_jump_teaches_nothing_wrong() -> None:
    """The charger follows every write in 5 s, its meter reports every 10 s. The clock goes back
    an hour just after a write: the response times learned after the jump are what the charger
    does (followed within 5 to 15 s), none off by the jump, and learning goes on."""
    loop = ClockLoop(_manager(SolarSettings()), apply_s=5.0)
    memory = loop.manager.memory("a")
    assert memory is not None

    def stepping(seconds: float) -> None:
        for _ in range(int(seconds)):
            loop.sun_w = 6000.0 + (1500.0 if int(loop.real // 90) % 2 else 0.0)
            loop.step()

    stepping(400)
    learned = len(memory.response.changes)
    assert learned >= 2
    writes = len(loop.writes)
    while len(loop.writes) == writes:
        stepping(1)
    loop.jump(-HOUR)  # a second after the write, before the car followed
    stepping(600)
    after = list(memory.response.changes)[learned:]
    assert len(after) >= 3, after
    for lower, upper in after:
        assert lower < 5.0 <= upper <= 15.0, after
    assert 5.0 <= memory.response.late_s(SolarSettings()) <= 15.0


def test_an_inverted_grid_meter_is_found_after_the_clock_went_back() -> None:
    """At night a car charges and the grid meter shows the house and the car as export (its
    sign inverted). The clock goes back an hour as that begins: the meter is still found
    inverted (stale) within the balance time, not only an hour later."""
    manager = EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.FAST)})
    house_w, car_w = 2000.0, 16 * 3 * VOLTAGE

    def update(t: float) -> Decision:
        charging = {"a": car(t, power=car_w, currents=(16.0, 16.0, 16.0))}
        return manager.update(site(t, -(house_w + car_w), charging, pv=0.0), t)

    for t in (0.0, 5.0, 10.0):
        assert not update(t).inverted_inputs
    flagged = next(t for t in range(15, 3600, 5) if update(t - HOUR).inverted_inputs)
    assert flagged <= 15 + BALANCE_S + 5, flagged


def test_the_clock_going_forward_an_hour_writes_nothing_new() -> None:
    """The clock jumps forward an hour while a car runs on a steady sun: the car runs on, at
    most one write follows (the readings from before the jump are an hour old, the next ones
    are fresh), no storm of writes."""
    loop = ClockLoop(_manager(SolarSettings(regulation_margin_w=0.0)), sun_w=6000.0)
    loop.run(300)
    assert loop.running
    writes = len(loop.writes)
    loop.jump(HOUR)
    decisions = [loop.step() for _ in range(300)]
    assert not any(_paused(d) for d in decisions)
    assert len(loop.writes) - writes <= 1, loop.writes[writes:]
    assert loop.running


async def test_the_battery_cap_is_raised_after_the_write_interval_not_the_jump() -> None:
    """The driver capped the home battery for a car (raises of its limit wait 120 s); the clock
    goes back an hour, the car is gone: the battery gets its maximum back once the write
    interval has passed since that write (at the first update after it), not an hour later."""
    battery = SiteSettings(battery=BatterySettings(priority_soc=0.0))
    r = rig(site_settings=battery, options=EmsOptions(min_write_interval_s=120.0))

    async def step(after_s: float, shown: float, **inputs: Any) -> float | None:
        entity = DischargeEntity(value=shown, low=0.0, high=5000.0)
        return (await r.step(after_s, battery_soc=90.0, discharge=entity, **inputs))[
            0
        ].discharge_value

    charging = car(r.clock.t + 10, power=4140.0)
    assert await step(10.0, 5000.0, grid=0.0, battery=4440.0, charger=charging) == 300.0
    r.clock.t -= HOUR
    given_back = [
        await step(10.0, 300.0, grid=300.0, battery=0.0, charger=car(r.clock.t + 10, plugged=False))
        for _ in range(14)
    ]
    # Every 10 s from the write on: 120 s after it (the first update after the jump came 10 s
    # after the write, which then counts 10 s late).
    assert 5000.0 in given_back, given_back
    assert (given_back.index(5000.0) + 1) * 10.0 in (120.0, 130.0), given_back


async def test_a_refused_hand_back_is_tried_again_after_its_retry_time_not_the_jump() -> None:
    """The charger refused its hand-back (retried after 5 s); the clock goes back an hour while
    the manager is off (no decision runs): it is tried again 5 s later, not an hour later."""
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    r.control.limit = r.model.limit
    r.driver.set_active(True)
    await r.step()
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    r.control.fail = {"set_limit"}
    assert await r.driver.hand_back("a") is not None
    r.clock.t -= HOUR
    assert r.driver.let_go() == []
    next_at = r.driver.next_hand_back_at()
    assert next_at is not None
    assert next_at <= r.clock.t + TIMING.retry_s
    r.clock.t += TIMING.retry_s
    assert r.driver.let_go() == ["a"]
