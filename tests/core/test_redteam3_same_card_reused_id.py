"""Red team (3) of the owner rule of a repeated message after a reused 2.x transaction id
(tx_routing._repeats: "no owner but the ended one's").

The old session "1" (card TAG1, 120 -> 90 minutes ago, 1,000 -> 2,000 Wh) ended. The station
reboots, its clock goes back by less than the old session ran, and its next session "1" starts by
the cable (no card) inside the old span, at 2,000 Wh: a new session (b99ea66). The same driver
then shows the same card, TAG1 (one household, one card): an Updated with seqNo 1, stamped inside
the old span, with no register. By seqNo and time it could be the old session's Updated sent
again, and its card is the old session's owner too, so _repeats gives it to the old session: the
new session never gets its owner (no SESSION_IDENTIFIED, its card and user unknown). A message
the old session really sent again carries its original time (the old Updated was stamped 105
minutes ago, this one 104) and the old one's Updated carried no card.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import Transaction

from .test_v201_reused_id_clock_back import (
    NEW_BEGIN_WH,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    _ago,
    send_frames,
    session_frames,
)
from .v201_harness import V201Harness as Harness
from .v201_reuse import TAG1, Station, cable_started, card_shown, send

NEW_STARTED_MIN_AGO = OLD_STARTED_MIN_AGO - 10
CARD_SHOWN_MIN_AGO = OLD_STARTED_MIN_AGO - 16


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def _cable_started_new_session(h: Harness, sim: Station) -> Transaction:
    """The new session "1", started by the cable inside the old span: the running session."""
    await send(sim, cable_started(NEW_BEGIN_WH, _ago(NEW_STARTED_MIN_AGO)))
    running = h.charger.connectors[1].transaction
    assert running is not None
    return running


async def test_the_same_card_shown_for_the_new_session_is_its_owner(h: Harness) -> None:
    sim = await h.charger_client(boot=True)
    await send_frames(sim, session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO))
    running = await _cable_started_new_session(h, sim)
    assert running.id_tag is None
    answer = await send(sim, card_shown(1, _ago(CARD_SHOWN_MIN_AGO), TAG1))
    assert answer.id_token_info["status"] == "Accepted"
    assert running.id_tag == "TAG1"
    assert "session_identified" in h.kinds()


async def test_the_old_sessions_card_message_sent_again_stays_the_old_ones(h: Harness) -> None:
    """The old session's Updated carried its card and its register (1,500 Wh); sent again (its
    seqNo, time, card and register) while the new session runs without an owner, its register
    below the new session's tells it is the old one's: the new session takes neither its card
    nor its register."""
    sim = await h.charger_client(boot=True)
    old = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
    old[1] = {**old[1], "id_token": TAG1}
    await send_frames(sim, old)
    running = await _cable_started_new_session(h, sim)
    await send_frames(sim, [old[1]])
    assert running.id_tag is None
    assert running.energy_wh == 0
    assert h.charger.connectors[1].meter.energy_register_wh == NEW_BEGIN_WH
    assert "session_identified" not in h.kinds()
