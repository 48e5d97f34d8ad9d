"""Config flows: the server (one per port) and the chargers that connect to it.

* ``user`` / ``reconfigure``: where the server listens; the port is tried before anything is saved.
  Once a server runs, ``user`` is a menu: another server, or a charger by its id (``add_charger``:
  accepted at its first connection, like one the user accepted from discovery).
* ``integration_discovery``: an unknown charger booted; the user accepts it (a charger entry with a
  fresh password is created, named as the user says: by default vendor and model, which the entity
  ids start with, with the installation maximum the user confirms) or ignores it (Home Assistant's
  ignore = rejected from now on).
* Options: :mod:`.server_options_flow` (the energy manager, server tuning, onboarding and id tags,
  security) and :mod:`.charger_options_flow` (a charger's quirks, security profile and password);
  what the flows share: :mod:`.flow_fields`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from typing import Any

import probatio
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)

from .charger_options_flow import ChargerOptionsFlow
from .const import (
    CONF_ACCEPTED_AUTOMATICALLY,
    CONF_AUTO_ACCEPT,
    CONF_CHARGER_ID,
    CONF_ENTRY_TYPE,
    CONF_HOST,
    CONF_INSTALLATION_MAX,
    CONF_MODEL,
    CONF_PASSWORD,
    CONF_PASSWORD_IN_CHARGER,
    CONF_PORT,
    CONF_SERIAL,
    CONF_SERVER_ENTRY_ID,
    CONF_VENDOR,
    DEFAULT_CHARGER_SETTINGS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
)
from .coordinator import loaded_server_entries
from .core.auth import generate_password
from .core.handshake import MAX_CHARGER_ID_LENGTH, parse_charger_id
from .credentials import password_placeholders
from .flow_fields import (
    bind_errors,
    installation_max_errors,
    main_fuse_a,
    number_field,
)
from .hub import is_charger_entry, is_server_unique_id, server_unique_id
from .server_options_flow import ServerOptionsFlow


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
        if not covered(address) and (errors := await bind_errors(address, port)):
            return errors
    return await bind_errors(host, 0)


def _server_schema(defaults: Mapping[str, Any]) -> probatio.Schema:
    return probatio.Schema(
        {
            # 0 lets the system pick a free port (used by the tests; chargers need a fixed one).
            probatio.Required(
                CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)
            ): number_field(0, 65535),
            probatio.Required(
                CONF_HOST, default=defaults.get(CONF_HOST, DEFAULT_HOST)
            ): TextSelector(TextSelectorConfig(autocomplete="off")),
        }
    )


def _installation_max_field(fuse_a: float | None) -> tuple[Any, Any]:
    """The installation maximum of a new charger: the factory setting, within the main fuse."""
    default = DEFAULT_CHARGER_SETTINGS.installation_max_a
    if fuse_a is not None:
        default = min(default, fuse_a)
    return probatio.Required(CONF_INSTALLATION_MAX, default=default), number_field(6, 80, 0.1, "A")


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
            errors = await bind_errors(host, port)
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
                errors = await bind_errors(host, port)
            elif host != entry.data[CONF_HOST] or entry.state is not ConfigEntryState.LOADED:
                errors = await bind_errors(host, port)
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
            errors = installation_max_errors(installation_max, fuse_a)
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
                errors = installation_max_errors(
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
