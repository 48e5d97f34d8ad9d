"""Forecasts held through their source's outage: one rule for grid prices, feed-in prices and sun.

A forecast says what will be. A price sensor or forecast integration that is unavailable for a
while (reloading, its cloud service failing, Home Assistant starting before it) changes none of
that, but planning as if there were no forecast would: with no prices a plan charges in the
latest hours instead of the cheap ones, with no sun it buys from the grid what the sun would have
given. So the plan keeps the last forecast its source gave, the part still ahead, for up to
``HOLD_S`` after it was last read. A source picked anew starts empty: a forecast is held only for
the source it came from.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

_LOGGER = logging.getLogger(__name__)

# Longer than a cloud service's usual outage or a restart; short enough that a forecast left
# behind by a source the user removed from the Energy dashboard does not steer a whole day.
HOLD_S = 6 * 3600.0


class _Slot(Protocol):
    @property
    def end(self) -> float: ...


class ForecastHold[SlotT: _Slot]:
    """The last forecast of one source (see the module); ``name`` is for the log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._source: object = None
        self._slots: tuple[SlotT, ...] = ()
        self._read_at = -math.inf
        self._holding = False

    def __call__(self, source: object, slots: tuple[SlotT, ...], now: float) -> tuple[SlotT, ...]:
        """What to plan with: ``slots`` as read from ``source`` now, or, while it gives none,
        the last it gave (only slots not over yet, up to ``HOLD_S`` after it was read)."""
        if source != self._source:
            self._source, self._slots, self._read_at = source, (), -math.inf
            self._holding = False
        if slots:
            if self._holding:
                _LOGGER.info("The %s gives a forecast again", self.name)
                self._holding = False
            self._slots, self._read_at = slots, now
            return slots
        if now - self._read_at > HOLD_S:
            if self._holding:
                _LOGGER.warning(
                    "The %s has given no forecast for %.0f h: planning without one",
                    self.name,
                    HOLD_S / 3600.0,
                )
            self._slots, self._holding = (), False
            return ()
        held = tuple(slot for slot in self._slots if slot.end > now)
        if held and not self._holding:
            _LOGGER.info("The %s gives no forecast: planning with its last one", self.name)
            self._holding = True
        return held

    @property
    def held_since(self) -> float | None:
        """When the forecast now held was read (None: none is held)."""
        return self._read_at if self._holding else None
