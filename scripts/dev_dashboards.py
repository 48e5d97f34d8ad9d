#!/usr/bin/env python3
"""The dashboards of the development Home Assistant (``scripts/develop``, at the end of
``dev_bootstrap.py online``; idempotent, also on its own: ``dev_dashboards.py CONFIG --url URL``).

Through Home Assistant's websocket API, as the UI would, once the accepted charger's entities exist:

- the Energy dashboard: grid import/export, PV (with the simulated roof's solar forecast) and the
  home battery of config/configuration.yaml (their kWh counters, the power sensors the energy
  manager reads for the live view), set when no energy source is configured yet, and every
  charger as an individual device (its lifetime energy);
- the storage dashboard "EV charging" (``/ocpp-ems``) with what the action
  ``ocpp_ems.get_dashboard`` returns (the configuration a user pastes), rewritten on every run so it
  follows the entities, and the default dashboard while none is chosen, so the UI opens on it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dev_bootstrap import HassApi  # type: ignore[import-not-found, unused-ignore]

DOMAIN = "ocpp_ems"
DASHBOARD_URL = "ocpp-ems"
DASHBOARD_VIEW = "charging"
_LOGGER = logging.getLogger("dev_dashboards")

# The kWh counters of config/configuration.yaml (integration sensors of its simulated powers).
GRID_IMPORT_ENERGY = "sensor.simulated_grid_import_energy"
GRID_EXPORT_ENERGY = "sensor.simulated_grid_export_energy"
PV_ENERGY = "sensor.simulated_pv_energy"
BATTERY_CHARGE_ENERGY = "sensor.simulated_battery_charge_energy"
BATTERY_DISCHARGE_ENERGY = "sensor.simulated_battery_discharge_energy"
BATTERY_KWH = 10.0
# A fixed feed-in tariff (EUR per kWh; the config's currency); imports are costed at the simulated
# dynamic price the energy manager plans with.
EXPORT_PRICE = 0.06


def site_sources(ems_options: dict[str, Any], forecast_entry: str | None) -> list[dict[str, Any]]:
    """The Energy dashboard's sources for the simulated site; ``ems_options`` gives the power
    sensors (dev_bootstrap's EMS_OPTIONS: the energy manager's own inputs), ``forecast_entry``
    the simulated roof's solar forecast (the energy manager uses the dashboard's)."""
    return [
        {
            "type": "grid",
            "stat_energy_from": GRID_IMPORT_ENERGY,
            "stat_energy_to": GRID_EXPORT_ENERGY,
            "stat_cost": None,
            "entity_energy_price": ems_options["price_entity"],
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": EXPORT_PRICE,
            # + import, - export: Home Assistant's own sign convention.
            "power_config": {"stat_rate": ems_options["grid_power_entity"]},
            "cost_adjustment_day": 0,
        },
        {
            "type": "solar",
            "stat_energy_from": PV_ENERGY,
            "stat_rate": ems_options["pv_power_entity"],
            "config_entry_solar_forecast": [forecast_entry] if forecast_entry else None,
        },
        {
            "type": "battery",
            "stat_energy_from": BATTERY_DISCHARGE_ENERGY,
            "stat_energy_to": BATTERY_CHARGE_ENERGY,
            # + discharging, - charging: as Home Assistant expects.
            "power_config": {"stat_rate": ems_options["battery_power_entity"]},
            "stat_soc": ems_options["battery_soc_entity"],
            "capacity": BATTERY_KWH,
        },
    ]


def charger_devices(registry: list[dict[str, Any]], titles: dict[str, str]) -> list[dict[str, Any]]:
    """One individual device per charger entry (``titles``: entry id -> title) that has a
    lifetime energy sensor in the entity registry listing, with its power sensor as the rate.
    The charger's own sensor is the shortest id of its key (a connector's adds a suffix)."""
    found: dict[tuple[str, str], str] = {}
    for entity in registry:
        key = (entity.get("config_entry_id") or "", entity.get("translation_key") or "")
        if (
            entity["platform"] == DOMAIN
            and entity["entity_id"].startswith("sensor.")
            and key[0] in titles
            and key[1] in ("lifetime_energy", "power")
            and not entity.get("disabled_by")
            and len(entity["entity_id"]) < len(found.get(key, entity["entity_id"] + "_"))
        ):
            found[key] = entity["entity_id"]
    devices = []
    for entry_id, title in sorted(titles.items(), key=lambda item: item[1]):
        if energy := found.get((entry_id, "lifetime_energy")):
            device = {"stat_consumption": energy, "name": title}
            if power := found.get((entry_id, "power")):
                device["stat_rate"] = power
            devices.append(device)
    return devices


def energy_prefs_update(
    current: dict[str, Any] | None,
    sources: list[dict[str, Any]],
    devices: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """What to save (``energy/save_prefs``): the site's sources when none is configured (the
    simulated PV gets its forecast where it has none: a setup from before the forecast existed),
    the chargers that are not an individual device yet; the user's own choices stay. None:
    nothing."""
    current = current or {}
    update: dict[str, Any] = {}
    existing = list(current.get("energy_sources") or [])
    if not existing:
        update["energy_sources"] = sources
    forecast = next(
        (s["config_entry_solar_forecast"] for s in sources if s["stat_energy_from"] == PV_ENERGY),
        None,
    )
    for index, source in enumerate(existing):
        if (
            forecast
            and source.get("stat_energy_from") == PV_ENERGY
            and not source.get("config_entry_solar_forecast")
        ):
            existing[index] = {**source, "config_entry_solar_forecast": forecast}
            update["energy_sources"] = existing
    listed = list(current.get("device_consumption") or [])
    known = {device["stat_consumption"] for device in listed}
    if new := [device for device in devices if device["stat_consumption"] not in known]:
        update["device_consumption"] = listed + new
    return update or None


def dashboard_url(base: str) -> str:
    return f"{base.rstrip('/')}/{DASHBOARD_URL}/{DASHBOARD_VIEW}"


async def wait_for_chargers(api: HassApi, seconds: float) -> list[dict[str, Any]]:
    """The individual devices of the accepted chargers, once each has its energy sensor (polled:
    the entities come when the charger entry has set up); [] after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                entries = await api.request(
                    "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
                )
                titles = {
                    e["entry_id"]: e["title"]
                    for e in entries
                    if e["source"] == "integration_discovery"
                }
                registry = await api.ws({"type": "config/entity_registry/list"})
                devices = charger_devices(registry, titles)
                if titles and len(devices) == len(titles):
                    return devices
                await asyncio.sleep(2)
    except TimeoutError:
        _LOGGER.warning(
            "No charger entities after %.0f s: the Energy dashboard goes without", seconds
        )
        return []


async def ensure_energy_prefs(
    api: HassApi,
    ems_options: dict[str, Any],
    devices: list[dict[str, Any]],
    forecast_entry: str | None = None,
) -> None:
    try:
        current = await api.ws({"type": "energy/get_prefs"})
    except RuntimeError:  # "No prefs": the Energy dashboard was never configured
        current = None
    update = energy_prefs_update(current, site_sources(ems_options, forecast_entry), devices)
    if update is None:
        _LOGGER.info("Energy dashboard configured")
        return
    await api.ws({"type": "energy/save_prefs", **update})
    _LOGGER.info("Energy dashboard: %s", ", ".join(sorted(update)))


async def ensure_dashboard(api: HassApi) -> None:
    """Create the "EV charging" dashboard if missing and (re)write its configuration with what the
    ``ocpp_ems.get_dashboard`` action builds; make it the default while none is chosen."""
    dashboards = await api.ws({"type": "lovelace/dashboards/list"})
    if not any(d["url_path"] == DASHBOARD_URL for d in dashboards):
        await api.ws(
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD_URL,
                "title": "EV charging",
                "icon": "mdi:ev-station",
                "show_in_sidebar": True,
            }
        )
        _LOGGER.info("Created the dashboard EV charging (/%s)", DASHBOARD_URL)
    called = await api.ws(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": "get_dashboard",
            "service_data": {},
            "return_response": True,
        }
    )
    config = called["response"]["config"]
    await api.ws({"type": "lovelace/config/save", "url_path": DASHBOARD_URL, "config": config})
    core = (await api.ws({"type": "frontend/get_system_data", "key": "core"}))["value"] or {}
    if not core.get("default_panel"):
        await api.ws(
            {
                "type": "frontend/set_system_data",
                "key": "core",
                "value": {**core, "default_panel": DASHBOARD_URL},
            }
        )
        _LOGGER.info("EV charging is the default dashboard")


async def configure_dashboards(
    api: HassApi, ems_options: dict[str, Any], wait: float = 120, forecast_entry: str | None = None
) -> None:
    """The Energy dashboard, then the EV charging dashboard (which shows the Energy dashboard's
    flow card once that is configured). ``ems_options``: dev_bootstrap's EMS_OPTIONS;
    ``forecast_entry``: the simulated roof's solar forecast entry (dev_bootstrap's)."""
    devices = await wait_for_chargers(api, wait)
    await ensure_energy_prefs(api, ems_options, devices, forecast_entry)
    await ensure_dashboard(api)


async def _main(args: argparse.Namespace) -> None:
    from dev_bootstrap import EMS_OPTIONS, TOKEN_FILE, HassApi, ensure_solar_forecast

    api = HassApi(args.url, (Path(args.config) / TOKEN_FILE).read_text().strip())
    try:
        await api.wait_until_up()
        forecast_entry = await ensure_solar_forecast(api)
        await configure_dashboards(api, EMS_OPTIONS, args.wait, forecast_entry)
    finally:
        await api.close()
    print(dashboard_url(args.url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--wait", type=float, default=120, help="seconds for the charger")
    logging.basicConfig(level=logging.INFO, format="[dashboards] %(message)s", stream=sys.stdout)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
