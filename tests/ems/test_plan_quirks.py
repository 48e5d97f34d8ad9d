"""Departure plans with odd prices and clocks: a price too large to add 1 to, a departure at a
wall time the clock skips or repeats; a home battery read in the middle of a forecast slot."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from custom_components.ocpp_ems.core.ems import EnergySlot, PlanSettings, PriceSlot
from custom_components.ocpp_ems.core.ems.charger_config import next_departure
from custom_components.ocpp_ems.core.ems.plan import (
    BatteryFill,
    overlap_wh,
    plan_status,
    surplus_outlook,
)

H = 3600.0
NOW0 = 1_000_000_000.0 - 1_000_000_000.0 % 86400.0  # a midnight (UTC)


def test_departure_at_a_wall_time_the_dst_change_skips() -> None:
    """Departure time 02:30 on the night clocks go forward (Europe/Berlin, 2026-03-29: 02:00
    CET -> 03:00 CEST). The clock shows 02:30 or later first at 03:00 CEST (01:00 UTC): the car
    should be ready by then (or, as HA's own time triggers do, the next existing 02:30)."""
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


def test_departure_in_the_repeated_hour_is_not_in_the_past() -> None:
    """Berlin, 25 Oct 2026: the clock goes from 03:00 CEST back to 02:00 CET. At 02:10 CET (the
    second pass, 01:10 UTC) a daily departure at 02:30 is 20 minutes ahead (02:30 CET, 01:30 UTC);
    the first 02:30 (CEST, 00:30 UTC) is over already. The departure must lie after now."""
    zone = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 10, 25, 1, 10, tzinfo=UTC).timestamp()
    departure = next_departure(time(2, 30), now, zone)
    assert departure > now
    assert departure == datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp()


def test_skipped_departure_is_the_exact_moment_of_a_30_minute_jump() -> None:
    """Lord Howe Island, 4 Oct 2026: 02:00 (+10:30) jumps to 02:30 (+11). A daily departure at
    02:10 is the moment the clock jumps: 02:30 local = 15:30 UTC on 3 Oct, not a second later."""
    zone = ZoneInfo("Australia/Lord_Howe")
    now = datetime(2026, 10, 3, 14, 0, tzinfo=UTC).timestamp()  # 00:30 local
    departure = next_departure(time(2, 10), now, zone)
    assert departure == datetime(2026, 10, 3, 15, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("zone_name", "now_utc", "departure", "expected_utc"),
    [
        # Berlin 25 Oct 2026: at 02:45 CEST (first pass, 00:45 UTC) the clock shows 02:30 again
        # at 02:30 CET (01:30 UTC), 45 minutes later.
        (
            "Europe/Berlin",
            datetime(2026, 10, 25, 0, 45),
            time(2, 30),
            datetime(2026, 10, 25, 1, 30),
        ),
        # Dublin (negative DST in tzdata): 01:45 IST first pass (00:45 UTC); 01:30 GMT = 01:30 UTC.
        (
            "Europe/Dublin",
            datetime(2026, 10, 25, 0, 45),
            time(1, 30),
            datetime(2026, 10, 25, 1, 30),
        ),
        # New York 1 Nov 2026: 01:45 EDT (05:45 UTC); 01:30 EST = 06:30 UTC.
        (
            "America/New_York",
            datetime(2026, 11, 1, 5, 45),
            time(1, 30),
            datetime(2026, 11, 1, 6, 30),
        ),
    ],
)
def test_departure_repeated_later_in_the_fold_is_not_skipped(
    zone_name: str, now_utc: datetime, departure: time, expected_utc: datetime
) -> None:
    """``next_departure``: "the next occurrence of a daily departure time (wall clock) after now".
    In the first pass of the repeated autumn hour, after the departure's wall time, the clock
    shows that time again in the second pass, within the hour: that is the next occurrence (the
    first moment the clock shows it after now). The code compares the naive wall times (fold is
    ignored by aware comparison in the same zone), moves to the next day and returns it ~24 h
    later."""
    zone = ZoneInfo(zone_name)
    now = now_utc.replace(tzinfo=UTC).timestamp()
    result = next_departure(departure, now, zone)
    assert result > now
    assert datetime.fromtimestamp(result, UTC) == expected_utc.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "cheap", "due", "zone", "starts"),
    [
        # 26 Oct 2025 has 25 hours: 86400 s before Sunday 03:00 CET is Saturday 02:00 CEST.
        ((2025, 10, 25), (3, 4), (26, 7), "Europe/Berlin", (26, 3)),
        # 29 Mar 2026 has 23 hours (02:00-03:00 skipped).
        ((2026, 3, 28), (4, 5), (29, 7), "Europe/Berlin", (29, 4)),
    ],
)
def test_unpublished_prices_across_a_dst_change_use_the_same_wall_clock_hour(
    day: tuple[int, int, int],
    cheap: tuple[int, int],
    due: tuple[int, int],
    zone: str,
    starts: tuple[int, int],
) -> None:
    """README: "Hours whose price is not out yet count at the price of the same hour a day
    earlier". Saturday's cheap hours (local time) stand for Sunday's, whose prices are not out:
    plugged in at 10:00, due Sunday 07:00, the plan takes Sunday's same two hours, not an hour
    off where the DST change makes Sunday 25 or 23 hours long."""
    z = ZoneInfo("Europe/Berlin")
    year, month, d0 = day

    def ts(d: int, h: int) -> float:
        return datetime(year, month, d, h, tzinfo=z).timestamp()

    prices = tuple(
        PriceSlot(ts(d0, h), ts(d0, h) + H, 0.10 if h in cheap else 0.30) for h in range(24)
    )
    status = plan_status(
        now=ts(d0, 10),
        departure=ts(*due),
        remaining_wh=20000 / 1.1 * 0.99,  # just under two hours at 11 kW
        max_power_w=11040.0,
        efficiency=1.0,
        prices=prices,
        zone=ZoneInfo(zone),
    )
    assert status.starts_at == ts(*starts), datetime.fromtimestamp(status.starts_at or 0, z)


def test_a_battery_first_read_in_the_middle_of_a_slot_takes_its_share_from_then_on() -> None:
    """A plan counts a slot's sun from now on, spread evenly over the slot. A home battery read at
    800 s into a 15-minute slot of 5 kW sun needs 100 Wh more: it takes 3.6 kW for the slot's last
    100 s (what fills it by the slot's end), leaving the car 1.4 kW of it then; once full it
    leaves the next slot's sun to the car."""
    settings = PlanSettings(forecast_confidence=1.0, forecast_typical=1.0, house_load_w=0.0)
    forecast = (EnergySlot(0.0, 900.0, 1250.0), EnergySlot(900.0, 1800.0, 1250.0))
    battery = BatteryFill(since=800.0, power_w=5000.0, energy_wh=100.0)
    for surplus in surplus_outlook(forecast, settings, battery=battery):
        assert overlap_wh(surplus, 800.0, 900.0) == pytest.approx((5000.0 - 3600.0) * 100.0 / H)
        assert overlap_wh(surplus, 900.0, 1800.0) == pytest.approx(1250.0)
