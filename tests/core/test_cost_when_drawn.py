"""A session's energy is costed at the price of when it was drawn, not of when its reading came
(``core.tariff.PriceHistory``, ``meter.credit_session``): a charger's queue flushed after a
network drop, a reading that spans a price change, a past session sent late. 1.6, 2.0.1 and 2.1
on real websockets; the price history alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.meter_time import session_time_by_our_clock
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.tariff import (
    MAX_ANNOUNCED,
    MAX_PRICE_CHANGES,
    PRICE_MEMORY,
    AnnouncedPrice,
    PriceHistory,
)
from custom_components.ocpp_ems.core.timeutil import utcnow

from . import v201_harness
from .v16_harness import Harness, now_iso

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- the history alone -----------------------------------------------------------------------
def test_energy_is_spread_over_its_span_and_each_part_costed_at_its_price() -> None:
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.record(0.50, at(60))
    assert prices.current == 0.50
    # 1 kWh over an hour, 15 min of it after the change.
    assert prices.cost(1000, (at(15), at(75))) == pytest.approx(0.75 * 0.30 + 0.25 * 0.50)
    assert prices.cost(1000, (at(70), at(80))) == pytest.approx(0.50)
    # Before the first price known, that one counts (after a restart: the price of now).
    assert prices.cost(1000, (at(-600), at(-540))) == pytest.approx(0.30)
    # A moment, or no span: the price of now.
    assert prices.cost(1000, None) == pytest.approx(0.50)
    assert prices.cost(1000, (at(30), at(30))) == pytest.approx(0.50)


def test_a_time_without_price_costs_nothing_and_none_at_all_is_no_cost() -> None:
    prices = PriceHistory()
    assert prices.cost(1000, (at(0), at(10))) is None
    prices.record(None, at(0))  # none known yet: nothing kept, the first price counts back
    prices.record(0.40, at(10))
    assert prices.cost(1000, (at(0), at(20))) == pytest.approx(0.40)
    prices.record(None, at(30))  # the price entity gave none (and no forecast held it)
    assert prices.cost(1000, (at(20), at(40))) == pytest.approx(0.5 * 0.40)
    assert prices.cost(1000, (at(35), at(40))) is None
    assert prices.cost(1000, None) is None


def test_repeats_clock_steps_memory_and_a_new_source() -> None:
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.record(0.30, at(10))  # no change
    prices.record(0.50, at(20))
    prices.record(0.60, at(5))  # our clock stepped back: after the last change, not before it
    assert prices.cost(1000, (at(20), at(30))) == pytest.approx(0.60)
    assert prices.cost(1000, (at(0), at(10))) == pytest.approx(0.30)
    # Two days on: what is older goes, but the price in force at the cut stays.
    late = at(20) + PRICE_MEMORY + timedelta(hours=1)
    prices.record(0.70, late)
    assert prices.cost(1000, (late - timedelta(hours=2), late - timedelta(hours=1))) == (
        pytest.approx(0.60)
    )
    assert prices.cost(1000, (at(0), at(10))) == pytest.approx(0.60)  # forgotten: the oldest kept
    # Another source: what the first kept forgotten, its next price counts back.
    prices.follow("sensor.price")
    prices.follow("sensor.price")  # the same: kept
    prices.record(0.80, late)
    prices.follow("fixed")
    assert prices.current == 0.80
    prices.record(0.20, late + timedelta(minutes=1))
    assert prices.cost(1000, (at(0), at(10))) == pytest.approx(0.20)
    # A price changing every second keeps its last changes only.
    flapping = PriceHistory()
    for second in range(3 * MAX_PRICE_CHANGES):
        flapping.record(float(second % 2), T0 + timedelta(seconds=second))
    assert len(flapping.to_dict(T0)["changes"]) == MAX_PRICE_CHANGES


def _restored(
    prices: PriceHistory, forecast: list[AnnouncedPrice], saved_at: datetime
) -> PriceHistory:
    """``prices`` with the source's ``forecast`` as read at ``saved_at``, stored then and read
    back after a restart."""
    prices.announce(forecast, saved_at)
    return PriceHistory.from_dict(prices.to_dict(saved_at))


def _quarter_hours(start: float, prices: list[float]) -> list[AnnouncedPrice]:
    """A forecast of 15-minute slots from ``start`` (minutes)."""
    return [
        AnnouncedPrice(at(start + 15 * n), at(start + 15 * (n + 1)), price)
        for n, price in enumerate(prices)
    ]


def test_the_time_nobody_saw_is_costed_at_the_forecast_the_source_had_given() -> None:
    """Home Assistant down from 12:20 to 13:10 while the car charged: the quarter hours' prices
    the source had announced for that time, not the last one seen (0.30) for all of it. Was:
    0.30 for the whole downtime."""
    forecast = _quarter_hours(0, [0.30, 0.30, 0.40, 0.50, 0.20, 0.20])  # 12:00 - 13:30
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices = _restored(prices, forecast, saved_at=at(20))
    assert prices.fill_unseen(until=at(70)) == 3  # 12:30, 12:45, 13:00
    assert prices.current is None  # the price of now is the source's
    prices.record(0.20, at(70))  # the source again, after the restart
    assert prices.cost(1000, (at(15), at(30))) == pytest.approx(0.30)
    assert prices.cost(1000, (at(30), at(45))) == pytest.approx(0.40)
    assert prices.cost(1000, (at(10), at(70))) == pytest.approx(
        (20 * 0.30 + 15 * 0.40 + 15 * 0.50 + 10 * 0.20) / 60
    )
    # Once is all: the seen time moved on.
    assert prices.fill_unseen(until=at(80)) == 0


def test_a_forecast_ends_and_gaps_leave_the_price_unknown() -> None:
    """Past the forecast's last slot, and in a gap between two, nobody knows the price (as in an
    outage of the source with its forecast held): that energy is not costed."""
    forecast = [
        AnnouncedPrice(at(0), at(30), 0.30),
        AnnouncedPrice(at(40), at(50), 0.60),
    ]
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices = _restored(prices, forecast, saved_at=at(10))
    assert prices.fill_unseen(until=at(90)) == 3  # 12:30 none, 12:40 0.60, 12:50 none
    assert prices.cost(1000, (at(30), at(40))) is None
    assert prices.cost(1000, (at(20), at(60))) == pytest.approx(0.25 * 0.30 + 0.25 * 0.60)


@pytest.mark.parametrize(
    ("seen", "forecast"),
    [
        (0.30, _quarter_hours(0, [0.25, 0.25, 0.40, 0.50])),  # another price than the state's
        (0.30, _quarter_hours(30, [0.40, 0.50])),  # none for the time seen last
        (None, _quarter_hours(0, [0.30, 0.30, 0.40, 0.50])),  # no price seen last
    ],
    ids=["another tariff", "not covering", "none seen"],
)
def test_a_forecast_that_does_not_match_what_was_seen_is_not_used(
    seen: float | None, forecast: list[AnnouncedPrice]
) -> None:
    """A sensor whose state is not its forecast's price (fees, another tariff) would mix two
    prices: the last price seen stays for the downtime, as before."""
    prices = PriceHistory()
    prices.record(0.20, at(-60))
    prices.record(seen, at(0))
    prices = _restored(prices, forecast, saved_at=at(20))
    assert prices.fill_unseen(until=at(60)) == 0
    assert prices.cost(1000, (at(30), at(45))) == (None if seen is None else pytest.approx(0.30))


def test_what_was_seen_before_the_store_is_not_overwritten() -> None:
    """Up to the stored form's time Home Assistant saw the price: a forecast slot that began
    before it (the state did not follow it) changes nothing of that time."""
    forecast = _quarter_hours(0, [0.30, 0.45, 0.45, 0.60])
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.record(0.45, at(20))  # the state changed 5 min after the forecast's slot began
    prices = _restored(prices, forecast, saved_at=at(40))
    assert prices.fill_unseen(until=at(60)) == 1  # 12:45 only
    assert prices.cost(1000, (at(15), at(20))) == pytest.approx(0.30)
    assert prices.cost(1000, (at(45), at(60))) == pytest.approx(0.60)


def test_a_restored_charger_costs_the_time_nobody_saw_at_the_forecast() -> None:
    """The whole path of a restart: the charger's stored form (written 90 min ago, Home
    Assistant down since) is read back and the price change the source had announced for an
    hour ago counts. Was: the last price seen (0.30) for the whole downtime."""
    now = utcnow()

    def ago(minutes: float) -> datetime:
        return now - timedelta(minutes=minutes)

    charger = Charger(charger_id="CP")
    charger.energy_prices.follow("sensor.price")
    charger.energy_prices.record(0.30, ago(120))
    charger.energy_prices.announce(
        [AnnouncedPrice(ago(120), ago(60), 0.30), AnnouncedPrice(ago(60), now + HOUR, 0.50)],
        ago(90),
    )
    stored = charger_to_dict(charger)
    stored["energy_prices"] = charger.energy_prices.to_dict(ago(90))
    restored = charger_from_dict(stored).energy_prices
    assert restored.cost(1000, (ago(60), ago(30))) == pytest.approx(0.50)
    assert restored.cost(1000, (ago(90), ago(30))) == pytest.approx((30 * 0.30 + 30 * 0.50) / 60)


def test_the_forecast_kept_is_bounded_and_goes_with_its_source() -> None:
    """Only slots not over yet (or over less than FOLLOW_LAG ago: the sensor may not have
    followed the next one yet) are kept and stored, at most MAX_ANNOUNCED of them, unreadable
    stored ones left out; another source's forecast is forgotten with its prices."""
    prices = PriceHistory()
    prices.follow("sensor.price")
    prices.record(0.30, at(0))
    many = [AnnouncedPrice(at(n), at(n + 1), 0.30 + n / 1e4) for n in range(-10, 2 * MAX_ANNOUNCED)]
    prices.announce(many, at(0))
    stored = prices.to_dict(at(0))
    assert len(stored["announced"]) == MAX_ANNOUNCED
    assert stored["announced"][0][0] == at(-5).isoformat()  # (ended FOLLOW_LAG ago: 1-min slots)
    stored["announced"][:3] = [
        ["soon", at(1).isoformat(), 0.3],
        [at(2).isoformat(), at(1).isoformat(), 0.3],  # ends before it starts
        [at(3).isoformat(), at(4).isoformat(), "dear"],
    ]
    assert len(PriceHistory.from_dict(stored).to_dict(at(0))["announced"]) == MAX_ANNOUNCED - 3
    prices.follow("sensor.other_price")
    assert prices.to_dict(at(0))["announced"] == []


def test_the_charger_model_records_its_price_by_time() -> None:
    charger = Charger(charger_id="CP")
    before = utcnow()
    charger.energy_price = 0.25
    assert charger.energy_price == 0.25
    assert charger.energy_prices.current == 0.25
    charger.energy_price = 0.35
    now = utcnow()
    # Drawn before the first price: the first one; drawn since the last change: the last.
    assert charger.energy_prices.cost(1000, (before - timedelta(hours=1), before)) == (
        pytest.approx(0.25)
    )
    assert charger.energy_prices.cost(1000, (now, now + timedelta(seconds=10))) == (
        pytest.approx(0.35)
    )


def test_the_prices_seen_survive_a_restart_and_a_damaged_store_costs_only_them() -> None:
    charger = Charger(charger_id="CP")
    charger.energy_prices.follow("sensor.price")
    charger.energy_prices.record(0.30, at(0))
    charger.energy_prices.record(None, at(30))
    charger.energy_prices.record(0.50, at(60))
    saved_at = utcnow()
    stored = charger_to_dict(charger)
    # Up to when the prices were seen: the time of the stored form.
    seen_until = datetime.fromisoformat(stored["energy_prices"].pop("seen_until"))
    assert saved_at <= seen_until <= utcnow()
    assert stored["energy_prices"].pop("announced") == []  # no forecast given
    assert stored["energy_prices"] == {
        "source": "sensor.price",
        "changes": [
            [at(0).isoformat(), 0.30],
            [at(30).isoformat(), None],
            [at(60).isoformat(), 0.50],
        ],
    }
    restored = charger_from_dict(stored).energy_prices
    assert restored.source == "sensor.price"
    assert restored.current is None  # the price now is set again by whoever follows it
    assert restored.cost(1000, (at(0), at(90))) == pytest.approx((30 * 0.30 + 30 * 0.50) / 90)
    for damaged in (
        {"changes": [["2026-12-01T12:00:00", 0.3]]},  # no zone
        {"changes": [[at(0).isoformat(), "dear"]]},
        {"changes": "nope"},
        {"changes": [[at(0).isoformat()]]},
        {"changes": [[at(0).isoformat(), float("nan")]]},
        {"changes": [[at(0).isoformat(), "inf"]]},
    ):
        again = charger_from_dict({**stored, "energy_prices": damaged})
        assert again.energy_prices.cost(1000, (at(0), at(90))) is None, damaged
        assert again.charger_id == "CP"
    older = {key: value for key, value in stored.items() if key != "energy_prices"}
    assert charger_from_dict(older).energy_prices.source is None
    # A damaged time of the stored form loses only that time, not the prices.
    for seen_until in ("2026-12-01T12:00:00", "soon", 17):
        prices = {**stored["energy_prices"], "seen_until": seen_until}
        again = charger_from_dict({**stored, "energy_prices": prices}).energy_prices
        assert again.seen_until is None, seen_until
        assert again.cost(1000, (at(0), at(90))) == pytest.approx((30 * 0.30 + 30 * 0.50) / 90)


def test_a_session_time_by_our_clock() -> None:
    charger = Charger(charger_id="CP")
    received = at(0)
    assert session_time_by_our_clock(charger, at(-10), received) == at(-10)  # no offset known
    for offset_min, expected in ((-60, at(50)), (2, at(-12)), (60, at(-10))):
        # Behind, a little ahead: less the offset; ahead beyond the limit: live times were ours.
        charger._live_clock.confirmed_s = offset_min * 60.0
        assert session_time_by_our_clock(charger, at(-10), received) == expected, offset_min
    assert session_time_by_our_clock(charger, at(120), received) == received  # no time ahead


# --- on the wire ------------------------------------------------------------------------------
def _prices(charger: Charger) -> None:
    """0.30 from three hours ago, 0.50 from half an hour ago (the price is 0.50 when the queue
    arrives)."""
    now = utcnow()
    charger.energy_prices.record(0.30, now - timedelta(hours=3))
    charger.energy_prices.record(0.50, now - timedelta(minutes=30))


# 3 kWh drawn over the last two hours: 1.5 h at 0.30, 0.5 h at 0.50 (at the price of arrival 1.50).
QUEUE_COST = 2.25 * 0.30 + 0.75 * 0.50


def _energy(wh: float) -> list[dict[str, str]]:
    return [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]


async def test_v16_a_queue_flushed_after_a_drop_is_costed_when_drawn(h: Harness) -> None:
    _prices(h.charger)
    sim = await h.charger_client(boot=False)
    await sim.start_tx(meter=1000, timestamp=now_iso(-7200))
    for minutes, wh in ((-90, 2125), (-30, 3250), (0, 4000)):  # 750 Wh per half hour
        await sim.meter(1, _energy(wh), timestamp=now_iso(minutes * 60))
    tx = h.charger.connector(1).transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(3000)
    assert tx.cost == pytest.approx(QUEUE_COST, abs=1e-3)


async def test_v16_one_reading_across_the_change_is_split(h: Harness) -> None:
    _prices(h.charger)
    sim = await h.charger_client(boot=False)
    await sim.start_tx(meter=1000, timestamp=now_iso(-7200))
    await sim.meter(1, _energy(4000), timestamp=now_iso(0))
    tx = h.charger.connector(1).transaction
    assert tx is not None
    assert tx.cost == pytest.approx(QUEUE_COST, abs=1e-3)


async def test_v16_a_past_session_is_costed_when_it_ran(h: Harness) -> None:
    """A session sent behind the running one (a past session) is costed like any credit (it once
    had no cost at all, although a price was known), at the prices of when it ran."""
    _prices(h.charger)
    past = await _past_session(h, await h.charger_client(boot=False))
    assert past.cost == pytest.approx(0.30, abs=1e-3)  # it ran at 0.30 (not 0.50: now's)


async def _past_session(h: Harness, sim: Any) -> Any:
    """A session from two hours to one hour ago by the charger's clock (1 kWh), sent behind the
    running one (a past session)."""
    await sim.start_tx(meter=5000, timestamp=now_iso(-60))
    old = (await sim.start_tx(meter=1000, timestamp=now_iso(-7200))).transaction_id
    await sim.call(
        call.StopTransaction(meter_stop=2000, timestamp=now_iso(-3600), transaction_id=old)
    )
    past = h.charger.find_ended_transaction(str(old))
    assert past is not None
    assert past.energy_wh == 1000
    return past


async def test_v2x_an_offline_queue_is_costed_when_drawn(h2: v201_harness.Harness) -> None:
    _prices(h2.charger)
    sim: Any = await h2.charger_client(boot=False)
    evse = {"id": 1, "connectorId": 1}

    def reading(wh: float, minutes: float, context: str) -> list[dict[str, Any]]:
        sample = v201_harness.sampled(wh, "Energy.Active.Import.Register", context=context)
        return [{"timestamp": v201_harness.now_iso(minutes * 60), "sampledValue": [sample]}]

    await sim.tx_event(
        "Started",
        "Q1",
        evse=evse,
        timestamp=v201_harness.now_iso(-7200),
        seq_no=0,
        offline=True,
        charging_state="Charging",
        id_token={"idToken": "TAG1", "type": "ISO14443"},
        meter_value=reading(1000, -120, "Transaction.Begin"),
    )
    for seq_no, (minutes, wh) in enumerate(((-90, 2125), (-30, 3250), (0, 4000)), start=1):
        await sim.tx_event(
            "Updated",
            "Q1",
            evse=evse,
            timestamp=v201_harness.now_iso(minutes * 60),
            seq_no=seq_no,
            offline=minutes < 0,
            trigger_reason="MeterValuePeriodic",
            meter_value=reading(wh, minutes, "Sample.Periodic"),
        )
    tx = h2.charger.connector(1).transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(3000)
    assert tx.cost == pytest.approx(QUEUE_COST, abs=1e-3)


async def test_v16_a_clock_an_hour_behind_is_costed_by_our_clock(h: Harness) -> None:
    """A charger that sends its local time as UTC, an hour behind: its stamps are kept for the
    energy, but once its live readings confirm the offset, a rise is costed at the price of when
    it was drawn by our clock (0.50 now), not of an hour before (0.30)."""
    _prices(h.charger)
    sim = await h.charger_client(boot=False)
    await sim.start_tx(meter=1000, timestamp=now_iso(-3600 - 600))
    await sim.meter(1, _energy(1100), timestamp=now_iso(-3600))
    await asyncio.sleep(2.5)  # a second burst of live readings confirms the offset
    await sim.meter(1, _energy(1100), timestamp=now_iso(-3600))
    assert h.charger._live_clock.confirmed_s == pytest.approx(-3600, abs=5)
    tx = h.charger.connector(1).transaction
    assert tx is not None
    before = tx.cost or 0.0
    await asyncio.sleep(1.0)
    await sim.meter(1, _energy(1105), timestamp=now_iso(-3600))
    assert (tx.cost or 0.0) - before == pytest.approx(5 / 1000 * 0.50)


async def _an_hour_behind(h: Harness, register_wh: float) -> Any:
    """A 1.6 charger an hour behind whose live readings (``register_wh``, no session) confirmed
    the offset, the prices of :func:`_prices` known."""
    _prices(h.charger)
    sim = await h.charger_client(boot=False)
    for _ in range(2):
        await sim.meter(1, _energy(register_wh), timestamp=now_iso(-3600))
        await asyncio.sleep(2.5)  # the next burst of live readings confirms the offset
    assert h.charger._live_clock.confirmed_s == pytest.approx(-3600, abs=10)
    return sim


async def test_v16_a_late_start_of_a_clock_behind_is_costed_by_our_clock(h: Harness) -> None:
    """A start sent after the readings it began before (stamped an hour before them by a clock an
    hour behind): the 500 Wh up to the readings were drawn in our last hour, half at 0.30 and
    half at 0.50 (0.30 throughout by the charger's stamps)."""
    sim = await _an_hour_behind(h, 1500)
    await sim.start_tx(meter=1000, timestamp=now_iso(-7200))
    tx = h.charger.connector(1).transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(500)
    assert tx.cost == pytest.approx(0.5 * (0.5 * 0.30 + 0.5 * 0.50), abs=2e-3)


async def test_v16_a_past_session_of_a_clock_behind_is_costed_by_our_clock(h: Harness) -> None:
    """A past session a charger an hour behind stamps from two hours to one hour ago ran in our
    last hour: 1 kWh, half at 0.30 and half at 0.50 (0.30 by its stamps)."""
    past = await _past_session(h, await _an_hour_behind(h, 5000))
    assert past.cost == pytest.approx(0.5 * 0.30 + 0.5 * 0.50, abs=2e-3)
