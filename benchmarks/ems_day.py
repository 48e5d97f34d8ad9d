"""Day benchmark of the energy manager against the reference, a naive automation and two bounds.

Usage: .venv/bin/python benchmarks/ems_day.py [--pv-csv FILE] [--load-csv FILE] [--out FILE]
       [--scenario NAME ...]
Needs: .venv/bin/pip install -r benchmarks/requirements.txt (pvanalytics data, richardsonpy).
The traces and the plant model are described in benchmarks/ems/data.py and benchmarks/ems/plant.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ems import data  # noqa: E402
from benchmarks.ems.bounds import (  # noqa: E402
    Bound,
    DayInputs,
    bound_cars,
    equal_import_bound,
    physical_bound,
)
from benchmarks.ems.controllers import CarSpec, Naive, Ours, Reference, site_options  # noqa: E402
from benchmarks.ems.plant import BatteryModel, Car, ChargerModel, Plant  # noqa: E402
from custom_components.ocpp_ems.core.ems import Mode, SolarSettings  # noqa: E402

T0, T1 = 4 * 3600, 22 * 3600  # simulated window (local time); the cars are plugged in all along
PRIORITY_SOC = 60.0
SUNNY_SOURCE = "NREL SERF East 1-min AC 2022-03-19 (pvanalytics), peak 8 kW"
CLOUDY_SOURCE = "NREL RMIS GHI 2019-02-02 5-min (pvanalytics) x 10 kWp x 0.85"


@dataclass
class Scenario:
    name: str
    day: str  # "sunny" | "cloudy"
    cars: list[CarSpec]
    battery: bool = False
    fuse_a: float | None = 25.0


def scenarios() -> list[Scenario]:
    three = [CarSpec("car1", Mode.SOLAR, 3, False)]
    switch = [CarSpec("car1", Mode.SOLAR, 3, True)]
    two = [CarSpec("car1", Mode.SOLAR, 3, False), CarSpec("car2", Mode.SOLAR, 3, True)]
    three_chargers = [
        CarSpec("car1", Mode.SOLAR, 3, False),
        CarSpec("car2", Mode.SOLAR, 3, True),
        CarSpec("fast", Mode.FAST, 3, False),
    ]
    return [
        Scenario("sunny / 3p only", "sunny", three),
        Scenario("sunny / 1p-3p", "sunny", switch),
        Scenario("cloudy / 3p only", "cloudy", three),
        Scenario("cloudy / 1p-3p", "cloudy", switch),
        Scenario("sunny / 1p-3p / battery", "sunny", switch, battery=True),
        Scenario("cloudy / 1p-3p / battery", "cloudy", switch, battery=True),
        Scenario("sunny / 2 chargers / 25 A", "sunny", two),
        Scenario("cloudy / 2 chargers / 25 A", "cloudy", two),
        Scenario("sunny / 3 chargers (1 fast) / 25 A", "sunny", three_chargers),
        Scenario("cloudy / 3 chargers (1 fast) / 25 A", "cloudy", three_chargers),
    ]


@dataclass
class Result:
    pv_to_ev: float
    grid_to_ev: float
    battery_to_ev: float
    export_takeable: float
    starts: int
    switches: int
    writes: int
    over_fuse: int
    split: tuple[float, float, float] | None = None  # ours: the driver's session split (kWh)
    physical: float = 0.0  # the physical bound (kWh)
    equal_import: float = 0.0  # the equal-import bound at its own grid + battery energy (kWh)
    battery_held_w: np.ndarray | None = None  # per second: its discharge cap kept from the house

    @property
    def of_physical(self) -> float:
        return self.pv_to_ev / self.physical if self.physical else 0.0

    @property
    def of_equal_import(self) -> float:
        return self.pv_to_ev / self.equal_import if self.equal_import else 0.0


def make_plant(sc: Scenario, pv: np.ndarray, house: np.ndarray) -> Plant:
    chargers = [ChargerModel(s.cid, s.wired_phases, s.line_1p, Car()) for s in sc.cars]
    plant = Plant(
        pv=pv,
        house=house,
        chargers=chargers,
        battery=BatteryModel() if sc.battery else None,
        fuse_a=sc.fuse_a,
        solar_ids={s.cid for s in sc.cars if s.mode is not Mode.FAST},
    )
    plant.switchable_ids = {s.cid for s in sc.cars if s.switchable}
    return plant


SOLAR: SolarSettings | None = None  # --solar: our controller's tuning, not a user option


def simulate(
    sc: Scenario, name: str, pv: np.ndarray, house: np.ndarray, t0: int = T0, t1: int = T1
) -> Result:
    plant = make_plant(sc, pv, house)
    if name == "ours":
        options = site_options(sc.fuse_a, battery=sc.battery, priority_soc=PRIORITY_SOC)
        ctrl: Ours | Reference | Naive = Ours(sc.cars, plant.chargers, options, solar=SOLAR)
    elif name == "reference":
        ctrl = Reference(sc.cars, sc.fuse_a, PRIORITY_SOC if sc.battery else None)
    else:
        ctrl = Naive(sc.cars)
    split = None
    try:
        for t in range(t0, t1):
            plant.step(float(t))
            ctrl.step(float(t), plant)
        if isinstance(ctrl, Ours):
            solar_wh, battery_wh, grid_wh = ctrl.split_wh(plant.solar_ids)
            split = (solar_wh / 1000, battery_wh / 1000, grid_wh / 1000)
    finally:
        if isinstance(ctrl, Ours):
            ctrl.close()
    solar = [c for c in plant.chargers if c.cid in plant.solar_ids]
    f = plant.flows
    return Result(
        pv_to_ev=f.pv_to_ev / 1000,
        grid_to_ev=f.grid_to_ev / 1000,
        battery_to_ev=f.battery_to_ev / 1000,
        export_takeable=f.export_takeable / 1000,
        starts=sum(c.starts for c in solar),
        switches=sum(c.switches for c in solar),
        writes=sum(c.writes for c in plant.chargers),
        over_fuse=f.seconds_over_fuse,
        split=split,
        battery_held_w=plant.battery_held_series(),
    )


def day_inputs(
    sc: Scenario, pv: np.ndarray, house: np.ndarray, t0: int = T0, t1: int = T1
) -> DayInputs:
    """What the bounds need of a scenario: the plant's traces, cars, battery and fuse."""
    cars = bound_cars(sc.cars, Car())
    battery = BatteryModel() if sc.battery else None
    return DayInputs(pv, house, cars, battery, PRIORITY_SOC, sc.fuse_a, t0, t1)


def judge(result: Result, inputs: DayInputs, physical: Bound) -> Bound:
    """Put both bounds on a controller's result: its own (its discharge cap may have held the
    battery back from the house; ``physical``: the bound of a run that held back nothing). The
    budget is its own grid import plus the battery energy it let into the car (which bridges a
    dip as import does)."""
    if result.battery_held_w is not None and result.battery_held_w.any():
        inputs = replace(inputs, battery_held_w=result.battery_held_w)
        physical = physical_bound(inputs)
    bound = equal_import_bound(inputs, (result.grid_to_ev + result.battery_to_ev) * 1000)
    result.physical = physical.pv_to_ev_wh / 1000
    result.equal_import = bound.pv_to_ev_wh / 1000
    return bound


ROWS = [
    ("EV energy from PV (kWh)", "pv_to_ev", "{:.2f}"),
    ("% of physical bound", "of_physical", "{:.1%}"),
    ("equal-import bound, own import (kWh)", "equal_import", "{:.2f}"),  # grid + battery into EV
    ("% of equal-import bound", "of_equal_import", "{:.1%}"),
    ("grid import for EV (kWh)", "grid_to_ev", "{:.2f}"),
    ("battery energy into EV (kWh)", "battery_to_ev", "{:.2f}"),
    ("surplus exported, car could take (kWh)", "export_takeable", "{:.2f}"),
    ("charge starts", "starts", "{:d}"),
    ("phase switches", "switches", "{:d}"),
    ("charger writes", "writes", "{:d}"),
    ("seconds above fuse", "over_fuse", "{:d}"),
]


def table(sc: Scenario, results: dict[str, Result], physical: Bound, solve_s: float) -> list[str]:
    names = ["ours", "reference", "naive"]
    lines = [
        f"## {sc.name}",
        f"physical bound {physical.pv_to_ev_wh / 1000:.2f} kWh (without the battery's priority"
        f" {(physical.no_priority_wh or 0.0) / 1000:.2f}); bounds solved in {solve_s:.2f} s",
        f"{'metric':40s}" + "".join(f"{n:>20s}" for n in names),
    ]
    for label, attr, fmt in ROWS:
        cells = [f"{fmt.format(getattr(results[n], attr)):>20s}" for n in names]
        lines.append(f"{label:40s}" + "".join(cells))
    ours, ref = results["ours"], results["reference"]
    ev = ours.pv_to_ev + ours.grid_to_ev + ours.battery_to_ev
    ratio = ours.of_equal_import
    grid_share = ours.grid_to_ev / ev if ev else 0.0
    checks = [
        (f"PV->EV >= 97 % of the equal-import bound ({ratio:.1%})", ratio >= 0.97),
        (
            f"PV->EV above reference ({ours.pv_to_ev:.2f} vs {ref.pv_to_ev:.2f})",
            ours.pv_to_ev > ref.pv_to_ev,
        ),
        (f"grid import < 3 % of EV energy ({grid_share:.1%})", grid_share < 0.03),
        (f"starts <= reference ({ours.starts} vs {ref.starts})", ours.starts <= ref.starts),
        (f"battery->EV zero ({ours.battery_to_ev * 1000:.1f} Wh)", ours.battery_to_ev * 1000 < 1.0),
        (f"seconds above fuse zero ({ours.over_fuse})", ours.over_fuse == 0),
    ]
    lines.append("targets: " + "; ".join(f"{'OK' if ok else 'MISS'} {text}" for text, ok in checks))
    if ours.split is not None:
        solar, battery, grid = ours.split
        lines.append(
            f"ours, the driver's session energy split (solar cars, kWh): solar {solar:.2f} / "
            f"battery {battery:.2f} / grid {grid:.2f}; the plant's flows: {ours.pv_to_ev:.2f} / "
            f"{ours.battery_to_ev:.2f} / {ours.grid_to_ev:.2f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pv-csv", help="CSV timestamp,W replacing both PV days")
    parser.add_argument("--load-csv", help="CSV timestamp,W replacing the house load")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ems_day.txt"))
    parser.add_argument("--scenario", action="append", help="run only scenarios containing this")
    parser.add_argument(
        "--solar", action="append", default=[], help="override our SolarSettings: name=value"
    )
    args = parser.parse_args()
    global SOLAR  # noqa: PLW0603 - a command-line override of the module default
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.solar)}
    SOLAR = SolarSettings(**overrides) if overrides else None  # type: ignore[arg-type]
    started = time.monotonic()
    pv = {"sunny": data.sunny_pv(), "cloudy": data.cloudy_pv()}
    house = {"sunny": data.house_load(78), "cloudy": data.house_load(33)}
    if args.pv_csv:
        pv = dict.fromkeys(pv, data.csv_trace(args.pv_csv))
    if args.load_csv:
        house = dict.fromkeys(house, data.csv_trace(args.load_csv))
    out = [
        "# EMS day benchmark (benchmarks/ems_day.py)",
        f"PV sunny: {args.pv_csv or SUNNY_SOURCE} = {pv['sunny'].sum() / 60000:.1f} kWh",
        f"PV cloudy: {args.pv_csv or CLOUDY_SOURCE} = {pv['cloudy'].sum() / 60000:.1f} kWh",
        f"House: {args.load_csv or 'richardsonpy 3 occupants, seed 7, day 78 / day 33'}"
        f" = {house['sunny'].sum() / 60000:.1f} / {house['cloudy'].sum() / 60000:.1f} kWh",
        "Window 04:00-22:00, cars (60 kWh, 20 % SoC, 16 A) plugged in all along; solar cars in",
        "Solar mode; battery 10 kWh / 5 kW, 40 % at start, priority SoC 60 %, no discharge to car.",
        "Ours: the real EmsDriver, set up from a user's options (benchmarks/ems/controllers.py).",
        "Bounds (benchmarks/ems/bounds.py): physical = the surplus after house, fast car and battery",
        "priority the cars could take, minimum current relaxed; equal-import = the most PV->EV with",
        "the 6 A minimum, phases and start delays kept and at most the controller's own grid (+",
        "battery) energy into the solar cars (Lagrangian dual of a per-second DP; ramps and switch",
        "pauses dropped). A controller keeping battery priority and the fuse can never exceed either.",
        "",
    ]
    for sc in scenarios():
        if args.scenario and not any(s in sc.name for s in args.scenario):
            continue
        results = {
            name: simulate(sc, name, pv[sc.day], house[sc.day])
            for name in ("ours", "reference", "naive")
        }
        inputs = day_inputs(sc, pv[sc.day], house[sc.day])
        physical = physical_bound(inputs)
        solve_s = physical.solve_s + sum(
            judge(r, inputs, physical).solve_s for r in results.values()
        )
        lines = table(sc, results, physical, solve_s)
        print("\n".join(lines), flush=True)
        out.extend([*lines, ""])
    out.append(f"run time {time.monotonic() - started:.0f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
