"""Red team 20j: the price history and costing across Home Assistant downtime
(``core/tariff.py``). Each test states the input, what it costs, and what it cost at e9703fd
("Was"); the strict xfail is a gap still open."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings
from custom_components.ocpp_ems.core.tariff import (
    PRICE_MEMORY,
    AnnouncedPrice,
    PriceHistory,
)
from custom_components.ocpp_ems.core.timeutil import utcnow

from .fakes import MemoryDirectory
from .test_cost_when_drawn import _quarter_hours, at
from .test_energy_quirks import harness_with
from .v16_harness import Harness, now_iso

SECOND = timedelta(seconds=1)
# 12:00-13:00 at 0.30, 13:00-14:00 at 0.50, 14:00-14:30 at 0.90 (a dynamic tariff).
FORECAST = _quarter_hours(0, [0.30] * 4 + [0.50] * 4 + [0.90] * 2)


def test_a_stop_just_after_a_slot_boundary_before_the_sensor_followed_it() -> None:
    """The price sensor follows its forecast with a small lag (polled integrations: seconds to a
    minute after the boundary). Home Assistant stops at 13:00:01, one second after the
    forecast's 13:00 boundary, before the state went from 0.30 to 0.50. Down until 14:30.

    Expected: 13:00-14:00 at 0.50, 14:00-14:30 at 0.90 (the forecast gave 0.30 for the time the
    0.30 was seen, 12:00:03, so it is the sensor's forecast).
    Was: fill_unseen compared the last price with the slot at the *store time* (13:00:01:
    0.50 != 0.30), rejected the whole forecast, and the 1.5 h downtime cost 0.30 throughout:
    1 kWh 13:00-14:00 costs 0.30 instead of 0.50 (-40 %), 14:00-14:30 0.30 instead of 0.90."""
    prices = PriceHistory()
    prices.record(0.30, at(0) + 3 * SECOND)  # the sensor followed 12:00 three seconds late
    prices.announce(FORECAST, at(0) + 3 * SECOND)
    restored = PriceHistory.from_dict(prices.to_dict(at(60) + SECOND))  # stored at 13:00:01
    restored.fill_unseen(until=at(150))
    restored.record(0.90, at(150))
    assert restored.cost(1000, (at(60), at(120))) == pytest.approx(0.50)
    assert restored.cost(1000, (at(120), at(150))) == pytest.approx(0.90)


def test_one_step_of_our_clock_ahead_freezes_every_later_cost() -> None:
    """Our clock was a year ahead once (a bad NTP answer, an RTC-less board's wrong boot time)
    while the price changed, then was set right. Every change recorded after that is clamped to
    the future time ("the order stays"), so every later span costs the price in force before the
    step, for as long as the history is kept and across restarts (it is stored so).

    Expected: 13:00-14:00 at 0.40, 14:00-15:00 at 0.80 (the prices of those times).
    Was: both 0.30 (the price before the step), whatever the sensor said afterwards."""
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.record(0.31, at(0) + timedelta(days=365))  # our clock a year ahead, once
    prices.record(0.40, at(60))  # set right again
    prices.record(0.80, at(120))
    costs = [prices.cost(1000, (at(60), at(120))), prices.cost(1000, (at(120), at(180)))]
    restored = PriceHistory.from_dict(prices.to_dict(at(180)))
    costs.append(restored.cost(1000, (at(120), at(180))))
    assert costs == [pytest.approx(0.40), pytest.approx(0.80), pytest.approx(0.80)]


def test_the_stored_forecast_is_far_larger_than_it_can_ever_be_used() -> None:
    """A 7-day quarter-hour forecast (Carnot-style, 672 slots) is kept as 500 slots (125 h)
    and written with every save of the chargers' store (every ~10 s while a car charges): the
    charger's stored form grows from ~1.2 KB to ~45 KB (x37), per charger, per write. Time
    further ahead than PRICE_MEMORY (2 days) is never costed from a stored forecast (a queue
    older than that is costed at the oldest price kept).

    Expected: the stored forecast covers at most PRICE_MEMORY ahead (192 quarter hours).
    Was: 500 slots, 125 h."""
    charger = Charger(charger_id="CP")
    now = utcnow()
    charger.energy_prices.follow("sensor.price")
    charger.energy_prices.record(0.30, now)
    week = [
        AnnouncedPrice(now + timedelta(minutes=15 * n), now + timedelta(minutes=15 * n + 15), 0.3)
        for n in range(7 * 96)
    ]
    charger.energy_prices.announce(week, now)
    stored = charger_to_dict(charger)["energy_prices"]["announced"]
    last_end = datetime.fromisoformat(stored[-1][1])
    size = len(json.dumps(charger_to_dict(charger)))
    assert last_end - now <= PRICE_MEMORY + timedelta(minutes=15), (len(stored), size)


@pytest.mark.xfail(
    strict=True,
    reason="the charger's confirmed clock offset is not stored: after a restart its first "
    "readings are costed by its own stamps (0.0015 EUR for 0.0025)",
)
async def test_v16_clock_an_hour_behind_downtime_energy_costed_an_hour_early(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """A 1.6 charger that sends local time as UTC (an hour behind); its live readings confirmed
    the offset before Home Assistant restarted. Without a restart its readings are costed by our
    clock (test_v16_a_clock_an_hour_behind_is_costed_by_our_clock). The confirmed offset is not
    stored, so after the restart the first readings - the whole downtime's rise among them -
    are costed at the prices of an hour earlier by its stamps.

    Prices 0.30 up to 30 min ago, 0.50 since. 5 Wh drawn over the second after the restart.
    Expected: 5 Wh x 0.50 = 0.0025. Now: 5 Wh x 0.30 = 0.0015 (-40 %)."""
    now = utcnow()
    h.charger.energy_prices.record(0.30, now - timedelta(hours=3))
    h.charger.energy_prices.record(0.50, now - timedelta(minutes=30))
    sim = await h.charger_client(boot=False)
    await sim.start_tx(meter=1000, timestamp=now_iso(-3600 - 600))
    energy = [{"value": "1100", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    await sim.meter(1, energy, timestamp=now_iso(-3600))
    await asyncio.sleep(2.5)  # a second burst of live readings confirms the offset
    await sim.meter(1, energy, timestamp=now_iso(-3600))
    assert h.charger._live_clock.confirmed_s == pytest.approx(-3600, abs=5)
    stored = json.loads(json.dumps(charger_to_dict(h.charger)))
    await h.close()
    async with harness_with(charger_from_dict(stored), directory, server_settings, Harness) as r:
        sim = await r.charger_client(boot=False)
        await asyncio.sleep(1.0)
        tx = r.charger.connector(1).transaction
        assert tx is not None
        before = tx.cost or 0.0
        energy[0]["value"] = "1105"
        await sim.meter(1, energy, timestamp=now_iso(-3600))
        assert tx.energy_wh == pytest.approx(105)
        assert (tx.cost or 0.0) - before == pytest.approx(5 / 1000 * 0.50)


def test_a_short_slot_inside_a_longer_one_ends_the_longer_ones_price() -> None:
    """A forecast mixing resolutions (hourly slots and, from a second attribute, a quarter hour
    inside 13:00-14:00 whose start is not an hourly one, so price_slots keeps both): the
    quarter hour 13:15-13:30 is followed by no slot starting by 13:30, so fill_unseen takes its
    end for the end of the forecast and records "no price" at 13:30, although the hourly slot
    gives 0.50 up to 14:00.

    Expected: 1 kWh 13:30-14:00 costs 0.50. Was: None (not costed)."""
    forecast = [
        AnnouncedPrice(at(0), at(60), 0.30),
        AnnouncedPrice(at(60), at(120), 0.50),
        AnnouncedPrice(at(75), at(90), 0.50),
        AnnouncedPrice(at(120), at(180), 0.90),
    ]
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.announce(forecast, at(0))
    restored = PriceHistory.from_dict(prices.to_dict(at(30)))
    restored.fill_unseen(until=at(170))
    assert restored.cost(1000, (at(90), at(120))) == pytest.approx(0.50)


def test_a_forecast_read_again_just_after_the_boundary_still_fills_the_downtime() -> None:
    """As the first test, the forecast read again at 13:00:00.5 (its slot of 12:45 just over)
    before the stop at 13:00:01: that slot is kept (it gives the price seen), the downtime is
    filled. Was: the slot dropped at the read, nothing filled, 0.30 throughout."""
    prices = PriceHistory()
    prices.record(0.30, at(0) + 3 * SECOND)
    prices.announce(FORECAST, at(0) + 3 * SECOND)
    prices.announce(FORECAST, at(60) + SECOND / 2)
    restored = PriceHistory.from_dict(prices.to_dict(at(60) + SECOND))
    assert restored.fill_unseen(until=at(150)) == 2  # 13:00 0.50, 14:00 0.90
    assert restored.cost(1000, (at(60), at(120))) == pytest.approx(0.50)


def test_a_sensor_that_never_followed_its_forecast_is_not_filled() -> None:
    """The sensor kept 0.30 for more than FOLLOW_LAG after its forecast's 13:00 boundary (it is
    not that forecast's, or it shows other fees): the downtime is left at the last price."""
    prices = PriceHistory()
    prices.record(0.30, at(0))
    prices.announce(FORECAST, at(0))
    restored = PriceHistory.from_dict(prices.to_dict(at(70)))
    assert restored.fill_unseen(until=at(150)) == 0
    assert restored.cost(1000, (at(70), at(120))) == pytest.approx(0.30)
