"""Helpers of the energy manager tests.

Site sensors: template sensors fed by input_numbers. ``sensor.<name>`` gets the unit and device
class given (as a meter integration's sensor would), its value is ``input_number.<name>``, set with
:func:`set_sources`. Charger options: set through the options flow, as a user would.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.ocpp_ems.const import (
    CONF_BASE_STACK_LEVEL,
    CONF_EMS_ENABLED,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_MIN_WRITE_INTERVAL,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PROFILE_PURPOSE,
    CONF_RATE_UNIT,
    CONF_RESPONSE_TIMEOUT,
    CONF_SAFE_CURRENT,
    CONF_SERVER_ENTRY_ID,
    CONF_SINGLE_PHASE_LINE,
    DEFAULT_CHARGER_SETTINGS,
)
from custom_components.ocpp_ems.core.ems import options as ems_options

from .charger import SimCharger, wait_for

# The energy-manager entities of the onboarded test charger (CP1).
MODE = "select.acme_wallbox_1_charge_mode"
REASON = "sensor.acme_wallbox_1_energy_manager_reason"
TARGET = "sensor.acme_wallbox_1_energy_manager_target_current"

# name -> (unit, device class)
POWER = ("W", "power")
PERCENT = ("%", "battery")


def ems_server_options(**options: Any) -> dict[str, Any]:
    """Options of a test server whose energy manager is on (writes at most every 2 s), with the
    sensor (and other) options given."""
    return {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: True,
        CONF_MIN_WRITE_INTERVAL: 2,
        **options,
    }


async def async_setup_sources(hass: HomeAssistant, sensors: dict[str, tuple[str, str]]) -> None:
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                name: {"min": -30000, "max": 30000, "step": 1, "initial": 0} for name in sensors
            }
        },
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "sensor": [
                        {
                            "name": name.replace("_", " "),
                            "unique_id": name,
                            "state": f"{{{{ states('input_number.{name}') | float }}}}",
                            "unit_of_measurement": unit,
                            "device_class": device_class,
                        }
                        for name, (unit, device_class) in sensors.items()
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()


async def set_sources(hass: HomeAssistant, **values: float) -> None:
    for name, value in values.items():
        await hass.services.async_call(
            "input_number",
            "set_value",
            {"entity_id": f"input_number.{name}", "value": value},
            blocking=True,
        )
    await hass.async_block_till_done()


def default_charger_options() -> dict[str, Any]:
    """Every required field of the charger options step, at its default."""
    defaults = DEFAULT_CHARGER_SETTINGS
    return {
        CONF_INSTALLATION_MAX: defaults.installation_max_a,
        CONF_SAFE_CURRENT: defaults.safe_current_a,
        CONF_MIN_CURRENT: defaults.min_current_a,
        CONF_BASE_STACK_LEVEL: defaults.base_stack_level,
        CONF_LIVE_STACK_LEVEL: defaults.live_stack_level,
        CONF_PROFILE_PURPOSE: str(defaults.live_profile_purpose),
        CONF_RATE_UNIT: str(defaults.rate_unit),
        CONF_PAUSE_STRATEGY: str(defaults.pause_strategy),
        CONF_METER_INTERVAL: defaults.meter_interval_s,
        CONF_LIVE_LIMIT_DURATION: defaults.live_limit_duration_s,
        CONF_PHASES: str(defaults.phases),  # a select (1 or 3) shows text
        CONF_SINGLE_PHASE_LINE: str(defaults.single_phase_line),
    }


async def async_set_charger_options(
    hass: HomeAssistant, entry: ConfigEntry, **changes: Any
) -> None:
    """Submit the charger's options step (defaults + ``changes``); wait for the entry's reload.
    The installation maximum stays within the site's main fuse (the form refuses it above)."""
    server = hass.config_entries.async_get_entry(entry.data[CONF_SERVER_ENTRY_ID])
    fuse = None if server is None else ems_options.FUSE.read(server.options)
    defaults = default_charger_options()
    if fuse is not None:
        defaults[CONF_INSTALLATION_MAX] = min(defaults[CONF_INSTALLATION_MAX], fuse)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    # The options open on a menu (control settings / show password).
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "charger"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], defaults | changes
    )
    assert result["type"] == "create_entry", result
    await hass.async_block_till_done()
    await wait_for(lambda: entry.state is ConfigEntryState.LOADED, what="charger entry reloaded")


async def plug_in_and_charge(sim: SimCharger) -> None:
    """A car plugged in, its transaction started, the charger charging."""
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")
