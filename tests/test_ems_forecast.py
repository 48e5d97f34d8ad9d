"""Departure plans with HA's solar forecast (energy platform), the car's SoC sensor and a
dynamic feed-in price sensor.

The forecast comes from a test integration with an energy platform (``async_get_solar_forecast``,
as Forecast.Solar or Solcast have), picked by the Energy dashboard's solar source or in the
server's options; a real charger runs the plan.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from homeassistant.components.energy.data import async_get_manager
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_fire_time_changed,
    mock_platform,
)

from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_PV_POWER,
    CONF_VEHICLE_SOC,
    DOMAIN,
)
from custom_components.ocpp_ems.core.ems import PriceSlot
from custom_components.ocpp_ems.core.ems.options import (
    FEED_IN_PRICE_ENTITY,
    PRICE,
    PRICE_FORECAST_ATTRIBUTE,
    SOLAR_FORECAST,
)
from custom_components.ocpp_ems.ems_inputs import async_solar_forecast
from custom_components.ocpp_ems.energy_manager import FORECAST_REFRESH

from .helpers.charger import wait_for
from .helpers.ems import (
    POWER,
    REASON,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    plug_in_and_charge,
)
from .helpers.fixtures import Onboard

# What the test integration forecasts per config entry (an exception: its forecast raises it).
type Forecasts = dict[str, dict[str, dict[str, float]] | Exception]

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})


@pytest.fixture
async def sources(hass: HomeAssistant) -> None:
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})


@pytest.fixture
async def forecasts(hass: HomeAssistant) -> Forecasts:
    """A solar forecast integration: what it forecasts per config entry (none: no forecast)."""
    forecasts: Forecasts = {}

    async def async_get_solar_forecast(
        _hass: HomeAssistant, config_entry_id: str
    ) -> dict[str, dict[str, float]] | None:
        forecast = forecasts.get(config_entry_id)
        if isinstance(forecast, Exception):
            raise forecast
        return forecast

    mock_platform(
        hass,
        "solar_test.energy",
        SimpleNamespace(async_get_solar_forecast=async_get_solar_forecast),
    )
    assert await async_setup_component(hass, "solar_test", {})
    return forecasts


def roof(hass: HomeAssistant, forecasts: Forecasts, wh: float) -> MockConfigEntry:
    """A forecast entry: ``wh`` in every hour from 2 h ago to 4 h ahead."""
    entry = MockConfigEntry(domain="solar_test", title="Roof")
    entry.add_to_hass(hass)
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    forecasts[entry.entry_id] = {
        "wh_hours": {(hour + timedelta(hours=h)).isoformat(): wh for h in range(-2, 5)}
    }
    return entry


async def energy_dashboard(hass: HomeAssistant, *forecast_entries: str) -> None:
    """The Energy dashboard's solar panels with these forecasts."""
    manager = await async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "solar",
                    "stat_energy_from": "sensor.pv_energy",
                    "config_entry_solar_forecast": list(forecast_entries),
                }
            ],
            "device_consumption": [],
        }
    )


async def test_forecast_of_the_energy_dashboard_or_the_picked_entry(
    hass: HomeAssistant,
    forecasts: Forecasts,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Read through HA's energy platform; no charger (time jumps would disturb its session)."""
    assert await async_solar_forecast(hass, None) == ()  # no Energy dashboard yet
    first = roof(hass, forecasts, 1000.0)
    second = roof(hass, forecasts, 500.0)
    await energy_dashboard(hass)
    assert await async_solar_forecast(hass, None) == ()  # solar panels without a forecast

    # Two roofs on the dashboard: both forecasts (the plan sums what overlaps).
    await energy_dashboard(hass, first.entry_id, second.entry_id, first.entry_id)
    both = await async_solar_forecast(hass, None)
    assert len(both) == 14
    assert sum(slot.wh for slot in both) == 7 * 1500.0
    start = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    assert both[0].start == start.timestamp()
    assert both[0].end == start.timestamp() + 3600

    # The options pick one; an entry that has no forecast or is gone gives none.
    picked = await async_solar_forecast(hass, second.entry_id)
    assert [slot.wh for slot in picked] == [500.0] * 7
    assert await async_solar_forecast(hass, server_entry.entry_id) == ()  # ours: no forecast
    assert await async_solar_forecast(hass, "gone") == ()
    forecasts.pop(second.entry_id)
    assert await async_solar_forecast(hass, second.entry_id) == ()  # forecast not ready
    # An integration whose forecast raises gives none; the others' still count.
    forecasts[second.entry_id] = RuntimeError("cloud down")
    await energy_dashboard(hass, first.entry_id, second.entry_id)
    assert [slot.wh for slot in await async_solar_forecast(hass, None)] == [1000.0] * 7
    assert "Solar forecast of Roof failed: RuntimeError('cloud down')" in caplog.text

    # The energy manager reads the dashboard's forecast when the dashboard changes...
    ems = server_entry.runtime_data.ems
    await wait_for(lambda: len(ems.solar_forecast) == 7, what="forecast read")
    # ...and again every FORECAST_REFRESH (a forecast integration has a new one).
    forecasts[first.entry_id] = {
        "wh_hours": {k: 2 * v for k, v in forecasts[first.entry_id]["wh_hours"].items()}  # type: ignore[index]
    }
    async_fire_time_changed(hass, dt_util.utcnow() + FORECAST_REFRESH)
    await hass.async_block_till_done()
    await wait_for(
        lambda: [slot.wh for slot in ems.solar_forecast] == [2000.0] * 7, what="forecast again"
    )
    # Unloaded, the energy manager follows the dashboard no more (HA keeps listening for it).
    assert await hass.config_entries.async_unload(server_entry.entry_id)
    await energy_dashboard(hass, second.entry_id)
    await hass.async_block_till_done()


@pytest.mark.usefixtures("sources")
async def test_plan_leaves_energy_for_the_forecast_sun(
    hass: HomeAssistant, forecasts: Forecasts, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    ems = server_entry.runtime_data.ems
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        await wait_for(lambda: sim.live_limit() == 0.0, what="no surplus")
        device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        # 22 kWh in 75 min at 22 kW (+10 %): without a forecast the grid is needed from now.
        departure = dt_util.utcnow() + timedelta(minutes=75)
        await hass.services.async_call(
            DOMAIN,
            "plan_charge",
            {"device_id": device.id, "energy_kwh": 22, "departure": departure},
            blocking=True,
        )
        await wait_for(lambda: sim.live_limit() == 32.0, what="planned slot, no forecast")
        state = hass.states.get(REASON)
        assert state is not None
        assert state.state == "planned_slot"
        assert state.attributes["plan_solar_energy"] == 0.0
        assert state.attributes["plan_grid_energy"] == pytest.approx(22.0, abs=0.1)

        # A forecast picked in the options: 20 kWh an hour. The plan counts on (20 - 0.5 house)
        # * 70 % an hour from the sun and waits for it (grid slots only at the end).
        picked = roof(hass, forecasts, 20000.0)
        options = dict(server_entry.options)
        hass.config_entries.async_update_entry(
            server_entry, options=options | {SOLAR_FORECAST.key: picked.entry_id}
        )
        await hass.async_block_till_done()
        await wait_for(lambda: sim.live_limit() == 0.0, what="waiting for the sun")
        assert len(ems.solar_forecast) == 7
        state = hass.states.get(REASON)
        assert state is not None
        assert state.state == "plan_waiting"
        assert state.attributes["plan_solar_energy"] > 10.0
        assert state.attributes["plan_grid_energy"] < 12.0
        assert state.attributes["until"] is not None

        # Back to the Energy dashboard's forecast, which has none: the grid again.
        hass.config_entries.async_update_entry(server_entry, options=options)
        await hass.async_block_till_done()
        await wait_for(lambda: sim.live_limit() == 32.0, what="grid again")
        assert ems.solar_forecast == ()


@pytest.mark.usefixtures("sources")
async def test_soc_plan_goes_on_while_the_soc_sensor_is_unavailable(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    ems = server_entry.runtime_data.ems
    hass.states.async_set("sensor.car_soc", "40", {"unit_of_measurement": "%"})
    async with onboard() as (sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_VEHICLE_SOC: "sensor.car_soc"})
        await plug_in_and_charge(sim)
        device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        # (80 - 40) % of 50 kWh by departure in an hour: charging at once.
        await hass.services.async_call(
            DOMAIN,
            "plan_charge",
            {
                "device_id": device.id,
                "target_soc": 80,
                "vehicle_capacity_kwh": 50,
                "departure": dt_util.utcnow() + timedelta(hours=1),
            },
            blocking=True,
        )
        await wait_for(lambda: sim.live_limit() == 32.0, what="planned slot")
        decision = ems.decision("CP1")
        assert decision is not None
        assert decision.plan is not None
        assert decision.plan.grid_wh == pytest.approx(20000.0)

        # The car's API drops out: the plan goes on with the last SoC and the energy since.
        hass.states.async_set("sensor.car_soc", "unavailable")
        await sim.meter_values(energy_wh=4500)
        await hass.async_block_till_done()
        await wait_for(
            lambda: (d := ems.decision("CP1")) is not None
            and d.plan is not None
            and d.plan.grid_wh < 20000.0,
            what="estimate",
        )
        decision = ems.decision("CP1")
        assert decision is not None
        assert decision.plan is not None
        # The session's energy since, at 90 % into the car, is that much less to go.
        assert ems.site_inputs is not None
        session_wh = ems.site_inputs.chargers["CP1"].session_energy_wh
        assert session_wh is not None
        assert session_wh > 0
        assert decision.plan.grid_wh == pytest.approx(20000.0 - 0.9 * session_wh)
        assert decision.reason == "planned_slot"
        assert sim.live_limit() == 32.0


async def test_a_feed_in_price_sensor_reaches_the_plan_per_kwh(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Its forecast in ct/kWh (read through the price forecast attribute) becomes the plan's
    feed-in price slots per kWh; a new forecast is followed like any input's change."""
    ems = server_entry.runtime_data.ems
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    start = hour.timestamp()

    def feed_in(*cents: float) -> None:
        items = [
            {"start": (hour + timedelta(hours=h)).isoformat(), "price": price}
            for h, price in enumerate(cents)
        ]
        hass.states.async_set(
            "sensor.feed_in", str(cents[0]), {"unit_of_measurement": "ct/kWh", "prices": items}
        )

    def seen() -> tuple[PriceSlot, ...] | None:
        inputs = ems.site_inputs
        return None if inputs is None else inputs.feed_in_prices

    feed_in(8.0, -2.0)
    hass.config_entries.async_update_entry(
        server_entry,
        options=dict(server_entry.options)
        | {FEED_IN_PRICE_ENTITY.key: "sensor.feed_in", PRICE_FORECAST_ATTRIBUTE.key: "prices"},
    )
    await hass.async_block_till_done()
    async with onboard():
        expected = (
            PriceSlot(start, start + 3600, 0.08),
            PriceSlot(start + 3600, start + 7200, -0.02),
        )
        await wait_for(lambda: seen() == expected, what="feed-in prices per kWh")
        feed_in(5.0)
        await wait_for(
            lambda: seen() == (PriceSlot(start, start + 3600, 0.05),), what="new feed-in prices"
        )


async def test_forecasts_outlive_their_sources_outages(
    hass: HomeAssistant,
    forecasts: Forecasts,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A price sensor that turns unavailable and a forecast integration that gives none (not
    ready, reloading) leave their last forecast in place, the part still ahead, also across a
    restart; a source picked anew starts from its own."""
    ems = server_entry.runtime_data.ems
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    start = hour.timestamp()
    items = [{"start": (hour + timedelta(hours=h)).isoformat(), "price": 0.30} for h in (0, 1)]
    hass.states.async_set(
        "sensor.price", "0.30", {"unit_of_measurement": "EUR/kWh", "prices": items}
    )
    picked = roof(hass, forecasts, 2000.0)
    options = dict(server_entry.options) | {
        PRICE.key: "sensor.price",
        PRICE_FORECAST_ATTRIBUTE.key: "prices",
        SOLAR_FORECAST.key: picked.entry_id,
    }
    hass.config_entries.async_update_entry(server_entry, options=options)
    await hass.async_block_till_done()
    prices = (PriceSlot(start, start + 3600, 0.30), PriceSlot(start + 3600, start + 7200, 0.30))

    def seen_prices() -> tuple[PriceSlot, ...] | None:
        return None if ems.site_inputs is None else ems.site_inputs.prices

    async with onboard() as (_sim, charger_entry):
        await wait_for(lambda: seen_prices() == prices, what="prices")
        await wait_for(lambda: len(ems.solar_forecast) == 7, what="forecast")
        assert ems.held_forecasts() == {}

        hass.states.async_set("sensor.price", "unavailable")
        forecasts[picked.entry_id] = RuntimeError("cloud down")
        async_fire_time_changed(hass, dt_util.utcnow() + FORECAST_REFRESH)
        await hass.async_block_till_done()
        await wait_for(lambda: "price" in ems.held_forecasts(), what="prices held")
        assert seen_prices() == prices
        # The hours over (2 h ago, 1 h ago) are no forecast any more.
        await wait_for(lambda: "solar" in ems.held_forecasts(), what="forecast held")
        assert [slot.start for slot in ems.solar_forecast] == [start + h * 3600 for h in range(5)]
        # Still failing at the next read: warned once, not every 15 min.
        async_fire_time_changed(hass, dt_util.utcnow() + 2 * FORECAST_REFRESH)
        await hass.async_block_till_done()
        failed = [r for r in caplog.records if "Solar forecast of Roof failed" in r.getMessage()]
        assert [r.levelname for r in failed] == ["WARNING", "DEBUG"]

        # A restart in the outage: the new energy manager plans with what the old one held.
        assert await hass.config_entries.async_reload(server_entry.entry_id)
        await hass.async_block_till_done()
        ems = server_entry.runtime_data.ems
        await wait_for(lambda: seen_prices() == prices, what="prices held after the restart")
        assert [slot.start for slot in ems.solar_forecast] == [start + h * 3600 for h in range(5)]
        assert set(ems.held_forecasts()) == {"price", "solar"}
        # The energy manager's sensor says so (its dispatcher follows each decision).
        ems.async_schedule_update(immediately=True)
        await hass.async_block_till_done()
        state = hass.states.get("sensor.ocpp_server_port_0_energy_manager")
        assert state is not None
        assert state.attributes["forecasts_held"] == ["price", "solar"]
        # The sessions' cost too: a charger set up in the outage costs at the held price.
        assert await hass.config_entries.async_reload(charger_entry.entry_id)
        await hass.async_block_till_done()
        assert charger_entry.runtime_data.coordinator.charger.energy_price == 0.30

        # Back: their new forecasts count.
        hass.states.async_set("sensor.price", "0.25", {"unit_of_measurement": "EUR/kWh"})
        await wait_for(
            lambda: seen_prices() is not None and [s.price for s in seen_prices() or ()] == [0.25],
            what="new price",
        )
        # Another forecast source picked (the Energy dashboard's, none): the held one is dropped.
        hass.config_entries.async_update_entry(
            server_entry, options=options | {SOLAR_FORECAST.key: None}
        )
        await hass.async_block_till_done()
        await wait_for(lambda: ems.solar_forecast == (), what="forecast of the new source")
        assert ems.held_forecasts() == {}
        ems.async_schedule_update(immediately=True)
        await hass.async_block_till_done()
        state = hass.states.get("sensor.ocpp_server_port_0_energy_manager")
        assert state is not None
        assert state.attributes["forecasts_held"] == []
