"""The "charger clock is wrong" repair issue.

The core replaces charger timestamps that lie far in the future by the time it received them
(energy is never dropped because of a clock), tells a clock behind from its live readings (the
energy manager takes those as of when they arrive), and says so in ``Charger.clock_skew_s``. This
module follows that field: the issue appears while the charger's clock is ahead or behind, with
the text of that direction, and clears as soon as its clock is right again.
"""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_CLOCK_SKEW, repair_issue_id
from .core.model import Charger, ChargerEvent

# The same issue's text for a clock behind ours.
CLOCK_BEHIND_TRANSLATION_KEY = f"{ISSUE_CLOCK_SKEW}_behind"


@callback
def async_follow_clock(hass: HomeAssistant, charger_id: str, charger: Charger) -> CALLBACK_TYPE:
    """Raise / clear the clock repair issue of one charger; returns the function that stops."""
    issue_id = repair_issue_id(ISSUE_CLOCK_SKEW, charger_id)
    shown: list[int | None] = [None]  # minutes ahead (< 0: behind) in the issue now (None: none)

    @callback
    def check(event: ChargerEvent | None = None) -> None:
        skew = charger.clock_skew_s
        minutes = None if skew is None else round(skew / 60) or (1 if skew > 0 else -1)
        if minutes == shown[0]:
            return
        shown[0] = minutes
        if minutes is None:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_CLOCK_SKEW if minutes > 0 else CLOCK_BEHIND_TRANSLATION_KEY,
            translation_placeholders={"charger_id": charger_id, "minutes": str(abs(minutes))},
        )

    check()
    unsubscribe = charger.add_listener(check)

    @callback
    def stop() -> None:
        unsubscribe()
        ir.async_delete_issue(hass, DOMAIN, issue_id)

    return stop
