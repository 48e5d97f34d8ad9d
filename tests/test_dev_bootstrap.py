"""``scripts/dev_bootstrap.py``, what ``scripts/develop`` configures: the server entry moved to
OCPP_PORT before Home Assistant starts, the energy manager on the simulated site with the battery's
discharge limit, and the simulated charger accepted as "Wallbox" (the README's entity ids), also in
a setup made before the acceptance asked for a name.

The bootstrap answers the forms Home Assistant's REST API serializes; the tests serialize the real
forms the same way (``probatio.to_field_list`` with HA's selector serializer, as the flow views do)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import probatio
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_dumps
from homeassistant.helpers.template import Template
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_ems.const import (
    CONF_AUTO_ACCEPT,
    CONF_CHARGER_ID,
    CONF_ENTRY_TYPE,
    CONF_HOST,
    CONF_MODEL,
    CONF_PORT,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_VENDOR,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
)
from custom_components.ocpp_ems.ems_inputs import price_slots
from scripts import dev_bootstrap
from scripts.charger_sim.model import BATTERY_WH
from scripts.dev_bootstrap import (
    EMS_OPTIONS,
    _fill_form,
    _suggested,
    charger_name,
    energy_manager_changes,
    move_server_port,
    rename_old_chargers,
)
from scripts.dev_integrations.sim_solar_forecast.energy import hourly_wh


def _serialized(result: Any) -> list[dict[str, Any]]:
    """A form's schema as the REST API hands it to the bootstrap."""
    schema = probatio.to_field_list(result["data_schema"], custom_serializer=cv.custom_serializer)
    assert isinstance(schema, list)
    return schema


def _server(port: int, title: str | None = None) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=title or f"OCPP server port {port}",
        unique_id=f"port_{port}",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "0.0.0.0", CONF_PORT: port},
    )


async def test_server_entry_follows_ocpp_port(hass: HomeAssistant) -> None:
    """OCPP_PORT on a later run moves the existing (not running) server entry, as Reconfigure
    would: port, unique id and the generated title; a title of the user's stays."""
    entry = _server(9000)
    entry.add_to_hass(hass)
    assert move_server_port(hass, 9123) == 9000
    assert entry.data[CONF_PORT] == 9123
    assert entry.unique_id == "port_9123"
    assert entry.title == "OCPP server port 9123"
    assert move_server_port(hass, 9123) is None

    hass.config_entries.async_update_entry(entry, title="My server")
    assert move_server_port(hass, 9000) == 9123
    assert (entry.title, entry.data[CONF_PORT]) == ("My server", 9000)


async def test_no_server_entry_nothing_to_move(hass: HomeAssistant) -> None:
    assert move_server_port(hass, 9123) is None


async def test_stored_server_entry_found_by_type_not_title(
    hass: HomeAssistant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``scripts/develop`` and the online part find the server entry in Home Assistant's stored
    entries by its type: one the user renamed is still found (by title, a second one was made),
    a charger added by id (source "user" too) is not taken for it."""
    assert dev_bootstrap.stored_server_entry(tmp_path) is None
    MockConfigEntry(
        domain=DOMAIN,
        title="Wallbox",
        unique_id="CP1",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER, CONF_CHARGER_ID: "CP1"},
    ).add_to_hass(hass)
    server = _server(9001, title="Garage")
    server.add_to_hass(hass)
    hass.config_entries.async_update_entry(server, options={"tls_port": 9444})
    storage = tmp_path / ".storage"
    storage.mkdir()
    (storage / "core.config_entries").write_text(
        json_dumps({"data": hass.config_entries._data_to_save()})
    )
    stored = dev_bootstrap.stored_server_entry(tmp_path)
    assert stored is not None
    assert (stored["entry_id"], stored["title"]) == (server.entry_id, "Garage")

    monkeypatch.setattr("sys.argv", ["dev_bootstrap.py", "server-port", str(tmp_path)])
    dev_bootstrap.main()
    assert capsys.readouterr().out == "9001 9444\n"


async def _energy_manager_form(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "energy_manager"}
    )


async def test_energy_manager_on_the_simulated_site(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The bootstrap fills the sectioned form: the energy manager runs on the simulated sensors
    and owns the battery's discharge limit; once set nothing is written again, and a setup made
    before the discharge limit existed gets just that."""
    # The simulated site's sensors exist (configuration.yaml's templates; the form refuses a
    # sensor that does not).
    for entity_id in _entities(EMS_OPTIONS).values():
        hass.states.async_set(str(entity_id), "0")
    form = await _energy_manager_form(hass, server_entry)
    schema = _serialized(form)
    current = _suggested(schema)
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], _fill_form(schema, current | (energy_manager_changes(current) or {}))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    options = server_entry.options
    assert {key: options.get(key) for key in EMS_OPTIONS} == EMS_OPTIONS | {"site_phases": 3}
    assert options["battery_discharge_limit_entity"] == "input_number.sim_battery_discharge_limit"

    form = await _energy_manager_form(hass, server_entry)
    assert energy_manager_changes(_suggested(_serialized(form))) is None
    hass.config_entries.options.async_abort(form["flow_id"])

    older = {k: v for k, v in options.items() if k != "battery_discharge_limit_entity"}
    hass.config_entries.async_update_entry(server_entry, options=older)
    await hass.async_block_till_done()
    form = await _energy_manager_form(hass, server_entry)
    assert energy_manager_changes(_suggested(_serialized(form))) == {
        "battery_discharge_limit_entity": "input_number.sim_battery_discharge_limit"
    }
    hass.config_entries.options.async_abort(form["flow_id"])
    # A setup made before the simulated price existed gets it.
    before_prices = {k: v for k, v in _entities(EMS_OPTIONS).items() if k != "price_entity"}
    assert energy_manager_changes({"ems_enabled": True, **before_prices}) == {
        "price_entity": "sensor.simulated_electricity_price"
    }


async def test_simulated_charger_accepted_as_wallbox(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The names the README's examples use: sensor.wallbox_session_energy, event.wallbox_session."""
    assert (charger_name(0), charger_name(1)) == ("Wallbox", "Wallbox 2")
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={
            CONF_CHARGER_ID: "SIM-CHARGER-1",
            CONF_SERVER_ENTRY_ID: server_entry.entry_id,
            CONF_VENDOR: "Simulated",
            CONF_MODEL: "OCPP EMS Dev Wallbox",
            CONF_SERIAL: "SIM-0001",
            CONF_AUTO_ACCEPT: False,
        },
    )
    answer = _fill_form(_serialized(result), {"name": charger_name(0)})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    assert result["title"] == "Wallbox"
    await hass.async_block_till_done()
    for entity_id in (
        "sensor.wallbox_power",
        "sensor.wallbox_session_energy",
        "event.wallbox_session",
        "number.wallbox_current_limit",
    ):
        assert hass.states.get(entity_id) is not None, entity_id


def test_bootstrap_is_a_script() -> None:
    """It runs without the integration on its path (scripts/develop starts it with the venv's
    Python from the repository root): it imports nothing of ours."""
    source = dev_bootstrap.__loader__.get_source(dev_bootstrap.__name__)  # type: ignore[union-attr]
    assert source is not None
    assert "custom_components" not in source


# The site's 5 s tick (a time_pattern trigger) outlives the test.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_simulated_battery_obeys_its_discharge_limit(hass: HomeAssistant) -> None:
    """config/configuration.yaml's site: the battery covers a deficit only up to the discharge
    limit the energy manager sets (the rest comes from the grid), so it never feeds the car."""
    config = load_yaml_dict(str(Path(__file__).parent.parent / "config" / "configuration.yaml"))
    for domain in ("input_number", "template"):
        assert await async_setup_component(hass, domain, {domain: config[domain]})
    await hass.async_block_till_done()

    async def site(limit_w: float) -> tuple[float, float, float]:
        await hass.services.async_call(
            "input_number",
            "set_value",
            {"entity_id": "input_number.sim_battery_discharge_limit", "value": limit_w},
            blocking=True,
        )
        await hass.async_block_till_done()
        return tuple(  # type: ignore[return-value]
            float(hass.states.get(f"sensor.simulated_{name}").state)  # type: ignore[union-attr]
            for name in ("house_load", "battery_power", "grid_power")
        )

    # 100 W of PV against a house of at least 2 kW (more in the evening): a deficit over 1.9 kW.
    for entity_id, value in (("sim_pv_override", 100), ("sim_house_load", 2000)):
        await hass.services.async_call(
            "input_number",
            "set_value",
            {"entity_id": f"input_number.{entity_id}", "value": value},
            blocking=True,
        )
    house, battery, grid = await site(3000)
    assert battery == min(house - 100, 3000)
    house, battery, grid = await site(500)
    assert battery == 500
    assert grid == house - 100 - 500
    house, battery, grid = await site(0)
    assert (battery, grid) == (0, house - 100)


# The price's 5 minute trigger outlives the test.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_simulated_price_gives_today_and_tomorrow(hass: HomeAssistant) -> None:
    """config/configuration.yaml's dynamic tariff: the price now, and 48 hourly slots from
    today's midnight in its forecast attribute, as the energy manager reads them."""
    config = load_yaml_dict(str(Path(__file__).parent.parent / "config" / "configuration.yaml"))
    assert await async_setup_component(hass, "template", {"template": config["template"]})
    # Its first render: the next 5 minute tick (the start event fires only while starting).
    now = dt_util.utcnow().replace(second=0, microsecond=0)
    async_fire_time_changed(hass, now + timedelta(minutes=5 - now.minute % 5, seconds=1))
    await hass.async_block_till_done()
    state = hass.states.get("sensor.simulated_electricity_price")
    assert state is not None
    assert state.attributes["device_class"] == "monetary"
    now = dt_util.now()
    slots = price_slots(state, None, now.timestamp())
    midnight = dt_util.start_of_local_day(now).timestamp()
    assert [slot.start for slot in slots] == [midnight + h * 3600 for h in range(48)]
    current = next(slot for slot in slots if slot.start <= now.timestamp() < slot.end)
    assert current.price == float(state.state)
    assert min(slot.price for slot in slots) < 0 < max(slot.price for slot in slots)


async def test_old_charger_names_renamed(hass: HomeAssistant) -> None:
    """A development setup from before the acceptance asked for a name ("<vendor> <model>
    (<id>)", entity ids sensor.<all that>_...) gets the name and entity ids a new setup has; a name
    of the user's stays."""
    registry = er.async_get(hass)
    entries = []
    for charger_id, title in (
        ("SIM-CHARGER-1", "Simulated Wallbox (SIM-CHARGER-1)"),
        ("X", "Mine"),
    ):
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=title,
            unique_id=charger_id,
            data={CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER, CONF_CHARGER_ID: charger_id},
        )
        entry.add_to_hass(hass)
        registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{charger_id}_power",
            config_entry=entry,
            suggested_object_id=f"{title} power",
        )
        entries.append(entry)
    assert registry.async_get_entity_id("sensor", DOMAIN, "SIM-CHARGER-1_power") == (
        "sensor.simulated_wallbox_sim_charger_1_power"
    )
    assert rename_old_chargers(hass) == [("Simulated Wallbox (SIM-CHARGER-1)", "Wallbox")]
    assert [e.title for e in entries] == ["Wallbox", "Mine"]
    assert registry.async_get_entity_id("sensor", DOMAIN, "SIM-CHARGER-1_power") == (
        "sensor.wallbox_power"
    )
    assert registry.async_get_entity_id("sensor", DOMAIN, "X_power") == "sensor.mine_power"
    assert rename_old_chargers(hass) == []


def _entities(options: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in options.items() if key.endswith("_entity")}


async def test_simulated_forecast_is_the_simulated_roof(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The development forecast (scripts/dev_integrations/sim_solar_forecast) gives each hour
    what config/configuration.yaml's PV template yields over it, sampled every minute, at the
    cloud cover and peak set; and the car it is for is the simulator's."""
    assert dev_bootstrap.SIM_CAR_KWH * 1000.0 == BATTERY_WH
    config = load_yaml_dict(str(Path(__file__).parent.parent / "config" / "configuration.yaml"))
    pv = Template(config["template"][0]["variables"]["pv"], hass)
    hass.states.async_set("input_number.sim_cloud_cover", "35")
    hass.states.async_set("input_number.sim_pv_peak", "8000")
    midnight = dt_util.start_of_local_day()
    forecast = hourly_wh(midnight, 24, 8000.0, 35.0)
    assert len(forecast) == 24
    for hour in (5, 7, 8, 12, 13, 19, 20):
        start = midnight + timedelta(hours=hour)
        samples = []
        for minute in range(60):
            freezer.move_to(start + timedelta(minutes=minute, seconds=30))
            samples.append(float(pv.async_render({"override": 0})))
        sampled_wh = sum(samples) / 60.0
        # The template moves by the minute (a minute's first value holds for all of it): up to
        # 12 Wh off in the steepest hour, sunrise's and sunset's.
        assert forecast[start.isoformat()] == pytest.approx(sampled_wh, abs=15.0)
    # A half sine of 13 h at 8 kW less 28 % for the clouds.
    assert sum(forecast.values()) == pytest.approx(8000 * 0.72 * 13 / 3.14159265 * 2, rel=1e-3)
