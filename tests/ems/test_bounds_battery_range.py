"""The battery programme's grid spans only the states each block can reach from the start
(``_BatteryProgramme._ranges``), which affords a finer grid at the old cost: the bound on it stays
at or above the exact optimum (MILP, the SoC a variable) and at or below the bound on a 1 Wh grid
(each of whose points is one of the finer grid's), lower on many windows; and the narrower
ranges drop no state the programme reaches (the same value as over the whole capacity).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ems import bounds
from benchmarks.ems.bounds import _BatteryProgramme, _Day, equal_import_bound
from tests.ems.test_bounds_battery import random_day
from tests.ems.test_bounds_battery_grid import exact, short_window

# 200 MILPs of 0.2-2 s each.
pytestmark = pytest.mark.timeout(900)

COARSE_GRID_WH = 1.0  # the grid before the ranges


class WholeCapacity(_BatteryProgramme):
    """The programme over every grid point of the capacity in every block (after the start)."""

    def _ranges(self, reach_wh: list[float]) -> list[tuple[int, int]]:
        start = super()._ranges(reach_wh)[0]
        return [start, *[(0, self.top)] * (len(self.edges) - 1)]


def test_the_finer_grid_stays_between_the_exact_optimum_and_the_coarser_grid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 s blocks (7-8 per window, each a rounding) on the default grid and on a 1 Wh one: the
    finer grid is lower on 17 of the 200 windows (by up to 5.3 Wh), never higher."""
    fine = bounds.BATTERY_GRID_WH
    assert fine < COARSE_GRID_WH
    assert (COARSE_GRID_WH / fine).is_integer()  # the coarse grid's points are the fine one's
    monkeypatch.setattr(bounds, "BATTERY_BLOCK_S", 20)
    margins, gains = [], []
    for seed in range(200, 400):
        inputs, budget_wh = short_window(seed)
        bound = equal_import_bound(inputs, budget_wh).pv_to_ev_wh
        with monkeypatch.context() as coarse:
            coarse.setattr(bounds, "BATTERY_GRID_WH", COARSE_GRID_WH)
            gains.append(equal_import_bound(inputs, budget_wh).pv_to_ev_wh - bound)
        margins.append(bound - exact(inputs, budget_wh))
    assert min(margins) >= -1e-6
    assert min(gains) >= -1e-6
    assert sum(gain > 0.1 for gain in gains) >= 10


@pytest.mark.parametrize("seed", range(6))
def test_the_ranges_drop_no_state_the_programme_reaches(seed: int) -> None:
    """Random values of the seconds (some above the cars' free share: trades) on the random days
    of tests/ems/test_bounds_battery.py, 5-minute and 40 s blocks."""
    day = _Day(random_day(seed))
    rng = np.random.default_rng(seed)
    shape = (day.surplus.size, 3)
    above = rng.uniform(0.0, 1.0, shape) * day.available[:, None]
    below = np.minimum(above, day.available[:, None] * rng.uniform(0.0, 1.0, shape))
    for block_s in (300, 40):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bounds, "BATTERY_BLOCK_S", block_s)
            reached = _BatteryProgramme(day).value(above, below)
            whole = WholeCapacity(day).value(above, below)
        np.testing.assert_allclose(reached, whole, rtol=0.0, atol=1e-6)
