"""The shipped blueprints: valid for Home Assistant, copied without overwriting a user's edits, and
each one run as an automation against a real charger."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.blueprint import models
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.components.calendar.const import DATA_COMPONENT as CALENDAR_COMPONENT
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
    get_test_config_dir,
)

from custom_components.ocpp_ems.const import CONF_VEHICLE_SOC, DOMAIN
from custom_components.ocpp_ems.shipped_blueprints import (
    MARKER,
    SHIPPED,
    async_install_blueprints,
    copy_blueprints,
)

from .helpers.charger import wait_for
from .helpers.ems import (
    PERCENT,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options()


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.stem)
def test_blueprint_valid(path: Path) -> None:
    blueprint = models.Blueprint(
        load_yaml_dict(str(path)), expected_domain="automation", schema=BLUEPRINT_SCHEMA
    )
    assert blueprint.name.startswith("OCPP EMS - ")
    # Every input is used somewhere in the body (a forgotten input is a silent no-op for users).
    body = path.read_text().split("\ntriggers:", 1)[1]
    for name in blueprint.inputs:
        assert f"!input {name}" in body, name


def test_copy_keeps_user_edits(tmp_path: Path) -> None:
    names = sorted(p.name for p in SHIPPED.glob("*.yaml"))
    assert copy_blueprints(tmp_path) == names
    assert copy_blueprints(tmp_path) == []  # nothing to do the second time
    edited, outdated = tmp_path / names[0], tmp_path / names[1]
    edited.write_text(edited.read_text() + "\n# my change\n")
    # An older shipped version the user never touched: updated (its hash is the one we wrote).
    marker = tmp_path / MARKER
    old = "blueprint: {}\n"
    outdated.write_text(old)
    import hashlib
    import json

    written = json.loads(marker.read_text())
    written[outdated.name] = hashlib.sha256(old.encode()).hexdigest()
    marker.write_text(json.dumps(written))
    assert copy_blueprints(tmp_path) == [outdated.name]
    assert edited.read_text().endswith("# my change\n")
    assert outdated.read_text() == (SHIPPED / outdated.name).read_text()
    (tmp_path / names[2]).unlink()
    assert copy_blueprints(tmp_path) == [names[2]]


def _entity(hass: HomeAssistant, entry: MockConfigEntry, domain: str, key: str) -> str:
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.domain == domain and entity.translation_key == key:
            return entity.entity_id
    raise AssertionError(f"no {domain} entity {key}")


async def _automation(hass: HomeAssistant, blueprint: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": blueprint,
                "use_blueprint": {"path": f"{DOMAIN}/{blueprint}.yaml", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(f"automation.{blueprint}").state == "on"


async def test_install_logs(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh config dir gets the blueprints (logged once); a read-only one only a warning."""
    hass.config.config_dir = str(tmp_path / "fresh")
    await async_install_blueprints(hass)
    assert "Blueprints installed or updated" in caplog.text
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "blueprints").write_text("a file where the folder should be")
    hass.config.config_dir = str(locked)
    await async_install_blueprints(hass)
    assert "Could not copy the OCPP EMS blueprints" in caplog.text


async def test_installed_at_setup(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    # Into this test's own config dir (conftest.py): copies an earlier run left in the test
    # plugin's would pass for copies made now.
    assert not Path(hass.config.config_dir).is_relative_to(get_test_config_dir())
    folder = Path(hass.config.path("blueprints", "automation", DOMAIN))
    assert {p.name for p in folder.glob("*.yaml")} == {p.name for p in SHIPPED.glob("*.yaml")}


async def test_notify_session_ended(hass: HomeAssistant, onboard: Onboard) -> None:
    notes = async_mock_service(hass, "notify", "phone")
    async with onboard() as (sim, entry):
        session = _entity(hass, entry, "event", "session")
        await _automation(
            hass,
            "notify_session_ended",
            {"session_event": session, "notify_action": "notify.phone"},
        )
        await sim.start_transaction("HomeAssistant")
        await hass.async_block_till_done()
        assert notes == []  # a start is not an end
        sim.meter_wh = 4000
        await sim.stop_transaction()
        await wait_for(lambda: len(notes) == 1, what="notification")
        call: ServiceCall = notes[0]
        assert call.data["title"] == "Charging finished"
        assert "3.0 kWh" in call.data["message"]
        assert "HomeAssistant" in call.data["message"] or "(" in call.data["message"]


async def test_rfid_rules(hass: HomeAssistant, onboard: Onboard) -> None:
    async with onboard() as (sim, entry):
        mode = _entity(hass, entry, "select", "charge_mode")
        await _automation(
            hass,
            "rfid_charging_rules",
            {
                "session_event": _entity(hass, entry, "event", "session"),
                "charge_mode": mode,
                "fast_tags": ["FASTCARD"],
                "solar_tags": ["SUNCARD"],
                "default_mode": "min_solar",
            },
        )
        await sim.start_transaction("FASTCARD")
        await wait_for(lambda: hass.states.get(mode).state == "fast", what="fast mode")
        await sim.stop_transaction()
        await hass.async_block_till_done()
        await sim.start_transaction("SUNCARD")
        await wait_for(lambda: hass.states.get(mode).state == "solar", what="solar mode")
        await sim.stop_transaction()
        await hass.async_block_till_done()
        await sim.start_transaction("someone")
        await wait_for(lambda: hass.states.get(mode).state == "min_solar", what="default mode")


async def test_cheap_tariff(hass: HomeAssistant, onboard: Onboard) -> None:
    await async_setup_sources(hass, {"price": ("EUR/kWh", "monetary")})
    async with onboard() as (_sim, entry):
        mode = _entity(hass, entry, "select", "charge_mode")
        await set_sources(hass, price=0.30)
        await hass.async_block_till_done()
        await _automation(
            hass,
            "cheap_tariff_charging",
            {"charge_mode": mode, "price_sensor": "sensor.price", "threshold": 0.15},
        )
        await set_sources(hass, price=0.10)
        await wait_for(lambda: hass.states.get(mode).state == "fast", what="cheap: fast")
        await set_sources(hass, price=0.25)
        await wait_for(lambda: hass.states.get(mode).state == "solar", what="dear: solar")


async def test_charge_by_departure_time(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"car_soc": PERCENT})
    assert await async_setup_component(
        hass,
        "input_datetime",
        {"input_datetime": {"leave": {"has_date": False, "has_time": True}}},
    )
    async with onboard() as (_sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_VEHICLE_SOC: "sensor.car_soc"})
        await set_sources(hass, car_soc=40)
        await hass.async_block_till_done()
        mode = _entity(hass, entry, "select", "charge_mode")
        await _automation(
            hass,
            "charge_by_departure_time",
            {
                "charger": _device_id(hass, entry),
                "session_event": _entity(hass, entry, "event", "session"),
                "departure_time": "input_datetime.leave",
                "target_soc": 80,
                "capacity_kwh": 60,
            },
        )
        leave = (dt_util.now() + timedelta(hours=3)).strftime("%H:%M:00")
        await hass.services.async_call(
            "input_datetime",
            "set_datetime",
            {"entity_id": "input_datetime.leave", "time": leave},
            blocking=True,
        )
        await wait_for(lambda: hass.states.get(mode).state == "plan", what="plan mode")
        view = server_entry.runtime_data.ems.charger_view("CP1")
        local = dt_util.as_local(view.plan_departure)
        assert local.strftime("%H:%M:%S") == leave
        assert timedelta(0) < view.plan_departure - dt_util.utcnow() <= timedelta(hours=3)
        assert view.plan_soc == 80


def _device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    registry = er.async_get(hass)
    mode = registry.async_get(_entity(hass, entry, "select", "charge_mode"))
    assert mode is not None
    assert mode.device_id is not None
    return mode.device_id


class TripCalendar(CalendarEntity):
    """A calendar with one trip (a stand-in for the user's calendar integration)."""

    _attr_name = "Trips"

    def __init__(self, trip: CalendarEvent) -> None:
        self.trip = trip

    @property
    def event(self) -> CalendarEvent | None:
        return self.trip

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        return [self.trip] if start_date <= self.trip.start < end_date else []


async def test_charge_by_departure_calendar(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
) -> None:
    await async_setup_sources(hass, {"car_soc": PERCENT})
    leave = dt_util.now().replace(microsecond=0) + timedelta(hours=12, minutes=5)
    trip = CalendarEvent(start=leave, end=leave + timedelta(hours=2), summary="Trip")
    assert await async_setup_component(hass, "calendar", {})
    await hass.data[CALENDAR_COMPONENT].async_add_entities([TripCalendar(trip)])
    async with onboard() as (_sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_VEHICLE_SOC: "sensor.car_soc"})
        await set_sources(hass, car_soc=30)
        mode = _entity(hass, entry, "select", "charge_mode")
        await _automation(
            hass,
            "charge_by_departure_calendar",
            {
                "charger": _device_id(hass, entry),
                "session_event": _entity(hass, entry, "event", "session"),
                "calendar": "calendar.trips",
                "target_soc": 90,
                "capacity_kwh": 50,
            },
        )
        assert hass.states.get(mode).state != "plan"
        # Six minutes later the trip is less than 12 h ahead (the calendar trigger's alarm fires).
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
        await wait_for(lambda: hass.states.get(mode).state == "plan", what="plan mode")
        view = server_entry.runtime_data.ems.charger_view("CP1")
        assert view.plan_departure == dt_util.as_utc(leave)
        assert view.plan_soc == 90
    # The calendar trigger polls every 15 min and the calendar waits for the trip: detach both
    # before Home Assistant stops.
    await hass.services.async_call("automation", "turn_off", {"entity_id": "all"}, blocking=True)
    await hass.data[CALENDAR_COMPONENT].async_remove_entity("calendar.trips")
