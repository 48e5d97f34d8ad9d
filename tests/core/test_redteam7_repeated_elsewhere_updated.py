"""Red team (7) of tx_routing._repeated_elsewhere (b784341: every kind of message, no longer
only an Ended) on a station that follows the spec: ids unique per station, but numbered from 1
again after each boot (with the seqNos), and a clock that restarts at the time it last saved.

"1" runs on EVSE 1 (16,000 Wh at its end) and ends. The station reboots; its clock restarts an
hour and a half back, inside EVSE 1's "1". The next car starts "1" on EVSE 2 (its own meter, at
7,000 Wh). Its periodic Updateds name no EVSE (2.0.1 asks for it in a transaction's first
message only), carry seqNos EVSE 1's "1" had, stamps inside its span and a register below its
last: each is taken for EVSE 1's "1" sent again. EVSE 2's running session shows none of its
readings (the energy manager sees it charge nothing) until its clock passes EVSE 1's end, its
seqNos stay missing, and its card shown after a cable-first start (one household: the card
EVSE 1's session had) never reaches it. At 0442b04 (Ended only) they went to EVSE 2's session.
Fixed: a message other than an Ended is taken for another EVSE's repeat only on a station that
showed it numbers per EVSE (the case of test_v201_resent_updated_no_evse).
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import EVSE_2, TAG1, cable_started, card_shown, periodic_updated, send

EVSE_1_BEGIN_WH, EVSE_1_END_WH = 15_000.0, 16_000.0
EVSE_2_BEGIN_WH, EVSE_2_RISE_WH = 7_000.0, 300.0
# The station's clock after the boot: the time it last saved, inside EVSE 1's "1" (120 to 60
# minutes ago).
CLOCK_AFTER_BOOT_MIN_AGO = 100


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def evse_1_ran_then_reboot(h: Harness) -> Any:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(120), evse=EVSE))
    await send(sim, card_shown(1, _ago(119), TAG1, evse=None))
    await send(sim, periodic_updated(2, EVSE_1_BEGIN_WH + 500, _ago(90), evse=None))
    ended = periodic_updated(3, EVSE_1_END_WH, _ago(60), evse=None, stopped_reason="Local")
    await send(sim, ended)
    assert h.charger.connectors[1].transaction is None
    await sim.boot(reason="PowerUp")
    return sim


async def test_the_next_evses_updates_reach_its_running_session(h: Harness) -> None:
    sim = await evse_1_ran_then_reboot(h)
    clock = CLOCK_AFTER_BOOT_MIN_AGO
    await send(
        sim,
        cable_started(EVSE_2_BEGIN_WH, _ago(clock), evse=EVSE_2, charging_state="Charging"),
    )
    running = h.charger.connectors[2].transaction
    assert running is not None
    await send(sim, card_shown(1, _ago(clock - 1), TAG1, evse=None))
    evse_2_wh = EVSE_2_BEGIN_WH + EVSE_2_RISE_WH
    await send(sim, periodic_updated(2, evse_2_wh, _ago(clock - 2), evse=None))
    assert h.charger.connectors[2].meter.energy_register_wh == evse_2_wh
    assert (running.id_tag, running.energy_wh) == ("TAG1", EVSE_2_RISE_WH)
    assert running.sequence is not None
    assert running.sequence.seen == [(0, 2)]
    assert h.charger.connectors[1].meter.energy_register_wh == EVSE_1_END_WH
