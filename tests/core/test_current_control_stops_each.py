"""Current control: several stops in one go, each by its own outcome.

The user paused by remote stop; a car's transactions on two connectors are stopped in one go
(here: both asked at once when the charger reconnects). One refused and one left unanswered: the
unanswered one is asked again after a wait, the refused one is told and not asked again, in
whichever order they come (the first error used to decide for both: a refusal first left the
unanswered transaction charging for good; an unanswered stop first asked the refused one again).
End to end like ``test_current_control_user_pause.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.settings import ChargerSettings, PauseStrategy, ServerSettings

from .v16_harness import Harness, SimCharger, wait_for

STOP = "RemoteStopTransaction"
REFUSE, LOSE = "refuse", "lose"


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch, server_settings: ServerSettings) -> None:
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)
    monkeypatch.setattr(CurrentController, "self_started_stop_retry_s", 0.1)
    server_settings.response_timeout_s = 0.2


def _script_stops(
    sim: SimCharger, script: dict[int, str], asked: list[int], otherwise: str | None = None
) -> None:
    """``sim`` refuses (REFUSE) or never answers (LOSE) the first stop of each transaction in
    ``script``, the rest as ``otherwise`` (None: as usual); ``asked`` gets each stop's
    transaction."""

    def outcome(transaction_id: int) -> str | None:
        asked.append(transaction_id)
        return script.pop(transaction_id, otherwise)

    answer_stops(sim, outcome)


def answer_stops(sim: SimCharger, outcome: Callable[[int], str | None]) -> None:
    """``sim`` answers the stop of each transaction by ``outcome(its id)``: REFUSE, LOSE (never
    answered), None (as usual)."""
    route = sim.route_message

    async def scripted(raw: str) -> None:
        message: list[Any] = json.loads(raw)
        if message[0] == 2 and message[2] == STOP:
            chosen = outcome(message[3]["transactionId"])
            if chosen == REFUSE:
                await sim._send(json.dumps([3, message[1], {"status": "Rejected"}]))
            if chosen is not None:
                return
        await route(raw)

    sim.route_message = scripted  # type: ignore[method-assign]


async def _two_transactions_stopped_at_the_reconnect(
    h: Harness, settings: ChargerSettings, outcomes: tuple[str, str]
) -> tuple[list[int], list[int]]:
    """The first connection leaves every stop unanswered; the next one asks both transactions'
    in one go, with ``outcomes``. Returns the two transactions and the stops asked since."""
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    lost: list[int] = []
    first = await h.charger_client(setup=lambda sim: _script_stops(sim, {}, lost, LOSE))
    controller = h.get_controller()
    await wait_for(lambda: controller._refresh_task is not None)
    await controller.pause()
    transactions = [(await first.start_tx(connector)).transaction_id for connector in (1, 2)]
    await wait_for(lambda: set(transactions) <= set(lost))
    await first._connection.close()
    await wait_for(lambda: controller._session is None)

    asked: list[int] = []
    script = dict(zip(transactions, outcomes, strict=True))
    await h.charger_client(setup=lambda sim: _script_stops(sim, script, asked))
    await wait_for(lambda: len(asked) >= 2)
    assert asked[:2] == transactions  # one go, in order
    return transactions, asked


@pytest.mark.parametrize(
    "outcomes", [(REFUSE, LOSE), (LOSE, REFUSE)], ids=["refused_first", "unanswered_first"]
)
async def test_each_stop_of_one_go_has_its_own_outcome(
    controlled: Harness,
    settings: ChargerSettings,
    outcomes: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    transactions, asked = await _two_transactions_stopped_at_the_reconnect(
        controlled, settings, outcomes
    )
    refused, unanswered = transactions if outcomes[0] == REFUSE else transactions[::-1]
    await wait_for(lambda: len(asked) == 3)  # the unanswered one, after its wait
    assert asked[2] == unanswered
    controller = controlled.get_controller()
    await wait_for(lambda: controller._stops._stop_retry_s is None)  # answered: no more retries
    assert asked.count(refused) == 1  # refused: not asked again
    told = [r for r in caplog.records if "did not stop a transaction it started" in r.message]
    assert [r.levelno for r in told] == [logging.WARNING]
    assert f"({refused}: " in told[0].message  # each refused one named


async def test_a_go_that_finds_the_charger_gone_is_asked_at_the_reconnect(
    controlled: Harness, settings: ChargerSettings
) -> None:
    """The car's stop waits behind a limit change, and the charger goes away meanwhile: the
    stop is asked at once on the next connection."""
    h = controlled
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    first = await h.charger_client()
    controller = h.get_controller()
    await wait_for(lambda: controller._refresh_task is not None)
    await controller.pause()
    first.delay["SetChargingProfile"] = 30.0  # the change holds the commands
    change = asyncio.ensure_future(controller.set_limit(10))
    await wait_for(controller._commands.locked)
    start = asyncio.ensure_future(first.start_tx())  # (its answer waits behind the change)
    await wait_for(lambda: h.charger.connector(1).transaction is not None)
    transaction = h.charger.connector(1).transaction
    assert transaction is not None
    start.cancel()  # (the connection ends before its answer)
    await first._connection.close()
    await asyncio.gather(change, start, return_exceptions=True)
    await wait_for(lambda: not controller._commands.locked())
    assert first.actions(STOP) == []

    second = await h.charger_client()
    await wait_for(lambda: second.actions(STOP))
    assert second.actions(STOP) == [{"transaction_id": int(transaction.transaction_id)}]
