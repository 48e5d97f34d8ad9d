"""Config flows: the server (one per port) and the chargers that connect to it.

* ``user`` / ``reconfigure``: where the server listens; the port is tried before anything is saved.
* ``integration_discovery``: an unknown charger booted; the user accepts it (a charger entry with a
  fresh password is created) or ignores it (Home Assistant's ignore = rejected from now on).
* Options: server tuning, onboarding and id tags for a server; the firmware quirks for a charger,
  and its password on demand ("Show password", to type into the charger's own web page).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Mapping
from typing import Any

import probatio
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)

from .const import (
    CONF_ACCEPT_ANY_ID_TAG,
    CONF_ALLOW_NEW_CHARGERS,
    CONF_AUTO_ACCEPT,
    CONF_BASE_STACK_LEVEL,
    CONF_BATTERY_ASSIST,
    CONF_BATTERY_ASSIST_POWER,
    CONF_BATTERY_FLOOR_SOC,
    CONF_BATTERY_POWER,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC,
    CONF_CHARGER_ID,
    CONF_EMS_ENABLED,
    CONF_ENTRY_TYPE,
    CONF_FUSE,
    CONF_GRID_CURRENT_L1,
    CONF_GRID_CURRENT_L2,
    CONF_GRID_CURRENT_L3,
    CONF_GRID_POWER,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_MIN_WRITE_INTERVAL,
    CONF_MODEL,
    CONF_PASSWORD,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PING_INTERVAL,
    CONF_PING_TIMEOUT,
    CONF_PORT,
    CONF_PRICE,
    CONF_PRICE_FORECAST_ATTRIBUTE,
    CONF_PROFILE_PURPOSE,
    CONF_PV_AVAILABLE_POWER,
    CONF_PV_POWER,
    CONF_RATE_UNIT,
    CONF_RESPONSE_TIMEOUT,
    CONF_SAFE_CURRENT,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_SITE_PHASES,
    CONF_STALE_FALLBACK,
    CONF_VEHICLE_SOC,
    CONF_VENDOR,
    CONF_VOLTAGE,
    DEFAULT_BATTERY_ASSIST_POWER,
    DEFAULT_BATTERY_FLOOR_SOC,
    DEFAULT_BATTERY_PRIORITY_SOC,
    DEFAULT_CHARGER_SETTINGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_MIN_WRITE_INTERVAL,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SITE_PHASES,
    DEFAULT_VOLTAGE,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
    LOGGER,
)
from .core.auth import generate_password
from .core.ems import StaleFallback
from .core.settings import PauseStrategy, ProfilePurpose, RateUnitPreference
from .credentials import charger_password, password_placeholders
from .ems_inputs import CONF_BATTERY_DISCHARGE_LIMIT, CONF_STALE_AFTER, CONF_STALE_GRACE
from .hub import is_charger_entry


async def async_try_bind(host: str, port: int) -> str | None:
    """Try to listen on ``host:port`` for a moment; return a form error key, or None if it works."""
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(asyncio.Protocol, host, port)
    except socket.gaierror:
        return "invalid_host"
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return "port_in_use"
        if err.errno == errno.EACCES:
            return "permission_denied"
        if err.errno in (errno.EADDRNOTAVAIL, None):
            # asyncio reports an address that is not this machine's without an errno
            # ("could not bind on any address").
            return "invalid_host"
        LOGGER.debug("Cannot listen on %s:%s: %s", host, port, err)
        return "cannot_bind"
    server.close()
    await server.wait_closed()
    return None


async def _bind_errors(host: str, port: int) -> dict[str, str]:
    """The form errors of trying ``host:port`` (empty when it can be used)."""
    if (error := await async_try_bind(host, port)) is None:
        return {}
    return {CONF_PORT if error == "port_in_use" else "base": error}


def _number(
    minimum: float, maximum: float, step: float = 1, unit: str | None = None
) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _select(options: list[str], translation_key: str) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=options, translation_key=translation_key, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _server_schema(defaults: Mapping[str, Any]) -> probatio.Schema:
    return probatio.Schema(
        {
            # 0 lets the system pick a free port (used by the tests; chargers need a fixed one).
            probatio.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): _number(
                0, 65535
            ),
            probatio.Required(
                CONF_HOST, default=defaults.get(CONF_HOST, DEFAULT_HOST)
            ): TextSelector(TextSelectorConfig(autocomplete="off")),
        }
    )


class OcppEmsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Server entries (user, reconfigure) and charger entries (discovery)."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        self._discovery: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        if is_charger_entry(config_entry):
            return ChargerOptionsFlow()
        return ServerOptionsFlow()

    # --- server: user and reconfigure ----------
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            port = int(user_input[CONF_PORT])
            host = user_input[CONF_HOST].strip() or DEFAULT_HOST
            await self.async_set_unique_id(f"port_{port}")
            self._abort_if_unique_id_configured()
            errors = await _bind_errors(host, port)
            if not errors:
                return self.async_create_entry(
                    title=f"OCPP server port {port}",
                    data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: host, CONF_PORT: port},
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(_server_schema({}), user_input),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        if is_charger_entry(entry):
            return self.async_abort(reason="reconfigure_charger")
        errors: dict[str, str] = {}
        if user_input is not None:
            port = int(user_input[CONF_PORT])
            host = user_input[CONF_HOST].strip() or DEFAULT_HOST
            if port != entry.data[CONF_PORT]:
                await self.async_set_unique_id(f"port_{port}")
                self._abort_if_unique_id_configured()
                # Only a new port can be tried: the running server holds the current one.
                errors = await _bind_errors(host, port)
            if not errors:
                # The update listener restarts the server on the new address.
                return self.async_update_and_abort(
                    entry,
                    unique_id=f"port_{port}",
                    title=f"OCPP server port {port}",
                    data_updates={CONF_HOST: host, CONF_PORT: port},
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _server_schema(entry.data), user_input or entry.data
            ),
            errors=errors,
        )

    # --- chargers: discovery ----------
    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """An unknown charger booted on one of our servers (started by the charger directory)."""
        charger_id: str = discovery_info[CONF_CHARGER_ID]
        await self.async_set_unique_id(charger_id)
        # A charger accepted on another port that now connects here follows the move.
        # (The entry's update listener reloads it.)
        self._abort_if_unique_id_configured(
            updates={CONF_SERVER_ENTRY_ID: discovery_info[CONF_SERVER_ENTRY_ID]},
            reload_on_update=False,
        )
        server_entry = self.hass.config_entries.async_get_entry(
            discovery_info[CONF_SERVER_ENTRY_ID]
        )
        if server_entry is None or server_entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="server_not_loaded")
        self._discovery = dict(discovery_info)
        self.context["title_placeholders"] = {"name": self._charger_title()}
        if discovery_info.get(CONF_AUTO_ACCEPT):
            return self._async_create_charger_entry()
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            return self._async_create_charger_entry()
        info = self._discovery
        return self.async_show_form(
            step_id="confirm",
            description_placeholders={
                "charger_id": info[CONF_CHARGER_ID],
                "vendor": info.get(CONF_VENDOR) or "?",
                "model": info.get(CONF_MODEL) or "?",
                "serial": info.get(CONF_SERIAL) or "?",
            },
        )

    async def async_step_ignore(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        """Ignoring a charger rejects it: drop its connection on every server right away."""
        result = await super().async_step_ignore(user_input)
        charger_id = str(user_input["unique_id"])
        for entry in self.hass.config_entries.async_loaded_entries(DOMAIN):
            if not is_charger_entry(entry):
                await entry.runtime_data.central.reject_charger(charger_id)
        return result

    def _charger_title(self) -> str:
        info = self._discovery
        name = " ".join(part for part in (info.get(CONF_VENDOR), info.get(CONF_MODEL)) if part)
        charger_id = str(info[CONF_CHARGER_ID])
        return f"{name} ({charger_id})" if name else charger_id

    @callback
    def _async_create_charger_entry(self) -> ConfigFlowResult:
        info = self._discovery
        return self.async_create_entry(
            title=self._charger_title(),
            data={
                CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER,
                CONF_CHARGER_ID: info[CONF_CHARGER_ID],
                CONF_SERVER_ENTRY_ID: info[CONF_SERVER_ENTRY_ID],
                # Setting the entry up provisions this password into the charger (Basic auth).
                CONF_PASSWORD: generate_password(),
            },
        )


def _sensor(device_class: SensorDeviceClass) -> EntitySelector:
    return EntitySelector(EntitySelectorConfig(domain="sensor", device_class=device_class))


def _ems_schema() -> probatio.Schema:
    """Every field optional: an unpicked sensor is an input the energy manager goes without."""
    return probatio.Schema(
        {
            probatio.Required(CONF_EMS_ENABLED, default=False): BooleanSelector(),
            probatio.Optional(CONF_GRID_POWER): _sensor(SensorDeviceClass.POWER),
            probatio.Optional(CONF_GRID_CURRENT_L1): _sensor(SensorDeviceClass.CURRENT),
            probatio.Optional(CONF_GRID_CURRENT_L2): _sensor(SensorDeviceClass.CURRENT),
            probatio.Optional(CONF_GRID_CURRENT_L3): _sensor(SensorDeviceClass.CURRENT),
            probatio.Optional(CONF_PV_POWER): _sensor(SensorDeviceClass.POWER),
            probatio.Optional(CONF_PV_AVAILABLE_POWER): _sensor(SensorDeviceClass.POWER),
            probatio.Optional(CONF_BATTERY_POWER): _sensor(SensorDeviceClass.POWER),
            probatio.Optional(CONF_BATTERY_SOC): _sensor(SensorDeviceClass.BATTERY),
            probatio.Optional(CONF_BATTERY_DISCHARGE_LIMIT): EntitySelector(
                EntitySelectorConfig(domain=["number", "input_number"])
            ),
            probatio.Optional(CONF_PRICE): _sensor(SensorDeviceClass.MONETARY),
            probatio.Optional(CONF_PRICE_FORECAST_ATTRIBUTE): TextSelector(),
            probatio.Optional(CONF_FUSE): _number(0, 400, 1, "A"),
            probatio.Required(CONF_SITE_PHASES, default=DEFAULT_SITE_PHASES): _select(
                ["1", "3"], "site_phases"
            ),
            probatio.Required(CONF_VOLTAGE, default=DEFAULT_VOLTAGE): _number(100, 260, 1, "V"),
            probatio.Required(
                CONF_BATTERY_PRIORITY_SOC, default=DEFAULT_BATTERY_PRIORITY_SOC
            ): _number(0, 100, 1, "%"),
            probatio.Required(CONF_BATTERY_ASSIST, default=False): BooleanSelector(),
            probatio.Required(CONF_BATTERY_FLOOR_SOC, default=DEFAULT_BATTERY_FLOOR_SOC): _number(
                0, 100, 1, "%"
            ),
            probatio.Required(
                CONF_BATTERY_ASSIST_POWER, default=DEFAULT_BATTERY_ASSIST_POWER
            ): _number(0, 50000, 100, "W"),
            probatio.Required(CONF_STALE_FALLBACK, default=str(StaleFallback.MIN_CURRENT)): _select(
                [str(f) for f in StaleFallback], "stale_fallback"
            ),
            # Unset: 60 s for the grid meter, 120 s for PV and battery; 300 s of grace.
            probatio.Optional(CONF_STALE_AFTER): _number(10, 3600, 1, "s"),
            probatio.Optional(CONF_STALE_GRACE): _number(0, 86400, 1, "s"),
            probatio.Required(CONF_MIN_WRITE_INTERVAL, default=DEFAULT_MIN_WRITE_INTERVAL): _number(
                1, 3600, 1, "s"
            ),
        }
    )


def _server_options_schema() -> probatio.Schema:
    """Defaults are the factory settings (the current options are shown as suggestions)."""
    return probatio.Schema(
        {
            probatio.Required(CONF_HEARTBEAT_INTERVAL, default=DEFAULT_HEARTBEAT_INTERVAL): _number(
                10, 86400, unit="s"
            ),
            probatio.Required(CONF_PING_INTERVAL, default=DEFAULT_PING_INTERVAL): _number(
                0, 3600, unit="s"
            ),
            probatio.Required(CONF_PING_TIMEOUT, default=DEFAULT_PING_TIMEOUT): _number(
                0, 3600, unit="s"
            ),
            probatio.Required(CONF_RESPONSE_TIMEOUT, default=DEFAULT_RESPONSE_TIMEOUT): _number(
                1, 300, unit="s"
            ),
            probatio.Required(CONF_ALLOW_NEW_CHARGERS, default=True): BooleanSelector(),
            probatio.Required(CONF_AUTO_ACCEPT, default=False): BooleanSelector(),
            probatio.Optional(CONF_ID_TAGS): TextSelector(TextSelectorConfig(multiple=True)),
            probatio.Required(CONF_ACCEPT_ANY_ID_TAG, default=False): BooleanSelector(),
        }
    )


# The options each step owns (and replaces; the other step's options are kept).
_EMS_KEYS = tuple(str(key) for key in _ems_schema().schema)
_SERVER_KEYS = tuple(str(key) for key in _server_options_schema().schema)


class ServerOptionsFlow(OptionsFlow):
    """Server tuning, onboarding and id tags; and the energy manager of the server's chargers."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="init", menu_options=["server", "energy_manager"])

    def _keep_others(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """The options of the other step (each step replaces only its own keys)."""
        return {k: v for k, v in self.config_entry.options.items() if k not in keys}

    async def async_step_energy_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if user_input is not None:
            data = self._keep_others(_EMS_KEYS) | user_input
            data[CONF_SITE_PHASES] = int(data[CONF_SITE_PHASES])
            data[CONF_MIN_WRITE_INTERVAL] = int(data[CONF_MIN_WRITE_INTERVAL])
            if (attribute := str(data.get(CONF_PRICE_FORECAST_ATTRIBUTE, "")).strip()) != "":
                data[CONF_PRICE_FORECAST_ATTRIBUTE] = attribute
            else:
                data.pop(CONF_PRICE_FORECAST_ATTRIBUTE, None)
            return self.async_create_entry(data=data)
        suggested = dict(self.config_entry.options)
        if CONF_SITE_PHASES in suggested:
            suggested[CONF_SITE_PHASES] = str(suggested[CONF_SITE_PHASES])
        schema = self.add_suggested_values_to_schema(_ems_schema(), suggested)
        return self.async_show_form(step_id="energy_manager", data_schema=schema)

    async def async_step_server(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if user_input is not None:
            data = self._keep_others(_SERVER_KEYS) | user_input
            for key in (
                CONF_HEARTBEAT_INTERVAL,
                CONF_PING_INTERVAL,
                CONF_PING_TIMEOUT,
                CONF_RESPONSE_TIMEOUT,
            ):
                data[key] = int(data[key])
            data[CONF_ID_TAGS] = [tag.strip() for tag in data.get(CONF_ID_TAGS, []) if tag.strip()]
            return self.async_create_entry(data=data)
        # The current options are suggestions, not defaults (so an emptied id tag list stays
        # empty instead of falling back to a default).
        schema = self.add_suggested_values_to_schema(
            _server_options_schema(), self.config_entry.options
        )
        return self.async_show_form(step_id="server", data_schema=schema)


class ChargerOptionsFlow(OptionsFlow):
    """The per-charger quirks: limits, profile stack levels and kind, unit, pause strategy; and
    the charger's password, shown on demand."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self.async_step_charger_menu()

    async def async_step_charger_menu(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        # Its own step id: the server's "init" menu has other options (and translations).
        return self.async_show_menu(
            step_id="charger_menu", menu_options=["charger", "show_password"]
        )

    async def async_step_show_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The Basic-auth credentials (only here and in the password repairs; never logged)."""
        if user_input is not None:
            return self.async_abort(reason="password_shown")
        charger_id = str(self.config_entry.data[CONF_CHARGER_ID])
        password = charger_password(self.config_entry)
        if password is None:
            return self.async_show_form(
                step_id="no_password",
                data_schema=probatio.Schema({}),
                description_placeholders={"charger_id": charger_id},
            )
        return self.async_show_form(
            step_id="show_password",
            data_schema=probatio.Schema({}),
            description_placeholders=password_placeholders(charger_id, password),
        )

    async def async_step_no_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return self.async_abort(reason="password_shown")

    async def async_step_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(user_input)
            for key in (
                CONF_BASE_STACK_LEVEL,
                CONF_LIVE_STACK_LEVEL,
                CONF_METER_INTERVAL,
                CONF_LIVE_LIMIT_DURATION,
                CONF_PHASES,
            ):
                data[key] = int(data[key])
            if data[CONF_LIVE_STACK_LEVEL] <= data[CONF_BASE_STACK_LEVEL]:
                # The live limit must sit above the safe base profile, or it never takes effect.
                errors[CONF_LIVE_STACK_LEVEL] = "live_stack_level"
            if data[CONF_SAFE_CURRENT] > data[CONF_INSTALLATION_MAX]:
                errors[CONF_SAFE_CURRENT] = "above_installation_max"
            if data[CONF_MIN_CURRENT] > data[CONF_INSTALLATION_MAX]:
                errors[CONF_MIN_CURRENT] = "above_installation_max"
            if not errors:
                return self.async_create_entry(data=data)
        defaults = DEFAULT_CHARGER_SETTINGS
        options = {
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
            CONF_PHASES: defaults.phases,
        } | dict(self.config_entry.options)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_INSTALLATION_MAX): _number(6, 80, 0.1, "A"),
                probatio.Required(CONF_SAFE_CURRENT): _number(0, 80, 0.1, "A"),
                probatio.Required(CONF_MIN_CURRENT): _number(0, 32, 0.1, "A"),
                probatio.Required(CONF_PHASES): _number(1, 3),
                probatio.Required(CONF_BASE_STACK_LEVEL): _number(0, 20),
                probatio.Required(CONF_LIVE_STACK_LEVEL): _number(0, 20),
                probatio.Required(CONF_PROFILE_PURPOSE): _select(
                    [str(p) for p in ProfilePurpose], "profile_purpose"
                ),
                probatio.Required(CONF_RATE_UNIT): _select(
                    [str(u) for u in RateUnitPreference], "rate_unit"
                ),
                probatio.Required(CONF_PAUSE_STRATEGY): _select(
                    [str(s) for s in PauseStrategy], "pause_strategy"
                ),
                probatio.Required(CONF_METER_INTERVAL): _number(1, 3600, unit="s"),
                probatio.Required(CONF_LIVE_LIMIT_DURATION): _number(60, 86400, unit="s"),
                # Energy manager: the car's SoC where the charger does not report it.
                probatio.Optional(CONF_VEHICLE_SOC): _sensor(SensorDeviceClass.BATTERY),
            }
        )
        return self.async_show_form(
            step_id="charger",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or options),
            errors=errors,
        )
