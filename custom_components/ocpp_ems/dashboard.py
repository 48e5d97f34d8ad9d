"""A ready dashboard for a server's site and chargers, built from what exists: the user's site sensors
(the energy manager's options), the energy manager's own site values and settings, each charger's
entities (looked up by their translation keys in the entity registry, so renamed entity ids still
work) and, when configured, the Energy dashboard's flow card. Only Home Assistant's built-in cards.

The ``get_dashboard`` action returns it as YAML for the user to paste into a dashboard's raw
configuration editor; ``scripts/develop`` saves the same configuration as the demo's dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import probatio
from homeassistant.components.energy.data import async_get_manager as async_get_energy_manager
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util.yaml import dump as dump_yaml

from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN
from .coordinator import ServerConfigEntry, loaded_server_entry
from .core.ems.options import (
    BATTERY_FLOOR_SOC,
    BATTERY_POWER,
    BATTERY_PRIORITY_SOC,
    BATTERY_SOC,
    CHEAP_GRID_PRICE,
    GRID_POWER,
    PV_POWER,
)

SERVICE_GET_DASHBOARD: Final = "get_dashboard"

# (platform, translation key) of a charger's entities, in the order the cards show them.
HEADLINE: Final = [("sensor", "status"), ("sensor", "power"), ("sensor", "session_energy")]
SESSION: Final = [
    ("sensor", "session_duration"),
    ("sensor", "session_cost"),
    ("sensor", "session_user"),
    ("sensor", "session_energy_solar"),
    ("sensor", "session_energy_battery"),
    ("sensor", "session_energy_grid"),
]
ENERGY_MANAGER: Final = [
    ("sensor", "ems_reason"),
    ("sensor", "ems_next_change"),
    ("sensor", "ems_target_current"),
    ("sensor", "active_phases"),
    ("number", "target_energy"),
    ("time", "departure"),
]
# The server device's energy manager entities (those that exist: each site sensor only where its
# input is picked).
SITE: Final = [
    ("sensor", "ems_state"),
    ("sensor", "available_surplus"),
    ("sensor", "site_charging_power"),
    ("sensor", "cheap_grid_until"),
    ("number", BATTERY_PRIORITY_SOC.key),
    ("number", BATTERY_FLOOR_SOC.key),
    ("number", CHEAP_GRID_PRICE.key),
]
CONTROLS: Final = [
    ("switch", "charging_enabled"),
    ("switch", "availability"),
    ("number", "current_limit"),
    ("select", "phases"),
    ("button", "start_charging"),
    ("button", "stop_charging"),
    ("button", "unlock"),
]


def _entry_entities(hass: HomeAssistant, entry: ConfigEntry) -> dict[tuple[str, str], str]:
    registry = er.async_get(hass)
    found: dict[tuple[str, str], str] = {}
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.disabled or entity.translation_key is None:
            continue
        # The first one per key: the charger's own (connector entities repeat some keys).
        found.setdefault((entity.domain, entity.translation_key), entity.entity_id)
    return found


def _pick(found: dict[tuple[str, str], str], wanted: list[tuple[str, str]]) -> list[str]:
    return [found[key] for key in wanted if key in found]


def _short_name(hass: HomeAssistant, entity_id: str, device_name: str) -> str | None:
    """The entity's name without its device's (the card's heading already says which charger)."""
    state = hass.states.get(entity_id)
    friendly = str(state.attributes.get("friendly_name", "")) if state else ""
    if device_name and friendly.startswith(f"{device_name} "):
        short = friendly[len(device_name) + 1 :]
        return short[:1].upper() + short[1:]
    return None


def _device_name(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """The name of the entry's device (a charger's, or the server's own), as the user sees it."""
    device = next(iter(dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)), None)
    return (device.name_by_user or device.name or "") if device else entry.title


def _rows(hass: HomeAssistant, device_name: str) -> Callable[..., dict[str, Any]]:
    """A card row of an entity, named without the device's name (the card says which device)."""

    def row(entity_id: str, **extra: Any) -> dict[str, Any]:
        item: dict[str, Any] = {"entity": entity_id, **extra}
        if short := _short_name(hass, entity_id, device_name):
            item["name"] = short
        return item

    return row


def _site_card(hass: HomeAssistant, server: ConfigEntry) -> list[dict[str, Any]]:
    """The energy manager's site values and settings (while it is enabled, they exist)."""
    entities = _pick(_entry_entities(hass, server), SITE)
    if not entities:
        return []
    row = _rows(hass, _device_name(hass, server))
    return [
        {"type": "entities", "title": "Site energy manager", "entities": [row(e) for e in entities]}
    ]


def _charger_cards(
    hass: HomeAssistant, entry: ConfigEntry, found: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    name = _device_name(hass, entry)
    row = _rows(hass, name)

    tiles = [row(e, type="tile") for e in _pick(found, HEADLINE)]
    if ("select", "charge_mode") in found:
        tiles.append(
            row(
                found[("select", "charge_mode")],
                type="tile",
                features=[{"type": "select-options"}],
                features_position="bottom",
            )
        )
    cards: list[dict[str, Any]] = [
        {"type": "heading", "heading": name, "icon": "mdi:ev-station"},
        {"type": "grid", "columns": 2, "square": False, "cards": tiles},
    ]
    for title, wanted in (
        ("Session", SESSION),
        ("Energy manager", ENERGY_MANAGER),
        ("Controls", CONTROLS),
    ):
        if entities := _pick(found, wanted):
            cards.append(
                {"type": "entities", "title": title, "entities": [row(e) for e in entities]}
            )
    return cards


def _site_power_entities(
    server: ConfigEntry, chargers: list[dict[tuple[str, str], str]]
) -> list[str]:
    site = [server.options.get(ref.key) for ref in (PV_POWER, GRID_POWER, BATTERY_POWER)]
    power = [found.get(("sensor", "power")) for found in chargers]
    return [entity for entity in (*site, *power) if entity]


async def async_build_dashboard(hass: HomeAssistant, server: ServerConfigEntry) -> dict[str, Any]:
    """The Lovelace configuration (one view) for ``server`` and its accepted chargers."""
    chargers = {
        entry: _entry_entities(hass, entry)
        for entry in sorted(server.runtime_data.directory.charger_entries(), key=lambda e: e.title)
    }
    cards: list[dict[str, Any]] = []
    if await _energy_dashboard_configured(hass):
        cards.append({"type": "energy-distribution", "link_dashboard": True})
    if entities := _site_power_entities(server, list(chargers.values())):
        cards.append(
            {
                "type": "history-graph",
                "title": "Power today",
                "hours_to_show": 24,
                "entities": [{"entity": e} for e in entities],
            }
        )
    if soc := server.options.get(BATTERY_SOC.key):
        cards.append({"type": "tile", "entity": soc})
    cards.extend(_site_card(hass, server))
    for entry, found in chargers.items():
        cards.extend(_charger_cards(hass, entry, found))
    return {
        "title": "EV charging",
        "views": [
            {
                "title": "Charging",
                "path": "charging",
                "icon": "mdi:ev-station",
                "type": "masonry",
                "cards": cards,
            }
        ],
    }


async def _energy_dashboard_configured(hass: HomeAssistant) -> bool:
    manager = await async_get_energy_manager(hass)
    return bool(manager.data and manager.data.get("energy_sources"))


async def _get_dashboard(call: ServiceCall) -> ServiceResponse:
    server = loaded_server_entry(call.hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
    config = await async_build_dashboard(call.hass, server)
    return {"config": config, "yaml": dump_yaml(config)}


def async_setup_dashboard_action(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_DASHBOARD,
        _get_dashboard,
        schema=probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}),
        supports_response=SupportsResponse.ONLY,
    )
