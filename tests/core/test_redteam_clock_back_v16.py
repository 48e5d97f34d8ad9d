"""Red team of the meter base moved to a start's time after the charger's clock went back
(charger_state._count_from_start_after_clock_back), on 1.6.

A session charged 4,000 -> 5,000 Wh from 60 to 10 minutes ago (its readings stamped 40 and 20
minutes ago). The charger reboots without a time source, its clock two hours behind, and starts a
new session at 5,000 Wh stamped 120 minutes ago (after the old one by the register: a new
session). Its offline queue survived the reboot: the old session's readings are sent again
(stamped 40 and 20 minutes ago, below the register). They were counted once; they must not count
again (taken for a register reset and the rise after it), neither for the lifetime total nor for
the new session; the new session's own readings count.
"""

from __future__ import annotations

from ocpp.v16 import call

from .test_energy_quirks import energy16, h16
from .v16_harness import Harness, now_iso

__all__ = ["h16"]

MINUTE = 60
OLD_READINGS = ((4500, -40 * MINUTE), (4800, -20 * MINUTE))


async def test_old_readings_sent_again_after_a_start_stamped_before_them_count_once(
    h16: Harness,
) -> None:
    sim = await h16.charger_client(boot=False)
    old = (await sim.start_tx(meter=4000, timestamp=now_iso(-60 * MINUTE))).transaction_id
    for wh, at in OLD_READINGS:
        await sim.meter(1, [energy16(wh)], transaction_id=old, timestamp=now_iso(at))
    await sim.call(
        call.StopTransaction(meter_stop=5000, timestamp=now_iso(-10 * MINUTE), transaction_id=old)
    )
    lifetime = h16.charger.lifetime_energy.total_wh
    new = (await sim.start_tx(meter=5000, timestamp=now_iso(-120 * MINUTE))).transaction_id
    running = h16.charger.connector(1).transaction
    assert running is not None
    assert running.transaction_id == str(new)
    for wh, at in OLD_READINGS:  # the queue sent again, without and with the old session's id
        await sim.meter(1, [energy16(wh)], timestamp=now_iso(at))
        await sim.meter(1, [energy16(wh)], transaction_id=old, timestamp=now_iso(at))
    await sim.meter(1, [energy16(5100)], transaction_id=new, timestamp=now_iso(-119 * MINUTE))
    assert running.energy_wh == 100
    assert h16.charger.lifetime_energy.total_wh == lifetime + 100
