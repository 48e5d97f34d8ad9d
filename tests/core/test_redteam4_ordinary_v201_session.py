"""Red team (4), pinned (passes): the common path of a spec-compliant 2.x station is untouched by
the reboot rules (tx_boot_mark.lost_in_reboot, _counts_again, _identifies, 09ca23a).

A cable-first session (Started seqNo 0 without a card), the card in Updated 1, then the
connection drops before our answers arrive: the station sends its queue again from its Started
(original seqNos and stamps) and goes on with Updated 3, Ended 4. One session, with the card as
its owner, its energy once, ended as the station said (never "Reboot").
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import EventKind

from .test_v201_reused_id_clock_back import EVSE, REUSED_ID, _ago, _register
from .v201_harness import V201Harness as Harness

BEGIN_WH = 4000.0
CARD = {"idToken": "TAG1", "type": "ISO14443"}


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _frames() -> list[dict[str, Any]]:
    at = [_ago(40 - 10 * n) for n in range(5)]
    kinds = ("Started", "Updated", "Updated", "Updated", "Ended")
    frames: list[dict[str, Any]] = [
        {
            "event_type": kind,
            "seq_no": n,
            "timestamp": at[n],
            "evse": EVSE,
            "trigger_reason": "MeterValuePeriodic",
            "meter_value": _register(BEGIN_WH + 250 * n, at[n], "Sample.Periodic"),
        }
        for n, kind in enumerate(kinds)
    ]
    frames[0].update(trigger_reason="CablePluggedIn", charging_state="EVConnected")
    frames[1].update(trigger_reason="Authorized", id_token=CARD, charging_state="Charging")
    frames[4].update(trigger_reason="EVCommunicationLost", stopped_reason="EVDisconnected")
    return frames


async def _send(sim: Any, frames: list[dict[str, Any]]) -> None:
    for frame in frames:
        kwargs = dict(frame)
        await sim.tx_event(kwargs.pop("event_type"), REUSED_ID, **kwargs)


async def test_a_queue_sent_again_from_its_started_leaves_one_ordinary_session(
    h: Harness,
) -> None:
    frames = _frames()
    sim = await h.charger_client(boot=True)
    await _send(sim, frames[:3])
    sim = await h.charger_client(boot=False)  # reconnected: the queue again, then the rest
    await _send(sim, frames)
    ended = [e.data for e in h.events if e.kind is EventKind.SESSION_ENDED]
    assert [(e["energy_wh"], e["reason"], e["id_tag"]) for e in ended] == [
        (1000.0, "EVDisconnected", "TAG1")
    ]
    assert h.kinds().count("session_started") == 1
