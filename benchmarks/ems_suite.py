"""Scenario suite of the energy manager: ~40 day-runs, statistics, a Pareto plot, the targets.

Usage: .venv/bin/python benchmarks/ems_suite.py [--quick] [--scenario TEXT ...] [--group G ...]
       [--workers N]
       [--margins 0,50,150,300] [--pv-csv FILE ...] [--no-bounds] [--out-dir DIR]
Needs: .venv/bin/pip install -r benchmarks/requirements.txt.

Runs every scenario of benchmarks/ems/scenarios.py with ours (the real EmsDriver, default
settings, and at each ``--margins`` value of ``SolarSettings.regulation_margin_w``, its
import/PV trade-off) and the evcc-style reference, in parallel processes; computes the bounds of
benchmarks/ems/bounds.py (physical, and equal-import with the run's own grid + battery energy
into the solar cars as the budget); writes benchmarks/results/ems_suite.md (tables, targets),
ems_suite.json (every run's raw figures) and ems_pareto.png. On the sites with several solar
cars, ours also runs with two user options (``MULTI_CAR_OPTIONS``: sharing the surplus, a
charging priority) and without the hand-over to the car that needs more sun (``NO_HANDOVER``),
and on every site with the least share of sun at 100 % (``SUN_ONLY``), with "stop early in deep
dips" off (``HOLD_DIPS``) and with the cars' SoC and a perfect or noisy solar forecast
(``FORECAST_OPTIONS``), each against its defaults.

Statistics: mean and worst case over the scenarios, and for ours minus the reference the mean
paired difference with its 95 % confidence interval (Student t over the scenarios: each has its
own house-load, meter-noise seed and delays, so the pairs are independent runs).

Seconds above the fuse are split: a second is "unavoidable" if it falls within one response time
(the charger's response delay + the grid meter's interval + 1 s) after a second at which the
uncontrolled load alone (the house, and PV, with the cars' currents and the battery as they were
in the second before) pushed a line that carries a car above the fuse; any other is "avoidable".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ems import bounds, data  # noqa: E402
from benchmarks.ems import scenarios as scn  # noqa: E402
from benchmarks.ems.controllers import SOC_REPORT_S, Ours, Reference, site_options  # noqa: E402
from benchmarks.ems.forecast import hourly_forecast  # noqa: E402
from benchmarks.ems.plant import (  # noqa: E402
    HOUSE_SPLIT,
    BatteryModel,
    Car,
    ChargerModel,
    Plant,
    V,
)
from custom_components.ocpp_ems.core.ems import Mode, SolarSettings  # noqa: E402
from custom_components.ocpp_ems.core.ems.options import STOP_EARLY_IN_DIPS  # noqa: E402
from custom_components.ocpp_ems.core.ems.sun_ahead import (  # noqa: E402
    FILLS_SHARE,
    SPARE_SUN_RESTART_S,
)

MARGINS_W = (0.0, 50.0, 150.0, 300.0)
QUICK_MARGIN_W = 150.0  # --quick: the default settings and this margin only
# Bound ratios of runs whose equal-import bound is below this are left out of the targets (a few
# hundred Wh: one start more or less is 20 %); the Pareto count leaves out scenarios whose
# reference's bound is below IDLE_KWH (no surplus a car can use). All appear in the tables.
RATIO_MIN_KWH = 1.0
IDLE_KWH = 0.1
GRID_SHARE_MAX_PCT = 3.0  # the target: grid->EV below this share of the EV energy
DEFAULT_MARGIN_W = SolarSettings().regulation_margin_w
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Job:
    scenario: scn.Scenario
    controller: str  # "ours" | "reference"
    margin_w: float | None = None  # ours: regulation margin; None = the default settings
    bounds: bool = True
    # ours: SHARE, PRIORITY, NO_HANDOVER (sites with several solar cars), SUN_ONLY, HOLD_DIPS,
    # FORECAST_OPTIONS
    option: str | None = None
    # ours: these settings instead of the defaults (``option`` labels the run; ems_grid_sources.py)
    tuning: SolarSettings | None = None


# Ours with a user's option, on the sites with several solar cars (labels of its runs):
SHARE = "ours+share"  # "share the surplus between cars" on
PRIORITY = "ours+priority"  # the first solar car at charging priority 1, the others at 0
MULTI_CAR_OPTIONS = (SHARE, PRIORITY)
# ...and a setting that is not an option: one after another, no hand-over to a car that needs
# more sun than the running one (SolarSettings.handover_after_s None).
NO_HANDOVER = "ours+no-handover"
# ...and on every site: the least share of sun at 100 % (a car starts and holds on surplus only).
SUN_ONLY = "ours+sun-only"
# ...and on every site: "stop early in deep dips" off (a car holds its minimum through a dip for
# the whole stop delay).
HOLD_DIPS = "ours+hold-dips"
# ...and on every site: the cars' SoC sensors and capacities and a solar forecast, perfect or
# noisy (``ems/forecast.py``), as a user who picked those sensors (``core/ems/sun_ahead.py``).
FORECAST_OPTIONS = {"ours+soc-forecast": "perfect", "ours+soc-noisy-forecast": "noisy"}
# The noisy forecast's seed: the scenario's noise seed plus this.
FORECAST_SEED = 77


def label(controller: str, margin_w: float | None) -> str:
    return controller if margin_w is None else f"{controller}@{margin_w:g}W"


def make_plant(sc: scn.Scenario) -> Plant:
    site = sc.site
    chargers = [
        ChargerModel(
            c.cid,
            c.wired_phases,
            c.line_1p,
            Car(soc=site.car_soc),
            charger_delay_s=sc.charger_delay_s,
            start_delay_s=sc.start_delay_s,
        )
        for c in site.cars
    ]
    plant = Plant(
        pv=sc.pv_w,
        house=sc.house(),
        chargers=chargers,
        battery=BatteryModel() if site.battery else None,
        fuse_a=site.fuse_a,
        solar_ids=set(_solar_cars(sc)),
        seed=sc.noise_seed,
    )
    plant.switchable_ids = {c.cid for c in site.cars if c.switchable}
    return plant


class FuseWatch:
    """Splits the plant's seconds above the fuse into unavoidable and avoidable (module doc)."""

    def __init__(self, plant: Plant, response_s: float) -> None:
        self.plant = plant
        self.response_s = response_s
        self.until = -math.inf
        self.unavoidable = 0
        self.avoidable = 0
        self._count = 0
        self._ev = (0.0, 0.0, 0.0)
        self._battery = 0.0
        self._lines = (0.0, 0.0, 0.0)

    def before(self) -> None:
        plant = self.plant
        ev = [0.0, 0.0, 0.0]
        for charger in plant.chargers:
            for k, amps in enumerate(charger.line_currents()):
                ev[k] += amps
        self._ev = (ev[0], ev[1], ev[2])
        self._battery = plant.battery.power_w if plant.battery is not None else 0.0
        self._lines = plant.phase_currents
        self._count = plant.flows.seconds_over_fuse

    def after(self, t: float) -> None:
        plant, fuse = self.plant, self.plant.fuse_a
        if fuse is None:
            return
        sym = (self._battery + plant.pv_w) / 3.0 / V
        for k in range(3):
            alone = plant.house_w * HOUSE_SPLIT[k] / V + self._ev[k] - sym
            if self._ev[k] > 0.0 and abs(alone) > fuse and abs(self._lines[k]) <= fuse:
                self.until = t + self.response_s
        if plant.flows.seconds_over_fuse > self._count:
            if t < self.until:
                self.unavoidable += 1
            else:
                self.avoidable += 1


class PriorityWatch:
    """PV the solar cars took from the battery's priority share: below the priority SoC the
    battery is owed the surplus (after the house and the fast cars) up to its maximum power. The
    plant serves the cars first and credits that PV as PV->EV (the battery then charges less), so
    a controller that ignores the priority gains PV->EV and can beat the physical bound."""

    def __init__(self, plant: Plant, priority_soc: float) -> None:
        self.plant = plant
        self.priority_soc = priority_soc
        self.taken_wh = 0.0
        self._soc = 100.0

    def before(self) -> None:
        battery = self.plant.battery
        self._soc = battery.soc if battery is not None else 100.0

    def after(self) -> None:
        plant, battery = self.plant, self.plant.battery
        if battery is None or self._soc >= self.priority_soc:
            return
        solar = sum(c.power_w() for c in plant.chargers if c.cid in plant.solar_ids)
        fast = sum(c.power_w() for c in plant.chargers if c.cid not in plant.solar_ids)
        surplus = max(0.0, plant.pv_w - plant.house_w - fast)
        fair = max(0.0, surplus - battery.max_w)
        self.taken_wh += max(0.0, min(surplus, solar) - fair) / 3600.0


def day_inputs(sc: scn.Scenario) -> bounds.DayInputs:
    site = sc.site
    cars = bounds.bound_cars(
        site.cars,
        Car(soc=site.car_soc),
        charger_delay_s=sc.charger_delay_s,
        start_delay_s=sc.start_delay_s,
    )
    return bounds.DayInputs(
        pv_w=sc.pv_w,
        house_w=sc.house(),
        cars=cars,
        battery=BatteryModel() if site.battery else None,
        priority_soc=scn.PRIORITY_SOC,
        fuse_a=site.fuse_a,
        t0=sc.t0,
        t1=sc.t1,
    )


def _bound(compute: Callable[[], bounds.Bound]) -> dict[str, Any]:
    try:
        b = compute()
    except NotImplementedError:
        return {"kwh": None, "method": "n/a (bounds.py not implemented)"}
    except Exception as exc:  # a half-written bound must not sink the suite
        return {"kwh": None, "method": f"error: {type(exc).__name__}: {exc}"[:200]}
    out: dict[str, Any] = {"kwh": b.pv_to_ev_wh / 1000, "method": b.method, "solve_s": b.solve_s}
    no_priority = getattr(b, "no_priority_wh", None)  # without the battery's priority
    if no_priority is not None:
        out["no_priority_kwh"] = no_priority / 1000
    return out


def run(job: Job) -> dict[str, Any]:
    """One day-run: the controller on the scenario's plant, its flows, counts and bounds."""
    sc = job.scenario
    started, cpu = time.monotonic(), time.process_time()
    plant = make_plant(sc)
    ctrl: Ours | Reference
    if job.controller == "ours":
        options = site_options(
            sc.site.fuse_a, battery=sc.site.battery, priority_soc=scn.PRIORITY_SOC
        )
        tuning = None if job.margin_w is None else SolarSettings(regulation_margin_w=job.margin_w)
        if job.option == SHARE:
            tuning = SolarSettings(stagger_starts=False)
        elif job.option == SUN_ONLY:
            tuning = SolarSettings(min_sun_share=1.0)
        elif job.option == NO_HANDOVER:
            tuning = SolarSettings(handover_after_s=None)
        if job.tuning is not None:
            tuning = job.tuning
        if job.option == HOLD_DIPS:
            options = {**options, STOP_EARLY_IN_DIPS.key: False}  # as the user sets it
        first = _solar_cars(sc)[0]
        priorities = {first: 1} if job.option == PRIORITY else None
        forecast = None
        if job.option in FORECAST_OPTIONS:
            kind = FORECAST_OPTIONS[job.option]
            forecast = hourly_forecast(sc.pv_w, kind, sc.noise_seed + FORECAST_SEED)
        ctrl = Ours(list(sc.site.cars), plant.chargers, options, tuning, priorities, forecast)
    else:
        priority = scn.PRIORITY_SOC if sc.site.battery else None
        ctrl = Reference(list(sc.site.cars), sc.site.fuse_a, priority)
    watch = FuseWatch(plant, sc.charger_delay_s + plant.grid_meter.interval_s + 1.0)
    owed = PriorityWatch(plant, scn.PRIORITY_SOC)
    try:
        for t in range(sc.t0, sc.t1):
            watch.before()
            owed.before()
            plant.step(float(t))
            watch.after(float(t))
            owed.after()
            ctrl.step(float(t), plant)
    finally:
        if isinstance(ctrl, Ours):
            ctrl.close()
    sim_s, cpu_s = time.monotonic() - started, time.process_time() - cpu
    f = plant.flows
    cars = [c for c in plant.chargers if c.cid in plant.solar_ids]
    ev_kwh = (f.pv_to_ev + f.grid_to_ev + f.battery_to_ev) / 1000
    out: dict[str, Any] = {
        "scenario": sc.name,
        "group": sc.group,
        "site": sc.site.tag,
        "controller": job.option or label(job.controller, job.margin_w),
        "kind": job.controller,
        "margin_w": DEFAULT_MARGIN_W if job.margin_w is None else job.margin_w,
        "default": job.margin_w is None and job.option is None,
        "pv_to_ev_kwh": f.pv_to_ev / 1000,
        "grid_to_ev_kwh": f.grid_to_ev / 1000,
        "battery_to_ev_wh": f.battery_to_ev,
        "ev_kwh": ev_kwh,
        "ev_register_kwh": sum(c.energy_wh for c in cars) / 1000,  # the chargers' own count
        "grid_share_pct": 100 * f.grid_to_ev / 1000 / ev_kwh if ev_kwh > 0 else 0.0,
        "grid_sources_wh": dict(f.grid_sources),  # grid->EV by cause (plant.GRID_SOURCES)
        "export_takeable_kwh": f.export_takeable / 1000,
        "starts": sum(c.starts for c in cars),
        "car_soc_end": [c.car.soc for c in cars],
        "switches": sum(c.switches for c in cars),
        "writes": sum(c.writes for c in plant.chargers),
        "over_fuse_s": f.seconds_over_fuse,
        "over_unavoidable_s": watch.unavoidable,
        "over_avoidable_s": watch.avoidable,
        "battery_to_car_allowed": False,
        "priority_taken_wh": owed.taken_wh,
        "battery_held_wh": f.battery_held_from_house,
        "sim_s": sim_s,  # wall time of the simulation (bounds excluded)
        "cpu_s": cpu_s,  # its CPU time: what it costs on an idle core
    }
    if job.bounds:
        # The run's own bounds: its battery may have been held back from the house.
        inputs = replace(day_inputs(sc), battery_held_w=plant.battery_held_series())
        budget_wh = f.grid_to_ev + f.battery_to_ev
        out["eq_bound"] = _bound(lambda: bounds.equal_import_bound(inputs, budget_wh))
        out["phys_bound"] = _bound(lambda: bounds.physical_bound(inputs))
    return out


def _solar_cars(sc: scn.Scenario) -> list[str]:
    return [c.cid for c in sc.site.cars if c.mode is not Mode.FAST]


def _warm_house(seed: int) -> None:
    data.house_year(seed)


def jobs_for(
    scenarios: Sequence[scn.Scenario], margins: Sequence[float], with_bounds: bool
) -> list[Job]:
    jobs = []
    for sc in scenarios:
        jobs.append(Job(sc, "reference", None, with_bounds))
        jobs.append(Job(sc, "ours", None, with_bounds))
        jobs.extend(Job(sc, "ours", m, with_bounds) for m in margins if m != DEFAULT_MARGIN_W)
        jobs.append(Job(sc, "ours", None, with_bounds, SUN_ONLY))
        jobs.append(Job(sc, "ours", None, with_bounds, HOLD_DIPS))
        jobs.extend(Job(sc, "ours", None, with_bounds, option) for option in FORECAST_OPTIONS)
        if len(_solar_cars(sc)) > 1:
            for option in (*MULTI_CAR_OPTIONS, NO_HANDOVER):
                jobs.append(Job(sc, "ours", None, with_bounds, option))
    # Longest first (ours with several chargers), so the pool does not end on one slow run.
    return sorted(
        jobs, key=lambda j: -(len(j.scenario.site.cars) * (4 if j.controller == "ours" else 1))
    )


def run_all(jobs: Sequence[Job], workers: int, *, verbose: bool = True) -> list[dict[str, Any]]:
    seeds = sorted({j.scenario.house_seed for j in jobs if j.scenario.house_w is None})
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for seed in seeds:
            _warm_house(seed)
        return [run(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_warm_house, seeds))  # richardsonpy years, once, into the disk cache
        futures = [pool.submit(run, j) for j in jobs]
        for i, future in enumerate(as_completed(futures), 1):
            r = future.result()
            results.append(r)
            if verbose:
                print(
                    f"[{i}/{len(jobs)}] {r['scenario']:42s} {r['controller']:14s} "
                    f"PV->EV {r['pv_to_ev_kwh']:6.2f} grid {r['grid_share_pct']:4.1f} % "
                    f"({r['sim_s']:.1f} s)",
                    flush=True,
                )
    return results


# ---- statistics -------------------------------------------------------------------------------


def ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95 % Student-t confidence interval of the mean (nan bounds below 2 values)."""
    from scipy import stats  # type: ignore[import-untyped]

    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return (mean, mean - half, mean + half)


@dataclass(frozen=True)
class Metric:
    title: str
    get: Callable[[dict[str, Any]], float | None]
    high_is_good: bool
    fmt: str = "{:.2f}"


def _pct(
    run: dict[str, Any], key: str, bound_kwh: Callable[[dict[str, Any]], float | None]
) -> float | None:
    b = bound_kwh(run)
    return None if not b else 100 * run[key] / b


METRICS = (
    Metric("PV->EV (kWh)", lambda r: r["pv_to_ev_kwh"], True),
    Metric("grid->EV (kWh)", lambda r: r["grid_to_ev_kwh"], False),
    Metric("grid->EV (% of EV energy)", lambda r: r["grid_share_pct"], False),
    Metric("battery->EV (Wh)", lambda r: r["battery_to_ev_wh"], False, "{:.1f}"),
    Metric(
        "PV->EV taken from battery priority (Wh)", lambda r: r["priority_taken_wh"], False, "{:.0f}"
    ),
    Metric(
        "battery held back from the house (Wh)",
        lambda r: r.get("battery_held_wh", 0.0),
        False,
        "{:.0f}",
    ),
    Metric("surplus exported, car could take (kWh)", lambda r: r["export_takeable_kwh"], False),
    Metric("charge starts", lambda r: r["starts"], False, "{:.1f}"),
    Metric("phase switches", lambda r: r["switches"], False, "{:.1f}"),
    Metric("charger writes", lambda r: r["writes"], False, "{:.0f}"),
    Metric("s above fuse, avoidable", lambda r: r["over_avoidable_s"], False, "{:.1f}"),
    Metric("s above fuse, unavoidable", lambda r: r["over_unavoidable_s"], False, "{:.1f}"),
    Metric("% of physical bound", lambda r: r.get("pct_phys"), True, "{:.1f}"),
    Metric("% of equal-import bound", lambda r: r.get("pct_eq"), True, "{:.1f}"),
)


def _idle(run: dict[str, Any], below_kwh: float) -> bool:
    """The run's equal-import bound (or, without one, its PV->EV) is below ``below_kwh``: the
    physical bound counts every trickle of surplus, this one only what a 6 A minimum can use."""
    bound = run.get("eq_kwh")
    return bool((bound if bound is not None else run["pv_to_ev_kwh"]) < below_kwh)


def metric(title: str) -> Metric:
    return next(m for m in METRICS if m.title == title)


def attach_bounds(runs: list[dict[str, Any]]) -> None:
    """% of the run's own physical and equal-import bounds (they differ between the runs of a
    scenario only where a run's discharge cap held the battery back from the house)."""
    for r in runs:
        b = (r.get("phys_bound") or {}).get("kwh")
        r["phys_kwh"] = b
        r["pct_phys"] = 100 * r["pv_to_ev_kwh"] / b if b else None
        eq = (r.get("eq_bound") or {}).get("kwh")
        r["eq_kwh"] = eq
        r["pct_eq"] = 100 * r["pv_to_ev_kwh"] / eq if eq else None


def bound_violations(runs: Iterable[dict[str, Any]]) -> list[str]:
    """Runs whose PV->EV, less what they took from the battery's priority share (the one rule
    the bounds assume and the plant does not enforce), exceeds their equal-import or physical
    bound: a bound that is not one (or a controller the plant lets break a rule)."""
    out = []
    for r in runs:
        kept = r["pv_to_ev_kwh"] - r["priority_taken_wh"] / 1000
        for key in ("eq_kwh", "phys_kwh"):
            bound = r.get(key)
            if bound is not None and kept > bound * (1 + 1e-6) + 1e-6:
                out.append(f"{r['controller']} {r['scenario']} {key} {kept:.3f} > {bound:.3f}")
    return out


def by_controller(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """controller label -> scenario -> run."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in runs:
        out.setdefault(r["controller"], {})[r["scenario"]] = r
    return out


def summary(values: list[float], high_is_good: bool) -> tuple[float, float]:
    return (float(np.mean(values)), float(min(values) if high_is_good else max(values)))


def paired(
    metric: Metric, a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]
) -> list[float]:
    diffs = []
    for name, ra in a.items():
        rb = b.get(name)
        if rb is None:
            continue
        va, vb = metric.get(ra), metric.get(rb)
        if va is not None and vb is not None:
            diffs.append(float(va) - float(vb))
    return diffs


def pareto_diffs(
    table: dict[str, dict[str, dict[str, Any]]], ours: Sequence[str]
) -> dict[str, float | None]:
    """Per scenario: PV->EV of ours at the margin setting with the most PV among those that
    import no more than the reference (grid + battery into the solar cars), minus the
    reference's PV->EV; None when every setting imports more. Scenarios without surplus for the
    cars (physical bound below ``IDLE_KWH``) are left out: there is nothing to win."""
    out: dict[str, float | None] = {}
    for name, ref in table.get("reference", {}).items():
        if _idle(ref, IDLE_KWH):
            continue
        budget = ref["grid_to_ev_kwh"] + ref["battery_to_ev_wh"] / 1000 + 1e-3
        best = [
            r["pv_to_ev_kwh"]
            for label_ in ours
            if (r := table.get(label_, {}).get(name)) is not None
            and r["grid_to_ev_kwh"] + r["battery_to_ev_wh"] / 1000 <= budget
        ]
        out[name] = max(best) - ref["pv_to_ev_kwh"] if best else None
    return out


# ---- report -----------------------------------------------------------------------------------


def _fmt(fmt: str, value: float | None) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else fmt.format(value)
    )


def headline(table: dict[str, dict[str, dict[str, Any]]], labels: Sequence[str]) -> list[str]:
    ours, ref = table.get("ours", {}), table.get("reference", {})
    head = "| metric | " + " | ".join(f"{c} mean | {c} worst" for c in labels)
    lines = [head + " | ours - reference, mean [95 % CI] |"]
    lines.append("|---" * (2 + 2 * len(labels)) + "|")
    for m in METRICS:
        cells = []
        for c in labels:
            values = [float(v) for r in table.get(c, {}).values() if (v := m.get(r)) is not None]
            mean, worst = summary(values, m.high_is_good) if values else (None, None)
            cells += [_fmt(m.fmt, mean), _fmt(m.fmt, worst)]
        mean, lo, hi = ci95(paired(m, ours, ref))
        ci = f"{_fmt(m.fmt, mean)} [{_fmt(m.fmt, lo)}, {_fmt(m.fmt, hi)}]"
        lines.append(f"| {m.title} | " + " | ".join(cells) + f" | {ci} |")
    return lines


def group_ci(table: dict[str, dict[str, dict[str, Any]]], groups: Sequence[str]) -> list[str]:
    lines = [
        "| group | n | PV->EV ours - ref (kWh) [95 % CI] | grid->EV ours - ref (kWh) [95 % CI] "
        "| starts ours - ref [95 % CI] |",
        "|---|---|---|---|---|",
    ]
    for g in groups:
        ours = {k: v for k, v in table.get("ours", {}).items() if v["group"] == g or g == "all"}
        ref = table.get("reference", {})
        cells = []
        for m in (metric("PV->EV (kWh)"), metric("grid->EV (kWh)"), metric("charge starts")):
            mean, lo, hi = ci95(paired(m, ours, ref))
            cells.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]" if not math.isnan(mean) else "n/a")
        lines.append(f"| {g} | {len(ours)} | " + " | ".join(cells) + " |")
    return lines


def per_scenario(
    table: dict[str, dict[str, dict[str, Any]]], pareto: dict[str, float | None]
) -> list[str]:
    lines = [
        "| scenario | group | PV->EV ours / ref (kWh) | grid->EV % ours / ref | starts ours / ref "
        "| s>fuse ours avoid. / unavoid. (ref) | % eq.-import bound ours / ref | Pareto dPV (kWh) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, o in table.get("ours", {}).items():
        r = table["reference"].get(name)
        if r is None:
            continue
        d = pareto.get(name)
        lines.append(
            f"| {name} | {o['group']} | {o['pv_to_ev_kwh']:.2f} / {r['pv_to_ev_kwh']:.2f} "
            f"| {o['grid_share_pct']:.1f} / {r['grid_share_pct']:.1f} | {o['starts']} / {r['starts']} "
            f"| {o['over_avoidable_s']} / {o['over_unavoidable_s']} ({r['over_fuse_s']}) "
            f"| {_fmt('{:.1f}', o.get('pct_eq'))} / {_fmt('{:.1f}', r.get('pct_eq'))} "
            f"| {_fmt('{:+.2f}', d)} |"
        )
    return lines


# Per option, the car whose SoC at the end tells what the option is for (every car of these
# sites starts at the same SoC): sharing is fair to the least charged car; a priority favours
# the first solar car; the least share of sun is about every car.
_MEAN_SOC = ("the cars' mean SoC at the end (%)", lambda socs: sum(socs) / len(socs))
_OPTION_CAR: dict[str, tuple[str, Callable[[list[float]], float]]] = {
    SHARE: ("the least charged car's SoC at the end (%)", min),
    PRIORITY: ("the priority car's SoC at the end (%)", lambda socs: socs[0]),
    SUN_ONLY: _MEAN_SOC,
    HOLD_DIPS: _MEAN_SOC,
    NO_HANDOVER: _MEAN_SOC,
    **dict.fromkeys(FORECAST_OPTIONS, _MEAN_SOC),
}


def option_section(table: dict[str, dict[str, dict[str, Any]]], option: str) -> list[str]:
    """Ours with a user's ``option`` against ours with its defaults, on the scenarios it ran."""
    varied, ours = table.get(option, {}), table.get("ours", {})
    names = [name for name in varied if name in ours]
    if not names:
        return ["(not run)"]
    short = option.removeprefix("ours+")
    lines = [
        f"| scenario | PV->EV ours / {short} (kWh) | grid->EV (kWh) ours / {short} | starts ours"
        f" / {short} | cars' SoC at the end, ours / {short} (%) | % eq.-import bound ours / "
        f"{short} |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        o, v = ours[name], varied[name]
        socs = ["/".join(f"{x:.0f}" for x in r.get("car_soc_end", [])) or "n/a" for r in (o, v)]
        lines.append(
            f"| {name} | {o['pv_to_ev_kwh']:.2f} / {v['pv_to_ev_kwh']:.2f} "
            f"| {o['grid_to_ev_kwh']:.2f} / {v['grid_to_ev_kwh']:.2f} "
            f"| {o['starts']} / {v['starts']} | {socs[0]} / {socs[1]} "
            f"| {_fmt('{:.1f}', o.get('pct_eq'))} / {_fmt('{:.1f}', v.get('pct_eq'))} |"
        )
    lines += ["", f"| {short} - ours | mean [95 % CI] | sum |", "|---|---|---|"]
    for title, fmt in (
        ("PV->EV (kWh)", "{:+.2f}"),
        ("grid->EV (kWh)", "{:+.2f}"),
        ("charge starts", "{:+.1f}"),
    ):
        diffs = paired(metric(title), varied, ours)
        mean, lo, hi = ci95(diffs)
        lines.append(
            f"| {title} | {fmt.format(mean)} [{fmt.format(lo)}, {fmt.format(hi)}] "
            f"| {fmt.format(sum(diffs))} |"
        )
    title, car = _OPTION_CAR[option]
    gains = [
        car(varied[name]["car_soc_end"]) - car(ours[name]["car_soc_end"])
        for name in names
        if varied[name].get("car_soc_end") and ours[name].get("car_soc_end")
    ]
    if gains:
        mean, lo, hi = ci95(gains)
        lines.append(f"| {title} | {mean:+.1f} [{lo:+.1f}, {hi:+.1f}] | |")
    above = [
        sum(runs[name]["grid_share_pct"] >= GRID_SHARE_MAX_PCT for name in names)
        for runs in (ours, varied)
    ]
    lines += [
        "",
        f"Scenarios with grid->EV at {GRID_SHARE_MAX_PCT:g} % of the EV energy or more: ours "
        f"{above[0]}, {short} {above[1]} (of {len(names)}).",
    ]
    return lines


def targets(
    runs: list[dict[str, Any]], ours_labels: Sequence[str]
) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the runs given (one group or all)."""
    table = by_controller(runs)
    ours, ref = table.get("ours", {}), table.get("reference", {})
    out: list[tuple[str, str, bool | None]] = []
    if not ours:
        return out
    eq = [
        r["pct_eq"]
        for r in ours.values()
        if r.get("pct_eq") is not None and not _idle(r, RATIO_MIN_KWH)
    ]
    if eq:
        mean, worst = float(np.mean(eq)), float(min(eq))
        n = f" ({len(eq)} with >= {RATIO_MIN_KWH:g} kWh)"
        out.append(("PV->EV >= 97 % of equal-import bound (mean)", f"{mean:.1f} %{n}", mean >= 97))
        out.append(("PV->EV >= 93 % of equal-import bound (worst)", f"{worst:.1f} %", worst >= 93))
    else:
        out.append(("PV->EV >= 97 % / 93 % of equal-import bound", "n/a (no bound)", None))
    above = bound_violations(runs)
    out.append(
        (
            "no run (any controller) above its bounds",
            f"{len(above)} above" + (": " + "; ".join(above[:3]) if above else ""),
            not above,
        )
    )
    pareto = pareto_diffs(table, ours_labels)
    diffs = [d for d in pareto.values() if d is not None]
    wins = sum(1 for d in diffs if d > 0)
    _, lo, _ = ci95(diffs)
    out.append(
        (
            "at <= reference import, more PV->EV in every scenario",
            f"{wins}/{len(pareto)} (no setting at <= import: {len(pareto) - len(diffs)})",
            wins == len(pareto),
        )
    )
    out.append(("... 95 % CI of that difference > 0", f"lower bound {lo:+.3f} kWh", lo > 0))
    share = [r["grid_share_pct"] for r in ours.values()]
    over = sum(1 for s in share if s >= GRID_SHARE_MAX_PCT)
    out.append(
        (
            f"grid->EV < {GRID_SHARE_MAX_PCT:g} % of EV energy in every scenario",
            f"worst {max(share):.1f} %, {over} above",
            over == 0,
        )
    )
    bat = [r["battery_to_ev_wh"] for r in ours.values() if not r["battery_to_car_allowed"]]
    out.append(
        (
            "battery->EV 0 Wh when not allowed (< 1 Wh)",
            f"worst {max(bat, default=0):.1f} Wh",
            max(bat, default=0) < 1.0,
        )
    )
    more = [n for n, r in ours.items() if n in ref and r["starts"] > ref[n]["starts"]]
    out.append(("starts <= reference in every scenario", f"{len(more)} scenarios above", not more))
    taken = [r["priority_taken_wh"] for r in ours.values()]
    out.append(
        (
            "(info) PV->EV taken from the battery's priority share",
            f"worst {max(taken):.0f} Wh, total {sum(taken) / 1000:.2f} kWh",
            None,
        )
    )
    held = [r.get("battery_held_wh", 0.0) for r in ours.values()]
    out.append(
        (
            "(info) battery held back from the house by the discharge cap (the house imported it)",
            f"worst {max(held):.0f} Wh, total {sum(held) / 1000:.2f} kWh",
            None,
        )
    )
    avoid = [r["over_avoidable_s"] for r in ours.values()]
    unavoid = sum(r["over_unavoidable_s"] for r in ours.values())
    out.append(
        (
            "avoidable seconds above fuse 0",
            f"worst {max(avoid)} s, total {sum(avoid)} s (unavoidable total {unavoid} s)",
            sum(avoid) == 0,
        )
    )
    return out


def targets_table(
    runs: list[dict[str, Any]], ours_labels: Sequence[str], groups: Sequence[str]
) -> list[str]:
    per = {
        g: targets([r for r in runs if g == "all" or r["group"] == g], ours_labels) for g in groups
    }
    names = [t for t, _, _ in per["all"]]
    lines = [
        "| target (ours, default settings) | " + " | ".join(groups) + " |",
        "|---" * (1 + len(groups)) + "|",
    ]
    for name in names:
        cells = []
        for g in groups:
            hit = next(((v, ok) for t, v, ok in per[g] if t == name), None)
            if hit is None:
                cells.append("-")
            else:
                status = (
                    ("n/a" if hit[0].startswith("n/a") else "info")
                    if hit[1] is None
                    else ("OK" if hit[1] else "MISS")
                )
                cells.append(f"{status} {hit[0]}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def pareto_plot(
    table: dict[str, dict[str, dict[str, Any]]],
    ours_labels: Sequence[str],
    margins: Sequence[float],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    ref = table.get("reference", {})

    def point(runs: dict[str, dict[str, Any]]) -> tuple[float, float]:
        ev = sum(r["ev_kwh"] for r in runs.values())
        grid = sum(r["grid_to_ev_kwh"] for r in runs.values())
        return (
            100 * grid / ev if ev else 0.0,
            float(np.mean([r["pv_to_ev_kwh"] for r in runs.values()])),
        )

    pts = [
        (m, point(table[lab]))
        for m, lab in zip(margins, ours_labels, strict=True)
        if table.get(lab)
    ]
    if pts:
        left.plot(
            [p[1][0] for p in pts], [p[1][1] for p in pts], "o-", color="tab:blue", label="ours"
        )
        for m, (x, y) in pts:
            left.annotate(f"{m:g} W", (x, y), textcoords="offset points", xytext=(5, 5))
    if ref:
        x, y = point(ref)
        left.plot([x], [y], "*", color="tab:red", markersize=14, label="evcc-style reference")
    left.set_xlabel("grid->EV, % of EV energy (all scenarios)")
    left.set_ylabel("PV->EV, mean per scenario (kWh)")
    left.set_title("Ours at regulation margins vs reference")
    left.legend(loc="lower right")
    cmap = plt.get_cmap("viridis")
    for i, (m, lab) in enumerate(zip(margins, ours_labels, strict=True)):
        runs = table.get(lab, {})
        xs = [runs[n]["grid_to_ev_kwh"] - r["grid_to_ev_kwh"] for n, r in ref.items() if n in runs]
        ys = [runs[n]["pv_to_ev_kwh"] - r["pv_to_ev_kwh"] for n, r in ref.items() if n in runs]
        right.scatter(xs, ys, s=14, color=cmap(i / max(1, len(margins) - 1)), label=f"{m:g} W")
    right.axhline(0, color="grey", lw=0.8)
    right.axvline(0, color="grey", lw=0.8)
    right.set_xlabel("grid->EV ours - reference (kWh)")
    right.set_ylabel("PV->EV ours - reference (kWh)")
    right.set_title("Per scenario (upper left: better on both)")
    right.legend(title="margin")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scenario_row(s: scn.Scenario) -> dict[str, Any]:
    return {
        "name": s.name,
        "group": s.group,
        "source": s.source,
        "site": s.site.tag,
        "charger_delay_s": s.charger_delay_s,
        "start_delay_s": s.start_delay_s,
        "window": [s.t0, s.t1],
        "house_day": s.house_day,
        "house_seed": s.house_seed,
        "noise_seed": s.noise_seed,
        "pv_kwh": float(s.pv_w.sum() / 60000),
        "house_kwh": float(s.house().sum() / 60000),
    }


def report(raw: dict[str, Any]) -> list[str]:
    """The markdown report of a suite run (``raw``: what ems_suite.json holds)."""
    runs, scenarios, margins = raw["runs"], raw["scenarios"], raw["margins_w"]
    table = by_controller(runs)
    ours_labels = [("ours" if m == DEFAULT_MARGIN_W else label("ours", m)) for m in margins]
    labels = ["ours", "reference", *[lab for lab in ours_labels if lab != "ours"]]
    groups = ["all", *sorted({s["group"] for s in scenarios})]
    pareto = pareto_diffs(table, ours_labels)
    methods = sorted(
        {(r.get("eq_bound") or {}).get("method", "not computed") for r in runs}
        | {(r.get("phys_bound") or {}).get("method", "") for r in runs} - {""}
    )
    # (A method that another one extends, the equal-import bound's without a battery, once.)
    methods = [m for m in methods if not any(o != m and o.startswith(m) for o in methods)]
    cpu = sum(r["cpu_s"] for r in runs)
    return [
        "# EMS scenario suite (benchmarks/ems_suite.py)",
        "",
        f"Run {raw['generated']}: {len(scenarios)} scenarios, {len(runs)} day-runs, "
        f"{raw['workers']} worker processes, wall time {raw['wall_s']:.0f} s (simulation CPU "
        f"{cpu:.0f} s). Ours = the real EmsDriver with its defaults (regulation margin "
        f"{DEFAULT_MARGIN_W:g} W); ours@N W = regulation margin N W; reference = the evcc-style "
        "controller. Scenarios: benchmarks/ems/scenarios.py; synthetic days: "
        "benchmarks/ems/clouds.py; real days and gap rules: benchmarks/ems/data.py.",
        "",
        "Bounds: " + "; ".join(methods),
        "",
        "## Targets",
        "",
        *targets_table(runs, ours_labels, groups),
        "",
        "## All scenarios: mean, worst case, ours - reference",
        "",
        "Worst = the lowest value for PV and bound shares, the highest otherwise. The CI is the 95 % "
        "Student-t interval of the mean paired difference over the scenarios.",
        "",
        *headline(table, labels),
        "",
        "## Ours - reference by group",
        "",
        *group_ci(table, groups),
        "",
        "## Pareto",
        "",
        "![Pareto](ems_pareto.png)",
        "",
        'Per scenario, "Pareto dPV" below is the PV->EV of ours at the margin setting with the '
        "most PV among those importing no more than the reference, minus the reference's.",
        "",
        "## Per scenario",
        "",
        *per_scenario(table, pareto),
        "",
        "## Option: share the surplus between cars",
        "",
        "Ours with the option on (solar cars side by side) against ours with its defaults (one "
        "after another), on the scenarios with several solar cars; not part of the targets above.",
        "",
        *option_section(table, SHARE),
        "",
        "## Option: a charging priority",
        "",
        "Ours with the first solar car of the site (car1) at charging priority 1 and the others "
        "at 0, against ours with every car at 0, on the scenarios with several solar cars; not "
        "part of the targets above.",
        "",
        *option_section(table, PRIORITY),
        "",
        "## Option: the least share of sun at 100 %",
        "",
        "Ours with the option at 100 % (a solar car starts, and holds its minimum, on surplus "
        "only) against ours with its default, 90 % (the grid may give a tenth of the minimum), "
        "on every scenario; not part of the targets above.",
        "",
        *option_section(table, SUN_ONLY),
        "",
        "## Option: stop early in deep dips, off",
        "",
        "Ours with the option off (a car holds its minimum through a dip for the whole "
        f"{SolarSettings().disable_delay_s / 60:g}-minute stop delay) against ours with its "
        "default, on (it stops once the dip's grid energy "
        "exceeds what a restart would lose in PV: ``SolarSettings.restart_cost_factor``), on "
        "every scenario; not part of the targets above.",
        "",
        *option_section(table, HOLD_DIPS),
        "",
        "## Setting: no hand-over to the car that needs more sun",
        "",
        "Ours without the hand-over (``SolarSettings.handover_after_s`` None: the running car "
        "keeps the sun until it is full) against ours with it (a 1p/3p car hands over to a "
        "waiting 3-phase-only car once the surplus has carried that one for an hour), on the "
        "scenarios with several solar cars; not part of the targets above.",
        "",
        *option_section(table, NO_HANDOVER),
        "",
        "## Option: the cars' SoC and a solar forecast",
        "",
        f"Ours given each car's SoC (reported every {SOC_REPORT_S / 60:g} minutes) and "
        "capacity and the day's solar "
        "forecast (hourly, as Home Assistant's energy platform gives it), against ours without: "
        "where the sun still ahead today fills every solar car anyway, a car in a dip stops once "
        "the dip outlasts the charger's settle time instead of holding its minimum on grid "
        f"energy, and restarts after {SPARE_SUN_RESTART_S / 60:g} minutes of surplus; one after "
        "another, a car that the sun ahead will not fill today keeps the sun instead of handing "
        f"it over to a car that needs more of it (the sun ahead below {FILLS_SHARE * 100:.0f} % of its "
        "need; ``core/ems/sun_ahead.py``). Perfect: "
        "the day's own PV; noisy: the whole day 20-40 % off and every hour 15 % more "
        f"(``benchmarks/ems/forecast.py``, seed: the scenario's noise seed + {FORECAST_SEED}). "
        "On every scenario; not part of the targets above.",
        "",
        *[
            line
            for option in FORECAST_OPTIONS
            for line in (f"### {option}", "", *option_section(table, option), "")
        ],
        "## Scenarios",
        "",
        "| scenario | group | PV source | PV (kWh) | house (kWh) | site | charger delay / start "
        "delay (s) | window | house seed | noise seed |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {s['name']} | {s['group']} | {s['source']} | {s['pv_kwh']:.1f} | "
            f"{s['house_kwh']:.1f} | {s['site']} | {s['charger_delay_s']:g} / "
            f"{s['start_delay_s']:g} | {_hhmm(s['window'][0])}-{_hhmm(s['window'][1])} | "
            f"{s['house_seed']} | {s['noise_seed']} |"
            for s in scenarios
        ],
    ]


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def write_outputs(raw: dict[str, Any], out_dir: Path) -> list[str]:
    """ems_suite.md, ems_suite.json and ems_pareto.png in ``out_dir``; the report's lines."""
    out_dir.mkdir(parents=True, exist_ok=True)
    attach_bounds(raw["runs"])
    margins = raw["margins_w"]
    ours_labels = [("ours" if m == DEFAULT_MARGIN_W else label("ours", m)) for m in margins]
    pareto_plot(by_controller(raw["runs"]), ours_labels, margins, out_dir / "ems_pareto.png")
    lines = report(raw)
    (out_dir / "ems_suite.md").write_text("\n".join(lines) + "\n")
    (out_dir / "ems_suite.json").write_text(json.dumps(raw, indent=1) + "\n")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a handful of runs (CI smoke test)")
    parser.add_argument(
        "--scenario", action="append", help="only scenarios whose name contains this"
    )
    parser.add_argument("--group", action="append", help="only these groups (real, holdout, ...)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--margins",
        default=",".join(f"{m:g}" for m in MARGINS_W),
        help="ours' regulation margins (W) for the Pareto view",
    )
    parser.add_argument("--pv-csv", action="append", default=[], help="CSV timestamp,W: every day")
    parser.add_argument("--no-bounds", action="store_true")
    parser.add_argument("--out-dir", default=str(RESULTS))
    parser.add_argument("--from-json", help="only rewrite the report and plot from this JSON")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    if args.from_json:
        lines = write_outputs(json.loads(Path(args.from_json).read_text()), out_dir)
        print("\n".join(lines[: lines.index("## Ours - reference by group")]))
        return
    started = time.monotonic()
    margins = sorted({float(m) for m in args.margins.split(",") if m.strip()} | {DEFAULT_MARGIN_W})
    scenarios = scn.scenario_set()
    for path in args.pv_csv:
        scenarios += scn.csv_scenarios(path, len(scenarios))
    if args.quick:
        scenarios = scn.quick_set(scenarios)
        if args.margins == parser.get_default("margins"):
            margins = sorted({DEFAULT_MARGIN_W, QUICK_MARGIN_W})
    if args.scenario:
        scenarios = [s for s in scenarios if any(f in s.name for f in args.scenario)]
    if args.group:
        scenarios = [s for s in scenarios if s.group in args.group]
    if not scenarios:
        raise SystemExit("no scenario matches")
    runs = run_all(jobs_for(scenarios, margins, not args.no_bounds), args.workers)
    raw = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.monotonic() - started,
        "workers": args.workers,
        "margins_w": margins,
        "scenarios": [scenario_row(s) for s in scenarios],
        "runs": sorted(runs, key=lambda r: (r["scenario"], r["controller"])),
    }
    lines = write_outputs(raw, out_dir)
    print("\n".join(lines[: lines.index("## Ours - reference by group")]))
    print(f"wall time {raw['wall_s']:.0f} s; wrote {out_dir}/ems_suite.md, .json, ems_pareto.png")


if __name__ == "__main__":
    main()
