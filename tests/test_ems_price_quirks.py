"""Price and solar forecasts as real integrations publish them, odd ones included: the same slot
twice, impossible timestamps. Anything unreadable is skipped, and the energy manager goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.core.ems import EnergySlot, PriceSlot
from custom_components.ocpp_ems.ems_inputs import forecast_slots, price_slots

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard
from .test_energy_manager import (  # fixtures and helpers only (no tests imported)
    cheap_hour,
    plug_in_and_charge,
    server_options,  # noqa: F401
    sources,  # noqa: F401
)

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0.timestamp()
HOUR = timedelta(hours=1)


def state(value: str, **attributes: object) -> State:
    return State("sensor.x", value, attributes, last_updated=T0, last_reported=T0)


def test_the_hold_is_told_whether_a_forecast_was_read() -> None:
    """A sensor showing only its price (no forecast attribute: reloading, its cloud failing)
    must not replace a held forecast with that one slot: the hold is told."""
    told: list[bool] = []

    def hold(read: tuple[PriceSlot, ...], forecast: bool) -> tuple[PriceSlot, ...]:
        told.append(forecast)
        return read

    price_slots(state("0.30"), None, NOW, hold)
    items = [{"start": T0.isoformat(), "end": (T0 + HOUR).isoformat(), "price": 0.30}]
    price_slots(state("0.30", raw_today=items), None, NOW, hold)
    assert told == [False, True]


# --- duplicated slot, one copy with an end and one without ------------------------------------


def test_duplicate_slot_with_and_without_end_does_not_crash() -> None:
    """The same hour published twice (e.g. ``raw_today`` with start/end and ``prices`` with
    start only, both read when no attribute is configured; or an item whose end is null /
    unreadable): 'anything unreadable is skipped', one slot per hour (the sort compared an end
    with None: every decision raised)."""
    with_end = [{"start": T0.isoformat(), "end": (T0 + HOUR).isoformat(), "price": 0.30}]
    without_end = [{"start": T0.isoformat(), "price": 0.30}]
    slots = price_slots(state("0.30", raw_today=with_end, prices=without_end), None, NOW)
    assert slots == (PriceSlot(NOW, NOW + 3600, 0.30),)


def test_a_copy_with_a_broken_end_does_not_hide_its_twin() -> None:
    items = [
        {"start": T0.isoformat(), "end": T0.isoformat(), "price": 0.30},  # zero length
        {"start": T0.isoformat(), "price": 0.30},
    ]
    slots = price_slots(state("0.30", raw_today=items), "raw_today", NOW)
    assert slots == (PriceSlot(NOW, NOW + 3600, 0.30),)


def test_slot_with_unreadable_end_next_to_a_valid_duplicate() -> None:
    items = [
        {"start": T0.isoformat(), "end": (T0 + HOUR).isoformat(), "price": 0.30},
        {"start": T0.isoformat(), "end": "", "price": 0.30},  # unreadable end
    ]
    slots = price_slots(state("0.30", raw_today=items), "raw_today", NOW)
    assert slots == (PriceSlot(NOW, NOW + 3600, 0.30),)


# --- well formed but impossible timestamps ---------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "2026-02-30T10:00:00+01:00",  # no such day
        "2026-06-01T25:00:00+02:00",  # no such hour
        "2026-06-01T10:00:00+99:00",  # no such offset
        "0001-01-01T00:30:00+01:00",  # before the epoch's range: as_utc overflows
        1e15,  # epoch ms in the year 33658: no timer or sensor could take it
        -5,  # before 1970
        float("nan"),
    ],
)
def test_impossible_timestamp_in_price_forecast_is_skipped(bad: str | float) -> None:
    """An unreadable item is skipped (docstring of ``price_slots``); it raised, or passed on a
    time that made timers and sensors raise later."""
    items = [
        {"start": T0.isoformat(), "end": (T0 + HOUR).isoformat(), "price": 0.30},
        {"start": bad, "price": 0.10},
    ]
    slots = price_slots(state("0.30", raw_today=items), "raw_today", NOW)
    assert slots == (PriceSlot(NOW, NOW + 3600, 0.30),)


def test_impossible_timestamp_in_solar_forecast_is_skipped() -> None:
    """Another integration's ``wh_hours`` with an impossible key is skipped (as 'not a time'
    is): it raised out of the reader, on the energy manager's start."""
    forecast = {"wh_hours": {T0.isoformat(): 1000, "2026-06-01T25:00:00+00:00": 500}}
    assert forecast_slots(forecast) == [EnergySlot(NOW, NOW + 3600, 1000.0)]


# --- the running energy manager with such a price sensor -------------------------------------


async def test_energy_manager_keeps_deciding_with_a_duplicated_price_slot(
    hass: HomeAssistant,
    sources: None,  # noqa: F811
    onboard: Onboard,
    server_entry: MockConfigEntry,
) -> None:
    """As test_cheap_grid_price_charges_the_solar_mode_in_full, but the price sensor also lists
    the cheap slot a second time without an end (another attribute): Solar charges in full at
    the cheap price, as without the copy (every decision raised)."""
    start = (dt_util.utcnow().replace(microsecond=0) - timedelta(minutes=10)).isoformat()
    await cheap_hour(hass, server_entry, forecast=[{"start": start, "price": 3.0}])
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        await wait_for(lambda: sim.live_limit() == 32.0, what="in full at the cheap price")
