"""Benchmark inputs (benchmarks/ems/data.py, clouds.py): multi-day CSVs, gaps, synthetic days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from benchmarks.ems import clouds, data


def _bell(index: pd.DatetimeIndex, peak: float) -> np.ndarray:
    """A PV day: a sine from 06:00 to 18:00 local, 0 at night."""
    hours = index.hour + index.minute / 60
    return np.where((hours > 6) & (hours < 18), peak * np.sin((hours - 6) / 12 * np.pi), 0.0)


def _csv(path: Path, index: pd.DatetimeIndex, values: np.ndarray) -> str:
    pd.DataFrame({"W": values}, index=index.rename("timestamp")).to_csv(path)
    return str(path)


def test_multi_day_csv_gives_every_day(tmp_path: Path) -> None:
    index = pd.date_range("2024-05-01", "2024-05-03 23:45", freq="15min", tz="-07:00")
    values = _bell(index, 1.0) * np.repeat([3000.0, 6000.0, 4000.0], 96)
    days = data.csv_days(_csv(tmp_path / "pv.csv", index, values))
    assert list(days) == ["2024-05-01", "2024-05-02", "2024-05-03"]  # wall clock, not UTC
    peaks = [round(float(d.max())) for d in days.values()]
    assert peaks == [3000, 6000, 4000]
    for day in days.values():
        assert len(day) == data.MINUTES
        assert day[: 6 * 60].max() == 0.0
        assert day[18 * 60 :].max() == 0.0
    # A 15-minute series is interpolated in between: 12:07 lies between 12:00 and 12:15.
    assert days["2024-05-02"][12 * 60 + 7] == pytest.approx(6000.0, rel=0.01)


def test_csv_trace_takes_first_day_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = pd.date_range("2024-05-01", "2024-05-02 23:59", freq="1min")
    values = _bell(index, 1.0) * np.repeat([2000.0, 5000.0], 1440)
    trace = data.csv_trace(_csv(tmp_path / "pv.csv", index, values))
    assert trace.max() == pytest.approx(2000.0, rel=1e-3)
    assert "2 days" in capsys.readouterr().err


def _minutes(day: str) -> pd.DatetimeIndex:
    return pd.date_range(day, periods=1440, freq="1min")


def test_missing_morning_in_daylight_drops_the_day_never_backfills() -> None:
    good = _minutes("2024-06-01")
    late = _minutes("2024-06-02")
    late = late[late.hour >= 10]  # the logger started at 10:00, in full sun
    index = good.append(late)
    series = pd.Series(_bell(index, 5000.0), index=index)
    days = data.split_days(series, pv=True)
    assert list(days) == ["2024-06-01"]


def test_missing_dark_morning_is_zero_not_the_first_value() -> None:
    index = _minutes("2024-06-01")
    index = index[index.hour >= 5]  # the logger starts before sunrise
    series = pd.Series(_bell(index, 5000.0) + 3.0, index=index)  # inverter standby offset
    day = data.split_days(series, pv=True)["2024-06-01"]
    assert day[: 5 * 60].max() == 0.0
    assert day[12 * 60] == pytest.approx(5003.0)


def test_gaps_short_interpolated_long_in_daylight_dropped_long_at_night_zero() -> None:
    one = _minutes("2024-06-01")
    two = _minutes("2024-06-02")
    three = _minutes("2024-06-03")
    short_gap = (one.hour == 12) & (one.minute < 30)
    long_gap = (two.hour >= 11) & (two.hour < 14)
    night_gap = (three.hour < 4) | (three.hour >= 20)
    four = _minutes("2024-06-04")
    dark_ends_only = (four.hour < 5) | (four.hour >= 20)  # the daylight is missing: not a night
    index = one[~short_gap].append(two[~long_gap]).append(three[~night_gap])
    index = index.append(four[dark_ends_only])
    series = pd.Series(_bell(index, 4000.0), index=index)
    days = data.split_days(series, pv=True)
    assert list(days) == ["2024-06-01", "2024-06-03"]
    # The short gap is a straight line between its neighbours, inside the daylight.
    filled = days["2024-06-01"][12 * 60 : 12 * 60 + 30]
    assert np.all(np.diff(filled) != 0)
    assert filled.min() > 3900.0
    assert days["2024-06-03"][:240].max() == 0.0
    assert days["2024-06-03"][20 * 60 :].max() == 0.0


def test_house_load_gap_drops_the_day() -> None:
    index = _minutes("2024-06-01")
    index = index[index.hour >= 2]
    series = pd.Series(np.full(len(index), 400.0), index=index)
    assert data.split_days(series, pv=False) == {}
    full = pd.Series(np.full(1440, 400.0), index=_minutes("2024-06-01"))
    assert list(data.split_days(full, pv=False)) == ["2024-06-01"]


def test_package_days_keep_shipped_days_out_of_the_holdout() -> None:
    holdout = data.holdout_days(2)
    names = {d.name for d in holdout}
    assert "serf1m-03-18" in names
    assert not {"serf1m-03-19", "rmis5m-02-02"} & names
    assert len({d.name.split("-")[0] for d in holdout}) == len(data.HOLDOUT_SOURCES)
    for day in holdout:
        assert len(day.pv_w) == data.MINUTES
        assert day.pv_w.min() >= 0.0
        # No PV at 00:00-03:00 anywhere (a pyranometer reads a few W/m2 at night: measured).
        assert day.pv_w[:180].max() < data.NIGHT_FRACTION * day.pv_w.max()
    assert data.sunny_pv().max() == pytest.approx(data.AC_PEAK_W)


def test_cloud_model_is_seeded_dark_at_night_and_ordered_by_regime() -> None:
    date = "2025-06-21"
    energy = {r: clouds.synthetic_pv(date, r, 1).sum() / 60000 for r in clouds.REGIMES}
    assert energy["overcast"] < energy["broken"] < energy["clear"]
    assert energy["cumulus"] < energy["clear"]
    again = clouds.synthetic_pv(date, "cumulus", 1)
    assert np.array_equal(again, clouds.synthetic_pv(date, "cumulus", 1))
    assert not np.array_equal(again, clouds.synthetic_pv(date, "cumulus", 2))
    assert again[:180].max() == 0.0
    assert again[23 * 60 :].max() == 0.0
    assert again.max() <= clouds.INVERTER_W
    kc = clouds.clear_sky_index("cumulus", 3)
    assert kc.max() > 1.05  # cloud enhancement after a cumulus
    with pytest.raises(ValueError, match="daylight-saving"):
        clouds.clear_sky_pv("2025-03-30")
