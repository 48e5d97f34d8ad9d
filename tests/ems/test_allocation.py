"""Fair sharing and the properties the whole controller must keep (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.allocation import Claim, share, water_fill

from .util import car, site

L123 = {"L1": 1.0, "L2": 1.0, "L3": 1.0}


def test_water_fill_equal_until_saturated() -> None:
    got = water_fill({"a": 2.0, "b": 10.0}, {"a": {"x": 1.0}, "b": {"x": 1.0}}, {"x": 8.0})
    assert got == {"a": 2.0, "b": 6.0}


def test_share_min_first_then_equal() -> None:
    claims = [Claim("a", 6, 16, L123), Claim("b", 6, 16, L123), Claim("c", 6, 16, {"L1": 1.0})]
    got = share(claims, {"L1": 20.0, "L2": 30.0, "L3": 30.0})
    assert got["a"] + got["b"] + got["c"] <= 20.0 + 1e-9
    assert min(got.values()) >= 6.0
    assert share([Claim("z", 6, 0, L123)], {"L1": 30.0}) == {"z": 0.0}


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=4),
    fuse=st.sampled_from([16.0, 20.0, 25.0, 35.0]),
    house=st.tuples(*[st.floats(min_value=-20, max_value=30)] * 3),
    grid_w=st.floats(min_value=-10000, max_value=15000),
    modes=st.lists(st.sampled_from(list(Mode)), min_size=4, max_size=4),
    phases=st.lists(st.sampled_from([1, 3]), min_size=4, max_size=4),
    lines=st.lists(st.integers(min_value=1, max_value=3), min_size=4, max_size=4),
    maxes=st.lists(st.sampled_from([10.0, 16.0, 32.0]), min_size=4, max_size=4),
    switch=st.booleans(),
)
def test_fuse_never_exceeded_and_limits_in_range(
    n: int,
    fuse: float,
    house: tuple[float, float, float],
    grid_w: float,
    modes: list[Mode],
    phases: list[int],
    lines: list[int],
    maxes: list[float],
    switch: bool,
) -> None:
    chargers = {
        f"c{i}": ChargerSettings(
            mode=modes[i],
            phases=phases[i],
            line_1p=lines[i],
            max_current_a=maxes[i],
            can_switch_phases=switch and phases[i] == 3,
        )
        for i in range(n)
    }
    m = EnergyManager(SiteSettings(fuse_a=fuse, fuse_margin_a=0.5), chargers)
    inputs = site(0, grid_w, {c: car(0) for c in chargers}, grid_currents=house)
    decision = m.update(inputs, 0)
    load = [max(0.0, h) for h in house]
    for cid, dec in decision.chargers.items():
        cfg = chargers[cid]
        cmd = dec.target
        if cmd.paused:
            assert cmd.current_a == 0.0
            continue
        assert cfg.min_current_a <= cmd.current_a <= cfg.max_current_a
        used = [0, 1, 2] if cmd.phases == 3 else [cfg.line_1p - 1]
        for k in used:
            load[k] += cmd.current_a
    for k in range(3):
        # The house alone may already be over the fuse: then the chargers add nothing.
        assert load[k] <= max(fuse - 0.5, 0.0, house[k]) + 1e-6


@settings(max_examples=100, deadline=None)
@given(trace=st.lists(st.floats(min_value=-12000, max_value=8000), min_size=5, max_size=40))
def test_limits_stay_in_range_over_time(trace: list[float]) -> None:
    cfg = ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True)
    m = EnergyManager(SiteSettings(), {"a": cfg})
    for t, grid in enumerate(trace):
        d = m.update(site(t * 7.0, grid, {"a": car(t * 7.0)}), t * 7.0)
        cmd = d.chargers["a"].target
        assert cmd.paused or cfg.min_current_a <= cmd.current_a <= cfg.max_current_a
        assert cmd.phases in (1, 3)
        if d.chargers["a"].write is not None:
            w = d.chargers["a"].write
            assert w.paused or cfg.min_current_a <= w.current_a <= cfg.max_current_a
