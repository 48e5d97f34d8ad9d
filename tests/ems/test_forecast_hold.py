"""A forecast's source gives none for a while: the plan keeps its last forecast (ahead only)."""

from __future__ import annotations

import json
import logging
import math

import pytest

from custom_components.ocpp_ems.core.ems import EnergySlot, PriceSlot
from custom_components.ocpp_ems.core.ems.forecast_hold import (
    HOLD_S,
    MAX_HELD_SLOTS,
    ForecastHold,
    ForecastHolds,
)
from custom_components.ocpp_ems.core.ems.plan import plan_status

H = 3600.0
PRICES = tuple(PriceSlot(h * H, (h + 1) * H, 0.1 * h) for h in range(4))


def test_an_outage_keeps_the_last_forecast_still_ahead() -> None:
    hold = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    assert hold("sensor.price", (), 0.0) == ()  # nothing read yet: nothing to keep
    assert hold("sensor.price", PRICES, 0.0) == PRICES
    assert hold.held_since is None
    assert hold("sensor.price", (), 1.5 * H) == PRICES[1:]  # the first hour is over
    assert hold.held_since == 0.0
    assert hold("sensor.price", (), 4 * H) == ()  # all over
    assert hold.held_since is None  # nothing held any more
    new = (PriceSlot(4 * H, 5 * H, 0.5),)
    assert hold("sensor.price", new, 4 * H) == new  # back: what it says now counts
    assert hold.held_since is None


def test_a_value_of_now_without_its_forecast_keeps_the_held_forecast() -> None:
    """A price sensor that shows its price but not its forecast (reloading, a state restored
    before its first fetch, its cloud failing) gives no forecast: the held one stays, the value
    of now in force from now up to the held forecast's next slot; a sensor that never gave a
    forecast is its value of now."""
    hold = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    assert hold("sensor.price", PRICES, 0.0) == PRICES
    now = (PriceSlot(1.5 * H, 2.5 * H, 0.7),)
    assert (
        hold("sensor.price", now, 1.5 * H, forecast=False)
        == (
            PriceSlot(1 * H, 1.5 * H, PRICES[1].price),  # what it said before now
            PriceSlot(1.5 * H, 2 * H, 0.7),  # the value of now, fresher than the held one
            *PRICES[2:],
        )
    )
    assert hold.held_since == 0.0
    # Where the held forecast has no slot now, the value of now, up to the next held slot.
    gap = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    gap("sensor.price", (PRICES[0], PRICES[3]), 0.0)
    assert gap("sensor.price", now, 1.5 * H, forecast=False) == (
        PriceSlot(1.5 * H, 2.5 * H, 0.7),
        PRICES[3],
    )
    # Once the held forecast is over, the value of now is all there is.
    late = (PriceSlot(4.5 * H, 5.5 * H, 0.7),)
    assert hold("sensor.price", late, 4.5 * H, forecast=False) == late
    plain = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    assert plain("sensor.plain", now, 1.5 * H, forecast=False) == now


def test_held_prices_keep_the_last_day_for_the_plans_day_before() -> None:
    """A plan prices hours not out yet like a day earlier: held prices keep the past day,
    as the sensor shows it, while anything is still ahead."""
    holds = ForecastHolds()
    # A cheap early morning (hours 6 and 7), then 0.30; published up to hour 30.
    day = tuple(PriceSlot(h * H, (h + 1) * H, 0.01 if h in (6, 7) else 0.3) for h in range(30))
    holds.price("sensor.price", day, 26 * H)
    held = holds.price("sensor.price", (), 27.5 * H)
    assert held == day[3:]  # ended within the last 24 h, or ahead
    # The unpublished hours 30 and 31 cost what hours 6 and 7 did: the plan waits for them.
    status = plan_status(
        now=27.5 * H,
        departure=32 * H,
        remaining_wh=1000,
        max_power_w=11000,
        efficiency=1.0,
        prices=held,
    )
    assert status.starts_at is not None
    assert status.starts_at >= 30 * H
    assert holds.price("sensor.price", (), 30.5 * H) == ()  # nothing ahead: none held
    assert holds.held_since() == {}


def test_a_forecast_is_kept_for_hold_s_after_it_was_read() -> None:
    hold = ForecastHold[EnergySlot]("solar forecast", EnergySlot)
    day = (EnergySlot(0.0, 48 * H, 40000.0),)
    hold("entry", day, 0.0)
    assert hold.held_until is None  # read now: nothing held
    assert hold("entry", (), HOLD_S) == day
    assert hold.held_until == HOLD_S
    assert hold("entry", (), HOLD_S + 1.0) == ()
    assert hold("entry", (), HOLD_S + 2.0) == ()  # not back once dropped
    assert hold.held_since is None


def test_published_prices_are_kept_until_their_slots_end() -> None:
    """A day-ahead price stands once published: held through an outage of any length while its
    slots are ahead (the plan keeps its cheap night), where a solar forecast is dropped."""
    holds = ForecastHolds()
    prices = tuple(PriceSlot(h * H, (h + 1) * H, 0.1 + 0.01 * h) for h in range(36))
    sun = (EnergySlot(0.0, 36 * H, 30000.0),)
    holds.price("sensor.price", prices, 0.0)
    holds.solar("entry", sun, 0.0)
    now = 20 * H  # far beyond HOLD_S
    assert now > HOLD_S
    assert holds.solar("entry", (), now) == ()
    held = holds.price("sensor.price", (), now)
    assert held[0].start == 0.0  # with the last day's past hours
    assert held[-1] == prices[-1]
    assert holds.price.held_until == math.inf
    # Also from the stored form, after a restart in the outage.
    after = ForecastHolds()
    after.load(json.loads(json.dumps(holds.to_dict())))
    assert after.price("sensor.price", (), 30 * H)[-1] == prices[-1]
    assert holds.price("sensor.price", (), 36 * H) == ()  # all over: nothing held
    assert holds.held_since() == {}


def test_what_is_held_and_stored_is_bounded() -> None:
    """A source listing 10,000 quarter hours: its earliest MAX_HELD_SLOTS are held and stored
    (red team 20j: stored whole, 548 KB rewritten at every change); the plan gets what it read."""
    holds = ForecastHolds()
    many = tuple(PriceSlot(n * 900.0, (n + 1) * 900.0, 0.1) for n in range(10_000))
    assert holds.price("sensor.price", many, 0.0) == many
    stored = holds.to_dict()["price"]["slots"]
    assert len(stored) == MAX_HELD_SLOTS
    assert stored[-1][1] == MAX_HELD_SLOTS * 900.0
    after = ForecastHolds()
    after.load(
        {
            "price": {
                "source": "sensor.price",
                "read_at": 0.0,
                "slots": [
                    list(s) for s in [(n * 900.0, (n + 1) * 900.0, 0.1) for n in range(10_000)]
                ],
            }
        }
    )
    assert len(after.to_dict()["price"]["slots"]) == MAX_HELD_SLOTS


def test_a_forecast_is_kept_only_for_its_own_source() -> None:
    hold = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    hold("sensor.old", PRICES, 0.0)
    assert hold("sensor.new", (), 0.0) == ()
    assert hold("sensor.old", (), 0.0) == ()  # the old one's was dropped with the switch


def test_an_outage_is_logged_when_it_begins_and_ends(caplog: pytest.LogCaptureFixture) -> None:
    hold = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    caplog.set_level(logging.INFO)
    hold("sensor.price", PRICES, 0.0)
    for t in (60.0, 120.0):
        hold("sensor.price", (), t)
    hold("sensor.price", PRICES, 180.0)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "The price sensor gives no forecast: its last one is used",
        "The price sensor gives a forecast again",
    ]
    caplog.clear()
    day = (PriceSlot(0.0, 48 * H, 0.3),)
    hold("sensor.price", day, 0.0)
    hold("sensor.price", (), 60.0)
    hold("sensor.price", (), HOLD_S + 61.0)
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING]
    assert "for 6 h: its last one is dropped" in caplog.records[-1].getMessage()


def test_held_forecasts_survive_a_restart_in_their_stored_form() -> None:
    holds = ForecastHolds()
    day = (EnergySlot(0.0, H, 1000.0), EnergySlot(H, 2 * H, 2000.0))
    holds.solar("entry", day, 0.0)
    holds.price("sensor.price", PRICES, 0.0)
    stored = json.loads(json.dumps(holds.to_dict()))  # as the store keeps it
    after = ForecastHolds()
    after.load(stored)
    assert after.held_since() == {}
    assert after.solar("entry", (), 60.0) == day
    assert after.price("sensor.price", (), 1.5 * H) == PRICES  # with the day's past hours
    assert after.feed_in_price("sensor.feed_in", (), 60.0) == ()  # nothing was read
    assert after.held_since() == {"solar": 0.0, "price": 0.0}
    # Another source now, the sun held too long or the prices over before the restart: nothing.
    assert after.solar("other", (), 60.0) == ()
    late = ForecastHolds()
    late.load(stored)
    assert late.solar("entry", (), HOLD_S + 1.0) == ()
    assert late.price("sensor.price", (), 4 * H) == ()


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        {"price": []},
        {"price": {"source": 3, "read_at": 0.0, "slots": [[0.0, 3600.0, 0.3]]}},
        {"price": {"source": "sensor.price", "read_at": "now", "slots": [[0.0, 3600.0, 0.3]]}},
        {"price": {"source": "sensor.price", "read_at": 0.0, "slots": 5}},
    ],
)
def test_an_unreadable_stored_form_holds_nothing(stored: object) -> None:
    holds = ForecastHolds()
    holds.load(stored)
    assert holds.price("sensor.price", (), 60.0) == ()


def test_unreadable_stored_slots_are_left_out() -> None:
    holds = ForecastHolds()
    rows = [[0.0, 3600.0, 0.3], [3600.0, 3600.0, 0.2], [1, 2], "x", [7200.0, 10800.0, None]]
    rows += [[3600.0, 7200.0, True], [10800.0, 14400.0, float("nan")], [14400.0, 18000.0, 0.1]]
    holds.load({"price": {"source": "sensor.price", "read_at": 0.0, "slots": rows}})
    assert holds.price("sensor.price", (), 60.0) == (
        PriceSlot(0.0, 3600.0, 0.3),
        PriceSlot(14400.0, 18000.0, 0.1),
    )


def test_value_of_now_does_not_drop_the_rest_of_a_long_held_slot() -> None:
    """A held forecast with a 4-hour tariff block [0, 4 h) at 0.10; the sensor reloads and shows
    only its value of now (0.70) at 1.5 h, which price_slots makes a slot [1.5 h, 2.5 h). The
    value of now is in force from now; the held block's price stays known after it (2.5 h .. 4 h
    at 0.10), not a gap the plan prices as unknown."""
    hold = ForecastHold[PriceSlot]("price sensor", PriceSlot)
    block = (PriceSlot(0.0, 4 * H, 0.10), PriceSlot(4 * H, 8 * H, 0.30))
    assert hold("sensor.price", block, 0.0) == block
    now = (PriceSlot(1.5 * H, 2.5 * H, 0.70),)
    result = hold("sensor.price", now, 1.5 * H, forecast=False)
    covered = sum(s.end - s.start for s in result if s.end > 1.5 * H and s.start < 8 * H)
    assert covered == pytest.approx(6.5 * H), result
