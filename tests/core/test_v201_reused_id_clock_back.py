"""A 2.x station reboots without a time source: its transaction counter starts again (id "1",
seqNo 0) and its clock at an older time, so its new session "1" is stamped before the old "1"
began. The register tells them apart (the new one starts at or above the old one's last value),
and the old session's frames sent again (stamped after the new one began) never touch it.

:func:`session_frames` (fixed seqNos and timestamps, so they can be sent again) and
:func:`send_frames` serve tests/test_v201_reused_ids.py too, which runs them through Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.timeutil import parse_timestamp

from .v201_harness import Harness, SimStation, SimStation21, sampled

REUSED_ID = "1"
EVSE = {"id": 1, "connectorId": 1}
SESSION_WH = 1000.0
# The old session's begin; the new one begins where the old one ended.
OLD_BEGIN_WH = 1000.0
NEW_BEGIN_WH = OLD_BEGIN_WH + SESSION_WH
# When the sessions began (minutes ago): the new one, after the clock went back, earlier.
OLD_STARTED_MIN_AGO = 120
NEW_STARTED_MIN_AGO = 240


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1 (``h2``, conftest.py)."""
    return h2


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def _register(wh: float, at: str, context: str) -> list[dict[str, Any]]:
    sample = sampled(wh, "Energy.Active.Import.Register", unit="Wh", context=context)
    return [{"timestamp": at, "sampledValue": [sample]}]


def session_frames(
    first_seq_no: int, begin_wh: float, started_min_ago: float
) -> list[dict[str, Any]]:
    """One session of :data:`REUSED_ID` (Started, Updated, Ended: :data:`SESSION_WH`, 30
    minutes), as keyword arguments of ``tx_event``: fixed seqNos and timestamps, so they can be
    sent again."""
    started, middle, ended = (_ago(started_min_ago - m) for m in (0, 15, 30))
    token = {"idToken": "TAG1", "type": "ISO14443"}
    return [
        {
            "event_type": "Started",
            "seq_no": first_seq_no,
            "timestamp": started,
            "trigger_reason": "Authorized",
            "evse": EVSE,
            "id_token": token,
            "charging_state": "Charging",
            "meter_value": _register(begin_wh, started, "Transaction.Begin"),
        },
        {
            "event_type": "Updated",
            "seq_no": first_seq_no + 1,
            "timestamp": middle,
            "trigger_reason": "MeterValuePeriodic",
            "evse": EVSE,
            "meter_value": _register(begin_wh + SESSION_WH / 2, middle, "Sample.Periodic"),
        },
        {
            "event_type": "Ended",
            "seq_no": first_seq_no + 2,
            "timestamp": ended,
            "trigger_reason": "StopAuthorized",
            "evse": EVSE,
            "stopped_reason": "Local",
            "meter_value": _register(begin_wh + SESSION_WH, ended, "Transaction.End"),
        },
    ]


async def send_frames(station: SimStation | SimStation21, frames: list[dict[str, Any]]) -> None:
    """Send ``frames`` (of :func:`session_frames`) as TransactionEvents of :data:`REUSED_ID`;
    the token of each is accepted (TAG1)."""
    for frame in frames:
        kwargs = dict(frame)
        answer = await station.tx_event(kwargs.pop("event_type"), REUSED_ID, **kwargs)
        if frame.get("id_token") is not None:
            assert answer.id_token_info["status"] == "Accepted"


async def test_old_session_replayed_while_the_new_one_runs_after_the_clock_went_back(
    h: Harness,
) -> None:
    """The old session "1" (1,000 -> 2,000 Wh) ends; the station reboots (seqNo 0 again, its
    clock 2 hours back) and starts the new "1" at 2,000 Wh; while it runs, the old session's
    Started, Updated and Ended are sent again (stamped after the new one began); then the new
    one's own Ended (3,000 Wh). Both sessions have 1,000 Wh, the lifetime total counts the meter
    once, the replayed Ended never ends the new session."""
    sim = await h.charger_client(boot=True)
    old = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
    new = session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)
    await send_frames(sim, old)
    lifetime_after_old = h.charger.lifetime_energy.total_wh
    await send_frames(sim, new[:2])
    running = h.charger.connectors[1].transaction
    assert running is not None, "the new session's Started was taken for the old one's"
    await send_frames(sim, old)
    assert h.charger.connectors[1].transaction is running, "the old session's replay touched it"
    assert running.energy_wh == SESSION_WH / 2
    await send_frames(sim, new[2:])
    assert h.charger.connectors[1].transaction is None
    assert running.ended_at is not None
    assert h.charger.connectors[1].last_transaction is running
    ended = [e.data for e in h.events if e.kind is EventKind.SESSION_ENDED]
    assert [(e["transaction_id"], e["energy_wh"]) for e in ended] == [
        (REUSED_ID, SESSION_WH),
        (REUSED_ID, SESSION_WH),
    ]
    assert h.kinds().count("session_started") == 2
    assert h.kinds().count("session_updated") == 0
    assert h.charger.lifetime_energy.total_wh == pytest.approx(lifetime_after_old + SESSION_WH)


def _restamped(frame: dict[str, Any], minutes_ago: float) -> dict[str, Any]:
    """``frame`` stamped ``minutes_ago`` (its readings too)."""
    at = _ago(minutes_ago)
    readings = [{**reading, "timestamp": at} for reading in frame.get("meter_value") or []]
    return {**frame, "timestamp": at, **({"meter_value": readings} if readings else {})}


def _without_readings(frame: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in frame.items() if key != "meter_value"}


@pytest.mark.parametrize(
    ("later_frames", "energy_wh"),
    [
        # Its Ended says nothing of the register (seqNo 2 and a time the old session had).
        (lambda new: [new[1], _without_readings(new[2])], SESSION_WH / 2),
        # It charged into the times of the old session (its clock went back less than it ran):
        # the seqNos and times of the old one's Updated and Ended, its own registers.
        (lambda new: [_restamped(new[1], 105), _restamped(new[2], 95)], SESSION_WH),
    ],
    ids=["ended_without_register", "stamped_into_the_old_session"],
)
async def test_new_session_messages_like_the_old_ones_are_its_own(
    h: Harness,
    later_frames: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    energy_wh: float,
) -> None:
    """After the clock went back, the new session's messages carry seqNos the old session had,
    and may be stamped before its newest: only one stamped while the old one ran and with no
    register above its last is the old one's, sent again. The new one's Ended ends it."""
    sim = await h.charger_client(boot=True)
    await send_frames(sim, session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO))
    new = session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)
    await send_frames(sim, [new[0], *later_frames(new)])
    connector = h.charger.connectors[1]
    assert connector.transaction is None, "the new session's Ended was taken for the old one's"
    assert connector.last_transaction is not None
    assert connector.last_transaction.energy_wh == energy_wh
    assert h.kinds().count("session_ended") == 2


async def test_late_started_of_a_session_without_energy_is_no_new_session(h: Harness) -> None:
    """A Started stamped before its session began, at its register, is yet that session's own
    when it is one of its missing seqNos (an offline queue sent out of order: the Ended first,
    then the Started of a session that charged nothing), not a new session after a clock went
    back: no session is opened that would never end."""
    sim = await h.charger_client(boot=True)
    await sim.meter_values(1, [sampled(OLD_BEGIN_WH, "Energy.Active.Import.Register")], _ago(60))
    ended, started = (
        {"seq_no": 1, "timestamp": _ago(10), "evse": EVSE, "stopped_reason": "EVDisconnected"},
        session_frames(0, OLD_BEGIN_WH, 20)[0],
    )
    await sim.tx_event("Ended", REUSED_ID, **ended)
    await send_frames(sim, [started])
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is not None
    assert connector.last_transaction.started_at == parse_timestamp(started["timestamp"])
    assert h.kinds().count("session_started") == 1
