"""The scenario set of benchmarks/ems_suite.py: day-runs over real, holdout and synthetic days.

Every scenario is one day with its own PV day,
house-load day and seed (richardsonpy), meter-noise seed, charger response and start delays
(the same for every charger of the site), charger set (1-3 chargers, 1p, 3p, 1p/3p switching,
a Fast-mode car) and with or without a home battery (no discharge into the car).

Groups: ``real`` = the two days the controller was developed on (benchmarks/ems_day.py);
``holdout`` = the other real days shipped by pvanalytics (data.holdout_days), never used for
tuning; ``synthetic`` = clouds.py days, every regime with several seeds. ``--pv-csv`` days of
benchmarks/ems_suite.py form the group ``csv``. The assignment of sites, delays and seeds to
days is a fixed rotation (not random), so a name always means the same run.

Window: the cars are plugged in from one hour before the first PV (> 50 W) to one hour after the
last, within 04:00-22:00 local (ems_day.py's window; a winter day is shorter): the controller's
cost is per simulated second, and the dark hours only matter to a Fast-mode car, which then starts
at that time instead of 04:00.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from custom_components.ocpp_ems.core.ems import Mode

from . import clouds, data
from .controllers import CarSpec

T0, T1 = 4 * 3600, 22 * 3600
PRIORITY_SOC = 60.0
FUSE_A = 25.0
CHARGER_DELAYS_S = (2.0, 3.0, 5.0, 8.0, 10.0, 15.0)
START_DELAYS_S = (5.0, 10.0, 20.0, 30.0)
HOUSE_SEEDS = (7, 11, 23, 42)
SYNTHETIC_DATES = (
    "2025-04-15",
    "2025-05-20",
    "2025-06-21",
    "2025-07-15",
    "2025-08-10",
    "2025-09-05",
    "2025-09-25",
    "2025-10-10",
)


@dataclass(frozen=True)
class Site:
    tag: str
    cars: tuple[CarSpec, ...]
    battery: bool = False
    fuse_a: float | None = FUSE_A
    car_soc: float = 20.0  # every car's SoC at 04:00 (85: the taper above 90 % is reached)


def _car(cid: str, phases: int = 3, switch: bool = False, mode: Mode = Mode.SOLAR) -> CarSpec:
    return CarSpec(cid, mode, phases, switch)


SITES = {
    s.tag: s
    for s in (
        Site("3p", (_car("car1"),)),
        Site("1p3p", (_car("car1", switch=True),)),
        Site("1p", (_car("car1", phases=1),)),
        Site("1p3p-bat", (_car("car1", switch=True),), battery=True),
        Site("2ch", (_car("car1"), _car("car2", switch=True))),
        Site("2ch-bat", (_car("car1"), _car("car2", switch=True)), battery=True),
        Site("3ch", (_car("car1"), _car("car2", switch=True), _car("fast", mode=Mode.FAST))),
        Site("fast-1p3p-bat", (_car("car1", switch=True), _car("fast", mode=Mode.FAST)), True),
        Site("3p-full", (_car("car1"),), car_soc=85.0),
    )
}
ROTATION = ("1p3p", "2ch", "3ch", "1p3p-bat", "3p", "fast-1p3p-bat", "2ch-bat", "1p", "3p-full")


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str  # real | holdout | synthetic | csv
    source: str
    pv_w: np.ndarray = field(repr=False)
    site: Site
    house_day: int
    house_seed: int
    noise_seed: int
    charger_delay_s: float
    start_delay_s: float
    t0: int = T0
    t1: int = T1
    house_w: np.ndarray | None = field(default=None, repr=False)  # instead of richardsonpy

    def house(self) -> np.ndarray:
        if self.house_w is not None:
            return self.house_w
        return data.house_load(self.house_day, self.house_seed)


def _day_of_year(date: str) -> int:
    return int(pd.Timestamp(date).dayofyear)


def window(pv: np.ndarray) -> tuple[int, int]:
    """Seconds of the day: an hour around the PV day, within ``T0``-``T1``."""
    lit = np.flatnonzero(pv > 50.0)
    if len(lit) == 0:
        return (T0, T1)
    return (max(T0, int(lit[0] - 60) * 60), min(T1, int(lit[-1] + 61) * 60))


def _make(
    i: int, group: str, name: str, source: str, pv: np.ndarray, date: str, site: Site | None = None
) -> Scenario:
    """The ``i``-th scenario of the set: delays and seeds (and the site unless given) rotate."""
    delay = CHARGER_DELAYS_S[i % len(CHARGER_DELAYS_S)]
    start = START_DELAYS_S[(i // 2) % len(START_DELAYS_S)]
    if site is None:
        site = SITES[ROTATION[i % len(ROTATION)]]
        name = f"{name}/{site.tag}"
    t0, t1 = window(pv)
    return Scenario(
        name=f"{name}/d{delay:g}s{start:g}",
        group=group,
        source=source,
        pv_w=pv,
        site=site,
        house_day=_day_of_year(date),
        house_seed=HOUSE_SEEDS[i % len(HOUSE_SEEDS)],
        noise_seed=1 + i,
        charger_delay_s=delay,
        start_delay_s=start,
        t0=t0,
        t1=t1,
    )


def scenario_set(*, holdout_per_source: int = 2, synthetic_seeds: int = 4) -> list[Scenario]:
    """The full set (38 day-runs): the two real days with four sites each, the holdout days,
    and every cloud regime with ``synthetic_seeds`` seeds on rotating dates."""
    out: list[Scenario] = []
    real = (
        ("sunny", "NREL SERF East 1-min AC 2022-03-19", data.sunny_pv(), "2022-03-19"),
        ("cloudy", "NREL RMIS 5-min GHI 2019-02-02", data.cloudy_pv(), "2019-02-02"),
    )
    for tag in ("1p3p", "3ch", "1p3p-bat", "2ch"):
        for day, source, pv, date in real:
            out.append(_make(len(out), "real", f"{day}/{tag}", source, pv, date, SITES[tag]))
    for hold in data.holdout_days(holdout_per_source):
        out.append(_make(len(out), "holdout", hold.name, hold.source, hold.pv_w, hold.date))
    k = 0
    for regime in clouds.REGIMES:
        for seed in range(1, synthetic_seeds + 1):
            date = SYNTHETIC_DATES[k % len(SYNTHETIC_DATES)]
            pv = clouds.synthetic_pv(date, regime, seed)
            source = f"clouds.py {regime} seed {seed}, {date}, 48.1N 10 kWp"
            out.append(_make(len(out), "synthetic", f"{regime}{seed}-{date[5:]}", source, pv, date))
            k += 1
    return out


def csv_scenarios(path: str, start_index: int = 0) -> list[Scenario]:
    """Every usable day of a ``timestamp,W`` PV CSV, one scenario each (group ``csv``)."""
    return [
        _make(start_index + i, "csv", f"csv-{date}", f"{path} {date}", pv, date)
        for i, (date, pv) in enumerate(data.csv_days(path).items())
    ]


def quick_set(full: list[Scenario]) -> list[Scenario]:
    """A handful of runs for a smoke test: one per group and a multi-charger site."""
    picked: list[Scenario] = []
    for want in ("real", "holdout", "synthetic"):
        picked.extend([s for s in full if s.group == want][:1])
    names = {s.name for s in picked}
    picked.extend([s for s in full if s.site.tag == "3ch" and s.name not in names][:1])
    return picked
