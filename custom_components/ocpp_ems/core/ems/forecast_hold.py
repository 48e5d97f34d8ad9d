"""Forecasts held through their source's outage: one rule for grid prices, feed-in prices and sun.

A forecast says what will be. A price sensor or forecast integration that is unavailable for a
while (reloading, its cloud service failing, Home Assistant starting before it) changes none of
that, but planning as if there were no forecast would: with no prices a plan charges in the
latest hours instead of the cheap ones, with no sun it buys from the grid what the sun would have
given. So the plan keeps the last forecast its source gave, the part still ahead, also across a
restart (:meth:`ForecastHolds.to_dict`): a solar forecast for up to ``HOLD_S`` after it was last
read (the weather moves on), published prices until their slots end (a day-ahead price is a fact
once published; an outage of a price integration overnight must not cost the plan its cheap
hours). A source picked anew starts empty: a forecast is held only for the source it came from.
Prices also keep the last day's past slots, as the sensor itself shows them: a plan prices hours
not published yet like the same hours a day earlier (``plan._day_before``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import astuple
from typing import Any, ClassVar, Protocol

from custom_components.ocpp_ems.core.numbers import finite_number

from .plan import DAY_S
from .types import EnergySlot, PriceSlot

_LOGGER = logging.getLogger(__name__)

# A solar forecast: longer than a cloud service's usual outage or a restart; short enough that a
# forecast left behind by a source the user removed from the Energy dashboard does not steer a
# whole day.
HOLD_S = 6 * 3600.0
# Published prices: until their slots end.
UNTIL_SLOTS_END = math.inf
# At most so many slots are held, the earliest (ten days of quarter hours: a source listing
# thousands must not grow what is stored at every change).
MAX_HELD_SLOTS = 1000


class _Slot(Protocol):
    """A forecast's slot: a dataclass of (start, end, value)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


class ForecastHold[SlotT: _Slot]:
    """The last forecast of one source (see the module); ``name`` is for the log, ``slot``
    builds a slot from its stored (start, end, value); it is kept ``hold_s`` after it was read;
    slots that ended up to ``past_s`` ago are given with those ahead."""

    def __init__(
        self,
        name: str,
        slot: Callable[[float, float, float], SlotT],
        past_s: float = 0.0,
        hold_s: float = HOLD_S,
    ) -> None:
        self.name = name
        self._slot = slot
        self._past_s = past_s
        self._hold_s = hold_s
        self._source: str | None = None
        self._slots: tuple[SlotT, ...] = ()
        self._read_at = -math.inf
        self._holding = False
        self._forecast = False  # the slots held came from a forecast (not only a value of now)

    def __call__(
        self, source: str | None, slots: tuple[SlotT, ...], now: float, *, forecast: bool = True
    ) -> tuple[SlotT, ...]:
        """What to plan with: ``slots`` as read from ``source`` now, or, while it gives none,
        the last it gave (only slots not over yet, up to ``hold_s`` after it was read).

        ``forecast`` False: ``slots`` are only the source's value of now (a price sensor that
        shows its price without its forecast): the last forecast stays while it has slots ahead,
        with the value of now in force from now up to its next slot."""
        if source != self._source:
            self._source, self._slots, self._read_at = source, (), -math.inf
            self._holding = False
            self._forecast = False
        if slots and not forecast and self._forecast and (held := self(source, (), now)):
            return self._with_now(slots, held)
        if slots:
            self._forecast = forecast
            if self._holding:
                _LOGGER.info("The %s gives a forecast again", self.name)
                self._holding = False
            self._slots, self._read_at = slots[:MAX_HELD_SLOTS], now
            return slots
        if now - self._read_at > self._hold_s:
            if self._holding:
                _LOGGER.warning(
                    "The %s has given no forecast for %.0f h: its last one is dropped",
                    self.name,
                    self._hold_s / 3600.0,
                )
            self._slots, self._holding = (), False
            return ()
        ahead = any(slot.end > now for slot in self._slots)
        if ahead and not self._holding:
            _LOGGER.info("The %s gives no forecast: its last one is used", self.name)
        self._holding = ahead
        if not ahead:
            return ()
        return tuple(slot for slot in self._slots if slot.end > now - self._past_s)

    def _with_now(self, now_slots: tuple[SlotT, ...], held: tuple[SlotT, ...]) -> tuple[SlotT, ...]:
        """The held forecast with the value of now in force from now (it is fresher) up to the
        held forecast's next slot."""
        slots = list(held)
        for now_slot in now_slots:
            at = now_slot.start
            current = [h for h in slots if h.start <= at < h.end]
            slots = [h for h in slots if h not in current]
            end = min((h.start for h in slots if h.start > at), default=now_slot.end)
            end = min(end, now_slot.end)
            if end > at:
                slots.append(self._slot(at, end, astuple(now_slot)[2]))
            for held_now in current:
                value = astuple(held_now)[2]
                # What it said before now stays (past prices price the day after), and after
                # the value of now, the rest of it.
                if held_now.start < at:
                    slots.append(self._slot(held_now.start, at, value))
                if held_now.end > max(end, at):
                    slots.append(self._slot(max(end, at), held_now.end, value))
        return tuple(sorted(slots, key=lambda slot: slot.start))

    @property
    def announced(self) -> tuple[SlotT, ...]:
        """The source's last forecast as read, past slots too (none when what was read last was
        only its value of now)."""
        return self._slots if self._forecast else ()

    @property
    def held_since(self) -> float | None:
        """When the forecast now held was read (None: none is held)."""
        return self._read_at if self._holding else None

    @property
    def held_until(self) -> float | None:
        """The last moment the forecast now held is kept (None: none is held; infinite: until
        its slots end)."""
        return self._read_at + self._hold_s if self._holding else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self._source,
            "read_at": self._read_at if self._slots else None,
            "slots": [list(astuple(slot)) for slot in self._slots],
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Back from :meth:`to_dict`; unreadable slots are left out."""
        source, read_at = data.get("source"), finite_number(data.get("read_at"))
        if (source is not None and not isinstance(source, str)) or read_at is None:
            return
        slots = []
        rows = data.get("slots")
        for row in rows if isinstance(rows, list) else ():
            if not isinstance(row, list) or len(row) != 3:
                continue
            numbers = [n for value in row if (n := finite_number(value)) is not None]
            if len(numbers) == 3 and numbers[1] > numbers[0]:
                slots.append(self._slot(*numbers))
        self._source, self._read_at = source, read_at
        self._slots = tuple(sorted(slots, key=lambda slot: slot.start)[:MAX_HELD_SLOTS])


def price_hold(name: str, past_s: float = DAY_S) -> ForecastHold[PriceSlot]:
    """A price sensor's hold: its published slots until they end, with those that ended up to
    ``past_s`` ago (plans: the last day's, which price the hours not published yet)."""
    return ForecastHold[PriceSlot](name, PriceSlot, past_s=past_s, hold_s=UNTIL_SLOTS_END)


class ForecastHolds:
    """The site's three forecasts (see the module) and their stored form."""

    def __init__(self) -> None:
        self.solar = ForecastHold[EnergySlot]("solar forecast", EnergySlot)
        self.price = price_hold("price sensor")
        self.feed_in_price = price_hold("feed-in price sensor")

    def _all(self) -> dict[str, ForecastHold[Any]]:
        return {"solar": self.solar, "price": self.price, "feed_in_price": self.feed_in_price}

    def held_since(self) -> dict[str, float]:
        """The forecasts held now (their source gives none: ``solar``, ``price``,
        ``feed_in_price``) and when each was read."""
        return {
            key: since
            for key, hold in self._all().items()
            if (since := hold.held_since) is not None
        }

    def to_dict(self) -> dict[str, Any]:
        return {key: hold.to_dict() for key, hold in self._all().items()}

    def load(self, data: object) -> None:
        """Back from :meth:`to_dict`; anything unreadable is skipped."""
        if not isinstance(data, Mapping):
            return
        for key, hold in self._all().items():
            if isinstance(stored := data.get(key), Mapping):
                hold.load(stored)
