"""What departure plans learn from the site: how far its solar forecast holds, and what the house
draws by hour of day.

A plan counts on the forecast's PV above the house load (``plan.expected_surplus``). Both start as
the user's settings (``PlanSettings``) and are then learned from what the site measures, so a
good forecast earns the plan the sun it promises and a poor one keeps its margin:

* forecast confidence: per local day, the PV energy measured in the hours the meter covered over
  what the forecast said for those same hours, as it stood ``LEAD_S`` before each hour (a plan is
  made hours ahead); a low quantile of the last ``DAYS`` days' ratios once ``MIN_DAYS`` are known.
  Their median (the forecast's word as a prior worth ``PRIOR_DAYS`` days) is what the forecast
  usually turns out to be: it ranks the slots a plan may run at the minimum in weak sun.
* house load: per local hour of the day, the mean measured house power (pv + grid + battery -
  chargers) of the last ``DAYS`` days, with the setting as a prior worth ``PRIOR_DAYS`` days.
* sun capture: the share of the surplus a car on surplus only gets within the quarter hours a
  plan counts, and what a car held at its minimum there would get more and draw from the grid
  (``sun_capture.py``, from the measured PV and house power).

Each local hour and day is learned once: when the local time goes back into hours already
measured (the wall clock corrected back, the clocks going back for winter, the site's zone moved
west), nothing is measured until it is past the hour being measured again (``MAX_BACK_S``);
within that hour, its mean takes in both runs. The hour and day being measured are stored too: a
restart in the hour the clocks repeat for winter measured it again (a second sample of that
hour of the day, pushing out another day's), and one in the middle of a day lost its morning.

The driver feeds every update's inputs (:meth:`PlanLearning.observe`) and plans with
:meth:`PlanLearning.plan_settings`; the stored form (:meth:`to_dict`) survives restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, tzinfo
from typing import Any

from custom_components.ocpp_ems.core.numbers import (
    day_numbers,
    finite_number,
    non_negative_number,
    quantile,
)

from .config import PlanSettings, SiteSettings
from .sun_capture import SunCapture
from .types import EnergySlot, Reading, SiteInputs

H = 3600.0
DAYS = 14
MIN_DAYS = 3
# Days whose ratio is at or below it make up this share: a forecast that fell short on one day
# in four still leaves the plan whole on most of them (the rest is charged in dearer slots).
QUANTILE = 0.25
CONFIDENCE_MIN, CONFIDENCE_MAX = 0.2, 1.0
TYPICAL_MAX = 2.0  # a forecast that usually says half the PV (the ranking's, not the energy's)
LEAD_S = 6 * H
MIN_DAY_FORECAST_WH = 1000.0  # a day with less forecast sun says little about the forecast
COVERED = 0.9  # share of an hour the meters must cover for it to count
MAX_GAP_S = 300.0  # a longer time between two updates is not measured
PRIOR_DAYS = 2.0
AHEAD_H = 48  # how far ahead the plan gets the learned house load
# Local time going back further than this was wrong before (a clock off by days): learning goes
# on at once from the new time rather than wait that long for it to catch up.
MAX_BACK_S = 24 * H
MAX_HOUR_S = 2 * H  # the longest a local hour lasts (one the clocks go back by an hour in)
_HOURS_OF_DAY = range(24)


# The stored form's key of the hour and day being measured (``PlanLearning.to_dict``).
_MEASURING_KEY = "measuring"


@dataclass(slots=True)
class _Hour:
    """The local hour being measured."""

    start: float
    end: float
    day: int  # local date (ordinal)
    hour: int  # local hour of the day
    forecast_wh: float | None
    pv_wh: float = 0.0
    pv_s: float = 0.0
    house_wh: float = 0.0
    house_s: float = 0.0


_HOUR_FIELDS = tuple(f.name for f in fields(_Hour))  # (its stored form, in this order)


def _hour_of(now: float, zone: tzinfo) -> tuple[float, int, int]:
    """Start of the local hour of ``now``, its local date (ordinal) and hour of the day."""
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(minute=0, second=0, microsecond=0)
    return start.timestamp(), start.toordinal(), start.hour


def _ordinal(value: object) -> int | None:
    """A stored whole number (a local date, an hour of the day; not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stored_measuring(data: object) -> tuple[int, float, float, _Hour] | None:
    """The day being measured (its local date, PV and forecast Wh so far) and its hour from
    ``PlanLearning.to_dict``; None if unreadable or impossible: an hour of the day outside
    0..23 (``_close_hour`` indexes with it), an hour not ending after its start or longer than
    any local hour (it divides by its time), or covered longer than it lasts."""
    stored_day = data.get("day") if isinstance(data, Mapping) else None
    stored_hour = data.get("hour") if isinstance(data, Mapping) else None
    if not (
        isinstance(stored_day, list)
        and len(stored_day) == 3
        and isinstance(stored_hour, list)
        and len(stored_hour) == len(_HOUR_FIELDS)
    ):
        return None
    day, *day_sums = stored_day
    start, end, hour_day, of_day, forecast, *hour_sums = stored_hour
    numbers = [
        finite_number(start),
        finite_number(end),
        *map(non_negative_number, (*day_sums, *hour_sums)),
    ]
    floats = [n for n in numbers if n is not None]
    forecast_wh = None if forecast is None else non_negative_number(forecast)
    if (
        len(floats) != len(numbers)
        or (forecast is not None and forecast_wh is None)
        or _ordinal(day) is None
        or hour_day != day
        or _ordinal(of_day) not in _HOURS_OF_DAY
    ):
        return None
    begin, finish, day_pv_wh, day_forecast_wh, pv_wh, pv_s, house_wh, house_s = floats
    if not 0.0 < finish - begin <= MAX_HOUR_S or max(pv_s, house_s) > finish - begin:
        return None
    hour = _Hour(begin, finish, day, of_day, forecast_wh, pv_wh, pv_s, house_wh, house_s)
    return day, day_pv_wh, day_forecast_wh, hour


def _value(reading: Reading | None) -> float | None:
    return None if reading is None else reading.value


class PlanLearning:
    """The site's forecast track record and house load profile (see the module)."""

    def __init__(self) -> None:
        self._ratios: list[tuple[int, float]] = []  # (local date, measured / forecast)
        self._house: list[list[float]] = [[] for _ in range(24)]  # W, oldest first, per hour
        self._day: int | None = None
        self._day_pv_wh = self._day_forecast_wh = 0.0
        self._hour: _Hour | None = None
        self._ahead: dict[float, float] = {}  # local hour start -> forecast Wh seen LEAD_S before
        self._forecast: tuple[EnergySlot, ...] | None = None
        self._last: tuple[float, float | None, float | None] | None = None  # at, pv, house
        self._slots: tuple[tuple[float, float, tzinfo], tuple[EnergySlot, ...]] | None = None
        self._capture = SunCapture()  # the share of the surplus a car on surplus only gets

    @property
    def learned(self) -> bool:
        """Whether any day or hour was learned yet (else there is nothing to store)."""
        return bool(self._ratios) or any(self._house) or self._capture.learned

    # --- what plans use --------------------------------------------------------------------------
    def confidence(self, prior: float) -> float:
        """The share of the forecast PV a plan counts on (``prior`` until enough days)."""
        if len(self._ratios) < MIN_DAYS:
            return prior
        learned = quantile([ratio for _, ratio in self._ratios], QUANTILE)
        return min(max(learned, CONFIDENCE_MIN), CONFIDENCE_MAX)

    def typical(self) -> float:
        """What the forecast's PV usually turns out to be: the median ratio (1.0 until enough
        days)."""
        if len(self._ratios) < MIN_DAYS:
            return 1.0
        # The forecast taken at its word is the prior, worth PRIOR_DAYS days.
        ratios = [ratio for _, ratio in self._ratios] + [1.0] * int(PRIOR_DAYS)
        return min(max(quantile(ratios, 0.5), CONFIDENCE_MIN), TYPICAL_MAX)

    def house_w(self, hour: int, prior: float) -> float:
        """The house's expected mean power in this local hour of the day."""
        samples = self._house[hour]
        return (prior * PRIOR_DAYS + sum(samples)) / (PRIOR_DAYS + len(samples))

    def update(
        self, site: SiteSettings, inputs: SiteInputs, now: float, zone: tzinfo
    ) -> SiteSettings:
        """Learn from one update's inputs; ``site`` (the user's) with what plans learned."""
        self.observe(inputs, now, zone)
        return replace(site, plan=self.plan_settings(site.plan, now, zone))

    def plan_settings(self, base: PlanSettings, now: float, zone: tzinfo) -> PlanSettings:
        """``base`` (the user's settings) with what was learned in their place."""
        return replace(
            base,
            forecast_confidence=self.confidence(base.forecast_confidence),
            forecast_typical=self.typical(),
            house_slots=self._house_slots(base.house_load_w, now, zone),
            sun_capture=self._capture.shares(),
            sun_bridge=self._capture.bridges(),
        )

    def _house_slots(self, prior: float, now: float, zone: tzinfo) -> tuple[EnergySlot, ...]:
        if not any(self._house):
            return ()  # nothing learned: the setting holds everywhere
        start, _, _ = _hour_of(now, zone)
        # The zone too: a site whose zone changed gets its hours of the day at once.
        if self._slots is not None and self._slots[0] == (start, prior, zone):
            return self._slots[1]
        slots = []
        for n in range(AHEAD_H):
            slot_start, _, hour = _hour_of(start + n * H, zone)
            slots.append(EnergySlot(slot_start, slot_start + H, self.house_w(hour, prior)))
        self._slots = ((start, prior, zone), tuple(slots))
        return self._slots[1]

    # --- measuring -------------------------------------------------------------------------------
    def observe(self, inputs: SiteInputs, now: float, zone: tzinfo) -> None:
        """One update's measurements (PV, grid, battery, chargers) and forecast."""
        replayed = self._replays(now, zone)
        # Unknown while replayed: the time until the next update is not measured either.
        pv_now, house_now = (None, None) if replayed else pv_and_house(inputs)
        surplus = None if pv_now is None or house_now is None else pv_now - house_now
        self._capture.observe(surplus, now)
        if inputs.solar_forecast is not self._forecast:
            self._forecast = inputs.solar_forecast
            for hour, wh in self._forecast_by_hour(zone).items():
                if hour >= now + LEAD_S:
                    self._ahead[hour] = wh
        if self._last is not None and (hour_ := self._hour) is not None:
            at, pv, house = self._last
            if 0.0 < (dt := now - at) <= MAX_GAP_S:
                if pv is not None:
                    hour_.pv_wh += pv * dt / H
                    hour_.pv_s += dt
                if house is not None:
                    hour_.house_wh += house * dt / H
                    hour_.house_s += dt
        if not replayed and (self._hour is None or not self._hour.start <= now < self._hour.end):
            self._next_hour(now, zone)
        self._last = (now, pv_now, house_now)

    def _replays(self, now: float, zone: tzinfo) -> bool:
        """Whether ``now`` is in a local hour before the one being measured, or that hour again
        after its end (the clocks went back for winter), by at most ``MAX_BACK_S``: measured
        already (see the module)."""
        hour = self._hour
        if hour is None or hour.start <= now < hour.end:
            return False
        start, day, of_day = _hour_of(now, zone)
        return (day, of_day) <= (hour.day, hour.hour) and hour.start - start <= MAX_BACK_S

    def _forecast_by_hour(self, zone: tzinfo) -> dict[float, float]:
        by_hour: dict[float, float] = {}
        for slot in self._forecast or ():
            start, _, _ = _hour_of(slot.start, zone)
            by_hour[start] = by_hour.get(start, 0.0) + slot.wh
        return by_hour

    def _next_hour(self, now: float, zone: tzinfo) -> None:
        if self._hour is not None:
            self._close_hour(self._hour)
        start, day, hour = _hour_of(now, zone)
        if day != self._day:
            self._close_day()
            self._day = day
        forecast = self._ahead.pop(start, None)
        if forecast is None and self._forecast:
            forecast = self._forecast_by_hour(zone).get(start)
        self._ahead = {h: wh for h, wh in self._ahead.items() if h > start}
        end = _hour_of(start + H + 1.0, zone)[0]
        self._hour = _Hour(start, end if end > start else start + H, day, hour, forecast)

    def _close_hour(self, hour: _Hour) -> None:
        length = hour.end - hour.start
        covered = hour.house_s >= COVERED * length
        # (A mean past a float's range is no sample: the sums may come from a hostile store.)
        if (
            covered
            and (mean_w := non_negative_number(hour.house_wh / hour.house_s * H)) is not None
        ):
            samples = self._house[hour.hour]
            samples.append(mean_w)
            del samples[:-DAYS]
        if hour.forecast_wh is not None and hour.pv_s >= COVERED * length:
            self._day_pv_wh += hour.pv_wh * length / hour.pv_s
            self._day_forecast_wh += hour.forecast_wh

    def _close_day(self) -> None:
        if self._day is not None:
            self._capture.close_day(self._day)
            if (ratio := self._day_ratio()) is not None:
                self._ratios.append((self._day, ratio))
                del self._ratios[:-DAYS]
        self._day_pv_wh = self._day_forecast_wh = 0.0

    def _day_ratio(self) -> float | None:
        """The day's measured PV over its forecast; None if the forecast says too little, or
        past a float's range (the sums may come from a hostile store)."""
        if self._day_forecast_wh < MIN_DAY_FORECAST_WH:
            return None
        return non_negative_number(self._day_pv_wh / self._day_forecast_wh)

    def summary(self, base: PlanSettings) -> dict[str, Any]:
        """What plans use now in place of the settings ``base`` (diagnostics)."""
        return {
            "forecast_confidence": round(self.confidence(base.forecast_confidence), 3),
            "forecast_typical": round(self.typical(), 3),
            "forecast_days": len(self._ratios),
            "house_w_by_hour": [round(self.house_w(h, base.house_load_w)) for h in range(24)],
            "sun_capture": {f"{w:.0f} W": round(share, 3) for w, share in self._capture.shares()},
            "sun_bridge": {
                f"{w:.0f} W": {"sun_missed": round(missed, 3), "dips": round(dips, 3)}
                for w, missed, dips in self._capture.bridges()
            },
        }

    # --- stored form -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The learned days, and how far the hour and day being measured got (the measuring
        goes on after a restart, and an hour measured is not measured again)."""
        stored: dict[str, Any] = {
            "ratios": [[day, round(ratio, 4)] for day, ratio in self._ratios],
            "house_w": [[round(w, 1) for w in samples] for samples in self._house],
            "sun_capture": self._capture.to_dict(),
        }
        if self._day is not None and self._hour is not None:
            stored[_MEASURING_KEY] = {
                "day": [self._day, self._day_pv_wh, self._day_forecast_wh],
                "hour": [getattr(self._hour, name) for name in _HOUR_FIELDS],
            }
        return stored

    def _load_measuring(self, data: object) -> None:
        """The hour and day being measured back from :meth:`to_dict` (left out if unreadable)."""
        if (measuring := _stored_measuring(data)) is not None:
            self._day, self._day_pv_wh, self._day_forecast_wh, self._hour = measuring

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanLearning:
        """Back from :meth:`to_dict`; anything unreadable is left out."""
        learning = cls()
        learning._ratios = day_numbers(data.get("ratios"), DAYS)
        house = data.get("house_w")
        if isinstance(house, list) and len(house) == 24:
            for hour, samples in enumerate(house):
                if isinstance(samples, list):
                    watts = map(non_negative_number, samples[-DAYS:])
                    learning._house[hour] = [w for w in watts if w is not None]
        if isinstance(capture := data.get("sun_capture"), Mapping):
            learning._capture.load(capture)
        learning._load_measuring(data.get(_MEASURING_KEY))
        return learning


def pv_and_house(inputs: SiteInputs) -> tuple[float | None, float | None]:
    """PV (what it could give, where curtailed) and the house's power now (None: unknown)."""
    pv = _value(inputs.pv_w)
    available = _value(inputs.pv_available_w)
    grid = _value(inputs.grid_w)
    battery = 0.0 if inputs.battery_w is None else inputs.battery_w.value
    cars = [_value(c.power_w) if c.charging else 0.0 for c in inputs.chargers.values()]
    house = None
    if pv is not None and grid is not None and battery is not None and None not in cars:
        house = max(0.0, pv + grid + battery - sum(c or 0.0 for c in cars))
    return (available if available is not None else pv), house
