"""Fix flows of the password repairs: a charger that ignores its password, or keeps failing to log in.

Both offer the same three ways out, none of which can lock the charger out:

* show the password (to type into the charger's own web page; the issue goes away once the
  charger logs in with it);
* provision it again (the password becomes optional again until the charger logs in with it; a
  connected charger gets it now, an offline one at its next connection);
* no password (trusted network): Home Assistant forgets the password and lets the charger connect
  without one.
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import (
    CONF_CHARGER_ID,
    CONF_PASSWORD,
    DOMAIN,
    ISSUE_AUTH_FAILED,
    ISSUE_PASSWORD_IGNORED,
    repair_issue_id,
)
from .core.server import ProvisionResult
from .credentials import charger_central, charger_password, password_placeholders
from .hub import is_charger_entry


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    return ChargerPasswordRepairFlow(str((data or {}).get(CONF_CHARGER_ID, "")))


class ChargerPasswordRepairFlow(RepairsFlow):
    """Show the password, provision it again, or let the charger in without one."""

    def __init__(self, charger_id: str) -> None:
        self._charger_id = charger_id

    def _entry(self) -> ConfigEntry | None:
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, self._charger_id)
        return entry if entry is not None and is_charger_entry(entry) else None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        placeholders = dict(issue.translation_placeholders or {}) if issue is not None else {}
        return self.async_show_menu(
            step_id="init",
            menu_options=["show_password", "provision_again", "no_password"],
            description_placeholders={
                "remote": "?",
                **placeholders,
                "charger_id": self._charger_id,
            },
        )

    async def async_step_show_password(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        if (entry := self._entry()) is None:
            return self.async_abort(reason="charger_not_found")
        if (password := charger_password(entry)) is None:
            return self.async_abort(reason="no_password_set")
        if user_input is not None:
            # The issue stays until the charger logs in with the password.
            return self.async_abort(reason="password_shown")
        return self.async_show_form(
            step_id="show_password",
            data_schema=probatio.Schema({}),
            description_placeholders=password_placeholders(self._charger_id, password),
        )

    async def async_step_provision_again(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        if (entry := self._entry()) is None:
            return self.async_abort(reason="charger_not_found")
        if user_input is None:
            return self._confirm("provision_again")
        if charger_password(entry) is None:
            return self.async_abort(reason="no_password_set")
        if (central := charger_central(entry)) is None:
            return self.async_abort(reason="charger_not_loaded")
        if await central.reprovision(self._charger_id) is ProvisionResult.REFUSED:
            return self.async_abort(reason="provision_refused")
        self._delete_other_issue()
        return self.async_create_entry(data={})

    async def async_step_no_password(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        if (entry := self._entry()) is None:
            return self.async_abort(reason="charger_not_found")
        if user_input is None:
            return self._confirm("no_password")
        # The password goes first: the server then has nothing to provision or check.
        data = {key: value for key, value in entry.data.items() if key != CONF_PASSWORD}
        self.hass.config_entries.async_update_entry(entry, data=data)
        if (central := charger_central(entry)) is not None:
            central.forget_password(self._charger_id)
        self._delete_other_issue()
        return self.async_create_entry(data={})

    def _confirm(self, step_id: str) -> RepairsFlowResult:
        """A step that only asks the user to confirm (its text names the charger)."""
        return self.async_show_form(
            step_id=step_id,
            data_schema=probatio.Schema({}),
            description_placeholders={"charger_id": self._charger_id},
        )

    def _delete_other_issue(self) -> None:
        """Both password issues are settled by the same choice (the flow removes its own)."""
        for issue_id in (
            repair_issue_id(ISSUE_AUTH_FAILED, self._charger_id),
            repair_issue_id(ISSUE_PASSWORD_IGNORED, self._charger_id),
        ):
            if issue_id != self.issue_id:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
