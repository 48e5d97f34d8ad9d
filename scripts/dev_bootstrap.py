#!/usr/bin/env python3
"""Prepare and configure the development Home Assistant that ``scripts/develop`` runs.

``offline CONFIG``  (before hass starts; idempotent)
    Creates the owner user (no password: the trusted_networks provider in configuration.yaml logs
    127.0.0.1 in without a prompt), marks onboarding done, writes a long-lived access token to
    ``CONFIG/.dev_token`` for scripts and curl, makes Home Assistant listen on
    127.0.0.1:``--hass-port`` only (its confirmed HTTP settings in ``.storage/http``), moves an
    existing OCPP server entry to ``--ocpp-port`` (OCPP_PORT), as its Reconfigure would, and renames
    chargers accepted before the acceptance asked for a name ("<vendor> <model> (<id>)") the way a
    new setup names them, entity ids included.

``server-port CONFIG``
    Prints the stored OCPP server entry's port and TLS port (for ``scripts/develop``).

``online CONFIG --port P``  (while hass runs; idempotent)
    Through Home Assistant's own REST / websocket API, i.e. the same config flows a user clicks:
    creates the OCPP server entry on port P if there is none, lets the simulator's id tag charge
    (options menu, "server" step), enables the energy manager on the simulated PV / grid / battery
    sensors and the battery's discharge limit of configuration.yaml ("energy manager" step; only
    the inputs that are not set, so an existing development setup is upgraded and the user's
    other choices stay), and accepts the discovery flow of each charger that connects as
    "Wallbox" (entity ids sensor.wallbox_...; "Wallbox 2" ... for more), which creates its charger
    entry and moves it to Basic authentication. Adds the simulated roof's solar forecast
    (scripts/dev_integrations/sim_solar_forecast; the Energy dashboard's solar source gets it) and
    gives each charger's "Vehicle battery capacity" the simulated car's, where it is not set, so
    SoC plans and Solar mode's sun ahead work as with a real car.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

DOMAIN = "ocpp_ems"
TOKEN_FILE = ".dev_token"
_LOGGER = logging.getLogger("dev_bootstrap")

# The energy manager on the simulated household of config/configuration.yaml (sign conventions the
# energy manager expects: grid + import / - export, battery + discharging / - charging).
EMS_OPTIONS: dict[str, Any] = {
    "ems_enabled": True,
    "grid_power_entity": "sensor.simulated_grid_power",
    "grid_current_l1_entity": "sensor.simulated_grid_current_l1",
    "grid_current_l2_entity": "sensor.simulated_grid_current_l2",
    "grid_current_l3_entity": "sensor.simulated_grid_current_l3",
    "pv_power_entity": "sensor.simulated_pv_power",
    "battery_power_entity": "sensor.simulated_battery_power",
    "battery_soc_entity": "sensor.simulated_battery_state_of_charge",
    # Set by the energy manager so the battery covers the house but never the car.
    "battery_discharge_limit_entity": "input_number.sim_battery_discharge_limit",
    "fuse_a": 25,
    "site_phases": "3",
    # Below the simulated battery's 60 % at the first start: the car comes first at once (a
    # newcomer sees it charge from the sun); raise it to see the battery charge first.
    "battery_priority_soc": 50,
    # The simulated dynamic tariff: plans pick its cheap hours, sessions are costed at it.
    "price_entity": "sensor.simulated_electricity_price",
}


# The simulated roof's solar forecast (scripts/dev_integrations) and the simulated car's battery
# (scripts/charger_sim/model.py's BATTERY_WH).
FORECAST_DOMAIN = "sim_solar_forecast"
SIM_CAR_KWH = 60.0


# ------------------------------------------------------------------------------------ offline part
async def prepare_offline(config_dir: Path, hass_port: int, ocpp_port: int | None = None) -> None:
    from homeassistant.auth import auth_manager_from_config
    from homeassistant.auth.const import GROUP_ID_ADMIN
    from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
    from homeassistant.components.onboarding import STORAGE_KEY, STORAGE_VERSION
    from homeassistant.components.onboarding.const import STEPS
    from homeassistant.config_entries import ConfigEntries
    from homeassistant.core import CoreState, HomeAssistant
    from homeassistant.helpers import device_registry as dr
    from homeassistant.helpers import entity_registry as er
    from homeassistant.helpers.storage import Store

    hass = HomeAssistant(str(config_dir))
    # As homeassistant/scripts/auth.py does: the auth store needs the registries loaded.
    hass.config_entries = ConfigEntries(hass, {})
    await hass.config_entries.async_initialize()
    dr.async_setup(hass)
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    users = [u for u in await hass.auth.async_get_users() if not u.system_generated]
    owner = next((u for u in users if u.is_owner), None)
    if owner is None:
        owner = await hass.auth.async_create_user("Developer", group_ids=[GROUP_ID_ADMIN])
        _LOGGER.info("Created the owner user %s", owner.name)

    token_path = config_dir / TOKEN_FILE
    has_token = any(
        t.token_type == TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN for t in owner.refresh_tokens.values()
    )
    if not token_path.is_file() or not has_token:
        for token in list(owner.refresh_tokens.values()):
            if token.client_name == "scripts/develop":
                hass.auth.async_remove_refresh_token(token)
        refresh = await hass.auth.async_create_refresh_token(
            owner,
            client_name="scripts/develop",
            token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
            access_token_expiration=timedelta(days=3650),
        )
        token_path.write_text(hass.auth.async_create_access_token(refresh))
        token_path.chmod(0o600)
        _LOGGER.info("Wrote a long-lived access token to %s", token_path)

    onboarding: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)
    data = await onboarding.async_load() or {"done": []}
    if set(data["done"]) != set(STEPS):
        await onboarding.async_save({"done": list(STEPS)})
        _LOGGER.info("Marked onboarding done")

    await _confirm_http_config(hass, hass_port)
    if ocpp_port is not None and (old := move_server_port(hass, ocpp_port)) is not None:
        _LOGGER.info("Moved the OCPP server entry from port %s to %s (OCPP_PORT)", old, ocpp_port)
    for old_title, name in rename_old_chargers(hass):
        _LOGGER.info("Renamed the charger %s to %s (and its entity ids)", old_title, name)

    # Stopping a running instance flushes the delayed saves (auth store) in its final write;
    # async_stop() ignores an instance that never started, hence the explicit state.
    logging.getLogger("homeassistant.core").setLevel(logging.WARNING)
    hass.set_state(CoreState.running)
    await hass.async_stop()


def move_server_port(hass: Any, port: int) -> int | None:
    """Move the OCPP server entry to ``port`` as its Reconfigure step does (data, unique id, and
    the title while it is the generated one); returns the old port, or None when it was there
    already or there is no server entry. Only while Home Assistant is not running: the running
    server would otherwise be restarted by the entry's update listener."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.data.get("entry_type") != "server" or (old := int(entry.data["port"])) == port:
            continue
        title = entry.title
        if title == f"OCPP server port {old}":
            title = f"OCPP server port {port}"
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, "port": port}, unique_id=f"port_{port}", title=title
        )
        return old
    return None


def rename_old_chargers(hass: Any) -> list[tuple[str, str]]:
    """Charger entries titled "<vendor> <model> (<charger id>)" (accepted before the acceptance
    asked for a name) get :func:`charger_name`'s name, their entity ids the matching prefix
    (sensor.<old title>_power -> sensor.wallbox_power); the device takes the title at setup.
    Only while Home Assistant is not running. Returns (old title, new name) pairs."""
    from homeassistant.helpers import entity_registry as er
    from homeassistant.util import slugify

    registry = er.async_get(hass)
    chargers = [
        e
        for e in hass.config_entries.async_entries(DOMAIN)
        if e.data.get("entry_type") == "charger"
    ]
    titles = {entry.title for entry in chargers}
    renamed: list[tuple[str, str]] = []
    for entry in chargers:
        if not entry.title.endswith(f" ({entry.data['charger_id']})"):
            continue
        name = next(
            charger_name(n) for n in range(len(chargers) + 1) if charger_name(n) not in titles
        )
        titles.add(name)
        old_prefix, new_prefix = slugify(entry.title) + "_", slugify(name) + "_"
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
            domain, object_id = entity.entity_id.split(".", 1)
            if object_id.startswith(old_prefix):
                new_id = f"{domain}.{new_prefix}{object_id.removeprefix(old_prefix)}"
                registry.async_update_entity(entity.entity_id, new_entity_id=new_id)
        renamed.append((entry.title, name))
        hass.config_entries.async_update_entry(entry, title=name)
    return renamed


async def _confirm_http_config(hass: Any, port: int) -> None:
    """Listen on 127.0.0.1 only (the trusted-network login bypass must not reach the LAN).

    Since Home Assistant 2026.10 the ``http:`` settings live in ``.storage/http`` as a confirmed
    ("stable") config plus a "pending" one under trial, which reverts (with a restart, onto the
    default: all interfaces) unless confirmed within 5 minutes. The same store API the settings
    page uses makes ours the confirmed one, so nothing is pending and nothing restarts.
    """
    from homeassistant.components.http.config import (
        HTTP_STORAGE_SCHEMA,
        async_get_and_load_store,
    )

    wanted = HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": port})
    store = await async_get_and_load_store(hass)

    def plain(config: Any) -> dict[str, Any]:
        meta = ("created_at", "error", "error_message")
        return {key: value for key, value in dict(config).items() if key not in meta}

    if plain(store.stable) == wanted and store.pending is None and store.yaml_migration_done:
        return
    pending: Any = {**wanted, "error": None, "error_message": None}
    await store.async_set_pending(pending)
    if store.pending is not None:
        await store.async_promote_pending()
    await store.async_mark_yaml_migration_done()
    _LOGGER.info("HTTP server: 127.0.0.1:%s (confirmed in .storage/http)", port)


# ------------------------------------------------------------------------------------- online part
class HassApi:
    """Just enough of Home Assistant's REST and websocket API."""

    def __init__(self, base: str, token: str) -> None:
        import aiohttp

        self.base = base
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.token = token

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.base + path, json=body) as response:
            text = await response.text()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {response.status} {text}")
            return json.loads(text) if text else None

    async def ws(self, message: dict[str, Any]) -> Any:
        async with self.session.ws_connect(self.base + "/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            auth = await ws.receive_json()
            if auth.get("type") != "auth_ok":
                raise RuntimeError(f"websocket auth failed: {auth}")
            await ws.send_json({"id": 1, **message})
            while True:
                reply = await ws.receive_json()
                if reply.get("id") == 1:
                    if not reply.get("success"):
                        raise RuntimeError(f"{message['type']}: {reply}")
                    return reply["result"]

    async def wait_until_up(self) -> None:
        while True:
            try:
                await self.request("GET", "/api/")
                return
            except Exception:
                await asyncio.sleep(1)


def _fill_form(schema: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    """Answer a form with ``values`` (flat: by field name, whatever section the field is in), and
    its own defaults for the fields they leave out. A section ("expandable") is answered as the
    nested form it is."""
    answer: dict[str, Any] = {}
    for field in schema:
        name = field["name"]
        if field.get("type") == "expandable":
            answer[name] = _fill_form(field["schema"], values)
        elif name in values:
            answer[name] = values[name]
        elif "default" in field:
            answer[name] = field["default"]
    return answer


async def _entries(api: HassApi) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await api.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    return result


def stored_server_entry(config_dir: Path) -> dict[str, Any] | None:
    """The OCPP server entry as Home Assistant stored it (``.storage/core.config_entries``), by its
    entry type (the REST API's entry list has no data; its title is the user's to change)."""
    path = config_dir / ".storage" / "core.config_entries"
    if not path.is_file():
        return None
    for entry in json.loads(path.read_text())["data"]["entries"]:
        if entry["domain"] == DOMAIN and entry["data"].get("entry_type") == "server":
            return dict(entry)
    return None


async def _server_entry(api: HassApi, config_dir: Path, port: int) -> str:
    """The id of the OCPP server entry, created on ``port`` if there is none."""
    stored = stored_server_entry(config_dir)
    if stored is not None and any(e["entry_id"] == stored["entry_id"] for e in await _entries(api)):
        _LOGGER.info("OCPP server entry exists: %s", stored["title"])
        return str(stored["entry_id"])
    form = await api.request("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    answer = _fill_form(form["data_schema"], {"port": port, "host": "0.0.0.0"})
    result = await api.request("POST", f"/api/config/config_entries/flow/{form['flow_id']}", answer)
    if result.get("type") != "create_entry":
        raise RuntimeError(f"creating the server entry failed: {result}")
    _LOGGER.info("Created the OCPP server entry on port %s", port)
    return str(result["result"]["entry_id"])


def _suggested(schema: list[dict[str, Any]]) -> dict[str, Any]:
    """The values a form shows now (the entry's current options), flat: by field name, also of
    the fields inside sections; fields without one are left out."""
    shown: dict[str, Any] = {}
    for field in schema:
        if field.get("type") == "expandable":
            shown |= _suggested(field["schema"])
        elif (value := (field.get("description") or {}).get("suggested_value")) is not None:
            shown[field["name"]] = value
    return shown


async def _options_step(
    api: HassApi,
    entry_id: str,
    step: str,
    changes: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> bool:
    """Run one step of the server's options menu, as a user clicking it would.

    ``changes`` looks at the current options (the form's suggested values, flat) and returns the
    fields to change, or None when the options are already as wanted: then the flow is abandoned
    and nothing is written. Returns whether the options were written.
    """
    base = "/api/config/config_entries/options/flow"
    form = await api.request("POST", base, {"handler": entry_id})
    flow_id = form["flow_id"]
    if form.get("type") == "menu":
        form = await api.request("POST", f"{base}/{flow_id}", {"next_step_id": step})
    if form.get("type") != "form" or form.get("step_id") != step:
        await api.request("DELETE", f"{base}/{flow_id}")
        raise RuntimeError(f"options step {step} not offered: {form}")
    schema: list[dict[str, Any]] = form["data_schema"]
    current = _suggested(schema)
    wanted = changes(current)
    if wanted is None:
        await api.request("DELETE", f"{base}/{flow_id}")
        return False
    # Keep what is set now, change only the fields we care about.
    result = await api.request("POST", f"{base}/{flow_id}", _fill_form(schema, current | wanted))
    if result.get("type") != "create_entry":
        raise RuntimeError(f"options step {step} failed: {result}")
    return True


async def ensure_id_tag(api: HassApi, entry_id: str, id_tag: str) -> None:
    """Let the simulator's id tag charge (unknown tags are refused by default)."""

    def add_tag(current: dict[str, Any]) -> dict[str, Any] | None:
        tags = list(current.get("id_tags") or [])
        return None if id_tag in tags else {"id_tags": [*tags, id_tag]}

    if await _options_step(api, entry_id, "server", add_tag):
        _LOGGER.info("Allowed id tag %s", id_tag)
    else:
        _LOGGER.info("Id tag %s is allowed", id_tag)


def energy_manager_changes(current: dict[str, Any]) -> dict[str, Any] | None:
    """What of :data:`EMS_OPTIONS` to set: everything while the energy manager is off; once it is
    on, only the simulated inputs that are not set (a development setup made before the battery's
    discharge limit or the simulated price existed gets them); the user's other choices stay.
    None: nothing to set."""
    if not current.get("ems_enabled"):
        return dict(EMS_OPTIONS)
    missing = {
        key: value
        for key, value in EMS_OPTIONS.items()
        if key.endswith("_entity") and not current.get(key)
    }
    return missing or None


async def ensure_energy_manager(api: HassApi, entry_id: str) -> None:
    """Enable the energy manager on the simulated site of configuration.yaml."""
    if await _options_step(api, entry_id, "energy_manager", energy_manager_changes):
        _LOGGER.info("Energy manager on the simulated site (and its battery discharge limit)")
    else:
        _LOGGER.info("Energy manager already enabled on the simulated site")


def charger_name(accepted: int) -> str:
    """The name the next charger is accepted with: "Wallbox", then "Wallbox 2" ... (the README's
    entity ids, sensor.wallbox_power ...)."""
    return "Wallbox" if accepted == 0 else f"Wallbox {accepted + 1}"


async def accept_chargers(api: HassApi, want: int) -> None:
    """Confirm discovery flows of new chargers until ``want`` charger entries exist (named by
    :func:`charger_name`; the installation maximum as the form suggests)."""
    while True:
        chargers = [e for e in await _entries(api) if e["source"] == "integration_discovery"]
        if len(chargers) >= want:
            _LOGGER.info("Charger entries: %s", ", ".join(e["title"] for e in chargers))
            return
        for flow in await api.ws({"type": "config_entries/flow/progress"}):
            if (
                flow["handler"] != DOMAIN
                or flow["context"].get("source") != "integration_discovery"
            ):
                continue
            path = f"/api/config/config_entries/flow/{flow['flow_id']}"
            form = await api.request("GET", path)
            answer = _fill_form(
                form.get("data_schema") or [], {"name": charger_name(len(chargers))}
            )
            result = await api.request("POST", path, answer)
            _LOGGER.info("Accepted charger: %s", result.get("title", result.get("type")))
            chargers.append(result)
        await asyncio.sleep(2)


async def ensure_solar_forecast(api: HassApi) -> str | None:
    """The simulated roof's forecast entry, added as a user adding the integration would (None:
    the integration is not there, e.g. Home Assistant not started by scripts/develop)."""
    path = f"/api/config/config_entries/entry?domain={FORECAST_DOMAIN}"
    if entries := await api.request("GET", path):
        return str(entries[0]["entry_id"])
    try:
        result = await api.request(
            "POST", "/api/config/config_entries/flow", {"handler": FORECAST_DOMAIN}
        )
    except RuntimeError as err:
        _LOGGER.warning("No simulated solar forecast: %s", err)
        return None
    if result.get("type") != "create_entry":
        raise RuntimeError(f"adding the simulated solar forecast failed: {result}")
    _LOGGER.info("Added the simulated solar forecast")
    return str(result["result"]["entry_id"])


async def ensure_vehicle_capacity(api: HassApi) -> None:
    """Each charger's "Vehicle battery capacity" number the simulated car's, where it is 0 (not
    set); a capacity the user chose stays."""
    registry = await api.ws({"type": "config/entity_registry/list"})
    numbers = {
        e["entity_id"]
        for e in registry
        if e["platform"] == DOMAIN and e.get("translation_key") == "vehicle_capacity"
    }
    for state in await api.request("GET", "/api/states"):
        if state["entity_id"] in numbers and state["state"] in ("0", "0.0"):
            await api.request(
                "POST",
                "/api/services/number/set_value",
                {"entity_id": state["entity_id"], "value": SIM_CAR_KWH},
            )
            _LOGGER.info("%s: %s kWh (the simulated car)", state["entity_id"], SIM_CAR_KWH)


# A charger's status sensor while a session runs.
SESSION_STATES = frozenset({"charging", "suspended_ev", "suspended_evse"})


async def wait_for_session(api: HassApi, seconds: float) -> None:
    """Wait (at most ``seconds``) until a charger runs a session: the simulator has reconnected with
    its password, booted, plugged its car in and started, so what it and Home Assistant log about
    that comes before scripts/develop's banner, not after it."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                registry = await api.ws({"type": "config/entity_registry/list"})
                status = {
                    e["entity_id"]
                    for e in registry
                    if e["platform"] == DOMAIN
                    and e["entity_id"].startswith("sensor.")
                    and e.get("translation_key") == "status"
                }
                for state in await api.request("GET", "/api/states"):
                    if state["entity_id"] in status and state["state"] in SESSION_STATES:
                        _LOGGER.info("%s: %s", state["entity_id"], state["state"])
                        return
                await asyncio.sleep(1)
    except TimeoutError:
        _LOGGER.info("No charging session after %.0f s; going on", seconds)


async def configure_online(args: argparse.Namespace) -> None:
    token = (Path(args.config) / TOKEN_FILE).read_text().strip()
    api = HassApi(args.url, token)
    try:
        async with asyncio.timeout(args.timeout):
            await api.wait_until_up()
            entry_id = await _server_entry(api, Path(args.config), args.port)
            await ensure_id_tag(api, entry_id, args.id_tag)
            await ensure_energy_manager(api, entry_id)
            await accept_chargers(api, args.chargers)
            forecast_entry = await ensure_solar_forecast(api)
        await wait_for_session(api, args.session_wait)
        await ensure_vehicle_capacity(api)
        from dev_dashboards import (  # type: ignore[import-not-found, unused-ignore]  # scripts/
            configure_dashboards,
        )

        await configure_dashboards(api, EMS_OPTIONS, forecast_entry=forecast_entry)
    finally:
        await api.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    offline = sub.add_parser("offline")
    offline.add_argument("config")
    offline.add_argument("--hass-port", type=int, default=8123)
    offline.add_argument("--ocpp-port", type=int, help="move the OCPP server entry to this port")
    # For scripts/develop: "<port> <TLS port>" of the stored server entry (nothing without one).
    stored = sub.add_parser("server-port")
    stored.add_argument("config")
    online = sub.add_parser("online")
    online.add_argument("config")
    online.add_argument("--url", default="http://127.0.0.1:8123")
    online.add_argument("--port", type=int, default=9000)
    online.add_argument("--id-tag", default="SIM-TAG-1")
    online.add_argument("--chargers", type=int, default=1)
    online.add_argument("--timeout", type=float, default=180)
    online.add_argument("--session-wait", type=float, default=45, help="seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[bootstrap] %(message)s", stream=sys.stdout)
    config_dir = Path(args.config).resolve()
    if args.command == "offline":
        os.makedirs(config_dir, exist_ok=True)
        asyncio.run(prepare_offline(config_dir, args.hass_port, args.ocpp_port))
    elif args.command == "server-port":
        if (entry := stored_server_entry(config_dir)) is not None:
            print(entry["data"]["port"], entry.get("options", {}).get("tls_port") or "")
    else:
        asyncio.run(configure_online(args))


if __name__ == "__main__":
    main()
