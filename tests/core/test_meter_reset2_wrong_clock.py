"""Energy around a register reset when the charger's clock is wrong (meter._of_life_before).

After a reset, a reading above the new life's base but stamped before it and at or before the
reset waits as "maybe the register's life before" unless it was sent live (2.x) or lies on the
charger's confirmed live clock. Three cases where that costs energy:

1. 2.x: the Ended(PowerLoss) a station builds right after its boot, flagged offline (the spec
   has it flag what it built while offline), stamped by a clock restarted at its build date:
   the session's last rise was lost. The meter alone cannot tell it from an old queue of the life
   before (its stamp, years back, and its register fit both); its transaction can: nothing of it
   comes after its Ended, and the register did not go down since its last reading
   (transactions._ended_in_present_life). Counted now (test_redteam7_reset_then_reboot_clock.py,
   flagged_offline).
2. 1.6: a MeterValues after such a boot waits until a second one confirms the clock: the shown
   session energy lags by one reading, then counts all of it; nothing is lost (pinned).
3. An old queue sent again after the reset carries the life before's own rises (registers
   101 -> 213 Wh of it that never arrived before): held, and counted once the new life's next
   reading lies below it (meter._prove_life_before; 308 Wh for 420 before that).
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from .test_meter_clock_first_reading import READING_EVERY_S, session, wh
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    NEW_LIFE_WH,
    NEXT_WH,
    OLD_LIFE_WH,
    QUEUED_WH,
    assert_counted,
    live,
    reset_keeping_a_queue,
    send_queue,
    sender16,
)
from .test_redteam7_reset_then_reboot_clock import (
    A_BEGIN_WH,
    A_END_WH,
    B_FINAL_WH,
    B_READINGS_WH,
    BUILD_DATE_BEHIND_S,
)
from .test_time_hostile import OurClock, our_clock
from .v16_harness import Harness, SimCharger, now_iso

# Item 2 (1.6): after the boot, two readings 20 s apart (the second confirms the build-date
# clock), then the stop.
AFTER_BOOT_WH = (B_FINAL_WH, B_FINAL_WH + 100)
STOP_WH = AFTER_BOOT_WH[-1] + 10


async def reset_then_build_date_boot_v16(h: Harness, clock: OurClock) -> tuple[SimCharger, int]:
    """Item 2's 1.6 charger up to its boot: session A of the life before, session B from 0 (the
    reset, confirmed by its first reading), the power cut 20 s after B's last reading."""
    sim = await h.charger_client(boot=False)
    a = (await sim.start_tx(meter=A_BEGIN_WH)).transaction_id
    clock.tick(READING_EVERY_S)
    await sim.call(call.StopTransaction(meter_stop=A_END_WH, timestamp=now_iso(), transaction_id=a))
    clock.tick(READING_EVERY_S)
    b = (await sim.start_tx(meter=B_READINGS_WH[0])).transaction_id
    for register_wh in B_READINGS_WH[1:]:
        clock.tick(READING_EVERY_S)
        await sim.meter(1, [wh(register_wh)], b, now_iso())
    assert h.charger.connector(1).meter._register_reset_stamp is not None
    clock.tick(READING_EVERY_S)
    return sim, b


async def test_v16_readings_after_a_build_date_boot_lag_one_reading(h_cp1: Harness) -> None:
    """Pinned: the first reading after the boot waits (shown: B's energy before the cut), the
    second confirms the clock and counts the whole rise, and so does the stop."""
    shown: list[float] = []
    with our_clock() as clock:
        sim, b = await reset_then_build_date_boot_v16(h_cp1, clock)
        transaction = h_cp1.charger.connector(1).transaction
        assert transaction is not None
        for n, register_wh in enumerate(AFTER_BOOT_WH):
            if n:
                clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(register_wh)], b, now_iso(BUILD_DATE_BEHIND_S))
            shown.append(transaction.energy_wh)
        clock.tick(READING_EVERY_S)
        await sim.call(
            call.StopTransaction(
                meter_stop=STOP_WH, timestamp=now_iso(BUILD_DATE_BEHIND_S), transaction_id=b
            )
        )
    assert shown == [B_READINGS_WH[-1], AFTER_BOOT_WH[-1]]
    assert transaction.energy_wh == pytest.approx(STOP_WH)
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + STOP_WH)


async def test_an_old_queue_counts_the_life_befores_own_rise(h_cp1: Harness) -> None:
    """The queue (151, 213 Wh) was taken offline before the reboot and never sent before: the
    rise from the life before's last live register (101) to 213 Wh was charged and is counted
    nowhere else; the new life's readings count as before."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    queued_rise_wh = QUEUED_WH[-1] - OLD_LIFE_WH[-1]
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        await send_queue(send, queue)
        await live(send, clock, NEXT_WH)
    assert_counted(h_cp1, COUNTED_WH + queued_rise_wh + NEXT_WH[-1] - NEW_LIFE_WH[-1])
