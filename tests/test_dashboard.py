"""The ready dashboard (``ocpp_ems.get_dashboard``): built from the real entities of a connected
charger and the site sensors, only built-in cards, valid YAML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.components.energy.data import async_get_manager
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util.yaml import parse_yaml
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems.const import DOMAIN
from custom_components.ocpp_ems.core.ems.options import (
    BATTERY_POWER,
    BATTERY_SOC,
    GRID_POWER,
    PV_POWER,
)
from custom_components.ocpp_ems.dashboard import _short_name

from .helpers.ems import PERCENT, POWER, async_setup_sources, ems_server_options
from .helpers.fixtures import Onboard, async_unload_all

BUILT_IN_CARDS = {"energy-distribution", "history-graph", "tile", "heading", "grid", "entities"}

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(
        **{
            PV_POWER.key: "sensor.pv",
            GRID_POWER.key: "sensor.grid",
            BATTERY_POWER.key: "sensor.battery",
            BATTERY_SOC.key: "sensor.battery_soc",
        }
    )


@pytest.fixture(autouse=True)
async def site_sensors(hass: HomeAssistant) -> None:
    await async_setup_sources(
        hass, {"pv": POWER, "grid": POWER, "battery": POWER, "battery_soc": PERCENT}
    )


def _cards(cards: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for card in cards:
        yield card
        yield from _cards(card.get("cards", []))


def _entities(card: dict[str, Any]) -> Iterator[str]:
    if "entity" in card:
        yield card["entity"]
    for item in card.get("entities", []):
        yield item["entity"] if isinstance(item, dict) else item


async def _dashboard(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "get_dashboard", {}, blocking=True, return_response=True
    )
    assert response is not None
    assert parse_yaml(str(response["yaml"])) == response["config"]
    config: dict[str, Any] = response["config"]  # type: ignore[assignment]
    return config


async def test_dashboard_of_a_charger(hass: HomeAssistant, onboard: Onboard) -> None:
    async with onboard() as (_sim, _entry):
        config = await _dashboard(hass)
        cards = list(_cards(config["views"][0]["cards"]))
        assert {card["type"] for card in cards} <= BUILT_IN_CARDS
        assert "energy-distribution" not in {card["type"] for card in cards}
        shown = [entity for card in cards for entity in _entities(card)]
        missing = [entity for entity in shown if hass.states.get(entity) is None]
        assert not missing
        chart = next(card for card in cards if card["type"] == "history-graph")
        chart_entities = [item["entity"] for item in chart["entities"]]
        assert chart_entities[:3] == ["sensor.pv", "sensor.grid", "sensor.battery"]
        assert any(e.startswith("sensor.") and e.endswith("_power") for e in chart_entities[3:])
        mode = next(card for card in cards if card.get("features"))
        assert mode["entity"].startswith("select.")
        assert mode["name"] == "Charge mode"  # the heading names the charger, the rows do not
        assert any(card.get("title") == "Controls" for card in cards)
        assert {"type": "tile", "entity": "sensor.battery_soc"} in cards
        controls = next(card for card in cards if card.get("title") == "Controls")
        assert all(not row["name"].startswith("Acme") for row in controls["entities"])
        assert _short_name(hass, "sensor.pv", "Acme Wallbox 1") is None  # not the charger's
        # The energy manager's site card: its state, surplus and settings from the server's
        # device, named without the device's name.
        site = next(card for card in cards if card.get("title") == "Site energy manager")
        assert [row["entity"] for row in site["entities"]] == [
            "sensor.ocpp_server_port_0_energy_manager",
            "sensor.ocpp_server_port_0_available_surplus",
            "sensor.ocpp_server_port_0_charging_power_all_chargers",
            "number.ocpp_server_port_0_battery_priority_state_of_charge",
            "number.ocpp_server_port_0_battery_floor_state_of_charge",
            "number.ocpp_server_port_0_charge_from_the_grid_at_or_below",
        ]
        assert site["entities"][0]["name"] == "Energy manager"

        # With the Energy dashboard configured, its flow card leads.
        manager = await async_get_manager(hass)
        await manager.async_update(
            {
                "energy_sources": [
                    {"type": "solar", "stat_energy_from": "sensor.pv_energy"},
                ]
            }
        )
        config = await _dashboard(hass)
        assert config["views"][0]["cards"][0]["type"] == "energy-distribution"


async def test_dashboard_without_server(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    await async_unload_all(hass)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "get_dashboard", {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "no_server"
