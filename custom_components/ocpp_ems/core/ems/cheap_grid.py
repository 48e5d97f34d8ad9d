"""Cheap grid: the solar modes charge in full while the grid price is at or below a limit.

With a dynamic tariff the grid is at times cheaper than the sun is worth exported, or even pays
for the import (negative prices). Solar and Min + solar then charge as Fast does, until the run
of slots at or below the limit (``SiteSettings.cheap_price``) ends; departure plans choose their
slots themselves (``plan.py``). The prices are the site's price slots (per kWh, held through the
price sensor's outages: ``forecast_hold.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import PriceSlot, slot_at

# Slots closer than this are one run (the sensor's own slots may leave rounding gaps).
_JOIN_S = 1.0


def cheap_until(prices: Sequence[PriceSlot], limit: float | None, now: float) -> float | None:
    """When the run of cheap slots (price <= ``limit``) that ``now`` lies in ends; None: no
    limit, no price known for now, or the price now is above it."""
    if limit is None:
        return None
    ordered = sorted(prices, key=lambda slot: slot.start)
    current = slot_at(ordered, now)
    if current is None or current.price > limit:
        return None
    end = current.end
    for slot in ordered:
        if slot.start > end + _JOIN_S:
            break
        if slot.end > end:
            if slot.price > limit:
                break
            end = slot.end
    return end


def next_price_change(prices: Sequence[PriceSlot], now: float) -> float | None:
    """The next moment a price slot begins or ends (None: none ahead)."""
    return min(
        (t for slot in prices for t in (slot.start, slot.end) if t > now),
        default=None,
    )
