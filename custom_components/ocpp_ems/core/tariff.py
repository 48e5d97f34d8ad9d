"""Energy prices as price integrations publish them, brought to one unit: currency per kWh.

Price sensors differ in their unit: ``EUR/kWh`` (Tibber, Nord Pool), ``ct/kWh`` or ``c€/kWh``
(aWATTar, EPEX Spot), ``EUR/MWh`` (ENTSO-E day-ahead), ``SEK/kWh`` and ``öre/kWh`` (Nordic),
``p/kWh`` (UK). A session's cost is in the currency's main unit, so a price in cents is divided by
100 and a price per MWh by 1000. A unit this module cannot read gives no price rather than a cost
off by a factor of 100 or 1000.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .numbers import parse_number

# Per what energy the price is given: how many kWh that is.
_ENERGY_KWH = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0}
# Sub-units of currencies (1/100 of the main unit), as price integrations write them.
_MINOR_UNITS = frozenset(
    {"ct", "cts", "cent", "cents", "c", "c€", "€c", "¢", "öre", "ore", "øre", "p", "pence", "rp"}
)
_SPACES = re.compile(r"\s+")
# An ISO 4217 code (EUR, SEK ...), as the unit's money part is written in (case-folded).
_CURRENCY_CODE = re.compile(r"[a-z]{3}")


def per_kwh_factor(unit: object, currency: str | None = None) -> float | None:
    """What a price in ``unit`` is multiplied by to be in main currency units per kWh.

    No unit: the price is taken as per kWh in the main unit (what most sensors without a unit
    mean). None when the unit is no price per energy (``EUR``, ``EUR/h``, ``%``), no text at all
    (a state attribute can hold anything), or names a currency code other than ``currency`` (the
    cost would be shown in the wrong currency)."""
    if unit is None:
        return 1.0
    if not isinstance(unit, str):
        return None
    if not unit.strip():
        return 1.0
    money, slash, energy = _SPACES.sub("", unit).casefold().partition("/")
    if not slash or not money:
        return None
    per = _ENERGY_KWH.get(energy)
    if per is None:
        return None
    if money in _MINOR_UNITS:
        return 0.01 / per
    if currency is not None and _CURRENCY_CODE.fullmatch(money) and money != currency.casefold():
        return None
    return 1.0 / per


def price_per_kwh(value: object, unit: object, currency: str | None = None) -> float | None:
    """A price sensor's state in main currency units per kWh (None when it is not a price: no
    number, not finite, a unit that is no price per energy, or in another currency than
    ``currency``, when given)."""
    number = parse_number(value)
    factor = per_kwh_factor(unit, currency)
    if number is None or factor is None:
        return None
    return number * factor


# How long prices are kept: a charger's queue older than that (chargers queue hours, not days)
# is costed at the oldest price kept. At most so many changes (a price sensor that changes every
# second must not grow the charger's memory and its costing without bound).
PRICE_MEMORY = timedelta(days=2)
MAX_PRICE_CHANGES = 1000
# At most so many slots of the source's forecast are kept (five days of quarter hours).
MAX_ANNOUNCED = 500
# How far a forecast's price may be from the price seen for the same moment and still count as
# the same price (float noise of the unit conversion).
SAME_PRICE = 1e-9
# How late a price sensor may follow its forecast's new slot (polled integrations: up to a
# minute): a stop in that time still fills the downtime from the forecast.
FOLLOW_LAG = timedelta(minutes=5)
# A step of our clock back by more than this: the changes recorded after the time it stepped
# back to were stamped by a clock ahead (a bad time source), not kept.
CLOCK_STEP_BACK = timedelta(hours=1)


class AnnouncedPrice(NamedTuple):
    """One slot of a price forecast (currency per kWh): ``price`` from ``start`` to ``end``."""

    start: datetime
    end: datetime
    price: float


@dataclass
class PriceHistory:
    """The energy price by time (our clock): ``current`` now, and since when each price held.

    Energy is costed at the price of when it was drawn, not of when its reading arrived: a
    charger's queue flushed after a network drop, or a reading every 15 minutes across a price
    change, would otherwise be costed at the price in force on arrival. Before the first price
    known, that one counts (after a restart: the last one stored)."""

    current: float | None = None
    # Where the prices come from (the price entity, the fixed price): another source starts afresh.
    source: str | None = None
    # Up to when the prices are known (the time of the stored form; None: now): after a restart,
    # what came after it was not seen (:meth:`fill_unseen`).
    seen_until: datetime | None = None
    # The source's forecast, the slots not over yet (:meth:`announce`), oldest first.
    _announced: list[AnnouncedPrice] = field(default_factory=list, repr=False)
    # Since when each price held, oldest first; a None price: none was known then (that energy
    # costs nothing).
    _since: list[datetime] = field(default_factory=list, repr=False)
    _prices: list[float | None] = field(default_factory=list, repr=False)

    def record(self, price: float | None, at: datetime) -> None:
        """The price from ``at`` on (a repeat of the price in force is no change)."""
        self.current = price
        if self._since and self._since[-1] - at > CLOCK_STEP_BACK:
            # Our clock was ahead when it recorded the changes after ``at`` (a year ahead once
            # froze every later cost at the price before it): they go.
            keep = max(1, bisect_right(self._since, at))
            del self._since[keep:], self._prices[keep:]
        if (self._prices[-1] if self._prices else None) == price:
            return  # no change; none known yet is no change either (the first price counts back)
        if self._since and at < self._since[-1]:
            at = self._since[-1]  # our clock stepped back a little: the order stays
        self._since.append(at)
        self._prices.append(price)
        # Keep the last change at or before the cut: it gives the price there.
        drop = max(
            bisect_right(self._since, at - PRICE_MEMORY) - 1, len(self._since) - MAX_PRICE_CHANGES
        )
        if drop > 0:
            del self._since[:drop], self._prices[:drop]

    def follow(self, source: str | None) -> None:
        """Prices come from ``source`` now: those of another source are forgotten (the user
        picked another price entity, or the fixed price); the next price counts back in time."""
        if source != self.source:
            self.source = source
            self._since.clear()
            self._prices.clear()
            self._announced.clear()

    def announce(self, forecast: Iterable[AnnouncedPrice], now: datetime) -> None:
        """The source's forecast as read ``now`` (the slots not over :data:`FOLLOW_LAG` ago and
        within :data:`PRICE_MEMORY` ahead are kept, and stored): what prices the time after the
        stored form had, should nobody see it."""
        # (No further ahead than prices are kept: a longer downtime's queue is not costed.)
        horizon = now + PRICE_MEMORY
        ahead = sorted(
            (slot for slot in forecast if slot.end > now - FOLLOW_LAG and slot.start < horizon),
            key=lambda slot: slot.start,
        )
        self._announced = ahead[:MAX_ANNOUNCED]

    def cost(self, energy_wh: float, span: tuple[datetime, datetime] | None) -> float | None:
        """What ``energy_wh`` drawn evenly over ``span`` (start, end; None: a moment now)
        costs; None when no price was known at any moment of it (the energy is not costed)."""
        if span is None or span[1] <= span[0] or not self._since:
            return None if self.current is None else energy_wh / 1000.0 * self.current
        start, end = span
        total_s = (end - start).total_seconds()
        cost: float | None = None
        first = max(0, bisect_right(self._since, start) - 1)
        for index in range(first, len(self._since)):
            if index > first and self._since[index] >= end:
                break
            price = self._prices[index]
            begin = start if index == first else self._since[index]
            until = end if index + 1 == len(self._since) else min(end, self._since[index + 1])
            if price is None or until <= begin:
                continue
            share = (until - begin).total_seconds() / total_s
            cost = (cost or 0.0) + energy_wh * share / 1000.0 * price
        return cost

    def fill_unseen(self, until: datetime) -> int:
        """The prices of the time up to ``until`` that nobody saw (Home Assistant was down since
        :attr:`seen_until`) from the forecast the price source had given (:meth:`announce`):
        each slot that began then is a change at its start, the end of a slot no other follows a
        price unknown (as in an outage of the source). Only a forecast that gave the price seen
        last for that moment counts (a sensor whose state is not its forecast's price, another
        tariff's or with other fees, is left to its last price); one that gave it
        :data:`FOLLOW_LAG` before the stored form also does (the sensor had not followed a new
        slot yet: the slots from then on are filled). Returns how many changes were added."""
        if not self._since or (last_price := self._prices[-1]) is None:
            return 0
        seen = max(self._since[-1], self.seen_until or self._since[-1])
        slots = self._announced
        filled_from = next(
            (
                moment
                for moment in (seen, max(self._since[-1], seen - FOLLOW_LAG))
                if _gives(slots, moment, last_price)
            ),
            None,
        )
        if filled_from is None:
            return 0
        added = 0
        current = self.current
        covered_until = None  # the latest end of the slots so far (a slot may lie in another)
        for index, slot in enumerate(slots):
            if filled_from < slot.start < until:
                added += self._record_unseen(slot.price, slot.start)
            covered_until = slot.end if covered_until is None else max(covered_until, slot.end)
            follows = index + 1 < len(slots) and slots[index + 1].start <= covered_until
            if not follows and filled_from < covered_until < until:
                added += self._record_unseen(None, covered_until)
        self.current = current  # (the price now is the source's, set by whoever follows it)
        self.seen_until = None
        return added

    def _record_unseen(self, price: float | None, at: datetime) -> int:
        changes = len(self._since)
        self.record(price, at)
        return len(self._since) - changes

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """The stored form of now (``now``: up to when the prices are known)."""
        return {
            "source": self.source,
            "seen_until": now.isoformat(),
            "announced": [
                [slot.start.isoformat(), slot.end.isoformat(), slot.price]
                for slot in self._announced
                if slot.end > now - FOLLOW_LAG  # (the sensor may not have followed it yet)
            ],
            "changes": [
                [at.isoformat(), price] for at, price in zip(self._since, self._prices, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriceHistory:
        """A stored history (the price now is set again by whoever follows the price)."""
        history = cls(source=None if data.get("source") is None else str(data["source"]))
        history.seen_until = _aware_time(data.get("seen_until"))
        rows = data.get("announced")
        slots = (
            [slot for row in rows if (slot := _announced(row)) is not None]
            if isinstance(rows, list)
            else []
        )
        history._announced = sorted(slots, key=lambda slot: slot.start)[:MAX_ANNOUNCED]
        for at, price in data.get("changes") or ():
            since = datetime.fromisoformat(at)
            if since.tzinfo is None:
                raise ValueError(f"price change time {at!r} without a zone")
            if price is not None and not math.isfinite(price := float(price)):
                raise ValueError(f"price {price!r} is no number")
            history.record(price, since)
        history.current = None
        return history


def _gives(slots: list[AnnouncedPrice], moment: datetime, price: float) -> bool:
    """Whether the forecast ``slots`` gave ``price`` for ``moment``."""
    slot = next((s for s in slots if s.start <= moment < s.end), None)
    return slot is not None and abs(slot.price - price) <= SAME_PRICE * max(1.0, price)


def _aware_time(value: object) -> datetime | None:
    """A stored time with its zone; None when there is none or it is unreadable (the prices
    are kept: only the time nobody saw is then not filled in)."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _announced(row: object) -> AnnouncedPrice | None:
    """A stored forecast slot; None when unreadable (left out)."""
    if not isinstance(row, list) or len(row) != 3:
        return None
    start, end, price = _aware_time(row[0]), _aware_time(row[1]), row[2]
    if start is None or end is None or end <= start or isinstance(price, bool):
        return None
    if not isinstance(price, int | float) or not math.isfinite(price):
        return None
    return AnnouncedPrice(start, end, float(price))
