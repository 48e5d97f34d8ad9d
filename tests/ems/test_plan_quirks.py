"""Departure plans with odd prices and clocks: a price too large to add 1 to, a departure at a
wall time the clock skips."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import PriceSlot
from custom_components.ocpp_ems.core.ems.plan import plan_status

H = 3600.0
NOW0 = 1_000_000_000.0 - 1_000_000_000.0 % 86400.0  # a midnight (UTC)


def test_departure_at_a_wall_time_the_dst_change_skips() -> None:
    """Departure time 02:30 on the night clocks go forward (Europe/Berlin, 2026-03-29: 02:00
    CET -> 03:00 CEST). The clock shows 02:30 or later first at 03:00 CEST (01:00 UTC): the car
    should be ready by then (or, as HA's own time triggers do, the next existing 02:30)."""
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    from custom_components.ocpp_ems.core.ems.charger_config import next_departure

    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 29, 0, 0, tzinfo=zone).timestamp()
    departure = next_departure(time(2, 30), now, zone)
    transition = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
    next_day = datetime(2026, 3, 30, 2, 30, tzinfo=zone).timestamp()
    assert departure <= transition or departure == next_day, datetime.fromtimestamp(departure, zone)


def test_huge_price_slot_is_not_taken_for_an_unknown_one() -> None:
    """A slot priced 1e308 (a sensor's sentinel / garbage; any price >= 2**53 does it) among
    0.30 slots: the plan avoids it."""
    prices = [
        PriceSlot(-24 * H + i * H, -23 * H + i * H, 0.01 if i == 2 else 0.30) for i in range(24)
    ] + [PriceSlot(i * H, (i + 1) * H, 1e308 if i == 2 else 0.30) for i in range(8)]
    status = plan_status(
        now=0.0,
        departure=8 * H,
        remaining_wh=5000.0,
        max_power_w=11040.0,
        efficiency=1.0,
        prices=prices,
    )
    assert status.starts_at is not None
    assert not 2 * H <= status.starts_at < 3 * H, status.starts_at / H
