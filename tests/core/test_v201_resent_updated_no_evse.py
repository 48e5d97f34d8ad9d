"""An Updated naming no EVSE (2.0.1 asks for the EVSE in a transaction's first message only) sent
again for EVSE 1's ended "1" on a station that numbers its transactions per EVSE, while EVSE 2's
"1" runs (the Ended's case: test_redteam5_resent_ended_no_evse).

It went to EVSE 2's open "1" (``ChargerState.find_open`` with no connector: any): its register
was dropped there (below EVSE 2's), but EVSE 2's cable-started session took EVSE 1's card
(AUTHORIZED, SESSION_IDENTIFIED on the wrong session), EVSE 1's charging state, EVSE 1's seqNos
(EVSE 2's own next one then read as the station counting from the start again) and lost its boot
mark (a session lost in the reboot stayed open). It is EVSE 1's, acknowledged and ignored
(``tx_routing._repeated_elsewhere``). EVSE 2's own Updated naming no EVSE still counts on it,
also when stamped inside EVSE 1's span (its register, above EVSE 1's last, tells).
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus, EventSequence

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    TAG1,
    Station,
    cable_started,
    card_shown,
    ended_sessions,
    periodic_updated,
    send,
)

EVSE_1_ENDED_MIN_AGO = 80
EVSE_2_WH = 100.0


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _without_evse(frame: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in frame.items() if key != "evse"}


async def _evse_1_ended_beside_evse_2(h: Harness) -> tuple[Station, list[dict[str, Any]]]:
    """ "1" on EVSE 1 (card shown, suspended by the car, ended: 500 Wh) while "1" runs on EVSE 2
    (cable-started, charging); EVSE 1's Updated messages (naming no EVSE) and the station."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    await send(
        sim, cable_started(EVSE_2_BEGIN_WH, _ago(90), evse=EVSE_2, charging_state="Charging")
    )
    evse_1_updates = [
        _without_evse(card_shown(1, _ago(88), TAG1)),
        _without_evse(
            periodic_updated(2, EVSE_1_BEGIN_WH + 250, _ago(85), charging_state="SuspendedEV")
        ),
    ]
    for frame in evse_1_updates:
        await send(sim, frame)
    evse_1_end_wh = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    ended = periodic_updated(3, evse_1_end_wh, _ago(EVSE_1_ENDED_MIN_AGO), stopped_reason="Local")
    await send(sim, _without_evse(ended))
    assert h.charger.connectors[1].transaction is None
    assert ended_sessions(h, "transaction_id", "energy_wh", "id_tag") == [
        ("1", EVSE_SESSION_WH, TAG1["idToken"])
    ]
    return sim, evse_1_updates


async def test_evse_1s_updated_sent_again_leaves_evse_2s_session_alone(h: Harness) -> None:
    sim, evse_1_updates = await _evse_1_ended_beside_evse_2(h)
    running = h.charger.connectors[2].transaction
    assert running is not None
    await sim.boot(reason="PowerUp")
    events_before = len(h.events)
    for frame in evse_1_updates:  # the station never saw our answers
        await send(sim, frame)
    assert [e.kind for e in h.events[events_before:]] == []
    assert (running.id_tag, running.energy_wh, running.meter_last_wh) == (None, 0, EVSE_2_BEGIN_WH)
    assert running.sequence == EventSequence(seen=[(0, 0)], latest=0, latest_at=running.started_at)
    assert running._boot_since_last_message
    assert h.charger.connectors[2].status is ConnectorStatus.CHARGING
    evse_1 = h.charger.connectors[1].last_transaction
    assert evse_1 is not None
    assert (evse_1.id_tag, evse_1.energy_wh) == (TAG1["idToken"], EVSE_SESSION_WH)


@pytest.mark.parametrize(
    "minutes_ago", [70, EVSE_1_ENDED_MIN_AGO + 2], ids=["after_evse_1s_end", "inside_its_span"]
)
async def test_evse_2s_own_updated_without_its_evse_counts_on_it(
    h: Harness, minutes_ago: float
) -> None:
    sim, _ = await _evse_1_ended_beside_evse_2(h)
    running = h.charger.connectors[2].transaction
    assert running is not None
    own = periodic_updated(1, EVSE_2_BEGIN_WH + EVSE_2_WH, _ago(minutes_ago), evse=EVSE_2)
    await send(sim, _without_evse(own))
    assert running.energy_wh == EVSE_2_WH
    assert running.sequence is not None
    assert running.sequence.seen == [(0, 1)]
