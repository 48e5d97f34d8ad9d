"""Diagnostics of server and charger entries: complete, and with every secret redacted."""

from __future__ import annotations

import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_PASSWORD
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.diagnostics import charger_diagnostics

from .helpers.fixtures import Onboard

# Values that differ from run to run (times, ports, generated transaction ids).
VOLATILE = props(
    "port",
    "cap",  # the opening connections' cap follows the process's file limit
    "last_seen",
    "last_heartbeat",
    "last_write",
    "fixed_written_at",
    "status_timestamp",
    "timestamp",
    "energy_timestamp",
    "energy_received_at",
    "last_register_at",
    "meter_last_at",
    "started_at",
    "transaction_id",
    "server_entry_id",
)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_ID_TAGS: ["SECRET-CARD"]}
    )
    async with onboard() as (sim, charger_entry):
        await sim.status("Charging")
        await sim.start_transaction("SECRET-CARD")
        await sim.meter_values(energy_wh=2000, power_w=3600)
        await hass.async_block_till_done()

        server = await get_diagnostics_for_config_entry(hass, hass_client, server_entry)
        charger = await get_diagnostics_for_config_entry(hass, hass_client, charger_entry)
        assert server == snapshot(name="server", exclude=VOLATILE)
        assert charger == snapshot(name="charger", exclude=VOLATILE)

        text = json.dumps([server, charger])
        assert charger_entry.data[CONF_PASSWORD] not in text
        assert "SECRET-CARD" not in text
        assert sim.authorization_key is not None
        assert sim.authorization_key not in text


async def test_diagnostics_of_unloaded_entry(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    onboard: Onboard,
    snapshot: SnapshotAssertion,
) -> None:
    async with onboard() as (_sim, charger_entry):
        await hass.config_entries.async_unload(charger_entry.entry_id)
        result = await get_diagnostics_for_config_entry(hass, hass_client, charger_entry)
    assert result == snapshot(exclude=VOLATILE)


def test_a_password_stored_by_an_older_version_is_redacted() -> None:
    """Versions before names_a_secret stored a vendor's password among the configuration keys:
    such a store still loads, and diagnostics must not show the value (None stays None)."""
    charger = Charger(charger_id="CP1")
    charger.configuration.update({"WifiPassword": "home-wifi", "AuthorizationKey": None})
    configuration = charger_diagnostics(charger)["configuration"]
    assert configuration == {"WifiPassword": REDACTED, "AuthorizationKey": None}
