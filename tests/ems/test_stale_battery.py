"""A home battery must not feed the cars while its power sensor or the grid meter goes stale.

While the battery's or the grid's power cannot be read the surplus is unknown and the cars fall
back (``ChargerSettings.stale_fallback``, min current by default); a self-consumption battery that
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
    StaleFallback,
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
    driver writes it: ``discharge.discharge_value``). The ``stale`` meter's power (``battery_w``
    or ``grid_w``) reports until ``stale_at``, then stops (``unavailable``: reads unavailable
    instead); an ``unconfigured`` one is not read at all. ``battery_to_car_wh``: what the battery
    gave beyond the house's own deficit."""

    def __init__(
        self,
        manager: EnergyManager,
        pv: object,
        *,
        stale_at: float | None,
        stale: str = "battery_w",
        unavailable: bool = False,
        unconfigured: str | None = None,
        max_w: float = 5000.0,
        chargers: tuple[str, ...] = ("solar", "min"),
    ) -> None:
        super().__init__(manager, pv, house=HOUSE_W, chargers=chargers)
        self.stale_at, self.stale, self.unavailable = stale_at, stale, unavailable
        self.unconfigured, self.max_w = unconfigured, max_w
        self.cap_w: float | None = None
        self.cap_written_at = float("-inf")
        self.meters = {"battery_w": Reading(0.0, 0.0), "grid_w": Reading(0.0, 0.0)}
        self.battery_w = 0.0  # what it gives now (discharge +)
        self.battery_to_car_wh = 0.0
        self.limits: list[float | None] = []

    @property
    def stale_name(self) -> str:
        """The stale meter's name in ``Decision.stale_inputs``."""
        return {"battery_w": "battery_power", "grid_w": "grid_power"}[self.stale]

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        cap = self.max_w if self.cap_w is None else min(self.cap_w, self.max_w)
        battery = self.battery_w = max(-self.max_w, min(grid, cap))  # what it covers of grid
        house_deficit = max(0.0, self.house - self.pv(t))  # type: ignore[operator]
        self.battery_to_car_wh += max(0.0, battery - house_deficit) / 3600.0
        fresh = {"battery_w": Reading(battery, t), "grid_w": Reading(grid - battery, t)}
        for name, reading in fresh.items():
            if name != self.stale or self.stale_at is None or t < self.stale_at:
                self.meters[name] = reading
            elif self.unavailable:
                self.meters[name] = Reading(None, t)
        inputs = super().inputs(t, grid - battery, ev)
        return replace(
            inputs,
            battery_w=self.given("battery_w"),
            grid_w=self.given("grid_w"),
            battery_soc=Reading(SOC, t),
        )

    def given(self, meter: str) -> Reading | None:
        """What the manager gets of ``meter`` (None: not configured)."""
        return None if meter == self.unconfigured else self.meters[meter]

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


# Battery-assisted charging: allowed, and the battery above its floor.
ASSISTED = BatterySettings(priority_soc=80.0, allow_discharge_to_car=True, floor_soc=SOC - 1)

# The meter that goes stale: the battery's power, or the grid's (the battery still reads).
STALE_METER = pytest.mark.parametrize("stale", ["battery_w", "grid_w"], ids=["battery", "grid"])


def assert_on_fallback(loop: BatteryLoop, decision: Decision) -> None:
    """Both cars hold their minimum (the default fallback, min current), and say why."""
    assert loop.stale_name in decision.stale_inputs
    assert decision.surplus_w is None
    for cid in ("solar", "min"):
        assert decision.chargers[cid].reason is Reason.STALE_INPUT
        assert loop.amps(cid) == 6.0


@STALE_METER
@pytest.mark.parametrize("unavailable", [False, True], ids=["stops_reporting", "unavailable"])
def test_a_stale_meter_lets_the_battery_give_the_cars_nothing(
    stale: str, unavailable: bool
) -> None:
    """The sensor stops in the sun (the house needs nothing of the battery), a cloud comes: for
    half an hour the cars hold their minimum from the grid, not from the battery (before: 2.3 kWh
    and 2.5 kWh from the battery, its 5 kW, where its own sensor went stale; 2.4 kWh and 2.5 kWh
    where the grid meter did)."""
    loop = BatteryLoop(
        two_cars(),
        lambda t: SUNNY_W if t < STALE_AT else CLOUDY_W,
        stale_at=STALE_AT,
        stale=stale,
        unavailable=unavailable,
    )
    loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("solar") > 6.0  # both charge in the sun
    assert loop.amps("min") > 6.0
    before = loop.battery_to_car_wh
    assert_on_fallback(loop, loop.run(STALE_AT, END))
    assert loop.battery_to_car_wh - before < 1.0
    assert loop.limits[-1] == 0.0


@STALE_METER
def test_the_battery_keeps_covering_the_house_at_night_with_a_stale_meter(stale: str) -> None:
    """At night the Min + solar car charges its minimum from the grid and the battery covers the
    house; its sensor (or the grid meter) goes unavailable: the battery keeps the house's deficit
    of its last reading, the Solar car (waiting until then) takes its fallback from the grid too
    (before, the grid meter going unavailable: 2.25 kWh from the battery)."""
    loop = BatteryLoop(two_cars(), lambda t: 0.0, stale_at=STALE_AT, stale=stale, unavailable=True)
    read = loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("solar") == 0.0
    assert loop.amps("min") == 6.0
    assert read.battery_discharge_limit_w == pytest.approx(HOUSE_W)
    before = loop.battery_to_car_wh  # (the car's start, before the first limit was written)
    assert_on_fallback(loop, loop.run(STALE_AT, END))
    assert loop.battery_to_car_wh - before < 1.0
    assert set(loop.limits[int(STALE_AT) :]) == {read.battery_discharge_limit_w}
    assert loop.battery_w == HOUSE_W


@STALE_METER
def test_a_stale_meter_caps_the_battery_only_while_a_car_may_draw_and_may_not_take_from_it(
    stale: str,
) -> None:
    """No car charging, the battery stays free for the house; a car starting on its fallback
    caps it (to nothing: no deficit of the house beside a car was read); not where the battery
    may feed the cars (battery-assisted charging above its floor), or no limit is emitted."""
    loop = BatteryLoop(two_cars(), lambda t: 0.0, stale_at=0.0, stale=stale, unavailable=True)
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
    loop.manager.set_site(replace(loop.manager.site, battery=ASSISTED))
    assert_on_fallback(loop, loop.run(121.0, 180.0))
    assert loop.limits[-1:] == [None]
    assert loop.battery_w == loop.max_w  # the cars take its most


def test_a_cap_needs_both_meters() -> None:
    """Without a grid meter the house's deficit is never read and the battery never capped: its
    power going stale caps it at nothing either (before: 0 W, the house's load from the grid
    too); without a battery the grid meter going stale caps nothing."""
    no_grid = BatteryLoop(
        two_cars(), lambda t: 0.0, stale_at=STALE_AT, unavailable=True, unconfigured="grid_w"
    )
    decision = no_grid.run(0.0, STALE_AT + 60.0)
    assert {"battery_power", "grid_power"} <= decision.stale_inputs
    assert no_grid.amps("solar") == no_grid.amps("min") == 6.0  # (on the fallback all along)
    no_battery = BatteryLoop(
        two_cars(),
        lambda t: 0.0,
        stale_at=STALE_AT,
        stale="grid_w",
        unavailable=True,
        unconfigured="battery_w",
        max_w=0.0,
    )
    assert_on_fallback(no_battery, no_battery.run(0.0, STALE_AT + 60.0))
    for loop in (no_grid, no_battery):
        assert set(loop.limits) == {None}


# Without a discharge limit entity (the option unset) nothing caps the battery.
UNCAPPED = BatterySettings(priority_soc=80.0, emit_discharge_limit=False)
# The cloud comes once a meter that stops reporting reads stale (after its max age: 120 s the
# battery's, 60 s the grid's).
CLOUD_AT = STALE_AT + 180.0
UNAVAILABLE = pytest.mark.parametrize(
    "unavailable", [False, True], ids=["stops_reporting", "unavailable"]
)


def uncapped_loop(
    stale: str,
    fallback: StaleFallback,
    *,
    unavailable: bool = True,
    battery: BatterySettings = UNCAPPED,
    chargers: tuple[str, ...] = ("solar",),
    switchable: bool = False,
) -> BatteryLoop:
    """A site without a discharge limit entity, its ``stale`` meter going stale at STALE_AT and
    a cloud at CLOUD_AT; the cars of ``chargers`` ("solar": Solar, "min": Min + solar) fall
    back to ``fallback`` (``switchable``: on 1p/3p chargers)."""
    modes = {"solar": Mode.SOLAR, "min": Mode.MIN_SOLAR}
    manager = EnergyManager(
        SiteSettings(battery=battery),
        {
            cid: ChargerSettings(
                mode=modes[cid], stale_fallback=fallback, can_switch_phases=switchable
            )
            for cid in chargers
        },
    )
    return BatteryLoop(
        manager,
        lambda t: SUNNY_W if t < CLOUD_AT else CLOUDY_W,
        stale_at=STALE_AT,
        stale=stale,
        unavailable=unavailable,
        chargers=chargers,
    )


@STALE_METER
@UNAVAILABLE
@pytest.mark.parametrize(
    "fallback",
    [StaleFallback.MIN_CURRENT, StaleFallback.LAST_LIMIT],
    ids=["min_current", "last_limit"],
)
def test_without_a_discharge_limit_a_stale_meter_pauses_a_solar_car(
    stale: str, unavailable: bool, fallback: StaleFallback
) -> None:
    """No discharge limit entity: nothing keeps a self-consumption battery from a car, and with
    its power (or the grid's) unread nothing tells what it gives one. A Solar car on its
    fallback would take it from the battery once a cloud comes (min current: 4.1 kW for the
    whole outage; the last limit for the grace period): it pauses instead (before: 1.7 kWh from
    the battery in the half hour on min current, 0.17-0.33 kWh on the last limit)."""
    loop = uncapped_loop(stale, fallback, unavailable=unavailable)
    loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("solar") > 6.0
    before = loop.battery_to_car_wh
    decision = loop.run(STALE_AT, END)
    assert loop.stale_name in decision.stale_inputs
    assert loop.battery_to_car_wh - before < 1.0
    assert decision.chargers["solar"].reason is Reason.STALE_INPUT
    assert loop.amps("solar") == 0.0
    assert set(loop.limits) == {None}


@STALE_METER
def test_without_a_discharge_limit_a_min_solar_car_falls_back_to_no_more_than_its_minimum(
    stale: str,
) -> None:
    """On the last limit, a Min + solar car holds its minimum through the grace period, as with
    no surplus at all (without a cap the battery covers that whether it reads or not), not the
    last limit the sun paid for; the Solar car pauses (before: both held 14.1 A)."""
    loop = uncapped_loop(stale, StaleFallback.LAST_LIMIT, chargers=("solar", "min"))
    loop.run(0.0, STALE_AT - 1.0)
    assert loop.amps("min") > 6.0
    decision = loop.run(STALE_AT, STALE_AT + 60.0)
    grace_end = STALE_AT + ChargerSettings().stale_grace_s
    assert decision.chargers["min"].reason is Reason.STALE_INPUT
    assert decision.chargers["min"].until == grace_end
    assert (loop.amps("solar"), loop.amps("min")) == (0.0, 6.0)
    loop.run(STALE_AT + 61.0, grace_end)
    assert loop.amps("min") == 0.0  # the last limit's grace is over: it pauses


@STALE_METER
def test_without_a_discharge_limit_a_1p_3p_min_solar_car_falls_back_on_one_phase(
    stale: str,
) -> None:
    """A Min + solar car on a 1p/3p charger, charging on 3 phases in the sun: on its fallback it
    holds its smallest minimum, on 1 phase (1.4 kW), as it would with no surplus at all, not its
    3-phase one (4.1 kW, which the battery pays: 1.7 kWh in half an hour before)."""
    loop = uncapped_loop(stale, StaleFallback.MIN_CURRENT, chargers=("min",), switchable=True)
    loop.run(0.0, STALE_AT - 1.0)
    assert loop.phases("min") == 3
    before = loop.battery_to_car_wh
    decision = loop.run(STALE_AT, END)
    assert decision.chargers["min"].reason is Reason.STALE_INPUT
    assert (loop.amps("min"), loop.phases("min")) == (6.0, 1)
    assert loop.battery_to_car_wh - before < 6.0 * 230.0 * (END - STALE_AT) / 3600.0


@STALE_METER
def test_without_a_discharge_limit_battery_assisted_charging_keeps_its_fallback(
    stale: str,
) -> None:
    """Battery-assisted charging allowed and the battery above its floor: it may feed the cars,
    so a Solar car keeps its fallback (min current) and takes from the battery under the cloud."""
    loop = uncapped_loop(
        stale, StaleFallback.MIN_CURRENT, battery=replace(ASSISTED, emit_discharge_limit=False)
    )
    loop.run(0.0, STALE_AT - 1.0)
    before = loop.battery_to_car_wh
    decision = loop.run(STALE_AT, END)
    assert decision.chargers["solar"].reason is Reason.STALE_INPUT
    assert loop.amps("solar") == 6.0
    assert loop.battery_to_car_wh - before > 1000.0
