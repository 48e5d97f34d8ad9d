"""A 2.x station's queue sent after a reboot is no sign that it still runs the transaction the
queue is of (``transactions._on_open`` and the boot mark of ``_lost_for_another_evse``).

The station follows the spec (ids unique per station, numbered from 1 again after a boot). "1"
runs on EVSE 1; the station goes offline and queues an Updated, reboots and loses "1" but keeps
its queue. After the BootNotification it sends that Updated (flagged offline), or one whose
answer it never got before the reboot (sent again, not flagged), then the next car starts "1"
on EVSE 2. Such a message cleared EVSE 1's boot mark: its "1" stayed open beside EVSE 2's, and
the two open at once were taken for numbering per EVSE, remembered for good (lost sessions then
stay open after every reboot: EVSE 2's "1", lost in the next, ran on). A live message of "1"
after the boot (the station resumed it) still shows it kept "1": EVSE 2's "1" is then its own
(test_redteam4_reboot_other_evse_clock_kept, test_v201_reboot_mark).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_1_QUEUED_WH,
    EVSE_1_SENT_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    cable_started,
    periodic_updated,
    send,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.mark.parametrize("queued", [True, False], ids=["queued_offline", "answer_lost"])
async def test_a_queue_sent_after_the_boot_leaves_the_session_lost(
    h: Harness, queued: bool
) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(60), evse=EVSE))
    sent = periodic_updated(1, EVSE_1_SENT_WH, _ago(50))
    await send(sim, sent)
    lost = h.charger.connectors[1].transaction
    assert lost is not None
    # It went offline and queued one more, or it never saw our answer to the one it sent.
    queue_wh = EVSE_1_QUEUED_WH if queued else EVSE_1_SENT_WH
    queue = periodic_updated(2, queue_wh, _ago(40), offline=True) if queued else sent
    await sim.boot(reason="PowerUp")
    await send(sim, queue)
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(5), evse=EVSE_2))
    assert h.charger.connectors[1].transaction is None, "EVSE 1's lost session stayed open"
    assert (lost.stop_reason, lost.energy_wh) == (STOPPED_BY_REBOOT, queue_wh - EVSE_1_BEGIN_WH)
    # No numbering per EVSE was taken from it: EVSE 2's "1", lost in the next reboot, ends when
    # EVSE 1 starts the id again.
    evse_2_lost = h.charger.connectors[2].transaction
    assert evse_2_lost is not None
    await sim.boot(reason="PowerUp")
    await send(sim, cable_started(EVSE_1_QUEUED_WH, _ago(1), evse=EVSE))
    assert h.charger.connectors[2].transaction is None, "EVSE 2's lost session stayed open"
    assert evse_2_lost.stop_reason == STOPPED_BY_REBOOT
