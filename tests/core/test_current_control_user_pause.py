"""Current control: a transaction that starts while the user paused the charger by remote stop.

End to end like ``test_current_control.py``: CurrentController -> real V16Session -> websockets
-> SimCharger. The Home Assistant side (switch, action, 1.6 / 2.0.1 / 2.1, refusals) is in
``tests/test_user_pause_self_started.py``; here what needs the controller's timing in hand.
"""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.settings import ChargerSettings, PauseStrategy, ServerSettings
from tests.helpers.lost_frames import lose_next

from .v16_harness import Harness, SimCharger, now_iso, wait_for

STOP = "RemoteStopTransaction"


@pytest.fixture(autouse=True)
def fast_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)


async def _paused_by_the_user(h: Harness, settings: ChargerSettings) -> SimCharger:
    """Pause strategy remote stop / start; the user pauses with no car (nothing to stop)."""
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    sim = await h.charger_client()
    controller = h.get_controller()
    await wait_for(lambda: controller._refresh_task is not None)
    await controller.pause()
    assert sim.actions("RemoteStopTransaction") == []
    return sim


async def test_a_stop_cut_off_by_a_disconnect_is_asked_at_the_reconnect(
    controlled: Harness, settings: ChargerSettings
) -> None:
    """The charger goes away before it answers the stop of the car's transaction: the stop is
    asked again on the next connection (the transaction still runs), not forgotten."""
    h = controlled
    first = await _paused_by_the_user(h, settings)
    first.delay["RemoteStopTransaction"] = 30.0  # gone before it answers
    transaction_id = (await first.start_tx()).transaction_id
    await wait_for(lambda: first.actions("RemoteStopTransaction"))
    await first._connection.close()
    await wait_for(lambda: h.get_controller()._session is None)

    second = await h.charger_client()
    await wait_for(lambda: second.actions("RemoteStopTransaction"))
    assert second.actions("RemoteStopTransaction") == [{"transaction_id": transaction_id}]


async def test_a_stop_behind_the_users_resume_is_dropped(
    controlled: Harness, settings: ChargerSettings
) -> None:
    """A car starts while a change holds the commands and the user's resume waits behind it:
    the stop that was due when the car started comes after the resume, and must not end the
    transaction the user now allows."""
    h = controlled
    sim = await _paused_by_the_user(h, settings)
    controller = h.get_controller()
    sim.delay["SetChargingProfile"] = 0.5  # the limit change holds the commands meanwhile
    change = asyncio.ensure_future(controller.set_limit(10))
    await wait_for(controller._commands.locked)
    resume = asyncio.ensure_future(controller.resume())
    await asyncio.sleep(0)  # the resume waits for the commands first
    start = asyncio.ensure_future(sim.start_tx())
    await wait_for(lambda: h.charger.connector(1).transaction is not None)
    assert h.charger.limit.paused  # the car started while still paused
    await asyncio.gather(change, resume, start)
    del sim.delay["SetChargingProfile"]

    await controller.set_limit(12)  # after the stop that was due (one command at a time)
    assert sim.actions("RemoteStopTransaction") == []
    assert not h.charger.limit.paused


async def test_an_unanswered_stop_is_asked_again_with_a_growing_wait(
    controlled: Harness,
    settings: ChargerSettings,
    server_settings: ServerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The charger does not answer the stop of the car's transaction (a lost frame, a busy
    charger): unlike a refusal, it may still charge. Asked again after the retry time, each wait
    twice the one before while it stays silent; answered, the transaction ends."""
    server_settings.response_timeout_s = 0.2
    monkeypatch.setattr(CurrentController, "self_started_stop_retry_s", 0.05)
    h = controlled
    sim = await _paused_by_the_user(h, settings)
    controller = h.get_controller()
    lost = [lose_next(sim, STOP)]
    transaction_id = (await sim.start_tx()).transaction_id
    await wait_for(lambda: lost[0])
    lost.append(lose_next(sim, STOP))  # the first retry goes unanswered too
    await wait_for(lambda: lost[1])
    assert lost == [[{"transactionId": transaction_id}]] * 2
    await wait_for(lambda: controller._stops._stop_retry_s == 0.1)  # the next wait: twice the first

    await wait_for(lambda: sim.actions(STOP))  # the next one is answered
    assert sim.actions(STOP) == [{"transaction_id": transaction_id}]
    # the run ends: the next is afresh
    await wait_for(lambda: controller._stops._stop_retry_s is None)


async def test_an_unanswered_stop_is_asked_at_once_on_the_next_connection(
    controlled: Harness, settings: ChargerSettings, server_settings: ServerSettings
) -> None:
    """The charger left the stop unanswered and goes away before it is asked again: the next
    connection asks at once, not after the wait (nor the grown one) of the last."""
    server_settings.response_timeout_s = 0.2
    h = controlled
    first = await _paused_by_the_user(h, settings)
    controller = h.get_controller()
    lost = lose_next(first, STOP)
    transaction_id = (await first.start_tx()).transaction_id
    await wait_for(lambda: controller._stops._stop_retry_s is not None)  # timed out: asked in 30 s
    assert lost == [{"transactionId": transaction_id}]
    await first._connection.close()
    await wait_for(lambda: controller._session is None)

    second = await h.charger_client()
    await wait_for(lambda: second.actions(STOP))
    assert second.actions(STOP) == [{"transaction_id": transaction_id}]
    await wait_for(lambda: controller._stops._stop_retry_s is None)


async def test_a_loop_count_starts_afresh_after_a_long_gap_between_charges(
    controlled: Harness, settings: ChargerSettings
) -> None:
    """A station in a start / stop loop that never says the car left (no Available, no
    EVDisconnected): after three stops its charges are left to run; a charge that starts long
    after the last one (a new car, hours later) is no loop: it is stopped again."""
    h = controlled
    sim = await _paused_by_the_user(h, settings)
    begin = -3600.0  # the loop, an hour ago by the charger's stamps
    for count in range(1, 5):
        at = begin + 20.0 * count
        started = await sim.start_tx(timestamp=now_iso(at))
        if count <= 3:
            await wait_for(lambda n=count: len(sim.actions(STOP)) == n)  # type: ignore[misc]
        await sim.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=1000,
                timestamp=now_iso(at + 10.0),
                reason="Remote" if count <= 3 else "Local",
            )
        )
    assert len(sim.actions(STOP)) == 3
    assert h.get_controller().start_stop_loop == (1,)

    later = await sim.start_tx(timestamp=now_iso())
    await wait_for(lambda: len(sim.actions(STOP)) == 4)
    assert sim.actions(STOP)[-1] == {"transaction_id": later.transaction_id}
    assert h.get_controller().start_stop_loop == ()
