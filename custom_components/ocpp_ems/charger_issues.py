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
- The charger does not apply the current limit (its composite schedule or Current.Offered
  disagree, or it refuses the limit: ``core/limit_check.py``) for :data:`LIMIT_NOT_APPLIED_AFTER`
  in a row: Home Assistant cannot control its current (a setting of the charger keeps central
  systems out, another system's profile overrides ours). Shown only after that while, so a
  moment's disagreement raises nothing; cleared as soon as the charger applies a limit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import (
    ISSUE_CLOCK_SKEW,
    ISSUE_LIMIT_NOT_APPLIED,
    ISSUE_SELF_START_LOOP,
    repair_issue_id,
)
from .core.current_control import CurrentController
from .core.limit_check import REFUSED
from .core.model import Charger, ChargerEvent, EventKind
from .state_issue import IssueText, async_show_state_issue

# The clock issue's text for a clock behind ours.
CLOCK_BEHIND_TRANSLATION_KEY = f"{ISSUE_CLOCK_SKEW}_behind"
# The limit issue's text for a charger that refuses the limit.
LIMIT_REFUSED_TRANSLATION_KEY = f"{ISSUE_LIMIT_NOT_APPLIED}_refused"
# How long a charger's limit mismatch lasts before the limit issue shows it.
LIMIT_NOT_APPLIED_AFTER = timedelta(minutes=10)


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
def async_follow_limit_not_applied(
    hass: HomeAssistant, charger_id: str, charger: Charger
) -> CALLBACK_TYPE:
    """Raise / clear the "limit not applied" repair issue of one charger (see the module
    docstring); returns the function that stops."""
    return _LimitNotApplied(hass, charger_id, charger).stop


class _LimitNotApplied:
    """The limit issue's text: shown once the charger's limit mismatch has lasted
    :data:`LIMIT_NOT_APPLIED_AFTER`, with what its last LIMIT_MISMATCH event said; none as soon
    as the mismatch ends."""

    def __init__(self, hass: HomeAssistant, charger_id: str, charger: Charger) -> None:
        self._hass = hass
        self._charger_id = charger_id
        self._charger = charger
        self._told: dict[str, Any] = {}  # the last LIMIT_MISMATCH event's data
        self._timer: CALLBACK_TYPE | None = None  # until the mismatch has lasted long enough
        self._held = False  # ... it has
        issue_id = repair_issue_id(ISSUE_LIMIT_NOT_APPLIED, charger_id)
        self._follower = _StateIssueFollower(hass, charger, issue_id, self._text)

    @callback
    def _text(self, event: ChargerEvent | None) -> IssueText:
        if event is not None and event.kind is EventKind.LIMIT_MISMATCH:
            self._told = dict(event.data)
        if not self._charger.limit.mismatch:
            self._cancel()
            self._held = False
        elif self._timer is None and not self._held:
            self._timer = async_call_later(self._hass, LIMIT_NOT_APPLIED_AFTER, self._lasted)
        if not self._held:
            return None
        expected = _amps(self._told, "expected_a")
        placeholders = {"charger_id": self._charger_id, "expected": expected}
        if self._told.get("source") == REFUSED:
            return LIMIT_REFUSED_TRANSLATION_KEY, placeholders
        return ISSUE_LIMIT_NOT_APPLIED, placeholders | {"applied": _amps(self._told, "applied_a")}

    @callback
    def _lasted(self, _now: datetime) -> None:
        self._timer = None
        self._held = True
        self._follower.check()

    @callback
    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def stop(self) -> None:
        self._cancel()
        self._follower.stop()


def _amps(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return f"{value:g}" if isinstance(value, int | float) else "?"


@callback
def _async_follow(
    hass: HomeAssistant, charger: Charger, issue_id: str, text: Callable[[], IssueText]
) -> CALLBACK_TYPE:
    """Show ``text`` of the charger's state as the issue ``issue_id`` at each change of the
    charger; returns the function that stops and clears it."""
    return _StateIssueFollower(hass, charger, issue_id, lambda _event: text()).stop


class _StateIssueFollower:
    """Shows ``text`` (given the charger's event, None when asked by :meth:`check` alone) as the
    issue ``issue_id`` at each change of the charger, written only when it changes."""

    def __init__(
        self,
        hass: HomeAssistant,
        charger: Charger,
        issue_id: str,
        text: Callable[[ChargerEvent | None], IssueText],
    ) -> None:
        self._hass = hass
        self._issue_id = issue_id
        self._text = text
        self._shown: IssueText = None
        self.check()
        self._unsubscribe = charger.add_listener(self.check)

    @callback
    def check(self, event: ChargerEvent | None = None) -> None:
        """Show the text as it is now (also for what changes without a charger event)."""
        if (text := self._text(event)) != self._shown:
            self._shown = text
            async_show_state_issue(self._hass, self._issue_id, text)

    @callback
    def stop(self) -> None:
        self._unsubscribe()
        async_show_state_issue(self._hass, self._issue_id, None)
