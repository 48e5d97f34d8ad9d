"""Fair sharing and the properties the whole controller must keep (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    ChargerSettings,
    EnergyManager,
    Mode,
    PhaseReading,
    Reading,
    SiteInputs,
    SiteSettings,
    StaleFallback,
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


_STEP = st.tuples(
    st.tuples(*[st.floats(min_value=0, max_value=20)] * 3),  # house current per line (A)
    st.floats(min_value=0, max_value=12000),  # PV (W)
    st.booleans(),  # grid meter fresh
    st.booleans(),  # charger meters fresh
)


# Biased to busy sites: mostly 3-4 chargers, mostly modes that draw current.
_BUSY_MODES = [
    Mode.FAST,
    Mode.FAST,
    Mode.MIN_SOLAR,
    Mode.MIN_SOLAR,
    Mode.SOLAR,
    Mode.PLAN,
    Mode.OFF,
]


@settings(max_examples=200, deadline=None)
@given(
    n=st.sampled_from([1, 2, 3, 3, 4, 4, 4]),
    fuse=st.sampled_from([16.0, 25.0, 35.0, 35.0]),
    modes=st.lists(st.sampled_from(_BUSY_MODES), min_size=4, max_size=4),
    phases=st.lists(st.sampled_from([1, 3]), min_size=4, max_size=4),
    lines=st.lists(st.integers(min_value=1, max_value=3), min_size=4, max_size=4),
    switch=st.lists(st.booleans(), min_size=4, max_size=4),
    fallback=st.sampled_from(list(StaleFallback)),
    steps=st.lists(_STEP, min_size=3, max_size=25),
)
def test_closed_loop_keeps_the_fuse_and_the_limits_with_stale_inputs(
    n: int,
    fuse: float,
    modes: list[Mode],
    phases: list[int],
    lines: list[int],
    switch: list[bool],
    fallback: StaleFallback,
    steps: list[tuple[tuple[float, float, float], float, bool, bool]],
) -> None:
    """Several chargers (1p on any line, 3p, 1p/3p) over time, the house and PV changing, meters
    going stale: what the chargers hold never takes a line over the fuse (the house alone may),
    and every limit is within [min, max] or a pause."""
    chargers = {
        f"c{i}": ChargerSettings(
            mode=modes[i],
            phases=phases[i],
            line_1p=lines[i],
            can_switch_phases=switch[i] and phases[i] == 3,
            stale_fallback=fallback,
            min_write_interval_s=5.0,
        )
        for i in range(n)
    }
    margin = 0.5
    m = EnergyManager(SiteSettings(fuse_a=fuse, fuse_margin_a=margin), chargers)
    held: dict[str, ChargerCommand | None] = dict.fromkeys(chargers)

    def car_lines(cid: str) -> tuple[float, float, float]:
        cmd = held[cid]
        if cmd is None or cmd.paused:
            return (0.0, 0.0, 0.0)
        if cmd.phases == 3:
            return (cmd.current_a,) * 3
        line = chargers[cid].line_1p - 1
        return tuple(cmd.current_a if k == line else 0.0 for k in range(3))  # type: ignore[return-value]

    for index, (house, pv, grid_fresh, meters_fresh) in enumerate(steps):
        t = 100.0 + index * 7.0
        ev = [car_lines(cid) for cid in chargers]
        pv_line = pv / 3 / 230.0
        grid_lines = tuple(house[k] + sum(e[k] for e in ev) - pv_line for k in range(3))
        grid_w = sum(grid_lines) * 230.0
        seen_at = t if grid_fresh else t - 1000.0
        meter_at = t if meters_fresh else t - 1000.0
        inputs = {
            cid: ChargerInputs(
                plugged=True,
                charging=any(e),
                power_w=Reading(sum(e) * 230.0, meter_at),
                currents_a=PhaseReading(e, meter_at),
            )
            for cid, e in zip(chargers, ev, strict=True)
        }
        decision = m.update(
            SiteInputs(
                grid_w=Reading(grid_w, seen_at),
                grid_currents_a=PhaseReading(grid_lines, seen_at),  # type: ignore[arg-type]
                pv_w=Reading(pv, seen_at),
                chargers=inputs,
            ),
            t,
        )
        for cid, dec in decision.chargers.items():
            cfg = chargers[cid]
            for cmd in (dec.target, dec.write):
                if cmd is not None:
                    assert cmd.paused or cfg.min_current_a <= cmd.current_a <= cfg.max_current_a
                    assert cmd.phases in ((1, 3) if cfg.can_switch_phases else (cfg.phases,))
            if dec.write is not None:
                held[cid] = dec.write
        assert (not grid_fresh) == ("grid_power" in decision.stale_inputs)
        cars = [sum(car_lines(cid)[k] for cid in chargers) for k in range(3)]
        for k in range(3):
            # The chargers alone always fit; with a fresh reading, with the house on top too.
            assert cars[k] <= fuse - margin + 1e-6
            if grid_fresh:
                house_k = max(0.0, house[k] - pv_line)
                assert house_k + cars[k] <= max(fuse - margin, house_k) + 1e-6
