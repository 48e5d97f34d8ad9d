"""Recorded and published input traces for the EMS benchmarks (1-minute resolution, W).

- PV, sunny day: NREL SERF East, 1-minute AC power, 2022-03-19 (``serf_east_1min_ac_power.csv``
  shipped in the ``pvanalytics`` package), scaled so the day's peak is 8 kW AC (a ~10 kWp roof).
- PV, cloudy day: NREL RMIS global horizontal irradiance 2019-02-02 (``irradiance_RMIS_NREL.csv``
  in ``pvanalytics``; 5-minute resolution), turned into power as 10 kWp * GHI / 1000 W/m2 * 0.85
  and interpolated to 1 minute. The 5-minute resolution hides the faster cloud edges.
- These two days were used while the controller was developed: group "real". ``holdout_days``
  are further real days that the packages in the venv ship (pvanalytics/data; pvlib/data only has
  hourly TMY files, too coarse), never used for tuning: group "holdout" (see ``HOLDOUT_SOURCES``).
- House: ``richardsonpy`` (Richardson et al. 2010, stochastic 1-minute domestic load model, 3
  occupants), seeded, the day of year matching the PV day. A year takes ~9 s to build: it is
  cached per seed in this process and on disk (``BENCH_CACHE``, default ~/.cache/ocpp_ems_bench).
- Any CSV of ``timestamp,W`` replaces a trace (``--pv-csv`` / ``--load-csv``): ``csv_days`` gives
  every usable local day of it (``csv_trace``, the old single-trace entry, the first one).

Gap rules (``split_days``), so that no day ever gets PV from another time of day:
- Timestamps are taken as local wall-clock time (an offset in the file is dropped, not applied).
  Samples are averaged per minute; negative PV (inverter standby draw) counts as 0.
- A minute between two samples at most ``MAX_GAP_MIN`` apart is linearly interpolated (this is
  also how 5- and 15-minute data become 1-minute traces; they are treated as instant values).
- A minute in a longer gap or outside the measured span is 0 for PV only if it is night: it lies
  outside the file's daylight envelope (from the earliest to the latest minute of the day at which
  any day of the file had PV above 1 % of the file's peak), and the sample on its daylight side
  (the next one before sunrise, the previous one after sunset) is below that level. Otherwise,
  and for a house load always, the day is dropped.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

MINUTES = 1440
MAX_GAP_MIN = 90  # the shipped cloudy day has a 65-min gap after sunrise
NIGHT_FRACTION = 0.01
KWP = 10.0
PERFORMANCE = 0.85  # PVWatts-like DC->AC and system losses for irradiance traces
AC_PEAK_W = 8000.0  # power traces: the file's peak scaled to this (an 8 kW inverter)


def _pvanalytics_data(name: str) -> Path:
    spec = importlib.util.find_spec("pvanalytics")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pvanalytics is missing: pip install -r benchmarks/requirements.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _wall_clock(series: pd.Series) -> pd.Series:
    index = pd.DatetimeIndex(pd.to_datetime(series.index, format="mixed"))
    if index.tz is not None:
        index = index.tz_localize(None)
    out = pd.Series(pd.to_numeric(series.to_numpy(), errors="coerce"), index=index)
    return out.dropna().sort_index()


def split_days(
    series: pd.Series, *, pv: bool, max_gap_min: int = MAX_GAP_MIN
) -> dict[str, np.ndarray]:
    """Every usable local day of ``series`` as 1440 minute values (W), by ``YYYY-MM-DD``."""
    series = _wall_clock(series)
    if pv:
        series = series.clip(lower=0.0)
    if series.empty:
        return {}
    per_minute = series.resample("1min").mean().dropna()
    epoch = pd.Timestamp(0)
    stamps = np.asarray((per_minute.index - epoch) // pd.Timedelta(minutes=1), dtype=np.int64)
    values = per_minute.to_numpy(dtype=float)
    night_w = NIGHT_FRACTION * float(values.max()) if pv else None
    envelope = np.zeros(MINUTES, dtype=bool)
    if night_w is not None:
        lit = stamps[values > night_w] % MINUTES
        envelope[lit.min() : lit.max() + 1] = True
    days: dict[str, np.ndarray] = {}
    for day in np.unique(stamps // MINUTES):
        minutes = np.arange(day * MINUTES, (day + 1) * MINUTES)
        trace = _fill_day(minutes, stamps, values, night_w, envelope, max_gap_min)
        if trace is not None:
            days[str((epoch + pd.Timedelta(days=int(day))).date())] = trace
    return days


def _fill_day(
    minutes: np.ndarray,
    stamps: np.ndarray,
    values: np.ndarray,
    night_w: float | None,
    envelope: np.ndarray,
    max_gap_min: int,
) -> np.ndarray | None:
    after = np.searchsorted(stamps, minutes)  # index of the first sample at or after each minute
    exact = (after < len(stamps)) & (stamps[np.minimum(after, len(stamps) - 1)] == minutes)
    before = np.where(exact, after, after - 1)
    has_before = before >= 0
    has_after = after < len(stamps)
    prev_t = np.where(has_before, stamps[np.maximum(before, 0)], 0)
    next_t = np.where(has_after, stamps[np.minimum(after, len(stamps) - 1)], 0)
    short = exact | (has_before & has_after & (next_t - prev_t <= max_gap_min))
    trace = np.asarray(np.interp(minutes, stamps, values), dtype=float)
    if short.all():
        return trace
    if night_w is None:
        return None
    # Before sunrise the next sample must be dark, after sunset the previous one (none: unknown).
    inf = np.inf
    prev_v = np.where(has_before, values[np.maximum(before, 0)], inf)
    next_v = np.where(has_after, values[np.minimum(after, len(stamps) - 1)], inf)
    of_day = minutes % MINUTES
    lit = np.flatnonzero(envelope)
    morning = of_day < lit[0]
    evening = of_day > lit[-1]
    dark = (morning & (next_v <= night_w)) | (evening & (prev_v <= night_w))
    if not dark[~short].all():
        return None
    trace[~short] = 0.0
    return trace


def csv_days(path: str, *, pv: bool = True) -> dict[str, np.ndarray]:
    """Every usable day of a ``timestamp,W`` CSV (first value column), see the gap rules."""
    frame = pd.read_csv(path, index_col=0)
    days = split_days(frame.iloc[:, 0], pv=pv)
    if not days:
        raise SystemExit(f"{path}: no usable day (gaps in daylight or no data)")
    return days


def csv_trace(path: str) -> np.ndarray:
    """The first usable day of a CSV (single-trace callers); ``csv_days`` has all of them."""
    days = csv_days(path)
    if len(days) > 1:
        print(
            f"{path}: {len(days)} days, using {next(iter(days))} only "
            "(benchmarks/ems_suite.py --pv-csv runs all of them)",
            file=sys.stderr,
        )
    return next(iter(days.values()))


def _package_days(name: str, column: str, *, ghi: bool) -> dict[str, np.ndarray]:
    frame = pd.read_csv(_pvanalytics_data(name), index_col=0)
    days = split_days(frame[column], pv=True)
    if ghi:
        return {d: v * KWP * PERFORMANCE for d, v in days.items()}
    peak = max(float(v.max()) for v in days.values())
    return {d: v * (AC_PEAK_W / peak) for d, v in days.items()}


def sunny_pv(peak_w: float = AC_PEAK_W) -> np.ndarray:
    frame = pd.read_csv(_pvanalytics_data("serf_east_1min_ac_power.csv"), index_col=0)
    day = split_days(frame.iloc[:, 0], pv=True)["2022-03-19"]
    return np.asarray(day * (peak_w / day.max()), dtype=float)


def cloudy_pv(kwp: float = KWP, performance: float = PERFORMANCE) -> np.ndarray:
    frame = pd.read_csv(_pvanalytics_data("irradiance_RMIS_NREL.csv"), index_col=0)
    return split_days(frame["irradiance_ghi__7981"], pv=True)["2019-02-02"] * kwp * performance


@dataclass(frozen=True)
class RealDay:
    name: str  # short, stable
    date: str
    pv_w: np.ndarray
    source: str


@dataclass(frozen=True)
class _Source:
    tag: str
    file: str
    column: str
    ghi: bool
    note: str


# Real PV traces at <= 15 min shipped in pvanalytics/data (NREL sites in Colorado unless noted).
# Usable days under the gap rules (``package_days``): serf1m 2022-03-18/19; bms1m 2022-01-20;
# rmis5m 2019-02-01/02/05 (02-03, 02-04: daylight gaps); rmiswx5m 2022-01-01..04; serf15m 104 days
# 2016-07-01..10-12; serfw15m 2022-01-02..06 (01-06 snow, 0.2 kWh); mesa15m 2010-06-25..30;
# inv7539 2017-04-11..16 and 04-19 (04-17/18: a 10 h gap; 04-13: the inverter trips at 14:00).
# Not used: the parquet files (no parquet engine in the venv), snow_data.csv (snow-covered
# modules), ac_power_inv_2173*.csv (mostly empty days), pvlib_data_shift.csv (daily totals),
# serf_east_psm3_data.csv (satellite model, not measured); pvlib/data has hourly TMY files only.
HOLDOUT_SOURCES = (
    _Source("serf1m", "serf_east_1min_ac_power.csv", "ac_power__752", False, "SERF East 1-min AC"),
    _Source(
        "bms1m",
        "midc_bms_ghi_20220120.csv",
        "Global CMP22 (vent/cor) [W/m^2]",
        True,
        "MIDC BMS 1-min GHI",
    ),
    _Source("rmis5m", "irradiance_RMIS_NREL.csv", "irradiance_ghi__7981", True, "RMIS 5-min GHI"),
    _Source("rmiswx5m", "rmis_weather_data.csv", "Global Horizontal", True, "RMIS 5-min GHI"),
    _Source("serf15m", "serf_east_15min_ac_power.csv", "ac_power", False, "SERF East 15-min AC"),
    _Source("serfw15m", "serf_west_15min.csv", "ac_power__773", False, "SERF West 15-min AC"),
    _Source(
        "mesa15m",
        "nrel_1axis_tracker_mesa_ac_power.csv",
        "ac_power",
        False,
        "NREL Mesa 1-axis tracker 15-min AC",
    ),
    _Source(
        "inv7539",
        "ac_power_inv_7539.csv",
        "value_normalized",
        False,
        "inverter 7539 15-min AC (normalised)",
    ),
)
SHIPPED = {("serf1m", "2022-03-19"), ("rmis5m", "2019-02-02")}  # group "real"


def package_days() -> list[RealDay]:
    """Every usable day of every ``HOLDOUT_SOURCES`` file, the two shipped days included."""
    out = []
    for src in HOLDOUT_SOURCES:
        for date, pv in _package_days(src.file, src.column, ghi=src.ghi).items():
            out.append(RealDay(f"{src.tag}-{date[5:]}", date, pv, f"{src.note} {date}"))
    return out


HOLDOUT_MIN_KWH = 15.0  # below, a day has (almost) no surplus for a car: nothing to compare


def holdout_days(per_source: int = 3) -> list[RealDay]:
    """Up to ``per_source`` days of each source, not shipped, with at least ``HOLDOUT_MIN_KWH``,
    spread over the source's daily PV energy (lowest, median, highest): a dull, a typical and a
    bright day."""
    out: list[RealDay] = []
    for src in HOLDOUT_SOURCES:
        days = [
            RealDay(f"{src.tag}-{date[5:]}", date, pv, f"{src.note} {date}")
            for date, pv in _package_days(src.file, src.column, ghi=src.ghi).items()
            if (src.tag, date) not in SHIPPED and pv.sum() / 60000 >= HOLDOUT_MIN_KWH
        ]
        days.sort(key=lambda d: float(d.pv_w.sum()))
        if len(days) > per_source:
            picks = np.linspace(0, len(days) - 1, per_source).round().astype(int)
            days = [days[i] for i in sorted(set(picks.tolist()))]
        out.extend(days)
    return out


_HOUSE_CACHE: dict[int, np.ndarray] = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "ocpp_ems_bench"))


def house_year(seed: int) -> np.ndarray:
    """A year of the richardsonpy model (W per minute), cached per seed."""
    if seed in _HOUSE_CACHE:
        return _HOUSE_CACHE[seed]
    path = _cache_dir() / f"richardsonpy-0.2.3-3occ-seed{seed}.npy"
    if path.exists():
        year = np.asarray(np.load(path), dtype=float)
    else:
        year = _build_house_year(seed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            with partial.open("wb") as fh:
                np.save(fh, year)
            partial.replace(path)  # atomic: a parallel worker never reads half a file
        except OSError:
            pass  # a read-only home: just not cached
    _HOUSE_CACHE[seed] = year
    return year


def _build_house_year(seed: int) -> np.ndarray:
    import richardsonpy.classes.electric_load as eload  # type: ignore[import-untyped]
    import richardsonpy.classes.occupancy as occ  # type: ignore[import-untyped]
    import richardsonpy.functions.change_resolution as cr  # type: ignore[import-untyped]
    import richardsonpy.functions.load_radiation as loadrad  # type: ignore[import-untyped]

    np.random.seed(seed)
    random.seed(seed)
    occupancy = occ.Occupancy(number_occupants=3)
    q_direct, q_diffuse = loadrad.get_rad_from_try_path()
    q_direct = cr.change_resolution(q_direct, old_res=3600, new_res=60)
    q_diffuse = cr.change_resolution(q_diffuse, old_res=3600, new_res=60)
    load = eload.ElectricLoad(
        occ_profile=occupancy.occupancy,
        total_nb_occ=3,
        q_direct=q_direct,
        q_diffuse=q_diffuse,
        timestep=60,
    )
    return np.asarray(load.loadcurve, dtype=float)


def house_load(day_of_year: int, seed: int = 7) -> np.ndarray:
    """One day of the richardsonpy model (W per minute) for a 3-person single-family home."""
    start = (day_of_year - 1) * MINUTES
    return house_year(seed)[start : start + MINUTES]
