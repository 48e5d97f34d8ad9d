"""A repair issue that follows a state: a warning with the state's text while it holds (nothing
to fix from the repair dialog), gone as soon as it clears. Used for the chargers' states
(charger_issues.py) and the energy manager's inputs."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

# An issue as shown: its translation key and placeholders (None: no issue).
type IssueText = tuple[str, dict[str, str]] | None


@callback
def async_show_state_issue(hass: HomeAssistant, issue_id: str, text: IssueText) -> None:
    """Show ``text`` as the warning ``issue_id``, or delete that issue (``text`` None)."""
    if text is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    translation_key, placeholders = text
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )
