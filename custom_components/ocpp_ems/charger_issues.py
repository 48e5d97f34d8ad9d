"""Repair issues that follow a charger's state: they appear while it holds, and clear themselves.

- The charger's clock is wrong: the core replaces charger timestamps that lie far in the future by
  the time it received them (energy is never dropped because of a clock), tells a clock behind
  from its live readings (the energy manager takes those as of when they arrive), and says so in
  ``Charger.clock_skew_s``. The issue has the text of that direction and clears as soon as the
  clock is right again.
- The charger keeps starting charges by itself while paused: a station paused by remote stop that
  opens a new transaction each time one is stopped (free vend, plug and charge) would be stopped
  for ever; the core's current control leaves such a connector's transactions to run after a
  few (``CurrentController.start_stop_loop``). The issue tells the user what to change on the
  charger and clears once the car is unplugged or the pause ends.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .const import ISSUE_CLOCK_SKEW, ISSUE_SELF_START_LOOP, repair_issue_id
from .core.current_control import CurrentController
from .core.model import Charger, ChargerEvent
from .state_issue import IssueText, async_show_state_issue

# The clock issue's text for a clock behind ours.
CLOCK_BEHIND_TRANSLATION_KEY = f"{ISSUE_CLOCK_SKEW}_behind"


@callback
def async_follow_clock(hass: HomeAssistant, charger_id: str, charger: Charger) -> CALLBACK_TYPE:
    """Raise / clear the clock repair issue of one charger; returns the function that stops."""

    def text() -> IssueText:
        skew = charger.clock_skew_s
        if skew is None:
            return None
        minutes = round(skew / 60) or (1 if skew > 0 else -1)  # (< 0: behind)
        key = ISSUE_CLOCK_SKEW if minutes > 0 else CLOCK_BEHIND_TRANSLATION_KEY
        return key, {"charger_id": charger_id, "minutes": str(abs(minutes))}

    return _async_follow(hass, charger, repair_issue_id(ISSUE_CLOCK_SKEW, charger_id), text)


@callback
def async_follow_self_start_loop(
    hass: HomeAssistant,
    charger_id: str,
    charger: Charger,
    control: Callable[[], CurrentController],
) -> CALLBACK_TYPE:
    """Raise / clear the start / stop loop repair issue of one charger (``control``: its current
    control, looked up at each change); returns the function that stops."""

    def text() -> IssueText:
        connectors = control().start_stop_loop
        if not connectors:
            return None
        placeholders = {"charger_id": charger_id, "connectors": ", ".join(map(str, connectors))}
        return ISSUE_SELF_START_LOOP, placeholders

    issue_id = repair_issue_id(ISSUE_SELF_START_LOOP, charger_id)
    return _async_follow(hass, charger, issue_id, text)


@callback
def _async_follow(
    hass: HomeAssistant, charger: Charger, issue_id: str, text: Callable[[], IssueText]
) -> CALLBACK_TYPE:
    """Show ``text`` of the charger's state as the issue ``issue_id`` at each change of the
    charger (written only when it changes); returns the function that stops and clears it."""
    shown: list[IssueText] = [None]

    @callback
    def check(event: ChargerEvent | None = None) -> None:
        now = text()
        if now == shown[0]:
            return
        shown[0] = now
        async_show_state_issue(hass, issue_id, now)

    check()
    unsubscribe = charger.add_listener(check)

    @callback
    def stop() -> None:
        unsubscribe()
        async_show_state_issue(hass, issue_id, None)

    return stop
