"""A home battery whose power sensor goes stale must not feed the cars.

While the battery's power cannot be read the surplus is unknown and the cars fall back
(``ChargerSettings.stale_fallback``, min current by default); a self-consumption battery that
drives the grid to zero would cover that minimum unless its discharge limit holds it to the house.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.discharge import DischargeEntity, discharge_value

from .util import Loop

HOUSE_W = 500.0
SUNNY_W = 20000.0  # both cars charge (the first takes 11 kW at most)
CLOUDY_W = 800.0
STALE_AT = 600.0  # the battery sensor's last report
END = STALE_AT + 1800.0  # half an hour with it stale
SOC = 90.0  # the battery's (its SoC sensor keeps reporting)


class BatteryLoop(Loop):
    """The toy loop with a self-consumption battery: it drives the grid to zero, charging with
    what PV is left over and covering any deficit up to its discharge limit (written as the
    driver writes it: ``discharge.discharge_value``). Its power sensor reports until
    ``stale_at``, then stops (``unavailable``: reads unavailable instead).
    ``battery_to_car_wh``: what it gave beyond the house's own deficit."""

    def __init__(
        self,
        manager: EnergyManager,
        pv: object,
        *,
        stale_at: float | None,
        unavailable: bool = False,
        max_w: float = 5000.0,
    ) -> None:
        super().__init__(manager, pv, house=HOUSE_W, chargers=("solar", "min"))
        self.stale_at, self.unavailable, self.max_w = stale_at, unavailable, max_w
        self.cap_w: float | None = None
        self.cap_written_at = float("-inf")
        self.battery_reading = Reading(0.0, 0.0)
        self.battery_w = 0.0  # what it gives now (discharge +)
        self.battery_to_car_wh = 0.0
        self.limits: list[float | None] = []

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        cap = self.max_w if self.cap_w is None else min(self.cap_w, self.max_w)
        battery = self.battery_w = max(-self.max_w, min(grid, cap))  # what it covers of grid
        house_deficit = max(0.0, self.house - self.pv(t))  # type: ignore[operator]
        self.battery_to_car_wh += max(0.0, battery - house_deficit) / 3600.0
        if self.stale_at is None or t < self.stale_at:
            self.battery_reading = Reading(battery, t)
        elif self.unavailable:
            self.battery_reading = Reading(None, t)
        inputs = super().inputs(t, grid - battery, ev)
        return replace(inputs, battery_w=self.battery_reading, battery_soc=Reading(SOC, t))

    def step(self, t: float) -> Decision:
        decision = super().step(t)
        self.limits.append(decision.battery_discharge_limit_w)
        value = discharge_value(
            decision.battery_discharge_limit_w,
            DischargeEntity(value=self.cap_w, low=0.0, high=self.max_w),
            now=t,
            written_at=self.cap_written_at,
            interval_s=10.0,
        )
        if value is not None:
            self.cap_w, self.cap_written_at = value, t
        return decision


def two_cars() -> EnergyManager:
    """A Solar and a Min + solar car; the battery is full enough for the cars to go first."""
    return EnergyManager(
        SiteSettings(battery=BatterySettings(priority_soc=80.0)),
        {"solar": ChargerSettings(mode=Mode.SOLAR), "min": ChargerSettings(mode=Mode.MIN_SOLAR)},
    )


def assert_on_fallback(loop: Loop, decision: Decision) -> None:
    """Both cars hold their minimum (the default fallback, min current), and say why."""
    assert "battery_power" in decision.stale_inputs
    assert decision.surplus_w is None
    for cid in ("solar", "min"):
        assert decision.chargers[cid].reason is Reason.STALE_INPUT
        assert loop.amps(cid) == 6.0


@pytest.mark.parametrize("unavailable", [False, True], ids=["stops_reporting", "unavailable"])
def test_a_stale_battery_gives_the_cars_nothing(unavailable: bool) -> None:
    """The sensor stops in the sun (the house needs nothing of the battery), a cloud comes: for
    half an hour the cars hold their minimum from the grid, not from the battery (before: 2.3 kWh
    and 2.5 kWh from the battery, its 5 kW)."""
    loop = BatteryLoop(
        two_cars(),
        lambda t: SUNNY_W if t < STALE_AT else CLOUDY_W,
        stale_at=STALE_AT,
        unavailable=unavailable,
    )
    loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("solar") > 6.0  # both charge in the sun
    assert loop.amps("min") > 6.0
    before = loop.battery_to_car_wh
    assert_on_fallback(loop, loop.run(STALE_AT, END))
    assert loop.battery_to_car_wh - before < 1.0
    assert loop.limits[-1] == 0.0


def test_a_stale_battery_keeps_covering_the_house_at_night() -> None:
    """At night the Min + solar car charges its minimum from the grid and the battery covers the
    house; its sensor goes unavailable: the battery keeps the house's deficit of its last reading,
    the Solar car (waiting until then) takes its fallback from the grid too."""
    loop = BatteryLoop(two_cars(), lambda t: 0.0, stale_at=STALE_AT, unavailable=True)
    read = loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("solar") == 0.0
    assert loop.amps("min") == 6.0
    assert read.battery_discharge_limit_w == pytest.approx(HOUSE_W)
    before = loop.battery_to_car_wh  # (the car's start, before the first limit was written)
    assert_on_fallback(loop, loop.run(STALE_AT, END))
    assert loop.battery_to_car_wh - before < 1.0
    assert set(loop.limits[int(STALE_AT) :]) == {read.battery_discharge_limit_w}
    assert loop.battery_w == HOUSE_W


def test_a_stale_battery_is_capped_only_while_a_car_may_draw_and_may_not_take_from_it() -> None:
    """No car charging, the battery stays free for the house; a car starting on its fallback
    caps it (to nothing: no deficit of the house beside a car was read); not where the battery
    may feed the cars (battery-assisted charging above its floor), or no limit is emitted."""
    loop = BatteryLoop(two_cars(), lambda t: 0.0, stale_at=0.0, unavailable=True)
    for cid in ("solar", "min"):
        loop.manager.set_mode(cid, Mode.OFF)
    loop.run(0.0, 60.0)
    assert set(loop.limits) == {None}
    assert loop.battery_w == HOUSE_W
    for cid, mode in (("solar", Mode.SOLAR), ("min", Mode.MIN_SOLAR)):
        loop.manager.set_mode(cid, mode)
    assert_on_fallback(loop, loop.run(61.0, 120.0))
    assert loop.limits[-1] == 0.0
    assert loop.battery_w == 0.0
    site = loop.manager.site
    assisted = BatterySettings(priority_soc=80.0, allow_discharge_to_car=True, floor_soc=SOC - 1)
    unlimited = replace(site.battery, emit_discharge_limit=False)
    for battery in (assisted, unlimited):
        loop.manager.set_site(replace(site, battery=battery))
        assert_on_fallback(loop, loop.run(121.0, 180.0))
        assert loop.limits[-1] is None
        assert loop.battery_w == loop.max_w  # the cars take its most
