"""Config flows: the server (one per port) and the chargers that connect to it.

* ``user`` / ``reconfigure``: where the server listens; the port is tried before anything is saved.
  Once a server runs, ``user`` is a menu: another server, or a charger by its id (``add_charger``:
  accepted at its first connection, like one the user accepted from discovery).
* ``integration_discovery``: an unknown charger booted; the user accepts it (a charger entry with a
  fresh password is created, named as the user says: by default vendor and model, which the entity
  ids start with, with the installation maximum the user confirms) or ignores it (Home Assistant's
  ignore = rejected from now on).
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
from homeassistant.components.energy.websocket_api import async_get_energy_platforms
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import SectionConfig, section
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    ConfigEntrySelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    Selector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)

from .const import (
    CONF_ACCEPT_ANY_ID_TAG,
    CONF_ACCEPTED_AUTOMATICALLY,
    CONF_ALLOW_NEW_CHARGERS,
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_AUTO_ACCEPT,
    CONF_BASE_STACK_LEVEL,
    CONF_CHARGER_ID,
    CONF_ENTRY_TYPE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_INSTALLATION_MAX,
    CONF_LIVE_LIMIT_DURATION,
    CONF_LIVE_STACK_LEVEL,
    CONF_LOG_FRAMES,
    CONF_METER_INTERVAL,
    CONF_MIN_CURRENT,
    CONF_MODEL,
    CONF_OCPP_VERSIONS,
    CONF_PASSWORD,
    CONF_PASSWORD_IN_CHARGER,
    CONF_PAUSE_STRATEGY,
    CONF_PHASES,
    CONF_PING_INTERVAL,
    CONF_PING_TIMEOUT,
    CONF_PORT,
    CONF_PROFILE_PURPOSE,
    CONF_RATE_UNIT,
    CONF_REMOTE_START_ID_TAG,
    CONF_RESPONSE_TIMEOUT,
    CONF_SAFE_CURRENT,
    CONF_SECURITY_PROFILE,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_SINGLE_PHASE_LINE,
    CONF_SMART_CHARGING,
    CONF_TLS_CERTIFICATE,
    CONF_TLS_CERTIFICATE_PEM,
    CONF_TLS_ENABLED,
    CONF_TLS_HOSTS,
    CONF_TLS_PORT,
    CONF_TLS_PRIVATE_KEY_PEM,
    CONF_VEHICLE_SOC,
    CONF_VENDOR,
    DEFAULT_CHARGER_SETTINGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_OCPP_VERSIONS,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_TLS_PORT,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
    LOGGER,
    TLS_CERTIFICATE_LOCAL_CA,
    TLS_CERTIFICATE_OWN,
)
from .coordinator import loaded_server_entries
from .core.auth import generate_password
from .core.ems import options as ems_options
from .core.ems.options import Kind, Section
from .core.handshake import MAX_CHARGER_ID_LENGTH, parse_charger_id
from .core.protocol.common import ID_TAG_MAX_ENTERED
from .core.security import CertificateError, CertificateErrorReason, ServerCredentials
from .core.settings import (
    PauseStrategy,
    ProfilePurpose,
    RateUnitPreference,
    SecurityProfile,
    SmartChargingMode,
    is_id_tag,
)
from .credentials import charger_password, password_placeholders
from .ems_inputs import watts_per_unit
from .hub import is_charger_entry, is_server_unique_id, server_unique_id
from .security import (
    ServerSecurity,
    async_tls_url_host,
    loaded_security,
    security_placeholders,
    tls_options,
)
from .upgrade import UPGRADE_TIMEOUT_S, configured_profile


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


async def _bind_errors(host: str, port: int, field: str = CONF_PORT) -> dict[str, str]:
    """The form errors of trying ``host:port`` (empty when it can be used); a port in use is
    shown on ``field``."""
    if (error := await async_try_bind(host, port)) is None:
        return {}
    return {field if error == "port_in_use" else "base": error}


async def _bind_errors_beside(listener: str, host: str, port: int) -> dict[str, str]:
    """The form errors of moving our running listener from ``listener`` to ``host`` on the same
    ``port`` (binding ``host`` failed with the port in use): the addresses of ``host`` our
    listener does not hold are tried on the port; the address alone where it holds them all. A
    wildcard holds its own family only; ``host`` being a wildcard cannot be tried beside it."""
    loop = asyncio.get_running_loop()
    found = await asyncio.gather(
        *(
            loop.getaddrinfo(name or None, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for name in (listener, host)
        ),
        return_exceptions=True,  # a name that no longer resolves has no address
    )
    held, wanted = (
        set() if isinstance(infos, BaseException) else {str(info[4][0]) for info in infos}
        for infos in found
    )

    def covered(address: str) -> bool:
        wildcard = "::" if ":" in address else "0.0.0.0"
        return address == wildcard or address in held or wildcard in held

    for address in sorted(wanted):
        if not covered(address) and (errors := await _bind_errors(address, port)):
            return errors
    return await _bind_errors(host, 0)


def _number(
    minimum: float,
    maximum: float,
    step: float = 1,
    unit: str | None = None,
    mode: NumberSelectorMode = NumberSelectorMode.BOX,
    kind: type[NumberSelector] = NumberSelector,
) -> NumberSelector:
    config = NumberSelectorConfig(min=minimum, max=maximum, step=step, mode=mode)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return kind(config)


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


def main_fuse_a(hass: HomeAssistant, server_entry_id: str) -> float | None:
    """The site's main fuse (A) in a server's energy manager options; None: none set (or the
    server removed). A charger's installation maximum may not exceed it: alone (Manual mode, or
    the energy manager off) the charger would trip it."""
    server = hass.config_entries.async_get_entry(server_entry_id)
    return None if server is None else ems_options.FUSE.read(server.options)


def _installation_max_field(fuse_a: float | None) -> tuple[Any, Any]:
    """The installation maximum of a new charger: the factory setting, within the main fuse."""
    default = DEFAULT_CHARGER_SETTINGS.installation_max_a
    if fuse_a is not None:
        default = min(default, fuse_a)
    return probatio.Required(CONF_INSTALLATION_MAX, default=default), _number(6, 80, 0.1, "A")


def _installation_max_errors(value: float, fuse_a: float | None) -> dict[str, str]:
    if fuse_a is not None and value > fuse_a:
        return {CONF_INSTALLATION_MAX: "above_main_fuse"}
    return {}


class OcppEmsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Server entries (user, reconfigure) and charger entries (discovery, or added by id)."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        self._discovery: dict[str, Any] = {}
        self._added: tuple[str, dict[str, Any], str] = ("", {}, "")  # name, options, password

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        if is_charger_entry(config_entry):
            return ChargerOptionsFlow()
        return ServerOptionsFlow()

    # --- server: user and reconfigure ----------
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A server; once one runs, the user may add a charger by its id instead."""
        if user_input is None and loaded_server_entries(self.hass):
            return self.async_show_menu(step_id="user", menu_options=["server", "add_charger"])
        return await self.async_step_server(user_input)

    async def async_step_server(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            port = int(user_input[CONF_PORT])
            host = user_input[CONF_HOST].strip() or DEFAULT_HOST
            await self.async_set_unique_id(server_unique_id(port))
            self._abort_if_unique_id_configured()
            errors = await _bind_errors(host, port)
            if not errors:
                return self.async_create_entry(
                    title=f"OCPP server port {port}",
                    data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: host, CONF_PORT: port},
                )
        return self.async_show_form(
            step_id="server",
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
                await self.async_set_unique_id(server_unique_id(port))
                self._abort_if_unique_id_configured()
                errors = await _bind_errors(host, port)
            elif host != entry.data[CONF_HOST] or entry.state is not ConfigEntryState.LOADED:
                errors = await _bind_errors(host, port)
                if errors.get(CONF_PORT) == "port_in_use" and entry.state is (
                    ConfigEntryState.LOADED
                ):
                    # Maybe our own running server that holds it.
                    errors = await _bind_errors_beside(entry.data[CONF_HOST], host, port)
            if not errors:
                # Running, its update listener restarts the server on the new address; not
                # running (its port was taken: the repair sends the user here), it has no
                # listener and is set up again here.
                finish = (
                    self.async_update_and_abort
                    if entry.state is ConfigEntryState.LOADED
                    else self.async_update_reload_and_abort
                )
                return finish(
                    entry,
                    unique_id=server_unique_id(port),
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
        if is_server_unique_id(charger_id):
            return self.async_abort(reason="reserved_charger_id")  # never a server entry's
        await self.async_set_unique_id(charger_id)
        # A charger accepted on another port that now connects here follows the move.
        # (The entry's update listener reloads it; one not loaded, its old server disabled, has
        # no listener: it is set up here.)
        self._set_up_if_moved_while_unloaded(discovery_info[CONF_SERVER_ENTRY_ID])
        self._abort_if_unique_id_configured(
            updates={CONF_SERVER_ENTRY_ID: discovery_info[CONF_SERVER_ENTRY_ID]},
            reload_on_update=False,
        )
        self._discovery = dict(discovery_info)
        if not self._server_loaded():
            return self.async_abort(reason="server_not_loaded")
        self.context["title_placeholders"] = {"name": self._charger_title()}
        if discovery_info.get(CONF_AUTO_ACCEPT):
            return self._async_create_charger_entry(
                self._default_name(), {}, accepted_automatically=True
            )
        return await self.async_step_confirm()

    @callback
    def _set_up_if_moved_while_unloaded(self, server_entry_id: str) -> None:
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, str(self.unique_id)
        )
        if (
            entry is not None
            and entry.state is ConfigEntryState.NOT_LOADED
            and entry.disabled_by is None
            and entry.source != SOURCE_IGNORE
            and entry.data.get(CONF_SERVER_ENTRY_ID) != server_entry_id
        ):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)

    def _server_loaded(self) -> bool:
        """Whether the server the charger connected to runs (it may be removed meanwhile)."""
        server = self.hass.config_entries.async_get_entry(self._discovery[CONF_SERVER_ENTRY_ID])
        return server is not None and server.state is ConfigEntryState.LOADED

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        fuse_a = main_fuse_a(self.hass, self._discovery[CONF_SERVER_ENTRY_ID])
        errors: dict[str, str] = {}
        if user_input is not None:
            if not self._server_loaded():
                return self.async_abort(reason="server_not_loaded")
            installation_max = float(user_input[CONF_INSTALLATION_MAX])
            errors = _installation_max_errors(installation_max, fuse_a)
            if not errors:
                name = str(user_input[CONF_NAME]).strip() or self._default_name()
                options = {CONF_INSTALLATION_MAX: installation_max}
                return self._async_create_charger_entry(name, options)
        info = self._discovery
        # The charger reports no maximum current of its own before it is accepted (its
        # configuration is read afterwards): the factory setting is the suggestion.
        max_key, max_field = _installation_max_field(fuse_a)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_NAME, default=self._default_name()): TextSelector(),
                max_key: max_field,
            }
        )
        return self.async_show_form(
            step_id="confirm",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={
                "charger_id": info[CONF_CHARGER_ID],
                "vendor": info.get(CONF_VENDOR) or "?",
                "model": info.get(CONF_MODEL) or "?",
                "serial": info.get(CONF_SERIAL) or "?",
            },
        )

    # --- chargers: added by id ----------
    async def async_step_add_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A charger the user names before it connects: accepted at its first connection, also
        with new chargers not allowed (and whatever fills the list of those waiting)."""
        servers = loaded_server_entries(self.hass)
        if not servers:  # stopped since the menu was shown
            return self.async_abort(reason="no_server")
        errors: dict[str, str] = {}
        if user_input is not None:
            charger_id = str(user_input[CONF_CHARGER_ID]).strip()
            # As the server reads it from the path /<id>; no %-escapes (a charger may or may
            # not encode them).
            if "%" in charger_id or parse_charger_id(f"/{charger_id}") != charger_id:
                errors[CONF_CHARGER_ID] = "invalid_charger_id"
            elif is_server_unique_id(charger_id):
                errors[CONF_CHARGER_ID] = "reserved_charger_id"
            else:
                # An open approval question for the id is answered by this entry.
                await self.async_set_unique_id(charger_id, raise_on_progress=False)
                self._abort_if_unique_id_configured()
                self._discovery = {
                    CONF_CHARGER_ID: charger_id,
                    CONF_SERVER_ENTRY_ID: user_input.get(CONF_SERVER_ENTRY_ID, servers[0].entry_id),
                }
                name = str(user_input.get(CONF_NAME) or "").strip() or charger_id
                installation_max = float(user_input[CONF_INSTALLATION_MAX])
                options = {CONF_INSTALLATION_MAX: installation_max}
                errors = _installation_max_errors(
                    installation_max, main_fuse_a(self.hass, self._discovery[CONF_SERVER_ENTRY_ID])
                )
                if not errors and user_input.get(CONF_PASSWORD_IN_CHARGER):
                    self._added = (name, options, generate_password())
                    return await self.async_step_add_charger_password()
                if not errors:
                    return self._async_create_charger_entry(name, options)
        fields: dict[Any, Any] = {}
        if len(servers) > 1:
            fields[probatio.Required(CONF_SERVER_ENTRY_ID, default=servers[0].entry_id)] = (
                SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=entry.entry_id, label=entry.title)
                            for entry in servers
                        ],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                )
            )
        fields[probatio.Required(CONF_CHARGER_ID)] = TextSelector(
            TextSelectorConfig(autocomplete="off")
        )
        fields[probatio.Optional(CONF_NAME)] = TextSelector()
        max_key, max_field = _installation_max_field(main_fuse_a(self.hass, servers[0].entry_id))
        fields[max_key] = max_field
        fields[probatio.Required(CONF_PASSWORD_IN_CHARGER, default=False)] = BooleanSelector()
        return self.async_show_form(
            step_id="add_charger",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), user_input),
            errors=errors,
            description_placeholders={"max_length": str(MAX_CHARGER_ID_LENGTH)},
        )

    async def async_step_add_charger_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The password to type into the charger: from the start only a login with it gets in,
        so no other device that connects first under the id is offered it."""
        charger_id = str(self._discovery[CONF_CHARGER_ID])
        name, options, password = self._added
        if user_input is not None:
            server = self.hass.config_entries.async_get_entry(self._discovery[CONF_SERVER_ENTRY_ID])
            if server is None or server.state is not ConfigEntryState.LOADED:
                return self.async_abort(reason="no_server")
            server.runtime_data.central.require_password(charger_id)
            return self._async_create_charger_entry(name, options, password)
        return self.async_show_form(
            step_id="add_charger_password",
            data_schema=probatio.Schema({}),
            description_placeholders=password_placeholders(charger_id, password),
        )

    async def async_step_ignore(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        """Ignoring a charger rejects it: drop its connection on every server right away."""
        result = await super().async_step_ignore(user_input)
        charger_id = str(user_input["unique_id"])
        for entry in loaded_server_entries(self.hass):
            await entry.runtime_data.central.reject_charger(charger_id)
        return result

    def _default_name(self) -> str:
        """Vendor and model (the charger id only when it reported neither): the device name,
        which the entity ids start with."""
        info = self._discovery
        name = " ".join(part for part in (info.get(CONF_VENDOR), info.get(CONF_MODEL)) if part)
        return name or str(info[CONF_CHARGER_ID])

    def _charger_title(self) -> str:
        """The discovery card's title: with the id, which tells two chargers of a model apart."""
        name = self._default_name()
        charger_id = str(self._discovery[CONF_CHARGER_ID])
        return name if name == charger_id else f"{name} ({charger_id})"

    @callback
    def _async_create_charger_entry(
        self,
        name: str,
        options: dict[str, Any],
        password: str | None = None,
        *,
        accepted_automatically: bool = False,
    ) -> ConfigFlowResult:
        """The charger's entry; ``password``: the one the user typed into the charger."""
        info = self._discovery
        data: dict[str, Any] = {
            CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER,
            CONF_CHARGER_ID: info[CONF_CHARGER_ID],
            CONF_SERVER_ENTRY_ID: info[CONF_SERVER_ENTRY_ID],
            # Setting the entry up provisions this password into the charger (Basic auth),
            # unless the user typed it into the charger (required from the start then).
            CONF_PASSWORD: password or generate_password(),
        }
        if accepted_automatically:
            data[CONF_ACCEPTED_AUTOMATICALLY] = True
        return self.async_create_entry(title=name, options=options, data=data)


def _sensor(device_class: SensorDeviceClass) -> EntitySelector:
    return EntitySelector(EntitySelectorConfig(domain="sensor", device_class=device_class))


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
            return _sensor(SensorDeviceClass(device_class))
        case ems_options.EntityRef():
            return EntitySelector(EntitySelectorConfig(domain=list(option.domains)))
        case ems_options.Number() | ems_options.OptionalNumber():
            mode = (
                NumberSelectorMode.SLIDER if option.kind is Kind.SLIDER else NumberSelectorMode.BOX
            )
            return _number(
                option.form_minimum,
                option.maximum,
                option.step,
                option.unit,
                mode,
                kind=_SectionNumberSelector,
            )
        case ems_options.Select():
            return _select(option.form_choices, option.key)
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
            probatio.Required(CONF_TLS_PORT, default=DEFAULT_TLS_PORT): _number(0, 65535),
            probatio.Optional(CONF_TLS_HOSTS): TextSelector(TextSelectorConfig(multiple=True)),
            probatio.Required(CONF_TLS_CERTIFICATE, default=TLS_CERTIFICATE_LOCAL_CA): _select(
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
        return await _bind_errors(entry.data[CONF_HOST], port, CONF_TLS_PORT)

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
                probatio.Required(CONF_SECURITY_PROFILE, default=str(min(current + 1, 3))): _select(
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
            errors |= _installation_max_errors(
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
                probatio.Required(CONF_INSTALLATION_MAX): _number(6, 80, 0.1, "A"),
                probatio.Required(CONF_SAFE_CURRENT): _number(0, 80, 0.1, "A"),
                probatio.Required(CONF_MIN_CURRENT): _number(0, 32, 0.1, "A"),
                probatio.Required(CONF_PHASES): _select(["1", "3"], "site_phases"),
                probatio.Required(CONF_SINGLE_PHASE_LINE): _select(
                    ["1", "2", "3"], CONF_SINGLE_PHASE_LINE
                ),
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
                # For chargers that list smart charging wrongly (left out: as it is).
                probatio.Optional(CONF_SMART_CHARGING): _select(
                    [str(mode) for mode in SmartChargingMode], CONF_SMART_CHARGING
                ),
                probatio.Required(CONF_METER_INTERVAL): _number(1, 3600, unit="s"),
                probatio.Required(CONF_LIVE_LIMIT_DURATION): _number(60, 86400, unit="s"),
                # Energy manager: the car's SoC where the charger does not report it.
                probatio.Optional(CONF_VEHICLE_SOC): _sensor(SensorDeviceClass.BATTERY),
                # How it must connect (OCPP security profile), and whether a lower way is let in.
                probatio.Optional(CONF_SECURITY_PROFILE): _select(
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
