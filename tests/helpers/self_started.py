"""Transactions a car starts by itself on a charger paused by remote stop: what the tests of the
user's pause and the energy manager's share (the stops sent, a station in a start / stop loop)."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.helpers import issue_registry as ir

from custom_components.ocpp_ems.const import DOMAIN, ISSUE_SELF_START_LOOP, repair_issue_id

from .charger import wait_for
from .versions import OCPP16, ChargerSide

# The stop command of each version, and how it names the transaction.
STOP = {OCPP16: ("RemoteStopTransaction", "transaction_id")}
STOP_2X = ("RequestStopTransaction", "transactionId")


def stop_action(charger: ChargerSide) -> str:
    return STOP.get(charger.version, STOP_2X)[0]


def stopped(charger: ChargerSide) -> list[str]:
    """The transactions the central system asked the charger to stop."""
    action, key = STOP.get(charger.version, STOP_2X)
    return [str(payload[key]) for payload in charger.commands(action)]


def loop_issue(issue_registry: ir.IssueRegistry, charger: ChargerSide) -> ir.IssueEntry | None:
    """The repair issue of a charger that keeps starting charges by itself while paused."""
    issue_id = repair_issue_id(ISSUE_SELF_START_LOOP, charger.charger_id)
    return issue_registry.async_get_issue(DOMAIN, issue_id)


def _stops_sent(charger: ChargerSide, count: int) -> Callable[[], bool]:
    return lambda: len(stopped(charger)) == count


async def stopped_three_times(charger: ChargerSide) -> None:
    """The car plugged in; the station starts a charge by itself three times, each stopped (it
    ends it at once); then a fourth."""
    await charger.plug_in()
    for count in range(1, 4):
        await charger.start_session()
        await wait_for(_stops_sent(charger, count), what=f"stop {count}")
        await charger.end_session(reason="Remote")
    await charger.start_session()
