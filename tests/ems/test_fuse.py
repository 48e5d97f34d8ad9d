"""Load management: one main fuse shared by the house and 1-4 chargers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    ChargerSettings,
    EnergyManager,
    Mode,
    PhaseReading,
    Reason,
    SiteSettings,
)

from .util import car, site


def fast(n: int, **kwargs: object) -> dict[str, ChargerSettings]:
    return {f"c{i}": ChargerSettings(mode=Mode.FAST, **kwargs) for i in range(n)}  # type: ignore[arg-type]


def plugged(t: float, n: int) -> dict[str, object]:
    return {f"c{i}": car(t, power=None) for i in range(n)}


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, [16.0]), (2, [12.0, 12.0]), (3, [8.0, 8.0, 8.0]), (4, [6.0, 6.0, 6.0, 6.0])],
)
def test_equal_shares_of_the_fuse(n: int, expected: list[float]) -> None:
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=1.0), fast(n))
    d = m.update(site(0, 0.0, plugged(0, n), grid_currents=(0.0, 0.0, 0.0)), 0)  # type: ignore[arg-type]
    assert [d.chargers[f"c{i}"].target.current_a for i in range(n)] == expected
    total = sum(d.chargers[f"c{i}"].target.current_a for i in range(n))
    assert total <= 24.0


def test_minimum_first_then_pause_the_last_in_line() -> None:
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(5))
    d = m.update(site(0, 0.0, plugged(0, 5), grid_currents=(1.0, 1.0, 1.0)), 0)  # type: ignore[arg-type]
    amps = [d.chargers[f"c{i}"].target for i in range(5)]
    assert [a.current_a for a in amps[:4]] == [6.0, 6.0, 6.0, 6.0]
    assert amps[4].paused
    assert d.chargers["c4"].reason is Reason.FUSE_LIMIT


def test_priority_gets_its_share_first() -> None:
    chargers = fast(2)
    chargers["c1"] = ChargerSettings(mode=Mode.FAST, priority=5)
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=1.0), chargers)
    d = m.update(site(0, 0.0, plugged(0, 2), grid_currents=(0.0, 0.0, 0.0)), 0)  # type: ignore[arg-type]
    assert d.chargers["c1"].target.current_a == 16.0
    assert d.chargers["c0"].target.current_a == 8.0


def test_house_load_per_phase_and_single_phase_chargers() -> None:
    chargers = {
        "a": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=1, max_current_a=32),
        "b": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=2, max_current_a=32),
    }
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), chargers)
    # L1 carries 10 A of house load, L2 2 A (the cars draw nothing yet).
    d = m.update(site(0, 0.0, {"a": car(0), "b": car(0)}, grid_currents=(10.0, 2.0, 0.0)), 0)
    assert d.chargers["a"].target.current_a == 15.0
    assert d.chargers["b"].target.current_a == 23.0


def test_the_cars_own_current_is_not_house_load() -> None:
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(1))
    m.update(site(0, 0.0, plugged(0, 1), grid_currents=(0.0, 0.0, 0.0)), 0)  # type: ignore[arg-type]
    charging = {"c0": car(1, power=11040, currents=(16.0, 16.0, 16.0))}
    d = m.update(site(1, 0.0, charging, grid_currents=(20.0, 18.0, 17.0)), 1)
    assert d.chargers["c0"].target.current_a == 16.0
    # The house grows to 12 A on L1: the car is cut to 13 A at once.
    d = m.update(site(2, 0.0, charging, grid_currents=(28.0, 18.0, 17.0)), 2)
    assert d.chargers["c0"].write == ChargerCommand(13.0, 3)
    assert d.chargers["c0"].reason is Reason.FUSE_LIMIT


def test_export_is_not_counted_as_headroom() -> None:
    m = EnergyManager(SiteSettings(fuse_a=16, fuse_margin_a=0.0), fast(1, max_current_a=32))
    d = m.update(site(0, -9000, plugged(0, 1), grid_currents=(-13.0, -13.0, -13.0)), 0)  # type: ignore[arg-type]
    assert d.chargers["c0"].target.current_a == 16.0


def test_without_phase_currents_the_house_load_is_assumed_on_every_phase() -> None:
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(1))
    d = m.update(site(0, 2300.0, plugged(0, 1)), 0)  # type: ignore[arg-type]
    assert d.chargers["c0"].target.current_a == 15.0
    balanced = SiteSettings(fuse_a=25, fuse_margin_a=0.0, assume_balanced_house_load=True)
    m = EnergyManager(balanced, fast(1))
    d = m.update(site(0, 2300.0 * 3, plugged(0, 1)), 0)  # type: ignore[arg-type]
    assert d.chargers["c0"].target.current_a == 15.0


def test_grid_currents_without_l1_fall_back_to_the_grid_power() -> None:
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(1))
    d = m.update(site(0, 2300.0, plugged(0, 1), grid_currents=(None, 5.0, 5.0)), 0)  # type: ignore[arg-type]
    assert d.stale_inputs == {"grid_current_l1"}
    assert d.chargers["c0"].target.current_a == 15.0  # 10 A of house load on every phase


def test_one_unavailable_phase_current_keeps_the_others_capping_their_lines() -> None:
    """L2's grid current sensor is unavailable, L1 and L3 read. The fuse used to drop all three
    phase currents for the net grid power: PV exporting on L2 hid 13 A of house load on L1, and
    the car was kept at 16 A beside it (29 A on a 25 A fuse), with no repair naming L2. A read
    line caps its own share; the missing one is estimated from the grid power and named."""
    m = EnergyManager(SiteSettings(fuse_a=25.0), {"a": ChargerSettings(mode=Mode.FAST)})
    # Car 16 A on each line, house 13 A on L1, 1-phase PV exporting 26 A on L2.
    l1, l2, l3 = 16.0 + 13.0, 16.0 - 26.0, 16.0
    grid_w = (l1 + l2 + l3) * 230.0
    d = None
    for t in range(0, 60, 5):
        charging = {"a": car(t, power=16.0 * 3 * 230.0, currents=(16.0, 16.0, 16.0))}
        inputs = replace(site(t, grid_w, charging), grid_currents_a=PhaseReading((l1, None, l3), t))
        d = m.update(inputs, t)
    assert d is not None
    target = d.chargers["a"].target
    # House on L1 = 29 - 16 = 13 A: at most 25 - 0.5 - 13 = 11.5 A for the car.
    assert target.paused or target.current_a <= 11.5, target
    assert d.stale_inputs == {"grid_current_l2"}


def test_an_unavailable_phase_current_takes_what_the_read_lines_leave_of_the_grid() -> None:
    """The missing line carries at least what the read lines leave of the net grid current."""
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(1))
    # Net 10 A of house load, L1 exports 5 A, L3 reads 0: L2 carries 15 A.
    inputs = site(0, 10 * 230.0, plugged(0, 1), grid_currents=(-5.0, None, 0.0))  # type: ignore[arg-type]
    d = m.update(inputs, 0)
    assert d.chargers["c0"].target.current_a == 10.0


def test_an_unavailable_phase_current_beside_unsigned_ones_assumes_they_export() -> None:
    """A P1 meter gives phase currents without a sign. PV exports 20 A on each line, L3 carries
    25 A of house load (net +5 A) and its sensor is out: L1/L2 read 20 (really -20). The missing
    line was taken as empty (the read lines leave less than nothing of the net current) and a
    1-phase car on L3 was given the whole fuse: 30 A on L3."""
    cfg = {"a": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=3, max_current_a=32.0)}
    m = EnergyManager(SiteSettings(fuse_a=25.0, fuse_margin_a=0.0), cfg)
    grid_w = (-20.0 - 20.0 + 5.0) * 230.0
    inputs = site(0, grid_w, {"a": car(0, power=None)}, grid_currents=(20.0, 20.0, None))  # type: ignore[arg-type]
    target = m.update(inputs, 0).chargers["a"].target
    assert target.paused or target.current_a <= 20.0, target  # L3 imports 5 A already


def test_unavailable_phase_currents_without_grid_power_fall_back() -> None:
    """Neither the phase current nor the grid power: that line's house load is unknown (the
    chargers fall back, as for a stale input); a read line still caps its share."""
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(1))
    d = m.update(site(0, None, plugged(0, 1), grid_currents=(20.0, None, 0.0)), 0)  # type: ignore[arg-type]
    assert d.stale_inputs == {"grid_current_l2"}
    decision = d.chargers["c0"]
    assert decision.stale
    assert decision.target.paused or decision.target.current_a <= 5.0


def test_single_phase_site_puts_every_charger_on_l1() -> None:
    chargers = fast(2, phases=1, max_current_a=32)
    m = EnergyManager(SiteSettings(fuse_a=32, site_phases=1, fuse_margin_a=0.0), chargers)
    d = m.update(site(0, 0.0, plugged(0, 2), grid_currents=(0.0, None, None)), 0)  # type: ignore[arg-type]
    assert [d.chargers[c].target.current_a for c in ("c0", "c1")] == [16.0, 16.0]


def test_fuse_with_unknown_grid_falls_back_but_chargers_alone_fit() -> None:
    m = EnergyManager(SiteSettings(fuse_a=16, fuse_margin_a=0.0), fast(3))
    d = m.update(site(0, None, plugged(0, 3)), 0)  # type: ignore[arg-type]
    assert "grid_power" in d.stale_inputs
    amps = [d.chargers[f"c{i}"].target for i in range(3)]
    assert [a.current_a for a in amps[:2]] == [6.0, 6.0]
    assert amps[2].paused
    assert all(
        d.chargers[f"c{i}"].reason in (Reason.STALE_INPUT, Reason.FUSE_LIMIT) for i in range(3)
    )


def test_running_charger_is_not_pushed_out_by_a_new_one() -> None:
    m = EnergyManager(SiteSettings(fuse_a=10, fuse_margin_a=0.0), fast(2))
    # c1 is charging, c0 just plugged in: only one minimum fits, c1 keeps it.
    inputs = {"c0": car(0), "c1": car(0, power=4140, currents=(6.0, 6.0, 6.0))}
    d = m.update(site(1, 0.0, inputs, grid_currents=(6.0, 6.0, 6.0)), 1)
    assert d.chargers["c0"].target.paused
    assert not d.chargers["c1"].target.paused


def test_a_full_fast_car_does_not_hold_fuse_headroom() -> None:
    m = EnergyManager(
        SiteSettings(fuse_a=25.0, fuse_margin_a=0.5),
        {
            "fast": ChargerSettings(mode=Mode.FAST),
            "sol": ChargerSettings(mode=Mode.SOLAR, phases=1),
        },
    )
    m.update(site(0, 0.0, {"fast": car(0), "sol": car(0)}, grid_currents=(0, 0, 0)), 0)
    # Settled: the fast car takes nothing (full); it keeps only its minimum offered.
    full = {"fast": car(60, power=0.0, currents=(0.0, 0.0, 0.0)), "sol": car(60)}
    d = m.update(site(60, -3700, full, grid_currents=(-5.4, -5.4, -5.4)), 60)
    assert d.chargers["fast"].target == ChargerCommand(6.0, 3)
    assert d.chargers["fast"].reason is Reason.FAST
    assert d.chargers["sol"].target.current_a == 16.0  # 24.5 A - 6 A: not capped at 12.2 A


def test_fuse_decrease_bypasses_the_write_limiter() -> None:
    m = EnergyManager(
        SiteSettings(fuse_a=25.0), {"a": ChargerSettings(mode=Mode.FAST, min_write_interval_s=60)}
    )
    m.update(site(0, 0.0, {"a": car(0)}, grid_currents=(0, 0, 0)), 0)  # 16 A
    # One second later the house takes 9.3 A more on L1: 0.2 A less is written at once.
    busy = {"a": car(1, power=16 * 3 * 230.0, currents=(16.0, 16.0, 16.0))}
    d = m.update(site(1, 0.0, busy, grid_currents=(25.3, 16.0, 16.0)), 1)
    assert d.chargers["a"].write == ChargerCommand(15.2, 3)
    assert d.chargers["a"].reason is Reason.FUSE_LIMIT


def test_four_chargers_on_35_a_nobody_gets_less_than_the_minimum() -> None:
    """The reference's first come first served gives the third car 3 A here; two run at 16 A
    when two more plug in: every car gets at least its minimum, then equal shares. The two
    new cars start once the grid shows the drops: started at once, they could draw beside the
    32 A still drawn for the running cars' lag (49 A on 35 A)."""
    m = EnergyManager(SiteSettings(fuse_a=35, fuse_margin_a=0.0), fast(4))
    inputs = {f"c{i}": car(0, power=None) for i in range(2)}
    d = m.update(site(0, 0.0, inputs, grid_currents=(0.0, 0.0, 0.0)), 0)
    assert [d.chargers[f"c{i}"].target.current_a for i in range(2)] == [16.0, 16.0]
    running = {f"c{i}": car(60, currents=(16.0, 16.0, 16.0)) for i in range(2)}
    running |= {f"c{i}": car(60, power=None) for i in (2, 3)}
    d = m.update(site(60, 0.0, running, grid_currents=(32.0, 32.0, 32.0)), 60)
    assert [d.chargers[f"c{i}"].write for i in (0, 1)] == [ChargerCommand(8.7, 3)] * 2
    assert all(d.chargers[f"c{i}"].target.paused for i in (2, 3))
    assert all(d.chargers[f"c{i}"].reason is Reason.FUSE_LIMIT for i in (2, 3))
    followed = {f"c{i}": car(70, currents=(8.7, 8.7, 8.7)) for i in range(2)}
    followed |= {f"c{i}": car(70, power=None) for i in (2, 3)}
    d = m.update(site(70, 0.0, followed, grid_currents=(17.4, 17.4, 17.4)), 70)
    amps = [d.chargers[f"c{i}"].target.current_a for i in range(4)]
    assert all(a >= 6.0 for a in amps)
    assert sum(amps) <= 35.0
    assert max(amps) - min(amps) <= 0.1
    assert [d.chargers[f"c{i}"].write for i in (2, 3)] == [ChargerCommand(8.7, 3)] * 2


def test_a_small_drop_is_held_back_only_while_the_fuse_has_room_for_it() -> None:
    cfg = ChargerSettings(mode=Mode.MIN_SOLAR, min_write_interval_s=5.0)
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.5), {"a": cfg})
    # 4.42 kW exported: 6.4 A on three phases.
    d = m.update(site(0, -4416, {"a": car(0)}, grid_currents=(0.0, 0.0, 0.0)), 0)
    assert d.chargers["a"].write == ChargerCommand(6.4, 3)
    running = {"a": car(10, currents=(6.4, 6.4, 6.4), power=4416)}
    # No surplus any more: the minimum (6 A) is the target; a 0.4 A drop waits (plenty of fuse).
    d = m.update(site(10, 276.0, running, grid_currents=(6.6, 6.6, 6.6)), 10)
    assert d.chargers["a"].target == ChargerCommand(6.0, 3)
    assert d.chargers["a"].write is None
    # The house takes 18 A on L3: only 6.3 A are left there, holding 6.4 A would exceed the fuse.
    d = m.update(site(20, 276.0, running, grid_currents=(6.6, 6.6, 24.6)), 20)
    assert d.chargers["a"].write == ChargerCommand(6.0, 3)


def test_a_fuse_drop_within_the_rounding_waits_while_the_written_limits_fit() -> None:
    """Two Fast cars share 24.5 A (25 A fuse, 0.5 A margin), 12.2 A each. The house goes
    0.1 -> 0.14 A: each share is 12.18 A, written 12.1 A; 24.36 A hold 12.2 + 12.1 A but not
    12.2 A twice, so one drop waits and the other goes out (was: both, red team 18a). The house
    at 0.5 A leaves 12.0 A each: 12.2 A no longer fits beside it, both go out at once."""
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.5), fast(2))
    d = m.update(site(0, 0.0, plugged(0, 2), grid_currents=(0.1, 0.1, 0.1)), 0)  # type: ignore[arg-type]
    assert [d.chargers[c].write for c in ("c0", "c1")] == [ChargerCommand(12.2, 3)] * 2
    running = {c: car(10, currents=(12.2, 12.2, 12.2)) for c in ("c0", "c1")}
    d = m.update(site(10, 0.0, running, grid_currents=(24.54, 24.54, 24.54)), 10)
    assert [d.chargers[c].target for c in ("c0", "c1")] == [ChargerCommand(12.1, 3)] * 2
    assert [d.chargers[c].write for c in ("c0", "c1")] == [None, ChargerCommand(12.1, 3)]
    assert d.chargers["c0"].reason is Reason.FUSE_LIMIT
    running = {"c0": car(20, currents=(12.2,) * 3), "c1": car(20, currents=(12.1,) * 3)}
    d = m.update(site(20, 0.0, running, grid_currents=(24.8, 24.8, 24.8)), 20)
    assert [d.chargers[c].write for c in ("c0", "c1")] == [ChargerCommand(12.0, 3)] * 2


def test_rounding_up_never_exceeds_the_fuse_share() -> None:
    chargers = {
        "fast": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=3),
        "solar": ChargerSettings(mode=Mode.MIN_SOLAR),
    }
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.5), chargers)
    inputs = {"fast": car(0, power=None), "solar": car(0, power=None)}
    # The solar car's share is 6.55 A (rounded to the nearest 0.1 A it would be 6.6 A); the fast
    # car gets the rest of L3 (18.55 A - 6.55 A = 12 A): the rounding must not add 0.05 A.
    grid = (-6.55, -6.55, 24.5 - 18.55)
    d = m.update(site(0, -6.55 * 690, inputs, grid_currents=grid), 0)
    assert d.chargers["fast"].target.current_a == 12.0
    assert d.chargers["solar"].target.current_a == 6.5


@pytest.mark.parametrize("meter", ["grid_power", "grid_currents", "none"])
def test_an_offline_chargers_draw_is_no_headroom_for_the_others(meter: str) -> None:
    """c0 went offline charging at 24 A (it keeps its last limit: we cannot lower it) on a 25 A
    fuse; c1 plugs in. c0's last measured draw counts like the house's load, never as headroom
    (it was taken off the grid reading but claimed by nobody: c1 got 24 A, 48 A on the fuse)."""
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.0), fast(2))
    chargers = {
        "c0": car(0, power=16560.0, currents=(24.0, 24.0, 24.0), connected=False),
        "c1": car(0, power=None),
    }
    grid = {
        "grid_power": {"grid": 16560.0},
        "grid_currents": {"grid": None, "grid_currents": (24.0, 24.0, 24.0)},
        "none": {"grid": None},
    }[meter]
    d = m.update(site(0, chargers=chargers, **grid), 0)  # type: ignore[arg-type]
    assert d.chargers["c1"].target.paused
    assert d.chargers["c1"].reason is Reason.FUSE_LIMIT


def test_stale_3p_sample_after_a_switch_down_is_no_headroom_on_the_freed_lines() -> None:
    """25 A fuse, house 10 A on L2. Car a (1p/3p, Min + solar, no surplus) runs at 6 A on 3p
    and switches down to 1p on L1 after the phase-down delay; car b (single-phase, Fast, 32 A) is
    on L2. a's charger follows at once, but its meter (OCPP meter values every 30 s; README: every
    10-60 s) still shows the old 6 A on L1-L3 for 30 s. The grid meter shows L2 without a; the
    stale 6 A on L2 are subtracted from it once more, the house on L2 reads 4 A instead of 10 A and
    b is raised to 20.5 A: L2 carries 30.5 A on the 25 A fuse for 20 s."""
    cfgs = {
        "a": ChargerSettings(mode=Mode.MIN_SOLAR, can_switch_phases=True, line_1p=1),
        "b": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=2, max_current_a=32),
    }
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.5), cfgs)
    house = (0.0, 10.0, 0.0)
    lim: dict[str, ChargerCommand | None] = {"a": None, "b": None}

    def cur(c: str) -> tuple[float, float, float]:
        w = lim[c]
        if w is None or w.paused:
            return (0.0, 0.0, 0.0)
        if c == "b":
            return (0.0, w.current_a, 0.0)
        return (w.current_a,) * 3 if w.phases == 3 else (w.current_a, 0.0, 0.0)

    sample: tuple[tuple[float, float, float], float] | None = None  # a's meter, held after a switch
    over: list[tuple[int, float]] = []
    switched_at = None
    for t in range(400):
        ca, cb = cur("a"), cur("b")
        grid = tuple(house[k] + ca[k] + cb[k] for k in range(3))
        ma, ma_at = sample if sample is not None else (ca, float(t))
        chargers = {
            "a": ChargerInputs(plugged=True, charging=True, currents_a=PhaseReading(ma, ma_at)),
            "b": ChargerInputs(plugged=True, charging=max(cb) > 0, currents_a=PhaseReading(cb, t)),
        }
        d = m.update(site(t, sum(grid) * 230.0, chargers, grid_currents=grid), t)  # type: ignore[arg-type]
        for c, dec in d.chargers.items():
            if dec.write is None:
                continue
            old = lim[c]
            if c == "a" and old is not None and dec.write.phases != old.phases:
                sample, switched_at = (cur("a"), float(t)), t
            lim[c] = dec.write  # applied from the next second on
        if sample is not None and t - sample[1] >= 30:
            sample = None
        l2 = house[1] + cur("a")[1] + cur("b")[1]
        if l2 > 25.0 + 1e-6:
            over.append((t, l2))
    assert switched_at is not None  # the switch down happened
    assert over == [], f"switch at {switched_at}; L2 above the fuse: {over[:3]} ... {len(over)} s"


def _single_phase_on_l2(grid_currents: bool, meter_line: int) -> list[float]:
    """25 A fuse, house 10 A on L2 (2300 W). Car b: single-phase charger wired to L2
    (line_1p=2), Fast, 32 A. Its meter reports Current.Import without a phase (the core maps
    that to "L1") -- the charger does not know which site line it is on. Closed loop: the car
    draws what was last written. Returns b's written currents."""
    cfgs = {"b": ChargerSettings(mode=Mode.FAST, phases=1, line_1p=2, max_current_a=32)}
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=0.5), cfgs)
    house = (0.0, 10.0, 0.0)
    lim: ChargerCommand | None = None
    written: list[float] = []
    for t in range(300):
        amps = 0.0 if lim is None or lim.paused else lim.current_a
        site_cur = (house[0], house[1] + amps, house[2])
        meter = [0.0, 0.0, 0.0]
        meter[meter_line - 1] = amps
        ci = ChargerInputs(
            plugged=True,
            charging=amps > 0,
            currents_a=PhaseReading((meter[0], meter[1], meter[2]), float(t)),
        )
        d = m.update(
            site(
                t,
                sum(site_cur) * 230.0,
                {"b": ci},
                grid_currents=site_cur if grid_currents else None,
            ),  # type: ignore[arg-type]
            t,
        )
        dec = d.chargers["b"]
        if dec.write is not None:
            lim = dec.write
            written.append(0.0 if lim.paused else lim.current_a)
    return written


@pytest.mark.parametrize("grid_currents", [False, True], ids=["grid_power_only", "grid_currents"])
@pytest.mark.parametrize("meter_line", [1, 2])
def test_single_phase_charger_on_l2_metering_l1_gets_the_fuse_headroom(
    grid_currents: bool, meter_line: int
) -> None:
    """README: the line a single-phase charger is wired to is where the main fuse is watched.
    House 10 A on L2, fuse 25 A - 0.5 margin: the car may have 14.5 A, whichever phase its meter
    names (most report their own L1). Its own current in the grid meter is no house load (it was
    counted on L1, or dropped: the car flapped between 14.5 A and paused)."""
    written = _single_phase_on_l2(grid_currents, meter_line)
    assert written, "nothing written"
    assert written[-1] == pytest.approx(14.5, abs=0.6), written
