"""Red team of the meter base moved to a start's time after the charger's clock went back
(meter.count_from, from transaction_book._count_from_start_after_clock_back), on 1.6.

A session charged 4,000 -> 5,000 Wh from 60 to 10 minutes ago (its readings stamped 40 and 20
minutes ago). The charger reboots without a time source, its clock two hours behind, and starts a
new session at 5,000 Wh stamped 120 minutes ago (after the old one by the register: a new
session). Its offline queue survived the reboot: the old session's readings are sent again
(stamped 40 and 20 minutes ago, below the register). They were counted once; they must not count
again (taken for a register reset and the rise after it), neither for the lifetime total nor for
the new session; the new session's own readings count.

:func:`new_session_after_the_clock_went_back` and :func:`send_the_old_queue_again` serve
test_meter_history_clock_back.py too (the queue sent again after a reconnect, a restart).
"""

from __future__ import annotations

from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import Transaction

from .test_energy_quirks import energy16, h16
from .v16_harness import Harness, SimCharger, now_iso

__all__ = ["h16"]

MINUTE = 60
OLD_READINGS = ((4500, -40 * MINUTE), (4800, -20 * MINUTE))
# The new session's start register, and its first reading.
NEW_START_WH = 5000
NEW_READING_WH = 5100


async def new_session_after_the_clock_went_back(
    h: Harness, sim: SimCharger
) -> tuple[int, Transaction]:
    """The old session (ended) and the new one, started after the charger's clock went back: the
    old one's id and the new one (running)."""
    old = (await sim.start_tx(meter=4000, timestamp=now_iso(-60 * MINUTE))).transaction_id
    for wh, at in OLD_READINGS:
        await sim.meter(1, [energy16(wh)], transaction_id=old, timestamp=now_iso(at))
    await sim.call(
        call.StopTransaction(
            meter_stop=NEW_START_WH, timestamp=now_iso(-10 * MINUTE), transaction_id=old
        )
    )
    new = await sim.start_tx(meter=NEW_START_WH, timestamp=now_iso(-120 * MINUTE))
    running = h.charger.connector(1).transaction
    assert running is not None
    assert running.transaction_id == str(new.transaction_id)
    return old, running


async def send_the_old_queue_again(sim: SimCharger, old: int, new: Transaction) -> None:
    """The old session's readings sent again, without and with its id; then the new session's
    first reading (:data:`NEW_READING_WH`, a minute after its start)."""
    for wh, at in OLD_READINGS:
        await sim.meter(1, [energy16(wh)], timestamp=now_iso(at))
        await sim.meter(1, [energy16(wh)], transaction_id=old, timestamp=now_iso(at))
    await sim.meter(
        1,
        [energy16(NEW_READING_WH)],
        transaction_id=int(new.transaction_id),
        timestamp=now_iso(-119 * MINUTE),
    )


async def test_old_readings_sent_again_after_a_start_stamped_before_them_count_once(
    h16: Harness,
) -> None:
    sim = await h16.charger_client(boot=False)
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    lifetime = h16.charger.lifetime_energy.total_wh
    await send_the_old_queue_again(sim, old, running)
    assert running.energy_wh == NEW_READING_WH - NEW_START_WH
    assert h16.charger.lifetime_energy.total_wh == lifetime + NEW_READING_WH - NEW_START_WH
