"""Constants of the OCPP EMS Home Assistant layer."""

from __future__ import annotations

import logging
from typing import Final

from .core.ems import options as ems_options
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
# The OCPP versions (websocket subprotocols) the server speaks.
CONF_OCPP_VERSIONS: Final = "ocpp_versions"
CONF_AUTO_ACCEPT: Final = "auto_accept"
# In a charger's entry: accepted by "accept new chargers automatically" (counts towards the day's
# share, AUTO_ACCEPT_PER_DAY, across restarts).
CONF_ACCEPTED_AUTOMATICALLY: Final = "accepted_automatically"
CONF_ID_TAGS: Final = "id_tags"
CONF_ACCEPT_ANY_ID_TAG: Final = "accept_any_id_tag"
# Log every OCPP frame of the server's chargers (off: only with the frames logger at DEBUG).
CONF_LOG_FRAMES: Final = "log_frames"
# Secure connection (server options, "security" step): the wss:// listener (security profiles 2
# and 3), extra names for its certificate, and whose certificate it presents. The user's own
# certificate and key go to the server's security store, never into the options.
CONF_TLS_ENABLED: Final = "tls_enabled"
CONF_TLS_PORT: Final = "tls_port"
CONF_TLS_HOSTS: Final = "tls_hosts"
CONF_TLS_CERTIFICATE: Final = "tls_certificate"
CONF_TLS_CERTIFICATE_PEM: Final = "tls_certificate_pem"
CONF_TLS_PRIVATE_KEY_PEM: Final = "tls_private_key_pem"
TLS_CERTIFICATE_LOCAL_CA: Final = "local_ca"
TLS_CERTIFICATE_OWN: Final = "own"
DEFAULT_TLS_PORT: Final = 9443

# Charger entry data.
CONF_CHARGER_ID: Final = "charger_id"
CONF_SERVER_ENTRY_ID: Final = "server_entry_id"
CONF_PASSWORD: Final = "password"
# Add by id: the user types the password into the charger (only a login with it gets in).
CONF_PASSWORD_IN_CHARGER: Final = "password_in_charger"
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
# Smart charging: auto (as the charger lists), on or off (chargers that list it wrongly).
CONF_SMART_CHARGING: Final = "smart_charging"
CONF_METER_INTERVAL: Final = "meter_interval_s"
CONF_LIVE_LIMIT_DURATION: Final = "live_limit_duration_s"
CONF_PHASES: Final = "phases"
CONF_SINGLE_PHASE_LINE: Final = "single_phase_line"
# The car's state of charge from another integration, for chargers that do not report it.
CONF_VEHICLE_SOC: Final = "vehicle_soc_entity"
# How the charger must connect (OCPP security profile 1, 2 or 3) and whether a lower way is let in.
CONF_SECURITY_PROFILE: Final = "security_profile"
CONF_ALLOW_SECURITY_DOWNGRADE: Final = "allow_security_downgrade"
CONF_REMOTE_START_ID_TAG: Final = "remote_start_id_tag"

DEFAULT_HOST: Final = ServerSettings().host
DEFAULT_OCPP_VERSIONS: Final = ServerSettings().ocpp_versions
DEFAULT_PORT: Final = ServerSettings().port
_DEFAULT_SERVER = ServerSettings()
DEFAULT_HEARTBEAT_INTERVAL: Final = _DEFAULT_SERVER.heartbeat_interval_s
DEFAULT_PING_INTERVAL: Final = int(_DEFAULT_SERVER.ping_interval_s or 0)
DEFAULT_PING_TIMEOUT: Final = int(_DEFAULT_SERVER.ping_timeout_s or 0)
DEFAULT_RESPONSE_TIMEOUT: Final = int(_DEFAULT_SERVER.response_timeout_s)
DEFAULT_CHARGER_SETTINGS: Final = ChargerSettings()

# A charger that fails Basic auth this many times in a row gets a repair issue.
AUTH_FAILURE_REPAIR_THRESHOLD: Final = 3
# With "accept new chargers automatically", at most this many new charger ids within a day are
# accepted without asking (a household has a few chargers; a device on the LAN trying ids must not
# create charger entries by the thousand); more wait for approval as without the option.
AUTO_ACCEPT_PER_DAY: Final = 5

# Repair issues: their translation keys; an issue's id is its key and whom it is about (issue_id).
ISSUE_PORT_IN_USE: Final = "port_in_use"
ISSUE_AUTH_FAILED: Final = "auth_failed"
# A charger accepted its password but keeps connecting without it.
ISSUE_PASSWORD_IGNORED: Final = "password_ignored"
# A charger's clock is far ahead of ours (its timestamps are replaced by the time we receive them).
ISSUE_CLOCK_SKEW: Final = "clock_skew"
# A charger paused by remote stop keeps starting charges by itself (core/transaction_stops.py).
ISSUE_SELF_START_LOOP: Final = "self_start_loop"
# A charger has not applied (or refuses) the live limit for a while (core/limit_check.py).
ISSUE_LIMIT_NOT_APPLIED: Final = "limit_not_applied"
# Our server certificate could not be renewed / the user's own one expires soon.
ISSUE_TLS_RENEWAL_FAILED: Final = "tls_renewal_failed"
ISSUE_TLS_CERTIFICATE_EXPIRING: Final = "tls_certificate_expiring"
# The security store: its CA unreadable (TLS off), lost (a new CA), the user's own certificate
# unreadable (ours presented).
ISSUE_TLS_CA_DAMAGED: Final = "tls_ca_damaged"
ISSUE_TLS_CA_REPLACED: Final = "tls_ca_replaced"
ISSUE_TLS_OWN_CERTIFICATE_LOST: Final = "tls_own_certificate_lost"
# A charger did not come back on the security profile it was moved to: rolled back.
ISSUE_SECURITY_UPGRADE_FAILED: Final = "security_upgrade_failed"
# A charger's client certificate ends within a week and it has not taken a new one.
ISSUE_CLIENT_CERTIFICATE_RENEWAL: Final = "client_certificate_renewal"

STORAGE_VERSION: Final = 1
# Debounce of the charger-state store: transactions and energy are written at most this often.
STORAGE_SAVE_DELAY_S: Final = 10

# Energy manager (server entry options, "energy_manager" step): keys, defaults, bounds, form
# sections and readers are one table, core/ems/options.py. The names below are that table's keys.
CONF_EMS_ENABLED: Final = ems_options.EMS_ENABLED.key
CONF_GRID_POWER: Final = ems_options.GRID_POWER.key
CONF_GRID_CURRENT_L1: Final = ems_options.GRID_CURRENT_L1.key
CONF_GRID_CURRENT_L2: Final = ems_options.GRID_CURRENT_L2.key
CONF_GRID_CURRENT_L3: Final = ems_options.GRID_CURRENT_L3.key
CONF_PV_POWER: Final = ems_options.PV_POWER.key
CONF_PV_AVAILABLE_POWER: Final = ems_options.PV_AVAILABLE_POWER.key
CONF_ZERO_EXPORT: Final = ems_options.ZERO_EXPORT.key
CONF_BATTERY_POWER: Final = ems_options.BATTERY_POWER.key
CONF_BATTERY_SOC: Final = ems_options.BATTERY_SOC.key
CONF_BATTERY_DISCHARGE_LIMIT: Final = ems_options.BATTERY_DISCHARGE_LIMIT.key
CONF_PRICE: Final = ems_options.PRICE.key
CONF_PRICE_FORECAST_ATTRIBUTE: Final = ems_options.PRICE_FORECAST_ATTRIBUTE.key
CONF_FUSE: Final = ems_options.FUSE.key
CONF_SITE_PHASES: Final = ems_options.SITE_PHASES.key
CONF_VOLTAGE: Final = ems_options.VOLTAGE.key
CONF_BATTERY_PRIORITY_SOC: Final = ems_options.BATTERY_PRIORITY_SOC.key
CONF_BATTERY_ASSIST: Final = ems_options.BATTERY_ASSIST.key
CONF_BATTERY_FLOOR_SOC: Final = ems_options.BATTERY_FLOOR_SOC.key
CONF_BATTERY_ASSIST_POWER: Final = ems_options.BATTERY_ASSIST_POWER.key
CONF_STALE_FALLBACK: Final = ems_options.STALE_FALLBACK.key
CONF_STALE_AFTER: Final = ems_options.STALE_AFTER.key
CONF_STALE_GRACE: Final = ems_options.STALE_GRACE.key
CONF_MIN_WRITE_INTERVAL: Final = ems_options.MIN_WRITE_INTERVAL.key
EMS_SENSOR_KEYS: Final = tuple(option.key for option in ems_options.SENSOR_INPUTS)
# The table's defaults, for modules that do not read through the table yet (read
# ``ems_options.<OPTION>.read(options)`` instead; these go once nothing imports them).
DEFAULT_VOLTAGE: Final = ems_options.VOLTAGE.default
DEFAULT_SITE_PHASES: Final = ems_options.SITE_PHASES.default
DEFAULT_BATTERY_PRIORITY_SOC: Final = ems_options.BATTERY_PRIORITY_SOC.default
DEFAULT_BATTERY_FLOOR_SOC: Final = ems_options.BATTERY_FLOOR_SOC.default
DEFAULT_BATTERY_ASSIST_POWER: Final = ems_options.BATTERY_ASSIST_POWER.default
DEFAULT_MIN_WRITE_INTERVAL: Final = ems_options.MIN_WRITE_INTERVAL.default
DEFAULT_STALE_GRACE: Final = ems_options.STALE_GRACE.default
# Energy manager timing: inputs are debounced this long; a failed write is retried after this.
EMS_DEBOUNCE_S: Final = 1.0
EMS_RETRY_S: Final = 30.0
ISSUE_EMS_STALE_INPUTS: Final = "ems_stale_inputs"
# A grid or battery meter whose sign looks inverted (core/ems/meter_sign.py).
ISSUE_EMS_INVERTED_METER: Final = "ems_inverted_meter"

# The server entry a server-wide action is for (the first one when left out).
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"


def repair_issue_id(translation_key: str, owner_id: str) -> str:
    """A repair issue's id: its translation key and the config entry or charger it is about."""
    return f"{translation_key}_{owner_id}"
