"""Constants of the OCPP EMS Home Assistant layer."""

from __future__ import annotations

import logging
from typing import Final

from .core.settings import ChargerSettings, ServerSettings

DOMAIN: Final = "ocpp_ems"
LOGGER = logging.getLogger(__package__)

# Two kinds of config entries: a "server" per listening port, a "charger" per accepted charger.
CONF_ENTRY_TYPE: Final = "entry_type"
ENTRY_TYPE_SERVER: Final = "server"
ENTRY_TYPE_CHARGER: Final = "charger"

# Server entry data / options.
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_PING_INTERVAL: Final = "ping_interval"
CONF_PING_TIMEOUT: Final = "ping_timeout"
CONF_RESPONSE_TIMEOUT: Final = "response_timeout"
CONF_ALLOW_NEW_CHARGERS: Final = "allow_new_chargers"
CONF_AUTO_ACCEPT: Final = "auto_accept"
CONF_ID_TAGS: Final = "id_tags"
CONF_ACCEPT_ANY_ID_TAG: Final = "accept_any_id_tag"

# Charger entry data.
CONF_CHARGER_ID: Final = "charger_id"
CONF_SERVER_ENTRY_ID: Final = "server_entry_id"
CONF_PASSWORD: Final = "password"
CONF_VENDOR: Final = "vendor"
CONF_MODEL: Final = "model"
CONF_SERIAL: Final = "serial_number"

# Charger entry options (the ChargerSettings quirk fields).
CONF_INSTALLATION_MAX: Final = "installation_max_a"
CONF_SAFE_CURRENT: Final = "safe_current_a"
CONF_MIN_CURRENT: Final = "min_current_a"
CONF_BASE_STACK_LEVEL: Final = "base_stack_level"
CONF_LIVE_STACK_LEVEL: Final = "live_stack_level"
CONF_PROFILE_PURPOSE: Final = "live_profile_purpose"
CONF_RATE_UNIT: Final = "rate_unit"
CONF_PAUSE_STRATEGY: Final = "pause_strategy"
CONF_METER_INTERVAL: Final = "meter_interval_s"
CONF_LIVE_LIMIT_DURATION: Final = "live_limit_duration_s"
CONF_PHASES: Final = "phases"
# The car's state of charge from another integration, for chargers that do not report it.
CONF_VEHICLE_SOC: Final = "vehicle_soc_entity"

DEFAULT_HOST: Final = ServerSettings().host
DEFAULT_PORT: Final = ServerSettings().port
_DEFAULT_SERVER = ServerSettings()
DEFAULT_HEARTBEAT_INTERVAL: Final = _DEFAULT_SERVER.heartbeat_interval_s
DEFAULT_PING_INTERVAL: Final = int(_DEFAULT_SERVER.ping_interval_s or 0)
DEFAULT_PING_TIMEOUT: Final = int(_DEFAULT_SERVER.ping_timeout_s or 0)
DEFAULT_RESPONSE_TIMEOUT: Final = int(_DEFAULT_SERVER.response_timeout_s)
DEFAULT_CHARGER_SETTINGS: Final = ChargerSettings()

# A charger that fails Basic auth this many times in a row gets a repair issue.
AUTH_FAILURE_REPAIR_THRESHOLD: Final = 3

# Repair issue ids.
ISSUE_PORT_IN_USE: Final = "port_in_use"
ISSUE_AUTH_FAILED: Final = "auth_failed"
# A charger accepted its password but keeps connecting without it.
ISSUE_PASSWORD_IGNORED: Final = "password_ignored"
# A charger's clock is far ahead of ours (its timestamps are replaced by the time we receive them).
ISSUE_CLOCK_SKEW: Final = "clock_skew"

STORAGE_VERSION: Final = 1
# Debounce of the charger-state store: transactions and energy are written at most this often.
STORAGE_SAVE_DELAY_S: Final = 10

# Energy manager (server entry options, "energy_manager" step). Entity ids of the site's sensors.
CONF_EMS_ENABLED: Final = "ems_enabled"
CONF_GRID_POWER: Final = "grid_power_entity"
CONF_GRID_CURRENT_L1: Final = "grid_current_l1_entity"
CONF_GRID_CURRENT_L2: Final = "grid_current_l2_entity"
CONF_GRID_CURRENT_L3: Final = "grid_current_l3_entity"
CONF_PV_POWER: Final = "pv_power_entity"
# What the PV could give now (hybrid / zero-export inverters whose PV is curtailed).
CONF_PV_AVAILABLE_POWER: Final = "pv_available_power_entity"
CONF_BATTERY_POWER: Final = "battery_power_entity"
CONF_BATTERY_SOC: Final = "battery_soc_entity"
CONF_PRICE: Final = "price_entity"
CONF_PRICE_FORECAST_ATTRIBUTE: Final = "price_forecast_attribute"
CONF_FUSE: Final = "fuse_a"
CONF_SITE_PHASES: Final = "site_phases"
CONF_VOLTAGE: Final = "voltage_v"
CONF_BATTERY_PRIORITY_SOC: Final = "battery_priority_soc"
CONF_BATTERY_ASSIST: Final = "battery_assist"
CONF_BATTERY_FLOOR_SOC: Final = "battery_floor_soc"
CONF_BATTERY_ASSIST_POWER: Final = "battery_assist_power_w"
CONF_STALE_FALLBACK: Final = "stale_fallback"
CONF_MIN_WRITE_INTERVAL: Final = "min_write_interval_s"
EMS_SENSOR_KEYS: Final = (
    CONF_GRID_POWER,
    CONF_GRID_CURRENT_L1,
    CONF_GRID_CURRENT_L2,
    CONF_GRID_CURRENT_L3,
    CONF_PV_POWER,
    CONF_PV_AVAILABLE_POWER,
    CONF_BATTERY_POWER,
    CONF_BATTERY_SOC,
    CONF_PRICE,
)
DEFAULT_VOLTAGE: Final = 230.0
DEFAULT_SITE_PHASES: Final = 3
DEFAULT_BATTERY_PRIORITY_SOC: Final = 100.0
DEFAULT_BATTERY_FLOOR_SOC: Final = 50.0
DEFAULT_BATTERY_ASSIST_POWER: Final = 2000.0
DEFAULT_MIN_WRITE_INTERVAL: Final = 10
# Energy manager timing: inputs are debounced this long; a failed write is retried after this.
EMS_DEBOUNCE_S: Final = 1.0
EMS_RETRY_S: Final = 30.0
ISSUE_EMS_STALE_INPUTS: Final = "ems_stale_inputs"
