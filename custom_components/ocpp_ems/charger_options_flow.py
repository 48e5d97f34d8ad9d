"""A charger entry's options: the firmware quirks, the installation maximum, its security profile
(and the upgrade to another), and its password on demand ("Show password", to type into the
charger's own web page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    BooleanSelector,
    TextSelector,
    TextSelectorConfig,
)

from .const import (
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_BASE_STACK_LEVEL,
    CONF_CHARGER_ID,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PROFILE_PURPOSE,
    CONF_RATE_UNIT,
    CONF_REMOTE_START_ID_TAG,
    CONF_SAFE_CURRENT,
    CONF_SECURITY_PROFILE,
    CONF_SERVER_ENTRY_ID,
    CONF_SINGLE_PHASE_LINE,
    CONF_SMART_CHARGING,
    CONF_VEHICLE_SOC,
    DEFAULT_CHARGER_SETTINGS,
)
from .core.settings import (
    PauseStrategy,
    ProfilePurpose,
    RateUnitPreference,
    SecurityProfile,
    SmartChargingMode,
    is_id_tag,
)
from .credentials import charger_password, password_placeholders
from .flow_fields import (
    installation_max_errors,
    main_fuse_a,
    number_field,
    select_field,
    sensor_field,
)
from .security import (
    async_tls_url_host,
    tls_options,
)
from .upgrade import UPGRADE_TIMEOUT_S, configured_profile


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
            step_id="charger_menu", menu_options=["charger", "show_password", "upgrade_security"]
        )

    async def async_step_upgrade_security(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the charger to another security profile (upgrade.py: it provisions the charger,
        switches it, and goes back by itself if the charger does not return)."""
        entry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="charger_not_loaded")
        charger_id = str(entry.data[CONF_CHARGER_ID])
        server_entry = entry.runtime_data.server_entry
        current = configured_profile(entry)
        error = ""
        errors: dict[str, str] = {}
        if user_input is not None:
            target = int(user_input[CONF_SECURITY_PROFILE])
            try:
                await server_entry.runtime_data.upgrades.async_upgrade(entry, target)
            except HomeAssistantError as err:
                errors["base"] = "upgrade_failed"
                error = str(err)
            else:
                return self.async_abort(
                    reason="upgrade_started",
                    description_placeholders={
                        "charger_id": charger_id,
                        "profile": str(target),
                        "minutes": str(max(1, round(UPGRADE_TIMEOUT_S / 60))),
                    },
                )
        security = server_entry.runtime_data.security
        tls_port = server_entry.runtime_data.central.tls_port
        host = await async_tls_url_host(self.hass, server_entry)
        ca = security.ca
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_SECURITY_PROFILE, default=str(min(current + 1, 3))
                ): select_field(
                    [str(int(profile)) for profile in SecurityProfile], CONF_SECURITY_PROFILE
                )
            }
        )
        return self.async_show_form(
            step_id="upgrade_security",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "charger_id": charger_id,
                "profile": str(current),
                "url": "-" if tls_port is None else f"wss://{host}:{tls_port}/{charger_id}",
                "fingerprint": "-" if ca is None else ca.fingerprint,
                "minutes": str(max(1, round(UPGRADE_TIMEOUT_S / 60))),
                "error": error,
            },
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
                CONF_SINGLE_PHASE_LINE,
            ):
                data[key] = int(data[key])
            if data[CONF_LIVE_STACK_LEVEL] <= data[CONF_BASE_STACK_LEVEL]:
                # The live limit must sit above the safe base profile, or it never takes effect.
                errors[CONF_LIVE_STACK_LEVEL] = "live_stack_level"
            if data[CONF_SAFE_CURRENT] > data[CONF_INSTALLATION_MAX]:
                errors[CONF_SAFE_CURRENT] = "above_installation_max"
            if data[CONF_MIN_CURRENT] > data[CONF_INSTALLATION_MAX]:
                errors[CONF_MIN_CURRENT] = "above_installation_max"
            server_entry_id = self.config_entry.data[CONF_SERVER_ENTRY_ID]
            errors |= installation_max_errors(
                data[CONF_INSTALLATION_MAX], main_fuse_a(self.hass, server_entry_id)
            )
            # Left out (an older caller): as they are.
            data[CONF_SECURITY_PROFILE] = int(
                data.get(CONF_SECURITY_PROFILE, configured_profile(self.config_entry))
            )
            data.setdefault(
                CONF_ALLOW_SECURITY_DOWNGRADE,
                bool(self.config_entry.options.get(CONF_ALLOW_SECURITY_DOWNGRADE, False)),
            )
            data.setdefault(
                CONF_SMART_CHARGING,
                self.config_entry.options.get(
                    CONF_SMART_CHARGING, str(DEFAULT_CHARGER_SETTINGS.smart_charging)
                ),
            )
            if error := self._security_profile_error(data):
                errors[CONF_SECURITY_PROFILE] = error
            tag = str(
                data.get(CONF_REMOTE_START_ID_TAG, DEFAULT_CHARGER_SETTINGS.remote_start_id_tag)
            ).strip()
            data[CONF_REMOTE_START_ID_TAG] = tag
            if not is_id_tag(tag):
                errors[CONF_REMOTE_START_ID_TAG] = "invalid_id_tag"
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
            CONF_SMART_CHARGING: str(defaults.smart_charging),
            CONF_METER_INTERVAL: defaults.meter_interval_s,
            CONF_LIVE_LIMIT_DURATION: defaults.live_limit_duration_s,
            CONF_PHASES: defaults.phases,
            CONF_SINGLE_PHASE_LINE: defaults.single_phase_line,
            CONF_SECURITY_PROFILE: int(defaults.security_profile),
            CONF_ALLOW_SECURITY_DOWNGRADE: defaults.allow_security_downgrade,
            CONF_REMOTE_START_ID_TAG: defaults.remote_start_id_tag,
        } | dict(self.config_entry.options)
        # A select shows text; a count stored by an older version's free number (2) shows the default.
        phases = options[CONF_PHASES]
        options[CONF_PHASES] = str(phases if phases in (1, 3) else defaults.phases)
        options[CONF_SINGLE_PHASE_LINE] = str(options[CONF_SINGLE_PHASE_LINE])
        options[CONF_SECURITY_PROFILE] = str(options[CONF_SECURITY_PROFILE])
        schema = probatio.Schema(
            {
                probatio.Required(CONF_INSTALLATION_MAX): number_field(6, 80, 0.1, "A"),
                probatio.Required(CONF_SAFE_CURRENT): number_field(0, 80, 0.1, "A"),
                probatio.Required(CONF_MIN_CURRENT): number_field(0, 32, 0.1, "A"),
                probatio.Required(CONF_PHASES): select_field(["1", "3"], "site_phases"),
                probatio.Required(CONF_SINGLE_PHASE_LINE): select_field(
                    ["1", "2", "3"], CONF_SINGLE_PHASE_LINE
                ),
                probatio.Required(CONF_BASE_STACK_LEVEL): number_field(0, 20),
                probatio.Required(CONF_LIVE_STACK_LEVEL): number_field(0, 20),
                probatio.Required(CONF_PROFILE_PURPOSE): select_field(
                    [str(p) for p in ProfilePurpose], "profile_purpose"
                ),
                probatio.Required(CONF_RATE_UNIT): select_field(
                    [str(u) for u in RateUnitPreference], "rate_unit"
                ),
                probatio.Required(CONF_PAUSE_STRATEGY): select_field(
                    [str(s) for s in PauseStrategy], "pause_strategy"
                ),
                # For chargers that list smart charging wrongly (left out: as it is).
                probatio.Optional(CONF_SMART_CHARGING): select_field(
                    [str(mode) for mode in SmartChargingMode], CONF_SMART_CHARGING
                ),
                probatio.Required(CONF_METER_INTERVAL): number_field(1, 3600, unit="s"),
                probatio.Required(CONF_LIVE_LIMIT_DURATION): number_field(60, 86400, unit="s"),
                # Energy manager: the car's SoC where the charger does not report it.
                probatio.Optional(CONF_VEHICLE_SOC): sensor_field(SensorDeviceClass.BATTERY),
                # How it must connect (OCPP security profile), and whether a lower way is let in.
                probatio.Optional(CONF_SECURITY_PROFILE): select_field(
                    [str(int(profile)) for profile in SecurityProfile], CONF_SECURITY_PROFILE
                ),
                probatio.Optional(CONF_ALLOW_SECURITY_DOWNGRADE): BooleanSelector(),
                # The id tag of our own remote starts (accepted whatever the tag list says).
                probatio.Optional(CONF_REMOTE_START_ID_TAG): TextSelector(
                    TextSelectorConfig(autocomplete="off")
                ),
            }
        )
        return self.async_show_form(
            step_id="charger",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or options),
            errors=errors,
        )

    def _server_entry(self) -> ConfigEntry | None:
        """The entry of the server the charger belongs to (None: removed meanwhile)."""
        return self.hass.config_entries.async_get_entry(
            self.config_entry.data[CONF_SERVER_ENTRY_ID]
        )

    def _security_profile_error(self, data: Mapping[str, Any]) -> str | None:
        """Profiles 2 and 3 need the server's TLS listener; a lower profile than before is a
        downgrade, which OCPP wants the user to allow explicitly."""
        profile = data[CONF_SECURITY_PROFILE]
        server = self._server_entry()
        if profile > SecurityProfile.BASIC_AUTH and (
            server is None or not tls_options(server.options).enabled
        ):
            return "tls_not_enabled"
        if (
            profile < configured_profile(self.config_entry)
            and not data[CONF_ALLOW_SECURITY_DOWNGRADE]
        ):
            return "downgrade_not_allowed"
        return None
