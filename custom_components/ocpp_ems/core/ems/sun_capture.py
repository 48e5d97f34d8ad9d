"""How much of the surplus a forecast promises a car that charges on surplus only really gets.

A plan counts the expected surplus per quarter hour where it covers the car's minimum
(``plan.plan_status``). Within a quarter the sun varies: a car on surplus only stops when the
surplus falls below its minimum and starts again only after the start delay, so it gets less
than the quarter's mean promises (fast clouds: a tenth less; a clear day: all of it). Counting on
all of it leaves the plan short in the last hours, where the grid is dear.

:class:`SunCapture` runs a virtual car per common minimum (6 A on one and on three phases) over
the measured surplus and keeps, per local day, what that car got over what the quarters' mean
surplus promised (the quarters where it covers the minimum). Plans count the median of the last
``DAYS`` days' shares (:meth:`share`), all of the surplus until ``MIN_DAYS`` are known.

A car held at its minimum through those quarters (Min + solar) gets the rest of their sun too, for
the grid energy that fills the dips below its minimum. Per day and minimum, the same virtual car
keeps both per Wh promised (:meth:`bridge`): the sun a surplus-only car misses there and the
dips' depth. Broken clouds make holding the minimum a cheap way to charge (mostly sun), which a
plan takes where it beats the grid it needs anyway (``plan.plan_status``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from custom_components.ocpp_ems.core.numbers import day_numbers, quantile

from .config import ChargerSettings, SiteSettings, SolarSettings

H = 3600.0
QUARTER_S = 900.0
# The default minimum current (6 A) at the default voltage, on 1p and on 3p.
LEVELS_W = tuple(
    ChargerSettings().min_current_a * SiteSettings().voltage_v * phases for phases in (1, 3)
)
START_DELAY_S = SolarSettings().enable_delay_s
DAYS = 14
MIN_DAYS = 3
MIN_DAY_WH = 1000.0  # a day that promised less says little
COVERED = 0.9  # share of a quarter the meters must cover for it to count
MAX_GAP_S = 300.0
SHARE_MIN, SHARE_MAX = 0.5, 1.0


@dataclass(slots=True)
class _VirtualCar:
    """A car with this minimum that takes the whole surplus while it runs."""

    level_w: float
    on: bool = False
    covered_since: float | None = None  # the surplus has covered the minimum since
    quarter_wh: float = 0.0  # got in the quarter being measured
    quarter_dips_wh: float = 0.0  # the grid a car held at this minimum draws in the quarter
    day_got_wh: float = 0.0
    day_promised_wh: float = 0.0
    day_promised_got_wh: float = 0.0  # got in the promised quarters
    day_dips_wh: float = 0.0  # the dips below the minimum in the promised quarters
    shares: list[tuple[int, float]] = field(default_factory=list)  # (local date, got / promised)
    # Per Wh promised, (local date, value): the sun missed in the promised quarters, the dips.
    missed: list[tuple[int, float]] = field(default_factory=list)
    dips: list[tuple[int, float]] = field(default_factory=list)

    def follow(self, surplus_w: float, now: float) -> None:
        """Stop at once below the minimum; start after the start delay above it."""
        if surplus_w < self.level_w:
            self.on, self.covered_since = False, None
            return
        if self.covered_since is None:
            self.covered_since = now
        self.on = self.on or now - self.covered_since >= START_DELAY_S


class SunCapture:
    """The share of the promised surplus a car on surplus only gets (see the module)."""

    def __init__(self) -> None:
        self._cars = [_VirtualCar(level) for level in LEVELS_W]
        self._quarter: float | None = None  # start of the quarter being measured
        self._quarter_wh = self._quarter_s = 0.0
        self._last: tuple[float, float] | None = None  # at, surplus W

    @property
    def learned(self) -> bool:
        return any(car.shares for car in self._cars)

    def _nearest(self, min_power_w: float) -> _VirtualCar:
        """The virtual car whose minimum is nearest to ``min_power_w``."""
        return min(self._cars, key=lambda c: abs(c.level_w - min_power_w))

    def share(self, min_power_w: float) -> float:
        """The share a car with this minimum gets (its nearest level's; 1 until known)."""
        car = self._nearest(min_power_w)
        if len(car.shares) < MIN_DAYS:
            return 1.0
        typical = quantile([share for _, share in car.shares], 0.5)
        return min(max(typical, SHARE_MIN), SHARE_MAX)

    def bridge(self, min_power_w: float) -> tuple[float, float]:
        """Per Wh of promised surplus, for a car with this minimum (its nearest level's) held at
        it: the sun a surplus-only car misses there and the grid that fills the dips (medians;
        (0, 0) until known: nothing to gain)."""
        car = self._nearest(min_power_w)
        if len(car.missed) < MIN_DAYS or len(car.dips) < MIN_DAYS:
            return 0.0, 0.0
        return (
            quantile([value for _, value in car.missed], 0.5),
            quantile([value for _, value in car.dips], 0.5),
        )

    def bridges(self) -> tuple[tuple[float, float, float], ...]:
        """(minimum W, sun missed, dips) per level, for the plan settings."""
        return tuple((car.level_w, *self.bridge(car.level_w)) for car in self._cars)

    def shares(self) -> tuple[tuple[float, float], ...]:
        """(minimum W, share) per level, for the plan settings."""
        return tuple((car.level_w, self.share(car.level_w)) for car in self._cars)

    def observe(self, surplus_w: float | None, now: float) -> None:
        """The surplus (PV above the house) now; None: unknown (the time until the next known
        value is not measured)."""
        last, self._last = self._last, None if surplus_w is None else (now, surplus_w)
        quarter = now // QUARTER_S * QUARTER_S
        if last is not None and 0.0 < (dt := now - last[0]) <= MAX_GAP_S:
            held = max(0.0, last[1])
            self._quarter_wh += held * dt / H
            self._quarter_s += dt
            for car in self._cars:
                if car.on:
                    car.quarter_wh += held * dt / H
                car.quarter_dips_wh += max(0.0, car.level_w - held) * dt / H
        elif last is not None:
            for car in self._cars:
                car.on, car.covered_since = False, None
        if quarter != self._quarter:
            self._close_quarter()
            self._quarter = quarter
        if surplus_w is not None:
            for car in self._cars:
                car.follow(surplus_w, now)

    def _close_quarter(self) -> None:
        if self._quarter_s >= COVERED * QUARTER_S:
            scale = QUARTER_S / self._quarter_s
            mean_w = self._quarter_wh / self._quarter_s * H
            for car in self._cars:
                car.day_got_wh += car.quarter_wh * scale
                if mean_w >= car.level_w:
                    car.day_promised_wh += self._quarter_wh * scale
                    car.day_promised_got_wh += car.quarter_wh * scale
                    car.day_dips_wh += car.quarter_dips_wh * scale
        self._quarter_wh = self._quarter_s = 0.0
        for car in self._cars:
            car.quarter_wh = car.quarter_dips_wh = 0.0

    def close_day(self, day: int) -> None:
        """The local day ``day`` (ordinal) is over: keep its shares."""
        for car in self._cars:
            if (promised := car.day_promised_wh) >= MIN_DAY_WH:
                missed = max(0.0, 1.0 - car.day_promised_got_wh / promised)
                for series, value in (
                    (car.shares, car.day_got_wh / promised),
                    (car.missed, missed),
                    (car.dips, car.day_dips_wh / promised),
                ):
                    series.append((day, value))
                    del series[:-DAYS]
            car.day_got_wh = car.day_promised_wh = 0.0
            car.day_promised_got_wh = car.day_dips_wh = 0.0

    # --- stored form -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        for car in self._cars:
            for key, series in _series(car).items():
                stored[key] = [[day, round(value, 4)] for day, value in series]
        return stored

    def load(self, data: Mapping[str, Any]) -> None:
        """Back from :meth:`to_dict`; anything unreadable is left out (days stored before the
        dips were measured have shares only)."""
        for car in self._cars:
            for key, series in _series(car).items():
                series[:] = day_numbers(data.get(key), DAYS)


def _series(car: _VirtualCar) -> dict[str, list[tuple[int, float]]]:
    """The car's learned days by their stored key."""
    level = str(round(car.level_w))
    return {level: car.shares, f"{level} missed": car.missed, f"{level} dips": car.dips}
