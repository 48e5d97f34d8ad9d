"""Red team 12b on c5ea1d0 (Solar / Min+Solar: a change of the surplus waits while the last
write's response is watched, ``limiter._last_write_shows_at``, ``ChargerResponse.
last_write_shows_at``; a limit written again while watched is the same write).

Closed loops of red team 11b (``Plant``: a decision a second, the production driver and
controller; a car follows a taken limit ``lag_s`` later, its meter every ``meter_period_s``),
metered here: grid import and export (Wh) and the sun the cars took, each second.

Regressions of c5ea1d0: a lower while a lower is in flight waits until the car's meter shows the
first (up to 30 s): clouds deepening in steps, or the house stepping up after a cloud, import
more (a 3 s charger metered every 10 s: 0.9 -> 5.0 Wh; a 25 s one: 21.5 -> 40.5 Wh); a tapering
car's raise after its start is held 90 s, and the car beside it starts 30 s later (PV exported
105 -> 138 Wh). Pins of gains: a slow charger in a sunrise after its start (export 122 -> 50 Wh,
37 -> 4 writes), under a house step (13 -> 1 writes, 17.7 -> 12.4 Wh), refusing every lower in
passing clouds (878 -> 780 Wh imported).

Fixed in part since: a lower after a lower is held only while the car's lag explains it
(``limiter._lag_explains``): the house step on a 25 s charger 57.2 -> 40.1 Wh; the other cases
narrowed and still marked. The tapering car's case is not fixed (see its mark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant
from .test_redteam11c_forgotten_write import Unanswered

HOUSE_A = 1.0  # per phase
Trace = list[tuple[float, float]]  # (house A per phase, PV W) a second


@dataclass
class CappedCar(Unanswered):
    """Draws at most ``cap_a`` whatever it is offered (a tapering car, its own limit)."""

    cap_a: float = math.inf

    def draw_a(self, t: float) -> float:
        drawn = super().draw_a(t)
        return min(drawn, self.cap_a) if drawn else 0.0


class Metered(Plant):
    """A ``Plant`` that sums the grid's import and export and the sun the cars took."""

    import_wh = export_wh = sun_to_cars_wh = 0.0

    async def follow(self, trace: Trace) -> None:
        for house_a, pv_w in trace:
            await self.run(1, house_a=house_a, pv_w=pv_w)
            cars_w = V * sum(
                sum(control.line_currents(control.draw_a(self.clock.t)))
                for control in self.controls.values()
            )
            house_w = 3 * house_a * V
            grid_w = house_w + cars_w - pv_w
            self.import_wh += max(0.0, grid_w) / 3600
            self.export_wh += max(0.0, -grid_w) / 3600
            self.sun_to_cars_wh += min(cars_w, max(0.0, pv_w - house_w)) / 3600

    def measure_from_here(self) -> None:
        self.import_wh = self.export_wh = self.sun_to_cars_wh = 0.0
        for control in self.controls.values():
            control.calls.clear()


def _steady(pv_w: float, seconds: int, house_a: float = HOUSE_A) -> Trace:
    return [(house_a, pv_w)] * seconds


def _clouds_deepening() -> Trace:
    """9 kW down to 5.5 kW in four steps 3 s apart, then a minute (the car fits at 6.9 A)."""
    steps = [_steady(9000.0 - 875.0 * (i + 1), 3) for i in range(4)]
    return [second for step in steps for second in step] + _steady(5500.0, 60)


def _house_up_after_a_cloud() -> Trace:
    """A cloud (9 -> 7.5 kW), then 5 s later the house takes 3 kW more."""
    return _steady(7500.0, 5) + _steady(7500.0, 120, house_a=HOUSE_A + 4.35)


async def _measured(
    mode: Mode,
    controls: dict[str, CappedCar],
    trace: Trace,
    *,
    meter_period_s: int = 10,
    before: Trace | None = None,
) -> Metered:
    """``before`` (5 min in 9 kW by default), then ``trace`` measured."""
    plant = Metered(mode, 40.0, dict(controls), meter_period_s=meter_period_s)
    await plant.follow(_steady(9000.0, 300) if before is None else before)
    plant.measure_from_here()
    await plant.follow(trace)
    return plant


# --- regressions ------------------------------------------------------------------------------
_STILL_OVER = pytest.mark.xfail(
    strict=True,
    reason="regression c5ea1d0, narrowed (a lower after a lower is held only while the lag "
    "explains it, limiter._lag_explains): grid import (Wh) c5ea1d0^ -> c5ea1d0 -> now: clouds "
    "in 4 steps, 3 s charger metered every 10 s 0.93 -> 4.95 -> 3.51 (Min+Solar the same), "
    "25 s charger 21.5 -> 40.5 -> 25.6; the house up 3 kW 5 s after a cloud, 3 s charger "
    "12.3 -> 17.4 -> 14.5. c5ea1d0^ lowered again for the lag read as load (a cascade that "
    "these steps happen to follow); a lower the lag explains still waits for the meter",
)


@pytest.mark.parametrize(
    ("mode", "lag_s", "trace", "old_wh"),
    [
        pytest.param(Mode.SOLAR, 3.0, _clouds_deepening(), 0.93, marks=_STILL_OVER),
        pytest.param(Mode.MIN_SOLAR, 3.0, _clouds_deepening(), 0.93, marks=_STILL_OVER),
        pytest.param(Mode.SOLAR, 25.0, _clouds_deepening(), 21.5, marks=_STILL_OVER),
        pytest.param(Mode.SOLAR, 3.0, _house_up_after_a_cloud(), 12.3, marks=_STILL_OVER),
        (Mode.SOLAR, 25.0, _house_up_after_a_cloud(), 44.7),
    ],
)
async def test_a_lower_while_a_lower_is_in_flight_imports_no_more(
    mode: Mode, lag_s: float, trace: Trace, old_wh: float
) -> None:
    """The house up 3 kW 5 s after a cloud, a 25 s charger: 40.1 Wh imported (9.8, then 6.0 A
    at the step). Was (c5ea1d0): 57.2 Wh, the lower held 30 s for the meter; (c5ea1d0^): 44.7."""
    plant = await _measured(mode, {"a": CappedCar(lag_s=lag_s)}, trace)
    assert plant.import_wh <= old_wh * 1.1 + 0.5


@pytest.mark.xfail(
    strict=True,
    reason="regression c5ea1d0: a tapering car (3 A under its offer) started in rising sun: "
    "its raise after the start is held start_settle_max_s (90 s; it never follows), and the "
    "car beside it starts at 421 s, not 391 s: PV exported 105 -> 138 Wh in 4 min",
)
async def test_a_tapering_car_does_not_hold_back_the_start_beside_it() -> None:
    rising = [(HOUSE_A, 4000.0 + 1000.0 * (s // 30)) for s in range(240)]
    controls = {"a": CappedCar(lag_s=2.0, cap_a=3.0), "b": CappedCar(lag_s=2.0)}
    plant = await _measured(
        Mode.SOLAR, controls, rising, meter_period_s=1, before=_steady(4000.0, 300)
    )
    assert plant.export_wh <= 115.0
    assert controls["b"].calls[0][2] <= 400.0


# --- pins of gains ----------------------------------------------------------------------------
async def test_a_slow_charger_in_a_sunrise_after_its_start() -> None:
    """A 15 s charger started on 6 kW, 11 kW from 40 s on: 4 writes, 50 Wh exported in the
    150 s after. Was (c5ea1d0^): 37 writes (13.6, 14.9, 13.6 ...), 122 Wh."""
    plant = await _measured(
        Mode.SOLAR,
        {"a": CappedCar(lag_s=15.0)},
        _steady(11000.0, 150),
        before=_steady(6000.0, 40),
    )
    assert len(plant.writes("a")) <= 6
    assert plant.export_wh <= 70.0


async def test_a_slow_charger_under_a_house_step() -> None:
    """A 15 s charger at 12 A, the house takes 3 kW more: 1 write, 12.4 Wh imported in 2 min.
    Was (c5ea1d0^): 13 writes (a lower read the lag as the house's load: 9.8, 6.5, 6.0, 8.8
    ...), 17.7 Wh."""
    plant = await _measured(
        Mode.SOLAR, {"a": CappedCar(lag_s=15.0)}, _steady(9000.0, 120, house_a=HOUSE_A + 4.35)
    )
    assert len(plant.writes("a")) <= 3
    assert plant.import_wh <= 14.0


async def test_a_slow_charger_refusing_every_lower_in_passing_clouds() -> None:
    """A 15 s charger refusing every lower, clouds every 2 min: 780 Wh imported in 10 min (12
    writes). Was (c5ea1d0^): 878 Wh (12 writes)."""
    control = CappedCar(lag_s=15.0, policy="lower")
    clouds = [pv for pv_w in (3000.0, 13000.0, 6000.0, 11000.0, 4500.0) for pv in [pv_w] * 120]
    plant = await _measured(Mode.SOLAR, {"a": control}, [(HOUSE_A, pv) for pv in clouds])
    assert plant.import_wh <= 820.0
