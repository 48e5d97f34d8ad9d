"""The main fuse against a charger wired to another line than its options say (a closed loop
with real timing, ``fuse_loop``)."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import (
    ChargerInputs,
    ChargerSettings,
    EnergyManager,
    Mode,
    PhaseReading,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
)

from .fuse_loop import Charger, Site, V


def fast(**kwargs: object) -> ChargerSettings:
    return ChargerSettings(mode=Mode.FAST, **kwargs)  # type: ignore[arg-type]


def test_a_single_phase_charger_wired_to_another_line_than_set_is_held_to_that_line() -> None:
    """A single-phase charger left at the default line L1 is wired to L2, which carries 10 A of
    house load; its meter names its own L1. Its draw was taken as L1's (where the grid shows
    nothing of it) and as house load on L2, which no charger was counted on: it got the whole
    fuse, 34.5 A on L2 for as long as it charged. The grid reading contradicts the option (L1
    does not show the draw): the charger is held to what the other lines leave."""
    charger = Charger(fast(phases=1, max_current_a=32.0), lines=(1,), meter_lines=(0,))
    site = Site({"a": charger}, lambda _t: (0.0, 10.0, 0.0))
    decision = site.run(0, 300)
    # Over the fuse only until its meter first reported (10 s) and the drop was applied.
    assert site.over  # (nothing tells until its meter reports)
    assert max(site.over) <= 12.0, site.over[-3:]
    assert charger.limit_a == 14.5  # 25 A - 0.5 A margin - 10 A of house load on L2
    assert decision.chargers["a"].reason is Reason.FUSE_LIMIT


def test_pv_export_on_the_chargers_line_does_not_make_it_suspect_of_another_line() -> None:
    """The grid not showing a car's draw on its line is also PV export there: on a 1-phase
    site (no other line to be on) and beside lines well within the fuse, the car gets the
    whole fuse all the same."""
    cfg = {"a": fast(phases=1, max_current_a=32.0)}
    for site_phases, grid in ((1, (-4.0, 0.0, 0.0)), (3, (-4.0, 10.0, 5.0))):
        manager = EnergyManager(SiteSettings(fuse_a=32.0, site_phases=site_phases), cfg)
        charging = ChargerInputs(
            plugged=True, charging=True, currents_a=PhaseReading((16.0, 0.0, 0.0), 0.0)
        )
        inputs = SiteInputs(
            grid_w=Reading(sum(grid) * V, 0.0),
            grid_currents_a=PhaseReading(grid, 0.0),
            chargers={"a": charging},
        )
        decision = manager.update(inputs, 0.0)
        assert decision.chargers["a"].target.current_a == 31.5, site_phases
