"""The "charger keeps starting charges by itself while paused" repair issue.

A charger paused by remote stop whose station opens a new transaction each time one is stopped
(free vend, plug and charge) would be stopped for ever; the core's current control leaves such a
connector's transactions to run after a few (``CurrentController.start_stop_loop``). This module
follows that: the issue appears while a connector is in such a loop, telling the user what to
change on the charger, and clears once the car is unplugged or the pause ends.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_SELF_START_LOOP, repair_issue_id
from .core.current_control import CurrentController
from .core.model import Charger, ChargerEvent


@callback
def async_follow_self_start_loop(
    hass: HomeAssistant,
    charger_id: str,
    charger: Charger,
    control: Callable[[], CurrentController],
) -> CALLBACK_TYPE:
    """Raise / clear the start / stop loop repair issue of one charger (``control``: its current
    control, looked up at each change); returns the function that stops."""
    issue_id = repair_issue_id(ISSUE_SELF_START_LOOP, charger_id)
    shown: list[tuple[int, ...]] = [()]  # the connectors in the issue now

    @callback
    def check(event: ChargerEvent | None = None) -> None:
        connectors = control().start_stop_loop
        if connectors == shown[0]:
            return
        shown[0] = connectors
        if not connectors:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_SELF_START_LOOP,
            translation_placeholders={
                "charger_id": charger_id,
                "connectors": ", ".join(map(str, connectors)),
            },
        )

    check()
    unsubscribe = charger.add_listener(check)

    @callback
    def stop() -> None:
        unsubscribe()
        ir.async_delete_issue(hass, DOMAIN, issue_id)

    return stop
