"""``scripts/dev_dashboards.py``: what ``scripts/develop`` configures once the simulated charger is
accepted, through Home Assistant's real HTTP + websocket API (``dev_bootstrap.HassApi`` against the
test server): the Energy dashboard (site and the charger as an individual device) and the "EV
charging" dashboard holding what ``ocpp_ems.get_dashboard`` returns, the default dashboard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.frontend.storage import async_setup_frontend_storage
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_dumps
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    MockModule,
    mock_integration,
    mock_platform,
)
from pytest_homeassistant_custom_component.typing import (  # type: ignore[import-untyped]
    ClientSessionGenerator,
)

from custom_components.ocpp_ems.const import DOMAIN
from custom_components.ocpp_ems.ems_inputs import async_solar_forecast
from scripts.dev_bootstrap import (
    EMS_OPTIONS,
    FORECAST_DOMAIN,
    SIM_CAR_KWH,
    HassApi,
    _server_entry,
    ensure_solar_forecast,
    ensure_vehicle_capacity,
)
from scripts.dev_dashboards import (
    DASHBOARD_URL,
    charger_devices,
    configure_dashboards,
    dashboard_url,
    energy_prefs_update,
    site_sources,
)
from scripts.dev_integrations import sim_solar_forecast
from scripts.dev_integrations.sim_solar_forecast import config_flow as sim_flow
from scripts.dev_integrations.sim_solar_forecast import energy as sim_energy

from .helpers.ems import POWER, async_setup_sources, ems_server_options
from .helpers.fixtures import Onboard

# The Energy dashboard's preferences need the recorder.
pytestmark = pytest.mark.usefixtures("recorder_mock")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database before ``hass`` (as in test_sessions_log.py)."""


@pytest.fixture
async def api(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_access_token: str,
) -> AsyncIterator[HassApi]:
    """The bootstrap's API client on a running Home Assistant with the components the UI uses
    (and the integration, set up before the HTTP server starts, as at a real start)."""
    for component in ("api", "config", "energy", "lovelace"):
        assert await async_setup_component(hass, component, {})
    # The frontend's system data (default dashboard) without the frontend package.
    await async_setup_frontend_storage(hass)
    client = await hass_client()
    api = HassApi(str(client.make_url("")).rstrip("/"), hass_access_token)
    yield api
    await api.close()


async def _dashboard(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        "ocpp_ems", "get_dashboard", {}, blocking=True, return_response=True
    )
    assert response is not None
    config: dict[str, Any] = response["config"]  # type: ignore[assignment]
    return config


async def test_dashboards_of_the_demo(hass: HomeAssistant, api: HassApi, onboard: Onboard) -> None:
    async with onboard() as (_sim, entry):
        await configure_dashboards(api, EMS_OPTIONS, wait=30)
        registry = er.async_get(hass)
        own = {
            e.translation_key: e.entity_id
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
        }

        prefs = (await async_get_manager(hass)).data
        assert prefs is not None
        sources: dict[str, Any] = {source["type"]: source for source in prefs["energy_sources"]}
        assert sorted(sources) == ["battery", "grid", "solar"]
        assert sources["grid"]["stat_rate"] == "sensor.simulated_grid_power"
        assert sources["battery"]["stat_energy_to"] == "sensor.simulated_battery_charge_energy"
        assert prefs["device_consumption"] == [
            {
                "stat_consumption": own["lifetime_energy"],
                "stat_rate": own["power"],
                "name": entry.title,
            }
        ]

        dashboards = hass.data[LOVELACE_DATA].dashboards
        saved = await dashboards[DASHBOARD_URL].async_load(False)
        # What the action returns, the Energy dashboard's flow card leading.
        assert saved == await _dashboard(hass)
        assert saved["views"][0]["cards"][0]["type"] == "energy-distribution"
        assert await api.ws({"type": "frontend/get_system_data", "key": "core"}) == {
            "value": {"default_panel": DASHBOARD_URL}
        }

        # A second run (every scripts/develop start) changes nothing and keeps one dashboard.
        await configure_dashboards(api, EMS_OPTIONS, wait=30)
        assert (await async_get_manager(hass)).data == prefs
        listed = await api.ws({"type": "lovelace/dashboards/list"})
        assert [d["url_path"] for d in listed] == [DASHBOARD_URL]


async def test_users_choices_stay(hass: HomeAssistant, api: HassApi, onboard: Onboard) -> None:
    """An Energy dashboard and a default dashboard of the user's are kept; the charger is added."""
    manager = await async_get_manager(hass)
    own = [
        {"type": "solar", "stat_energy_from": "sensor.my_pv", "config_entry_solar_forecast": None}
    ]
    await manager.async_update({"energy_sources": own})  # type: ignore[typeddict-item]
    await api.ws(
        {"type": "frontend/set_system_data", "key": "core", "value": {"default_panel": "x"}}
    )
    async with onboard() as (_sim, entry):
        await configure_dashboards(api, EMS_OPTIONS, wait=30)
    assert manager.data is not None
    assert manager.data["energy_sources"] == own
    assert [d["name"] for d in manager.data["device_consumption"]] == [entry.title]
    assert (await api.ws({"type": "frontend/get_system_data", "key": "core"}))["value"] == {
        "default_panel": "x"
    }


def _load_sim_forecast(hass: HomeAssistant) -> None:
    """The development-only forecast integration as Home Assistant loads it from the development
    config's custom_components (its own manifest, config flow and energy platform)."""
    manifest = json.loads((Path(sim_solar_forecast.__file__).parent / "manifest.json").read_text())
    mock_integration(
        hass,
        MockModule(
            FORECAST_DOMAIN,
            async_setup_entry=sim_solar_forecast.async_setup_entry,
            async_unload_entry=sim_solar_forecast.async_unload_entry,
            partial_manifest=manifest,
        ),
    )
    mock_platform(hass, f"{FORECAST_DOMAIN}.config_flow", sim_flow)
    mock_platform(hass, f"{FORECAST_DOMAIN}.energy", sim_energy)


@pytest.mark.parametrize(
    "server_options",
    [ems_server_options(grid_power_entity="sensor.grid", pv_power_entity="sensor.pv")],
)
async def test_demo_forecast_and_car(
    hass: HomeAssistant, api: HassApi, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The simulated roof's forecast is added once, given to the Energy dashboard's solar source
    and read by the energy manager from there; the charger's car capacity is the simulated car's
    unless the user set one."""
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    _load_sim_forecast(hass)
    hass.states.async_set("input_number.sim_pv_peak", "5000")
    hass.states.async_set("input_number.sim_cloud_cover", "50")
    async with onboard() as (_sim, entry):
        forecast_entry = await ensure_solar_forecast(api)
        assert forecast_entry is not None
        assert await ensure_solar_forecast(api) == forecast_entry  # once
        await configure_dashboards(api, EMS_OPTIONS, wait=30, forecast_entry=forecast_entry)
        prefs = (await async_get_manager(hass)).data
        assert prefs is not None
        solar = next(s for s in prefs["energy_sources"] if s["type"] == "solar")
        assert solar["config_entry_solar_forecast"] == [forecast_entry]
        # The energy manager's reading (no forecast picked: the Energy dashboard's): today and
        # tomorrow, a 13 h half sine at 5 kW less 40 % for the clouds each day.
        slots = await async_solar_forecast(hass, None)
        assert len(slots) == 48
        day_wh = 5000 * 0.6 * 13 / 3.14159265 * 2
        assert sum(slot.wh for slot in slots) == pytest.approx(2 * day_wh, rel=1e-3)

        registry = er.async_get(hass)
        capacity = next(
            e.entity_id
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.translation_key == "vehicle_capacity"
        )
        assert hass.states.get(capacity).state == "0.0"  # type: ignore[union-attr]
        await ensure_vehicle_capacity(api)
        assert float(hass.states.get(capacity).state) == SIM_CAR_KWH  # type: ignore[union-attr]
        charger_id = entry.runtime_data.coordinator.charger_id
        settings = server_entry.runtime_data.ems.settings(charger_id)
        assert settings.vehicle_capacity_wh == SIM_CAR_KWH * 1000.0
        # The user's own capacity stays.
        await hass.services.async_call(
            "number", "set_value", {"entity_id": capacity, "value": 42}, blocking=True
        )
        await ensure_vehicle_capacity(api)
        assert float(hass.states.get(capacity).state) == 42.0  # type: ignore[union-attr]


async def test_renamed_server_entry_is_used(
    hass: HomeAssistant, api: HassApi, server_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """The online part takes the stored server entry, also one the user renamed: no second
    server entry (found by title, it made one)."""
    hass.config_entries.async_update_entry(server_entry, title="Garage")
    (tmp_path / ".storage").mkdir()
    (tmp_path / ".storage" / "core.config_entries").write_text(
        json_dumps({"data": hass.config_entries._data_to_save()})
    )
    assert await _server_entry(api, tmp_path, 9000) == server_entry.entry_id
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_no_charger_in_time(hass: HomeAssistant, api: HassApi) -> None:
    """Without an accepted charger the wait ends: the site still gets its Energy dashboard."""
    await configure_dashboards(api, EMS_OPTIONS, wait=0.5)
    prefs = (await async_get_manager(hass)).data
    assert prefs is not None
    assert len(prefs["energy_sources"]) == 3
    assert prefs["device_consumption"] == []


def test_pure_parts() -> None:
    """The charger's own sensors, not a connector's; nothing to save when all is there."""
    registry = [
        {
            "platform": "ocpp_ems",
            "entity_id": entity_id,
            "config_entry_id": "e1",
            "translation_key": key,
        }
        for entity_id, key in (
            ("sensor.wallbox_connector_1_power", "power"),
            ("sensor.wallbox_power", "power"),
            ("sensor.wallbox_lifetime_energy", "lifetime_energy"),
        )
    ]
    devices = charger_devices(registry, {"e1": "Wallbox", "e2": "No entities yet"})
    assert devices == [
        {
            "stat_consumption": "sensor.wallbox_lifetime_energy",
            "name": "Wallbox",
            "stat_rate": "sensor.wallbox_power",
        }
    ]
    sources = site_sources(EMS_OPTIONS, "roof")
    done = {"energy_sources": sources, "device_consumption": devices}
    assert energy_prefs_update(done, sources, devices) is None
    assert energy_prefs_update(None, sources, []) == {"energy_sources": sources}
    # A setup from before the forecast: the simulated PV gets it, a user's other PV does not.
    before = site_sources(EMS_OPTIONS, None)
    own_pv = {"type": "solar", "stat_energy_from": "sensor.my_pv"}
    update = energy_prefs_update(
        {"energy_sources": [*before, own_pv], "device_consumption": devices}, sources, devices
    )
    assert update == {"energy_sources": [*sources, own_pv]}
    # Without the forecast integration nothing changes there.
    assert energy_prefs_update({"energy_sources": before}, before, []) is None
    assert dashboard_url("http://127.0.0.1:8123/") == "http://127.0.0.1:8123/ocpp-ems/charging"
