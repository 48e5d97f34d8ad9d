"""The day benchmark's split of the solar cars' grid import by cause (benchmarks/ems/plant.py
``GRID_SOURCES``) and the report of benchmarks/ems_grid_sources.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks import ems_grid_sources as sources
from benchmarks.ems import plant as p
from tests.ems.test_ems_suite import T0, T1, _scenario


def _second(
    pv_w: float, current_a: float, *, switchable: bool = False, phases: int = 3
) -> dict[str, float]:
    """One second of a solar car held at ``current_a`` on ``phases`` under ``pv_w`` of sun (no
    house load): the grid import by cause (Wh)."""
    charger = p.ChargerModel("a", 3, 1, p.Car())
    charger.applied = p.Command(current_a, phases, paused=False)
    charger.current_a = current_a
    plant = p.Plant(
        pv=np.full(2, pv_w),
        house=np.zeros(2),
        chargers=[charger],
        battery=None,
        fuse_a=None,
        solar_ids={"a"},
    )
    plant.switchable_ids = {"a"} if switchable else set()
    plant.step(0.0)
    assert sum(plant.flows.grid_sources.values()) == pytest.approx(plant.flows.grid_to_ev)
    return {k: v for k, v in plant.flows.grid_sources.items() if v > 0.0}


MIN_3P_W = 6.0 * p.V * 3  # 4,140 W


@pytest.mark.parametrize(
    ("pv_share", "cause"),
    [(0.95, p.SUN_90), (0.7, p.SHALLOW_DIP), (0.3, p.DEEP_DIP)],
)
def test_a_car_at_its_minimum_imports_by_how_much_of_it_the_sun_covers(
    pv_share: float, cause: str
) -> None:
    sun_w = pv_share * MIN_3P_W
    assert _second(sun_w, 6.0) == {cause: pytest.approx((MIN_3P_W - sun_w) / 3600)}


def test_a_car_above_its_minimum_imports_by_regulation() -> None:
    assert set(_second(MIN_3P_W, 8.0)) == {p.REGULATION}


def test_a_switchable_car_on_3p_where_1p_would_fit() -> None:
    one_phase_min_w = 6.0 * p.V
    assert set(_second(one_phase_min_w, 6.0, switchable=True)) == {p.ONE_PHASE_WOULD_DO}
    # Less sun than its 1-phase minimum: a dip, as for any car.
    assert set(_second(one_phase_min_w - 100, 6.0, switchable=True)) == {p.DEEP_DIP}
    # On 1 phase already: nothing to switch down.
    assert set(_second(0.6 * one_phase_min_w, 6.0, switchable=True, phases=1)) == {p.SHALLOW_DIP}


def test_the_report_splits_every_run_and_compares_the_settings() -> None:
    scenario = _scenario("dip/1p3p", "1p3p", np.full(1440, 500.0))
    # A cloud over the 15 minutes: the sun drops below the 3-phase minimum for 5 minutes.
    pv = scenario.pv_w.copy()
    pv[T0 // 60 + 5 : T0 // 60 + 10] = 2500.0
    scenario = replace(scenario, pv_w=pv)
    assert (T1 - T0) // 60 == 15
    runs = sources.suite.run_all(sources.jobs_for([scenario]), workers=1, verbose=False)
    assert {r["controller"] for r in runs} == {"ours", "reference", *sources.VARIANTS}
    ours = next(r for r in runs if r["controller"] == "ours")
    assert ours["grid_to_ev_kwh"] > 0.0  # the cloud is a dip: the split has something to split
    for r in runs:
        assert sum(r["grid_sources_wh"].values()) == pytest.approx(r["grid_to_ev_kwh"] * 1000)
    text = sources.report(runs, 1.0, 1)
    for label in ("ours", "reference", *sources.VARIANTS, *p.GRID_SOURCES):
        assert f"| {label} |" in text
