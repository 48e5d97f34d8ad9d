"""Session facts: who charged (id tag and its friendly name), when and how long, what it cost (a
price entity in its unit, or a fixed price), the session-ended event carrying all of them, and the
facts kept across a restart."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_ID_TAGS,
    CONF_PASSWORD,
    CONF_PRICE,
    CONF_PV_POWER,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
)
from custom_components.ocpp_ems.core.ems.options import SESSION_PRICE

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import POWER, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import ConnectCharger, Onboard, async_unload_all, central_of
from .helpers.platform import only_platforms

PRICE = "sensor.electricity_price"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_ID_TAGS: ["TAG1 = Alice", " tag2 ", "TAG1 = Bob"],
        CONF_PRICE: PRICE,
    }


def entity_id(hass: HomeAssistant, platform: Platform, key: str) -> str:
    """The entity id of the test charger's entity ``key`` (whatever the naming scheme)."""
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"CP1_{key}")
    assert found is not None, key
    return found


def state(hass: HomeAssistant, key: str, platform: Platform = Platform.SENSOR) -> Any:
    found = hass.states.get(entity_id(hass, platform, key))
    assert found is not None
    return found


def set_price(hass: HomeAssistant, value: float | str, unit: str | None) -> None:
    attributes = {} if unit is None else {"unit_of_measurement": unit}
    hass.states.async_set(PRICE, str(value), attributes)


def cost(hass: HomeAssistant) -> float:
    """The session cost sensor's value."""
    return float(state(hass, "session_cost").state)


async def charge(hass: HomeAssistant, sim: SimCharger, *readings: tuple[float, float]) -> None:
    """Send register readings (Wh, taken that many seconds ago)."""
    for energy_wh, ago_s in readings:
        await sim.meter_values(energy_wh=energy_wh, ago_s=ago_s)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("unit", "first", "second"),
    [
        ("EUR/kWh", 0.30, 0.40),
        ("ct/kWh", 30, 40),
        ("c€/kWh", 30, 40),
        ("EUR/MWh", 300, 400),
        ("EUR/Wh", 0.0003, 0.0004),
        (None, 0.30, 0.40),  # no unit: per kWh
    ],
)
async def test_cost_follows_the_price_entity_in_its_unit(
    hass: HomeAssistant, onboard: Onboard, unit: str | None, first: float, second: float
) -> None:
    """Each kWh costs the price of when it was drawn, whenever its reading comes: 2 kWh at
    0.30, 3 kWh drawn in the half hour before the price went to 0.40 (read after it) at 0.30,
    1 kWh drawn after it (a charger clock a few minutes ahead) at 0.40 EUR/kWh."""
    set_price(hass, first, unit)
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, _entry):
            assert state(hass, "session_cost").state == "unknown"  # no session yet
            assert state(hass, "session_cost").attributes["unit_of_measurement"] == "EUR"
            sim.meter_wh = 1000
            await sim.start_transaction("tag1")
            await charge(hass, sim, (3000, 1800))
            assert cost(hass) == pytest.approx(0.6)
            set_price(hass, second, unit)
            await hass.async_block_till_done()
            await charge(hass, sim, (6000, 0))
            assert cost(hass) == pytest.approx(1.5, abs=1e-3)
            await charge(hass, sim, (7000, -240))
            assert cost(hass) == pytest.approx(1.9, abs=1e-3)

            sim.meter_wh = 7000
            await sim.stop_transaction()
            await hass.async_block_till_done()
            ended = state(hass, "session", Platform.EVENT).attributes
            assert ended["event_type"] == "ended"
            assert ended["cost"] == pytest.approx(1.9, abs=1e-3)
            assert ended["currency"] == "EUR"
            # The last session's cost stays shown until the next one starts.
            assert cost(hass) == pytest.approx(1.9, abs=1e-3)


async def test_fixed_price_wins_over_the_entity(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    set_price(hass, 0.30, "EUR/kWh")
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            hass.config_entries.async_update_entry(
                server_entry, options={**server_entry.options, SESSION_PRICE.key: 0.25}
            )
            await hass.async_block_till_done()
            sim.meter_wh = 1000
            await sim.start_transaction()
            await charge(hass, sim, (5000, 2400))
            assert cost(hass) == pytest.approx(1.0)
            set_price(hass, 0.90, "EUR/kWh")  # followed no more
            await charge(hass, sim, (6000, 1200))
            assert cost(hass) == pytest.approx(1.25)

            # Back to the entity's price once the fixed price is removed (0 is unset).
            hass.config_entries.async_update_entry(
                server_entry, options={**server_entry.options, SESSION_PRICE.key: 0}
            )
            await hass.async_block_till_done()
            await charge(hass, sim, (7000, 0))
            assert cost(hass) == pytest.approx(1.25 + 0.9)


@pytest.mark.parametrize("unit", ["EUR", "EUR/h", "%"])
async def test_price_without_energy_unit_costs_nothing(
    hass: HomeAssistant, onboard: Onboard, unit: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A price whose unit is no price per energy is not guessed at (a factor 100 or 1000 off)."""
    set_price(hass, 0.30, unit)
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            set_price(hass, 0.31, unit)  # warned once per unit
            sim.meter_wh = 1000
            await sim.start_transaction()
            await charge(hass, sim, (3000, 1800))
            assert state(hass, "session_cost").state == "unknown"
    assert caplog.text.count("is no price per energy") == 1


async def test_unknown_price_is_not_costed(hass: HomeAssistant, onboard: Onboard) -> None:
    """Energy delivered while the price is unknown costs nothing; priced energy does."""
    set_price(hass, "unavailable", None)
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            sim.meter_wh = 1000
            await sim.start_transaction()
            await charge(hass, sim, (2000, 2400))
            assert state(hass, "session_cost").state == "unknown"
            set_price(hass, 0.5, "EUR/kWh")
            await hass.async_block_till_done()
            await charge(hass, sim, (4000, 1200))
            assert cost(hass) == pytest.approx(1.0)


async def test_a_price_outage_is_costed_at_the_last_forecast(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """While the price entity is unavailable each kWh costs what its last forecast gave for the
    time it was drawn (slot by slot, a gap in it not costed); back, its state is followed again.
    A rise is drawn evenly between its reading and the one before (a charging car's register
    keeps the time it last changed)."""
    set_price(hass, 0.40, "EUR/kWh")
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, entry):
            charger = entry.runtime_data.coordinator.charger
            sim.meter_wh = 1000
            await sim.start_transaction(started_ago_s=4 * 3600)  # a kWh an hour: 1 kW
            await charge(hass, sim, (2000, 3 * 3600))  # 1 kWh at 0.40
            now = dt_util.utcnow()

            def at(seconds: float) -> datetime:
                return now + timedelta(seconds=seconds)

            forecast = [
                {"start": at(-600).isoformat(), "end": at(5).isoformat(), "price": 40},
                {"start": at(9).isoformat(), "end": at(3600).isoformat(), "price": 60},
            ]
            hass.states.async_set(
                PRICE, "40", {"unit_of_measurement": "ct/kWh", "prices": forecast}
            )
            set_price(hass, "unavailable", None)
            await hass.async_block_till_done()
            read_at = dt_util.utcnow()
            await charge(hass, sim, (3000, 0))  # 1 kWh drawn before: at the held 0.40
            assert cost(hass) == pytest.approx(0.8)
            await wait_for(lambda: charger.energy_price is None, seconds=10, what="the gap")
            await wait_for(lambda: charger.energy_price == 0.6, seconds=10, what="the next slot")
            # 40 Wh drawn from the last reading on: the held 0.40 up to the gap, nothing in the
            # gap's 4 s, the held 0.60 after it.
            next_at = dt_util.utcnow()
            await charge(hass, sim, (3040, 0))
            drawn_s = (next_at - read_at).total_seconds()
            held = (
                0.40 * (at(5) - read_at).total_seconds() + 0.60 * (next_at - at(9)).total_seconds()
            )
            expected = 0.8 + 0.040 * held / drawn_s
            assert cost(hass) == pytest.approx(expected, abs=1e-3)  # timers on a loaded machine
            changed_at = dt_util.utcnow()
            set_price(hass, 0.25, "EUR/kWh")
            await hass.async_block_till_done()
            await asyncio.sleep(2.0)
            last_at = dt_util.utcnow()
            await charge(hass, sim, (3080, 0))  # 40 Wh: the held 0.60, then 0.25
            drawn_s = (last_at - next_at).total_seconds()
            followed = (
                0.60 * (changed_at - next_at).total_seconds()
                + 0.25 * (last_at - changed_at).total_seconds()
            )
            expected += 0.040 * followed / drawn_s
            assert cost(hass) == pytest.approx(expected, abs=1e-3)  # timers on a loaded machine


async def test_a_price_without_forecast_is_held_into_its_outage(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """A price entity with no forecast: its last price counts as the price up to the outage and
    on (an hour, as plans read such a state: ``ems_inputs.price_slots``)."""
    set_price(hass, 0.40, "EUR/kWh")
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, entry):
            set_price(hass, "unavailable", None)
            await hass.async_block_till_done()
            assert entry.runtime_data.coordinator.charger.energy_price == 0.40
            sim.meter_wh = 1000
            await sim.start_transaction(started_ago_s=3600)
            await charge(hass, sim, (2000, 0))
            assert cost(hass) == pytest.approx(0.4)


async def test_a_price_outage_across_a_restart_is_costed_at_the_stored_forecast(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """No energy manager here: the follower stores the forecast it holds, so a price integration
    still down when Home Assistant is back does not leave the sessions uncosted; the stored
    forecast goes with the charger entry."""
    now = dt_util.utcnow()
    forecast = [
        {
            "start": (now - timedelta(minutes=10)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
            "price": 55,
        }
    ]
    hass.states.async_set(PRICE, "55", {"unit_of_measurement": "ct/kWh", "prices": forecast})
    with only_platforms(Platform.SENSOR):
        async with onboard() as (_sim, charger_entry):
            assert charger_entry.runtime_data.coordinator.charger.energy_price == 0.55
        key = f"{DOMAIN}.{charger_entry.entry_id}.session_price"
        assert hass_storage[key]["data"]["source"] == PRICE
        await async_unload_all(hass)
        set_price(hass, "unavailable", None)
        assert await hass.config_entries.async_setup(server_entry.entry_id)
        await hass.async_block_till_done()
        assert central_of(server_entry).charger("CP1").energy_price == 0.55
        await hass.config_entries.async_remove(charger_entry.entry_id)
        await hass.async_block_till_done()
        assert key not in hass_storage


async def test_a_price_change_while_home_assistant_is_down_costs_the_announced_price(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """Home Assistant is down across a slot boundary its price sensor had announced (quarter
    hours of a dynamic tariff): the energy drawn after the boundary costs the new price. 100 Wh
    over 40 s, the last 4 s after the boundary: 0.044 EUR (0.084 with the 100 Wh before). Was:
    0.040 (0.080), the last price seen before the downtime for all of it."""

    async def read(sim: SimCharger, energy_wh: float, at: datetime) -> None:
        sampled = [{"value": str(energy_wh), "measurand": "Energy.Active.Import.Register"}]
        await sim.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=sim.transaction_id,
                meter_value=[{"timestamp": at.isoformat(), "sampled_value": sampled}],
            )
        )
        await hass.async_block_till_done()

    set_price(hass, 0.40, "EUR/kWh")
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, charger_entry):
            sim.meter_wh = 900
            transaction_id = await sim.start_transaction("tag1")  # an hour ago
            boundary = dt_util.utcnow() + timedelta(seconds=4)
            forecast = [
                {"start": (boundary - timedelta(minutes=15)).isoformat(), "price": 40},
                {"start": boundary.isoformat(), "price": 80},
            ]
            attributes = {"unit_of_measurement": "ct/kWh", "prices": forecast}
            hass.states.async_set(PRICE, "40", attributes)
            await read(sim, 1000, boundary - timedelta(seconds=36))  # 100 Wh at 0.40
            password = charger_entry.data[CONF_PASSWORD].encode()
        await async_unload_all(hass)
        assert dt_util.utcnow() < boundary, "stored after the boundary: the test needs a rerun"
        await asyncio.sleep((boundary - dt_util.utcnow()).total_seconds() + 4.5)
        hass.states.async_set(PRICE, "80", attributes)
        assert await hass.config_entries.async_setup(server_entry.entry_id)
        await hass.async_block_till_done()
        async with connect("CP1", password=password) as sim:
            sim.transaction_id = transaction_id
            await read(sim, 1100, boundary + timedelta(seconds=4))
            transaction = central_of(server_entry).charger("CP1").connectors[1].transaction
            assert transaction is not None
            assert transaction.energy_wh == pytest.approx(200)
            assert transaction.cost == pytest.approx(0.1 * 0.40 + 0.1 * (0.9 * 0.40 + 0.1 * 0.80))


async def test_session_facts_and_the_ended_event(hass: HomeAssistant, onboard: Onboard) -> None:
    set_price(hass, 0.30, "EUR/kWh")
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, _entry):
            for key in ("session_start", "session_end", "session_duration", "session_user"):
                assert state(hass, key).state == "unknown"
            # The names never reach the charger: its local list has the tags alone.
            await wait_for(lambda: sim.local_list[1], what="local list")
            assert sim.local_list[1] == ["TAG1", "tag2"]
            sim.meter_wh = 1000
            transaction_id = await sim.start_transaction("tag1", started_ago_s=3600)
            await charge(hass, sim, (2000, 0))
            assert state(hass, "session_id_tag").state == "tag1"
            # The name from the list (its first entry for a tag listed twice; case-insensitive).
            assert state(hass, "session_user").state == "Alice"
            assert state(hass, "session_end").state == "unknown"
            assert float(state(hass, "session_duration").state) == pytest.approx(60.0, abs=0.2)
            assert state(hass, "session_duration").attributes["unit_of_measurement"] == "min"
            start = state(hass, "session_start").state

            await sim.stop_transaction(reason="EVDisconnected")
            await hass.async_block_till_done()
            ended = state(hass, "session", Platform.EVENT).attributes
            assert ended["transaction_id"] == str(transaction_id)
            assert ended["id_tag"] == "tag1"
            assert ended["user"] == "Alice"
            assert ended["energy_wh"] == 1000.0
            assert ended["cost"] == pytest.approx(0.3)
            assert ended["duration_s"] == pytest.approx(3600, abs=5)
            assert ended["stop_reason"] == "EVDisconnected"
            assert ended["started_at"].startswith(start[:16])
            assert ended["ended_at"] is not None
            # No energy manager: no split by source.
            assert ended["energy_solar_wh"] is None
            assert state(hass, "session_end").state != "unknown"

            # A tag without a name: the tag is the user.
            await sim.start_transaction("TAG2")
            await hass.async_block_till_done()
            assert state(hass, "session_user").state == "TAG2"
            assert state(hass, "session_end").state == "unknown"  # the new session's


async def test_restart_keeps_the_session_facts(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """Cost and id tag are stored with the session, and the prices seen: after a restart it goes
    on from there; the 3 kWh the charger reports drawn in the half hour before Home Assistant was
    back cost the 0.30 of then (stored), not the 0.40 the price entity shows since."""
    set_price(hass, 0.30, "EUR/kWh")
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, charger_entry):
            sim.meter_wh = 1000
            transaction_id = await sim.start_transaction("TAG1")
            await charge(hass, sim, (3000, 1800))
            password = charger_entry.data[CONF_PASSWORD].encode()

        await async_unload_all(hass)
        set_price(hass, 0.40, "EUR/kWh")  # changed while Home Assistant was down
        assert await hass.config_entries.async_setup(server_entry.entry_id)
        await hass.async_block_till_done()
        model = central_of(server_entry).charger("CP1")
        assert model.energy_price == 0.40
        restored = model.connector(1).transaction
        assert restored is not None
        assert restored.cost == pytest.approx(0.6)
        assert restored.id_tag == "TAG1"

        async with connect("CP1", password=password) as sim:
            sim.transaction_id = transaction_id
            assert await sim.boot() == "Accepted"
            await sim.status("Charging")
            await hass.async_block_till_done()
            assert cost(hass) == pytest.approx(0.6)
            assert state(hass, "session_user").state == "Alice"
            await charge(hass, sim, (6000, 0))
            await sim.stop_transaction()
            await hass.async_block_till_done()
            ended = state(hass, "session", Platform.EVENT).attributes
            assert ended["cost"] == pytest.approx(1.5, abs=5e-3)
            assert ended["user"] == "Alice"
            assert ended["energy_wh"] == 5000.0


@pytest.mark.parametrize(
    "server_options",
    [ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})],
)
@pytest.mark.usefixtures("fast_ems_debounce")
async def test_ended_event_carries_the_energy_by_source(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """With the energy manager the event splits the whole session's energy by source (up to its
    last kWh, even those the manager had not attributed yet)."""
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=-5000, pv=6000)  # exporting: the car charges from the sun
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, _entry):
            await sim.status("Charging")
            sim.meter_wh = 1000
            transaction_id = await sim.start_transaction()
            view = server_entry.runtime_data.ems.charger_view("CP1")
            await wait_for(lambda: view.transaction_id == str(transaction_id), what="split")
            await charge(hass, sim, (3000, 1800))
            await sim.stop_transaction()
            await hass.async_block_till_done()
            ended = state(hass, "session", Platform.EVENT).attributes
            assert ended["energy_wh"] == 2000.0
            assert ended["energy_solar_wh"] == pytest.approx(2000.0)
            assert ended["energy_battery_wh"] == 0.0
            assert ended["energy_grid_wh"] == 0.0
            assert ended["cost"] is None  # no price entity in these options


async def test_price_in_a_foreign_currency_is_not_shown_as_the_home_currency(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """Home Assistant's currency is EUR; the price entity is in SEK/kWh. The session cost sensor
    must not claim that 2 SEK are 2 EUR (either the price's currency, or no cost)."""
    assert hass.config.currency == "EUR"
    set_price(hass, 2.0, "SEK/kWh")
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            sim.meter_wh = 1000
            await sim.start_transaction(started_ago_s=3600)
            await charge(hass, sim, (2000, 0))
            # No cost rather than 2 SEK shown as 2 EUR.
            assert state(hass, "session_cost").state == "unknown"


async def test_fault_event_fires_once_not_again_after_a_restart(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """A charger faulted (RCD tripped) gives one fault event. Home Assistant restarts; the
    charger, still faulted, reconnects and reports its status again (as every charger does after
    BootNotification): nothing new happened, no second fault event."""
    fired: list[str] = []

    @callback
    def on_change(event: Event[Any]) -> None:
        new = event.data.get("new_state")
        if (
            new is not None
            and new.entity_id.endswith("_fault")
            and new.entity_id.startswith("event.")
            and new.state not in ("unknown", "unavailable")
            and new.state not in fired
        ):
            fired.append(new.state)

    hass.bus.async_listen("state_changed", on_change)
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, charger_entry):
            await sim.status("Faulted", error_code="GroundFailure", info="RCD tripped")
            await hass.async_block_till_done()
            assert len(fired) == 1
            password = charger_entry.data[CONF_PASSWORD].encode()

        await async_unload_all(hass)
        assert await hass.config_entries.async_setup(server_entry.entry_id)
        await hass.async_block_till_done()

        async with connect("CP1", password=password) as sim:
            assert await sim.boot() == "Accepted"
            await sim.status("Faulted", error_code="GroundFailure", info="RCD tripped")
            await sim.status("Available")  # repaired: the next fault is news again
            await sim.status("Faulted", error_code="GroundFailure")
            await hass.async_block_till_done()
            assert len(fired) == 2, fired


@pytest.mark.parametrize(
    "server_options",
    [ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})],
)
async def test_ended_event_of_one_outlet_splits_only_its_own_energy(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Review finding: the energy manager splits a charger's sessions together (the sum of its
    outlets' energy); the event of one outlet's session carried that whole split, 8 kWh by source
    for a session of 2 kWh."""
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=-5000, pv=6000)
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, _entry):
            await sim.status("Charging", connector_id=1)
            await sim.status("Charging", connector_id=2)
            sim.meter_wh = 1000
            first = await sim.start_transaction(connector_id=1)
            sim.meter_wh = 5000
            second = await sim.start_transaction(connector_id=2)
            ems = server_entry.runtime_data.ems
            await wait_for(lambda: ems.charger_view("DUO").transaction_id is not None, what="split")
            await sim.meter_values(connector_id=2, energy_wh=11_000, ago_s=1800)
            sim.transaction_id = first
            await sim.meter_values(connector_id=1, energy_wh=3000, ago_s=1800)
            await wait_for(
                lambda: ems.charger_view("DUO").attributed_wh >= 8000, what="both outlets"
            )
            await sim.stop_transaction()
            await hass.async_block_till_done()
            event_id = er.async_get(hass).async_get_entity_id(Platform.EVENT, DOMAIN, "DUO_session")
            assert event_id is not None
            ended = hass.states.get(event_id).attributes
            assert ended["energy_wh"] == 2000.0
            by_source = (
                ended["energy_solar_wh"] + ended["energy_battery_wh"] + ended["energy_grid_wh"]
            )
            assert by_source == pytest.approx(2000.0)
            assert second != first
