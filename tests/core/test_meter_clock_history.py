"""What a connector's register gave before the charger's clock went back (meter.count_from) is
history: sent again (an offline queue kept through the reboot, re-sent after each reconnect), it
shows the clock as it was then, never as it is (the clock offset its live readings confirm, which
the energy manager moves their stamps by); and the mark of that history goes once the charger's
own stamps passed it (the usual rules tell such a reading from then on), with the store."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_BEHIND_S
from custom_components.ocpp_ems.core.persistence import charger_to_dict

from .test_energy_quirks import energy16, h16
from .test_redteam_clock_back_v16 import OLD_READINGS, new_session_after_the_clock_went_back
from .test_time_hostile import our_clock
from .v16_harness import Harness, SimCharger, now_iso

__all__ = ["h16"]

HOURS_BEHIND_S = -2 * 3600.0  # the charger's clock after its reboot (new_session_after_...)
READING_EVERY_S = 20
TEN_MINUTES_S = 600.0
# Sent again this soon after one another: two reconnects of a flaky link.
RESENT_APART_S = 3


def stored_history(h: Harness) -> object:
    return charger_to_dict(h.charger)["connectors"]["1"]["history_before_clock_back"]


async def resend_old_queue(sim: SimCharger, stamps: list[str], old_tx: int) -> None:
    for (wh, _at), stamp in zip(OLD_READINGS, stamps, strict=True):
        await sim.meter(1, [energy16(wh)], timestamp=stamp)
        await sim.meter(1, [energy16(wh)], transaction_id=old_tx, timestamp=stamp)


async def test_the_old_queue_sent_again_leaves_the_live_clock_offset(h16: Harness) -> None:
    """The charger's live readings show its clock two hours behind (recorded: the energy manager
    moves their stamps by it); its old queue, sent again twice 3 s apart, lies only minutes off
    our clock and would confirm that as the clock's offset."""
    sim = await h16.charger_client(boot=False)
    stamps = [now_iso(at) for _wh, at in OLD_READINGS]
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    tx = int(running.transaction_id)
    register = running.meter_start_wh
    with our_clock() as clock:
        for _ in range(3):
            clock.tick(READING_EVERY_S)
            register += 100
            await sim.meter(1, [energy16(register)], tx, now_iso(HOURS_BEHIND_S))
        skew = h16.charger.clock_skew_s
        assert skew is not None
        assert skew < -MAX_CLOCK_BEHIND_S
        for _ in range(2):
            clock.tick(RESENT_APART_S)
            sim = await h16.charger_client(boot=False)
            await resend_old_queue(sim, stamps, old)
        assert h16.charger.clock_skew_s == skew
    assert running.energy_wh == register - running.meter_start_wh


async def test_the_history_mark_goes_once_the_charger_stamps_passed_it(h16: Harness) -> None:
    """The charger's clock is set right again (by our Heartbeat answer): its readings are stamped
    after the old session's end, the mark is forgotten (also in the store); the old queue sent
    again still counts nothing."""
    sim = await h16.charger_client(boot=False)
    stamps = [now_iso(at) for _wh, at in OLD_READINGS]
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    tx = int(running.transaction_id)
    await sim.meter(1, [energy16(running.meter_start_wh + 50)], tx, now_iso(HOURS_BEHIND_S))
    assert stored_history(h16) is not None  # still behind the old session's end
    register = running.meter_start_wh + 100
    await sim.meter(1, [energy16(register)], tx, now_iso())
    assert stored_history(h16) is None
    lifetime = h16.charger.lifetime_energy.total_wh
    await resend_old_queue(sim, stamps, old)
    assert running.energy_wh == pytest.approx(register - running.meter_start_wh)
    assert h16.charger.lifetime_energy.total_wh == lifetime


async def test_the_old_queue_sent_again_leaves_a_clock_ahead_recorded(h16: Harness) -> None:
    """After the new session started, the charger's clock is set ten minutes ahead (a wrong time
    server): recorded (its times are replaced by ours). The old queue sent again lies below the
    register and before it, as stamped by the clock then: it leaves the record."""
    sim = await h16.charger_client(boot=False)
    stamps = [now_iso(at) for _wh, at in OLD_READINGS]
    old, running = await new_session_after_the_clock_went_back(h16, sim)
    tx = int(running.transaction_id)
    await sim.meter(1, [energy16(running.meter_start_wh + 100)], tx, now_iso(TEN_MINUTES_S))
    skew = h16.charger.clock_skew_s
    assert skew == pytest.approx(TEN_MINUTES_S, abs=5)
    await resend_old_queue(sim, stamps, old)
    assert h16.charger.clock_skew_s == skew


async def test_an_idle_charger_clock_that_went_back_is_recorded(h16: Harness) -> None:
    """Pinned: a register that stays (no energy flows) stamped before the connector's by a clock
    that went back two hours may be a live reading: its clock is followed."""
    sim = await h16.charger_client(boot=False)
    with our_clock() as clock:
        for offset_s in (0.0, 0.0, HOURS_BEHIND_S, HOURS_BEHIND_S, HOURS_BEHIND_S):
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [energy16(5000)], timestamp=now_iso(offset_s))
    assert h16.charger.clock_skew_s == pytest.approx(HOURS_BEHIND_S, abs=5)
