"""The stale fallback of a charger that is on/off only (it takes no current limit).

Its minimum is its maximum (``charger_config.currents``), so the default fallback, min current,
would run it at its full current (16 A x 3, 11 kW) while the surplus or the fuse is unknown: not
the gentle fallback the option promises, and with the fuse unknown a risk for the main fuse. It
pauses instead (a charger that takes limits still holds its minimum:
``test_modes_and_stale.py``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    Mode,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
    StaleFallback,
)

from .test_onoff_charger import FULL_A, OnOffLoop


class StaleGridLoop(OnOffLoop):
    """The on/off loop on a site with ``site``'s settings whose grid meter reads unavailable
    once ``grid_stale`` is set."""

    def __init__(self, mode: Mode, site: SiteSettings) -> None:
        super().__init__(mode)
        self.manager.set_site(site)
        self.grid_stale = False

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        inputs = super().inputs(t, grid, ev)
        return replace(inputs, grid_w=Reading(None, t)) if self.grid_stale else inputs


@pytest.mark.parametrize(
    ("mode", "site"),
    [(Mode.SOLAR, SiteSettings()), (Mode.FAST, SiteSettings(fuse_a=25.0))],
    ids=["solar", "fast_on_a_fuse"],
)
def test_min_current_pauses_a_charger_that_is_on_off(mode: Mode, site: SiteSettings) -> None:
    """It charges at full in the sun; the grid meter goes unavailable: the surplus (Solar) or the
    fuse's headroom (Fast on a 25 A fuse, without phase currents) is unknown and it pauses
    (before: it went on at 16 A x 3)."""
    loop = StaleGridLoop(mode, site)
    loop.during(0, 600, 12000.0)
    assert loop.commands["a"] == ChargerCommand(FULL_A, 3)
    loop.grid_stale = True
    decision = loop.during(601, 700, 12000.0)
    assert loop.manager.charger("a").stale_fallback is StaleFallback.MIN_CURRENT
    assert "grid_power" in decision.stale_inputs
    assert decision.chargers["a"].reason is Reason.STALE_INPUT
    assert loop.commands["a"] == ChargerCommand.pause(3)
