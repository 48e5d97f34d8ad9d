"""The server entry's options: the energy manager (its sections and the checks of its inputs),
the server's tuning, onboarding and id tags, and its security (TLS, the CA)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio
from homeassistant.components.energy.websocket_api import async_get_energy_platforms
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.data_entry_flow import SectionConfig, section
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorMode,
    Selector,
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
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_LOG_FRAMES,
    CONF_OCPP_VERSIONS,
    CONF_PING_INTERVAL,
    CONF_PING_TIMEOUT,
    CONF_PORT,
    CONF_RESPONSE_TIMEOUT,
    CONF_TLS_CERTIFICATE,
    CONF_TLS_CERTIFICATE_PEM,
    CONF_TLS_ENABLED,
    CONF_TLS_HOSTS,
    CONF_TLS_PORT,
    CONF_TLS_PRIVATE_KEY_PEM,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_OCPP_VERSIONS,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_TLS_PORT,
    LOGGER,
    TLS_CERTIFICATE_LOCAL_CA,
    TLS_CERTIFICATE_OWN,
)
from .core.ems import options as ems_options
from .core.ems.options import Kind, Section
from .core.protocol.common import ID_TAG_MAX_ENTERED
from .core.security import CertificateError, CertificateErrorReason, ServerCredentials
from .core.settings import is_id_tag
from .ems_inputs import watts_per_unit
from .flow_fields import bind_errors, number_field, select_field, sensor_field
from .security import (
    ServerSecurity,
    async_tls_url_host,
    loaded_security,
    security_placeholders,
    tls_options,
)


# --- energy manager: the form is built from the options table (core/ems/options.py) ----------
class _SectionNumberSelector(NumberSelector):
    """A number field of a form section: the frontend gets its bounds, the step checks them (the
    table's ``in_bounds``). Inside a section Home Assistant cannot show a schema error on its
    field: it would answer with the validator's raw English text above the form."""

    def __call__(self, data: Any) -> float:
        return float(probatio.Coerce(float)(data))


def _ems_selector(option: ems_options.Option[Any]) -> Selector[Any]:
    """The field of one table row."""
    match option:
        case ems_options.Toggle():
            return BooleanSelector()
        case ems_options.EntityRef(device_class=str() as device_class):
            return sensor_field(SensorDeviceClass(device_class))
        case ems_options.EntityRef():
            return EntitySelector(EntitySelectorConfig(domain=list(option.domains)))
        case ems_options.Number() | ems_options.OptionalNumber():
            mode = (
                NumberSelectorMode.SLIDER if option.kind is Kind.SLIDER else NumberSelectorMode.BOX
            )
            return number_field(
                option.form_minimum,
                option.maximum,
                option.step,
                option.unit,
                mode,
                kind=_SectionNumberSelector,
            )
        case ems_options.Select():
            return select_field(option.form_choices, option.key)
        case ems_options.ConfigEntryRef():
            return ConfigEntrySelector()
    return TextSelector()


def _ems_fields(part: Section | None) -> dict[probatio.Marker, Any]:
    """The fields of one section. With a default: required (an emptied field gets the default
    back); without one: optional (empty = unset, e.g. an input the energy manager goes without)."""
    return {
        (
            probatio.Optional(option.key)
            if option.default is None
            else probatio.Required(option.key, default=option.to_form(option.default))
        ): _ems_selector(option)
        for option in ems_options.section_options(part)
    }


def _ems_schema() -> probatio.Schema:
    """The switch on top, then one section per topic (the advanced one folded)."""
    fields = _ems_fields(None)
    for part in Section:
        fields[probatio.Required(part.value)] = section(
            probatio.Schema(_ems_fields(part)), SectionConfig(collapsed=part.collapsed)
        )
    return probatio.Schema(fields)


def _ems_suggestions(options: Mapping[str, Any]) -> dict[str, Any]:
    """The stored (flat) options as the sectioned form's suggested values."""
    form: dict[str, Any] = {part.value: {} for part in Section}
    for option in ems_options.OPTIONS:
        if option.key in options and (value := option.read(options)) is not None:
            place = form if option.section is None else form[option.section.value]
            place[option.key] = option.to_form(value)
    return form


def _ems_flat(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The sectioned answer as entered, flat."""
    flat = dict(user_input)
    for part in Section:
        flat |= flat.pop(part.value, None) or {}
    return flat


def _ems_answer(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The flat answer as options, each as the table stores it (unset ones left out)."""
    return {
        option.key: value
        for option in ems_options.OPTIONS
        if option.key in flat and (value := option.from_form(flat[option.key])) is not None
    }


def _section_of(option: ems_options.Option[Any]) -> str:
    """Where an option's error is shown: its section (the switch on top: the form as a whole)."""
    return "base" if option.section is None else option.section.value


def _server_options_schema() -> probatio.Schema:
    """Defaults are the factory settings (the current options are shown as suggestions)."""
    return probatio.Schema(
        {
            probatio.Required(
                CONF_HEARTBEAT_INTERVAL, default=DEFAULT_HEARTBEAT_INTERVAL
            ): number_field(10, 86400, unit="s"),
            probatio.Required(CONF_PING_INTERVAL, default=DEFAULT_PING_INTERVAL): number_field(
                0, 3600, unit="s"
            ),
            probatio.Required(CONF_PING_TIMEOUT, default=DEFAULT_PING_TIMEOUT): number_field(
                0, 3600, unit="s"
            ),
            probatio.Required(
                CONF_RESPONSE_TIMEOUT, default=DEFAULT_RESPONSE_TIMEOUT
            ): number_field(1, 300, unit="s"),
            probatio.Required(CONF_ALLOW_NEW_CHARGERS, default=True): BooleanSelector(),
            probatio.Required(
                CONF_OCPP_VERSIONS, default=list(DEFAULT_OCPP_VERSIONS)
            ): SelectSelector(
                SelectSelectorConfig(
                    options=list(DEFAULT_OCPP_VERSIONS),
                    translation_key=CONF_OCPP_VERSIONS,
                    multiple=True,
                    mode=SelectSelectorMode.LIST,
                )
            ),
            probatio.Required(CONF_AUTO_ACCEPT, default=False): BooleanSelector(),
            probatio.Optional(CONF_ID_TAGS): TextSelector(TextSelectorConfig(multiple=True)),
            probatio.Required(CONF_ACCEPT_ANY_ID_TAG, default=False): BooleanSelector(),
            probatio.Required(CONF_LOG_FRAMES, default=False): BooleanSelector(),
        }
    )


def _security_schema() -> probatio.Schema:
    """The secure connection (wss://) of a server. The certificate and key fields are never
    filled in: they go to the server's security store, not the options."""
    return probatio.Schema(
        {
            probatio.Required(CONF_TLS_ENABLED, default=False): BooleanSelector(),
            probatio.Required(CONF_TLS_PORT, default=DEFAULT_TLS_PORT): number_field(0, 65535),
            probatio.Optional(CONF_TLS_HOSTS): TextSelector(TextSelectorConfig(multiple=True)),
            probatio.Required(CONF_TLS_CERTIFICATE, default=TLS_CERTIFICATE_LOCAL_CA): select_field(
                [TLS_CERTIFICATE_LOCAL_CA, TLS_CERTIFICATE_OWN], CONF_TLS_CERTIFICATE
            ),
            probatio.Optional(CONF_TLS_CERTIFICATE_PEM): TextSelector(
                TextSelectorConfig(multiline=True, autocomplete="off")
            ),
            probatio.Optional(CONF_TLS_PRIVATE_KEY_PEM): TextSelector(
                TextSelectorConfig(multiline=True, autocomplete="off")
            ),
        }
    )


# The user's own certificate refused: which field the reason is shown on, and its error key.
_CERTIFICATE_ERRORS: dict[CertificateErrorReason, tuple[str, str]] = {
    CertificateErrorReason.INVALID_CERTIFICATE: (CONF_TLS_CERTIFICATE_PEM, "invalid_certificate"),
    CertificateErrorReason.EXPIRED: (CONF_TLS_CERTIFICATE_PEM, "certificate_expired"),
    CertificateErrorReason.NOT_YET_VALID: (CONF_TLS_CERTIFICATE_PEM, "certificate_not_yet_valid"),
    CertificateErrorReason.INVALID_KEY: (CONF_TLS_PRIVATE_KEY_PEM, "invalid_key"),
    CertificateErrorReason.KEY_MISMATCH: (CONF_TLS_PRIVATE_KEY_PEM, "key_mismatch"),
}

# The options each step owns (and replaces; the other steps' options are kept).
_EMS_KEYS = ems_options.KEYS
_SERVER_KEYS = tuple(str(key) for key in _server_options_schema().schema)
_SECURITY_KEYS = (CONF_TLS_ENABLED, CONF_TLS_PORT, CONF_TLS_HOSTS, CONF_TLS_CERTIFICATE)


class ServerOptionsFlow(OptionsFlow):
    """Server tuning, onboarding and id tags; the energy manager of the server's chargers; and
    the secure connection (wss://, our CA)."""

    def __init__(self) -> None:
        self._answer: dict[str, Any] = {}
        self._security: ServerSecurity | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(
            step_id="init", menu_options=["server", "energy_manager", "security"]
        )

    def _keep_others(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """The options of the other step (each step replaces only its own keys)."""
        return {k: v for k, v in self.config_entry.options.items() if k not in keys}

    async def async_step_energy_manager(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            flat = _ems_flat(user_input)
            answer = _ems_answer(flat)
            errors = self._ems_errors(answer) | self._ems_input_errors(answer)
            errors |= await self._ems_forecast_errors(answer) | self._ems_bound_errors(flat)
            if not errors:
                return self.async_create_entry(data=self._keep_others(_EMS_KEYS) | answer)
        # The current options are suggestions (an input left out stays unset), the table's
        # defaults are the defaults.
        suggested = user_input or _ems_suggestions(self.config_entry.options)
        return self.async_show_form(
            step_id="energy_manager",
            data_schema=self.add_suggested_values_to_schema(_ems_schema(), suggested),
            errors=errors,
        )

    def _ems_errors(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Combinations the energy manager could never use (shown on their section)."""
        errors: dict[str, str] = {}
        if ems_options.EMS_ENABLED.read(options) and ems_options.GRID_POWER.read(options) is None:
            # Solar, every charger's default mode, finds the surplus with it, and the main fuse
            # is watched with it: without it a car would charge at the stale fallback.
            errors[Section.INPUTS.value] = "grid_power_needed"
        if (
            ems_options.CHEAP_GRID_PRICE.read(options) is not None
            and ems_options.PRICE.read(options) is None
        ):
            # Without prices the cheap hours never come.
            errors[Section.INPUTS.value] = "cheap_price_needs_price"
        currents = [phase.read(options) is not None for phase in ems_options.GRID_CURRENTS]
        if any(currents) and not all(currents[: ems_options.SITE_PHASES.read(options)]):
            # The fuse is watched per phase only with a current for every phase of the site.
            errors[Section.INPUTS.value] = "grid_currents_incomplete"
        battery_power = ems_options.BATTERY_POWER.read(options) is not None
        if ems_options.BATTERY_ASSIST.read(options) and not (
            battery_power and ems_options.BATTERY_SOC.read(options) is not None
        ):
            # Assisted charging needs the battery's power and its SoC (to respect the floor).
            errors[Section.BATTERY.value] = "battery_assist_needs_sensors"
        elif ems_options.BATTERY_DISCHARGE_LIMIT.read(options) is not None and not battery_power:
            # The discharge limit is what the house draws from the battery: it needs its power.
            errors[Section.BATTERY.value] = "discharge_limit_needs_battery_power"
        discharge_limit = ems_options.BATTERY_DISCHARGE_LIMIT.read(options)
        state = None if discharge_limit is None else self.hass.states.get(discharge_limit)
        if state is not None and watts_per_unit(state) is None:
            # A "max discharge current" in A (or %) is no cap in W.
            errors[Section.BATTERY.value] = "discharge_limit_not_power"
        return errors

    def _ems_input_errors(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Sensors the energy manager could not read as what they are picked for: one that does
        not exist (an unavailable one may come back), a power that is none (kWh, %), one sensor
        for two measurements. Shown on the section of the field."""
        errors: dict[str, str] = {}
        registry = er.async_get(self.hass)
        seen: set[str] = set()
        for option in ems_options.MEASURED_INPUTS:
            entity_id = option.read(options)
            if entity_id is None:
                continue
            state = self.hass.states.get(entity_id)
            if entity_id in seen:
                errors[_section_of(option)] = "duplicate_sensor"
            elif state is None and registry.async_get(entity_id) is None:
                errors[_section_of(option)] = "entity_not_found"
            elif (
                option in ems_options.POWER_INPUTS
                and state is not None
                and watts_per_unit(state) is None
            ):
                errors[_section_of(option)] = "sensor_not_power"
            seen.add(entity_id)
        return errors

    def _ems_bound_errors(self, flat: Mapping[str, Any]) -> dict[str, str]:
        """Numbers beyond the table's bounds, on their section (the schema lets them through)."""
        errors: dict[str, str] = {}
        for option in ems_options.OPTIONS:
            if not option.in_bounds(flat.get(option.key)):
                errors[_section_of(option)] = "out_of_range"
        return errors

    async def _ems_forecast_errors(self, options: Mapping[str, Any]) -> dict[str, str]:
        """The solar forecast must be an entry with an energy platform forecast (what
        ``ems_inputs.async_solar_forecast`` reads); the picker lists every config entry."""
        errors: dict[str, str] = {}
        entry_id = ems_options.SOLAR_FORECAST.read(options)
        if entry_id is None:
            return errors
        entry = self.hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain not in await async_get_energy_platforms(self.hass):
            errors[_section_of(ems_options.SOLAR_FORECAST)] = "not_a_solar_forecast"
        return errors

    async def async_step_server(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
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
            # ``TAG`` or ``TAG = Name``: the tag must fit every 2.x station (1.6 chargers get those
            # of up to 20 characters: see local_list_updates).
            if not all(
                is_id_tag(line.partition("=")[0].strip(), ID_TAG_MAX_ENTERED)
                for line in data[CONF_ID_TAGS]
            ):
                errors[CONF_ID_TAGS] = "invalid_id_tags"
            if not data[CONF_OCPP_VERSIONS]:
                errors[CONF_OCPP_VERSIONS] = "no_ocpp_version"
            if not errors:
                return self.async_create_entry(data=data)
        # The current options are suggestions, not defaults (so an emptied id tag list stays
        # empty instead of falling back to a default).
        schema = self.add_suggested_values_to_schema(
            _server_options_schema(), user_input or self.config_entry.options
        )
        return self.async_show_form(step_id="server", data_schema=schema, errors=errors)

    # --- secure connection ----------
    def _server_security(self) -> ServerSecurity:
        """The running server's security, or (entry not loaded) one of this flow's own."""
        if self._security is None:
            entry = self.config_entry
            self._security = loaded_security(self.hass, entry.entry_id) or ServerSecurity(
                self.hass, entry
            )
        return self._security

    async def async_step_security(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """TLS on or off, its port, extra names, and whose certificate. Switching it on creates
        our CA (once) and the server certificates before the options are saved."""
        security = self._server_security()
        await security.async_load()
        if security.ca_damaged:
            # Nothing here can mend it (a new CA would strand the chargers that trust the old one).
            return self.async_abort(reason="ca_damaged")
        errors: dict[str, str] = {}
        if user_input is not None:
            answer = {
                CONF_TLS_ENABLED: bool(user_input[CONF_TLS_ENABLED]),
                CONF_TLS_PORT: int(user_input[CONF_TLS_PORT]),
                CONF_TLS_HOSTS: [
                    name.strip() for name in user_input.get(CONF_TLS_HOSTS, []) if name.strip()
                ],
                CONF_TLS_CERTIFICATE: user_input[CONF_TLS_CERTIFICATE],
            }
            own: ServerCredentials | None = None
            if answer[CONF_TLS_ENABLED]:
                errors = await self._tls_port_errors(answer[CONF_TLS_PORT])
                own, own_errors = await self._own_certificate(answer, user_input, security)
                errors |= own_errors
            if not errors and answer[CONF_TLS_ENABLED]:
                try:
                    await security.async_prepare(tls_options(answer), own)
                except CertificateError as err:
                    # A name the certificate cannot carry (the CA checks every name).
                    LOGGER.debug("Server certificate not issued: %s", err)
                    errors[CONF_TLS_HOSTS] = "invalid_host_name"
            if not errors:
                self._answer = self._keep_others(_SECURITY_KEYS) | answer
                if not answer[CONF_TLS_ENABLED]:
                    return self.async_create_entry(data=self._answer)
                return await self.async_step_security_info()
        suggested = {
            key: value
            for key, value in (user_input or self.config_entry.options).items()
            if key not in (CONF_TLS_CERTIFICATE_PEM, CONF_TLS_PRIVATE_KEY_PEM)
        }
        return self.async_show_form(
            step_id="security",
            data_schema=self.add_suggested_values_to_schema(_security_schema(), suggested),
            errors=errors,
            description_placeholders=await self._security_placeholders(self.config_entry.options),
        )

    async def async_step_security_info(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What to enter in the chargers: the wss:// URL, the CA (download and fingerprint)."""
        if user_input is not None:
            return self.async_create_entry(data=self._answer)
        return self.async_show_form(
            step_id="security_info",
            data_schema=probatio.Schema({}),
            description_placeholders=await self._security_placeholders(self._answer),
        )

    async def _security_placeholders(self, options: Mapping[str, Any]) -> dict[str, str]:
        entry = self.config_entry
        return security_placeholders(
            self.hass,
            entry,
            self._server_security(),
            tls_options(options),
            await async_tls_url_host(self.hass, entry),
        )

    async def _tls_port_errors(self, port: int) -> dict[str, str]:
        entry = self.config_entry
        if port != 0 and port == entry.data[CONF_PORT]:
            return {CONF_TLS_PORT: "same_port"}
        if entry.state is ConfigEntryState.LOADED and entry.runtime_data.settings.tls_port == port:
            return {}  # our own listener holds it
        return await bind_errors(entry.data[CONF_HOST], port, CONF_TLS_PORT)

    async def _own_certificate(
        self, answer: Mapping[str, Any], user_input: Mapping[str, Any], security: ServerSecurity
    ) -> tuple[ServerCredentials | None, dict[str, str]]:
        """The user's own certificate from the form (None: none given), or why it is refused."""
        if answer[CONF_TLS_CERTIFICATE] != TLS_CERTIFICATE_OWN:
            return None, {}
        certificate = str(user_input.get(CONF_TLS_CERTIFICATE_PEM, "")).strip()
        key = str(user_input.get(CONF_TLS_PRIVATE_KEY_PEM, "")).strip()
        if not certificate and not key:
            # Keep the one given before; without one there is nothing to present.
            if security.own is None:
                return None, {CONF_TLS_CERTIFICATE_PEM: "certificate_missing"}
            return None, {}
        if not certificate:
            return None, {CONF_TLS_CERTIFICATE_PEM: "certificate_missing"}
        if not key:
            return None, {CONF_TLS_PRIVATE_KEY_PEM: "private_key_missing"}
        try:
            own = await self.hass.async_add_executor_job(
                ServerCredentials.from_user_pem, certificate, key
            )
        except CertificateError as err:
            field, error = _CERTIFICATE_ERRORS.get(err.reason, ("base", "unsupported_key"))
            return None, {field: error}
        return own, {}
