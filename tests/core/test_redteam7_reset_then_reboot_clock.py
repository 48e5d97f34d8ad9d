"""Red team (7) of meter._of_life_before (b784341): a register above the connector's base,
stamped before it and at or before the register's last reset, counts nothing unless it lies on
the charger's confirmed live clock.

A 2.x station whose register counts each session from 0 (a reset at every session start: the
reset's stamp is the session's start) and that has no real-time clock: a power cut mid-session,
the station boots with its clock restarted at its firmware's build date (years back) and ends
the session it kept (Ended, PowerLoss) with the final register read before the cut. That
reading lies above the base, stamped before it and before the reset: it waits for a live clock
that never gets confirmed (the session's last message), so what the session charged after its
last periodic reading is lost to the session (the next session's register restarts from 0: to
the lifetime too). At 0442b04 it counted (its rise is plausible by our clock). Fixed: a 2.x
message not flagged offline (and not sent behind a newer one) was read as it was sent, in the
register's present life (transactions._taken_now).

Live readings after such a boot (Updated) wait for the first, then count once the second
confirms the clock (pinned, passing).
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER

from .test_time_hostile import OurClock, our_clock
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled

EVSE = {"id": 1, "connectorId": 1}
# The station's clock after the boot: its firmware's build date, three years back.
BUILD_DATE_BEHIND_S = -3 * 365 * 24 * 3600.0
READING_EVERY_S = 20.0
# Session A's register (the life before), session B's: from 0, a reading every 20 s (18 kW).
A_BEGIN_WH, A_END_WH = 20_000, 20_300
B_READINGS_WH = (0, 100, 200, 300)
B_FINAL_WH = 350  # read when the power failed, 10 s after the last periodic one


def register(wh: float, stamp: str, context: str) -> list[dict[str, Any]]:
    sample = sampled(wh, ENERGY_REGISTER, unit="Wh", context=context)
    return [{"timestamp": stamp, "sampledValue": [sample]}]


async def plugged_in(station: Any, transaction_id: str, register_wh: float) -> None:
    """The transaction's Started now, at ``register_wh`` (its first message: seqNo 0)."""
    await station.tx_event(
        "Started",
        transaction_id,
        seq_no=0,
        evse=EVSE,
        trigger_reason="CablePluggedIn",
        charging_state="Charging",
        meter_value=register(register_wh, now_iso(), "Transaction.Begin"),
    )


async def session_a(station: Any, clock: OurClock) -> None:
    """A session of the register's life before (ends at 20,300 Wh)."""
    await plugged_in(station, "A", A_BEGIN_WH)
    clock.tick(READING_EVERY_S)
    await station.tx_event(
        "Ended",
        "A",
        seq_no=1,
        trigger_reason="EVCommunicationLost",
        stopped_reason="EVDisconnected",
        meter_value=register(A_END_WH, now_iso(), "Transaction.End"),
    )


async def session_b(station: Any, clock: OurClock, readings: tuple[int, ...]) -> int:
    """Session B's live messages, 20 s apart: its Started at ``readings[0]``, an Updated at each
    other; the seqNo next."""
    for seq_no, wh in enumerate(readings):
        clock.tick(READING_EVERY_S)
        if seq_no == 0:
            await plugged_in(station, "B", wh)
        else:
            await station.tx_event(
                "Updated",
                "B",
                seq_no=seq_no,
                trigger_reason="MeterValuePeriodic",
                meter_value=register(wh, now_iso(), "Sample.Periodic"),
            )
    return len(readings)


async def session_b_until_the_power_cut(station: Any, clock: OurClock) -> int:
    """Session B from 0 (the reset, confirmed by its first periodic reading); the seqNo next."""
    seq_no = await session_b(station, clock, B_READINGS_WH)
    # The power cut 10 s in, the boot 10 s later (its BootNotification is left out: it moves no
    # meter, and the tasks it starts outlive the test's clock).
    clock.tick(READING_EVERY_S)
    return seq_no


async def reset_then_reboot(h: Harness, clock: OurClock) -> tuple[Any, int]:
    station = await h.charger_client(boot=False)
    await session_a(station, clock)
    seq_no = await session_b_until_the_power_cut(station, clock)
    assert h.charger.connector(1).meter._register_reset_stamp is not None
    return station, seq_no


@pytest.mark.parametrize("offline", [False, True], ids=["live", "flagged_offline"])
async def test_the_ended_after_a_power_cut_counts_its_final_register(
    h2: Harness, offline: bool
) -> None:
    """Flagged offline (the spec has a station flag what it built while offline) it is the
    session's last message all the same, read after all its readings and after the register's
    reset (transactions._ended_in_present_life): was 300 Wh for 350, the lifetime 50 Wh short."""
    with our_clock() as clock:
        station, seq_no = await reset_then_reboot(h2, clock)
        transaction = h2.charger.connector(1).transaction
        assert transaction is not None
        await station.tx_event(
            "Ended",
            "B",
            seq_no=seq_no,
            offline=offline or None,
            trigger_reason="AbnormalCondition",
            stopped_reason="PowerLoss",
            meter_value=register(B_FINAL_WH, now_iso(BUILD_DATE_BEHIND_S - 10), "Transaction.End"),
            timestamp=now_iso(BUILD_DATE_BEHIND_S),
        )
    assert transaction.ended_at is not None
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH)
    # The lifetime counter starts at the first register it saw (session A's start).
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + B_FINAL_WH)


async def test_live_readings_after_the_boot_count_once_the_clock_is_confirmed(
    h2: Harness,
) -> None:
    """Pinned (correct): the session goes on after the boot; its first reading stamped by the
    build-date clock waits, the second confirms the clock and counts the whole rise."""
    with our_clock() as clock:
        station, seq_no = await reset_then_reboot(h2, clock)
        transaction = h2.charger.connector(1).transaction
        assert transaction is not None
        for n, wh in enumerate((B_FINAL_WH, B_FINAL_WH + 100)):
            if n:
                clock.tick(READING_EVERY_S)
            await station.tx_event(
                "Updated",
                "B",
                seq_no=seq_no + n,
                trigger_reason="MeterValuePeriodic",
                meter_value=register(wh, now_iso(BUILD_DATE_BEHIND_S), "Sample.Periodic"),
                timestamp=now_iso(BUILD_DATE_BEHIND_S),
            )
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH + 100)
