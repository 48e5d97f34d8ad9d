"""The neighbours of the two boot-mark fixes of test_v201_boot_mark_gaps.

1. A message of the open transaction stamped by a clock restarted at an old date (before the
   transaction began, further behind its arrival than a queue may be old:
   ``tx_boot_mark.stamped_by_restarted_clock``) shows the station kept it through the reboot.
   A lost one still ends as Reboot when its queue carries no such stamp: stamped before its
   Started by less (a clock stepped back, or restarted at the time it last saved), or by a
   clock that was that far behind all along (its Started too). The sign holds whatever the
   seqNo (a station that counts from 0 again after its boot) and whatever the clock did before
   the boot (known ahead, behind).
2. A late message naming no EVSE, stamped well before the station's last boot and before the
   open transaction of its id began, goes to the other EVSE's ended one when the open one began
   live after that boot (``tx_routing._ended_elsewhere_before_boot``). The open one's own
   messages stay its own: after a second boot (a clock restarted inside the ended one's span),
   naming its EVSE, or stamped before the boot by less than a clock may lead ours unrecorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import Transaction
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT

from .test_v201_boot_mark_gaps import BUILD_DATE  # (a clock restarted there at the reboot)
from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_1_QUEUED_WH,
    EVSE_1_SENT_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    Station,
    cable_started,
    periodic_updated,
    send,
)

# Minutes ago: a clock eight days behind all along (further than a queue may be old).
EIGHT_DAYS_MIN = 8 * 24 * 60.0


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def evse_1_runs(h: Harness, started_min_ago: float = 60) -> Station:
    """EVSE 1's "1": Started and one Updated sent live, ``started_min_ago`` by the station's
    clock."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(started_min_ago), evse=EVSE))
    await send(sim, periodic_updated(1, EVSE_1_SENT_WH, _ago(started_min_ago - 10)))
    return sim


async def evse_1_runs_then_reboot(h: Harness, started_min_ago: float = 60) -> Station:
    """:func:`evse_1_runs`, then a BootNotification."""
    sim = await evse_1_runs(h, started_min_ago)
    assert h.charger.connectors[1].transaction is not None
    await sim.boot(reason="PowerUp")
    return sim


@pytest.mark.parametrize(
    ("clock_min_ago", "queue_min_ago"),
    [
        (60, 90),  # stamped before the Started: a clock stepped back, or restarted recently
        (EIGHT_DAYS_MIN, EIGHT_DAYS_MIN - 20),  # a clock eight days behind all along
    ],
    ids=["before_its_start_by_less", "clock_behind_all_along"],
)
async def test_a_lost_sessions_queue_without_a_restarted_clock_still_ends_it(
    h: Harness, clock_min_ago: float, queue_min_ago: float
) -> None:
    sim = await evse_1_runs_then_reboot(h, clock_min_ago)
    lost = h.charger.connectors[1].transaction
    await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, _ago(queue_min_ago), offline=True))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(clock_min_ago - 55), evse=EVSE_2))
    assert h.charger.connectors[1].transaction is None, "EVSE 1's lost session stayed open"
    assert lost is not None
    assert lost.stop_reason == STOPPED_BY_REBOOT
    assert h.charger.connectors[2].transaction is not None


@pytest.mark.parametrize("offline", [True, False], ids=["flagged_offline", "sent_live"])
@pytest.mark.parametrize("seq_no", [0, 1, 2], ids=["seq_0_again", "seq_1_again", "seq_2_next"])
async def test_a_restarted_clocks_message_keeps_the_session_whatever_its_seqno(
    h: Harness, seq_no: int, offline: bool
) -> None:
    sim = await evse_1_runs_then_reboot(h)
    kept = h.charger.connectors[1].transaction
    await send(sim, periodic_updated(seq_no, EVSE_1_QUEUED_WH, BUILD_DATE, offline=offline))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    assert h.charger.connectors[1].transaction is kept, "the session the station kept was ended"
    assert kept is not None
    assert kept.stop_reason is None
    assert h.charger.connectors[2].transaction is not None


@pytest.mark.parametrize(
    "lead_min", [10.0, -120.0], ids=["clock_known_ahead_at_the_boot", "clock_behind"]
)
async def test_a_restarted_clock_shows_the_session_kept_whatever_the_clock_before(
    h: Harness, lead_min: float
) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(30 - lead_min), evse=EVSE))
    await send(sim, periodic_updated(1, EVSE_1_SENT_WH, _ago(-lead_min)))
    kept = h.charger.connectors[1].transaction
    assert kept is not None
    await sim.boot(reason="PowerUp")
    # The clock known ahead leaves no boot time (_written_since_boot cannot tell).
    assert (h.charger._booted_at is None) is (lead_min > 0)
    await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, BUILD_DATE, offline=True))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    assert h.charger.connectors[1].transaction is kept
    assert kept.stop_reason is None


# EVSE 1's "1": 100 to 80 minutes ago, its seqNo 1 (stamped 90 minutes ago) missing.
LATE_WH = EVSE_1_BEGIN_WH + 250


async def evse_1_ended_then_evse_2_started(h: Harness, started: str) -> Station:
    """EVSE 1's "1" ends (seqNo 1 not sent), the station boots, EVSE 2 starts "1" live
    (stamped ``started``)."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    ended = periodic_updated(2, EVSE_1_SENT_WH, _ago(80), evse=EVSE, stopped_reason="Local")
    await send(sim, ended)
    await sim.boot(reason="PowerUp")
    begun = cable_started(EVSE_2_BEGIN_WH, started, evse=EVSE_2, charging_state="Charging")
    await send(sim, begun)
    return sim


def ended_on_1_open_on_2(h: Harness) -> tuple[Transaction, Transaction]:
    """EVSE 1's ended "1" and EVSE 2's open one (after :func:`evse_1_ended_then_evse_2_started`)."""
    ended = h.charger.connectors[1].last_transaction
    running = h.charger.connectors[2].transaction
    assert ended is not None
    assert running is not None
    return ended, running


def late_naming_no_evse() -> dict[str, Any]:
    """EVSE 1's missing seqNo 1, sent late (flagged offline) naming no EVSE."""
    late = periodic_updated(1, LATE_WH, _ago(90), charging_state="SuspendedEV", offline=True)
    del late["evse"]
    return late


async def test_evse_1s_late_updated_counts_for_evse_1_only(h: Harness) -> None:
    sim = await evse_1_ended_then_evse_2_started(h, _ago(5))
    ended = h.charger.connectors[1].last_transaction
    running = h.charger.connectors[2].transaction
    assert ended is not None
    assert running is not None
    late = periodic_updated(1, LATE_WH, _ago(90), charging_state="SuspendedEV", offline=True)
    del late["evse"]
    await send(sim, late)
    assert ended.sequence is not None
    assert ended.sequence.seen == [(0, 2)], "the gap it filled stayed open"
    assert (ended.energy_wh, running.energy_wh) == (EVSE_1_SENT_WH - EVSE_1_BEGIN_WH, 0.0)
    assert h.charger.connectors[2].meter.energy_register_wh == EVSE_2_BEGIN_WH
    assert h.charger.connectors[2].transaction is running


def _after_boot(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    "case", ["after_a_second_boot", "naming_its_evse", "within_an_unrecorded_lead"]
)
async def test_evse_2s_own_updated_stamped_before_it_began_stays_its_own(
    h: Harness, case: str
) -> None:
    # EVSE 2's clock: right (its own Updated stamped inside EVSE 1's "1" by a clock restarted
    # in a second boot, or naming EVSE 2), or 4 minutes ahead unrecorded and set right since
    # (its Updated stamped a minute before the boot, inside EVSE 1's "1" ended just then).
    ahead = case == "within_an_unrecorded_lead"
    if ahead:
        sim = await h.charger_client(boot=True)
        await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(20), evse=EVSE))
        await send(sim, periodic_updated(1, EVSE_1_SENT_WH, _ago(0), stopped_reason="Local"))
        await sim.boot(reason="PowerUp")
        started = cable_started(EVSE_2_BEGIN_WH, _after_boot(4), evse=EVSE_2)
        await send(sim, started | {"charging_state": "Charging"})
    else:
        sim = await evse_1_ended_then_evse_2_started(h, _ago(5))
    running = h.charger.connectors[2].transaction
    ended = h.charger.connectors[1].last_transaction
    assert running is not None
    assert ended is not None
    assert ended.sequence is not None
    ended_seen = list(ended.sequence.seen)
    if case == "after_a_second_boot":
        await sim.boot(reason="PowerUp")
    own = periodic_updated(1, EVSE_2_BEGIN_WH + 300, _ago(1 if ahead else 90), evse=EVSE_2)
    if case != "naming_its_evse":
        del own["evse"]
    await send(sim, own)
    assert running.sequence is not None
    assert running.sequence.seen == [(0, 1)], "EVSE 2's own Updated went elsewhere"
    assert ended.sequence.seen == ended_seen
