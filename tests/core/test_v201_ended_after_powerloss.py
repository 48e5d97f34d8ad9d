"""A 2.x station's offline Ended after a power cut (transactions._ended_in_present_life), around
test_meter_reset2_wrong_clock's case: session A of the register's life before, session B from 0
(the reset), the power cut 10 s after B's last reading (300 Wh; 350 Wh when the power failed),
the boot with the clock restarted at the build date, B's Ended flagged offline. Its readings are
taken in the register's present life whatever its seqNo and stoppedReason (fixed: were held as
maybe the life before's, 300 Wh for 350); not after a reading that came for B after its newest
message (a MeterValues of the EVSE after the boot, of a register that restarted: pinned, no
rise from it counted); an Ended sent again counts nothing more (pinned)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER
from custom_components.ocpp_ems.core.model import EventSequence, Transaction
from custom_components.ocpp_ems.core.protocol.v201.transactions import _taken_now
from custom_components.ocpp_ems.core.protocol.v201.tx_message import Event
from custom_components.ocpp_ems.core.protocol.v201.tx_sequence import Seen

from .test_redteam7_reset_then_reboot_clock import (
    A_END_WH,
    B_FINAL_WH,
    B_READINGS_WH,
    BUILD_DATE_BEHIND_S,
    READING_EVERY_S,
    register,
    reset_then_reboot,
    session_a,
    session_b,
)
from .test_time_hostile import OurClock, our_clock
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness
from .v201_harness import sampled

# The register's life while B ran when it restarted inside B (a meter swap, a power cut B was
# resumed after): from A's end, then from 0.
B_BEFORE_RESET_WH = (A_END_WH, A_END_WH + 100)
B_AFTER_RESET_WH = (0, 100)
B_STORED_WH = B_AFTER_RESET_WH[-1] + 50  # read when the power failed
# The EVSE's register after the boot (MeterValues): it restarted when the power failed.
AFTER_BOOT_WH = (0, 10)


async def end_offline(
    station: Any,
    seq_no: int,
    reason: str = "PowerLoss",
    register_wh: float = B_FINAL_WH,
    built_s: float = BUILD_DATE_BEHIND_S,
) -> None:
    """B's Ended, built at the boot (``built_s`` off our clock: by default the build-date clock)
    and flagged offline; its register read when the power failed, 10 s before."""
    end_reading = register(register_wh, now_iso(built_s - 10), "Transaction.End")
    await ended_offline(station, seq_no, end_reading, reason, built_s)


async def ended_offline(
    station: Any,
    seq_no: int,
    samples: list[dict[str, Any]],
    reason: str = "PowerLoss",
    built_s: float = BUILD_DATE_BEHIND_S,
    offline: bool = True,
) -> None:
    """B's Ended built ``built_s`` off our clock (``offline``: flagged so), carrying ``samples``."""
    await station.tx_event(
        "Ended",
        "B",
        seq_no=seq_no,
        offline=offline or None,
        trigger_reason="AbnormalCondition",
        stopped_reason=reason,
        meter_value=samples,
        timestamp=now_iso(built_s),
    )


async def until_the_boot(h: Harness, clock: OurClock) -> tuple[Any, int, Transaction]:
    station, seq_no = await reset_then_reboot(h, clock)
    transaction = h.charger.connector(1).transaction
    assert transaction is not None
    return station, seq_no, transaction


@pytest.mark.parametrize(
    ("counted_from_0", "reason"),
    [(True, "PowerLoss"), (False, "EVDisconnected")],
    ids=["seq_no_from_0_after_the_boot", "ev_gone_after_the_boot"],
)
async def test_the_ended_counts_whatever_its_seq_no_and_reason(
    h2: Harness, counted_from_0: bool, reason: str
) -> None:
    """A station that numbers from 0 again after its boot repeats a seqNo of B (not the newest);
    one that found the car gone ends B as EVDisconnected. Each was 300 Wh for 350."""
    with our_clock() as clock:
        station, seq_no, transaction = await until_the_boot(h2, clock)
        await end_offline(station, 0 if counted_from_0 else seq_no, reason)
    assert transaction.ended_at is not None
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + B_FINAL_WH)


async def test_the_ended_sent_again_counts_nothing_more(h2: Harness) -> None:
    """Its answer lost, the station sends the Ended again: B stays ended with its 350 Wh."""
    with our_clock() as clock:
        station, seq_no, transaction = await until_the_boot(h2, clock)
        await end_offline(station, seq_no)
        clock.tick(READING_EVERY_S)
        await end_offline(station, seq_no)
    assert h2.charger.connector(1).transaction is None
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + B_FINAL_WH)


async def test_a_reset_inside_the_transaction_counts_both_lives(h2: Harness) -> None:
    """B began in the register's life before (at A's end) and the register restarted inside it:
    its Ended, read in the present life, counts its rise past B's last reading (was held as maybe
    the life before's: 200 Wh for 250)."""
    with our_clock() as clock:
        station = await h2.charger_client(boot=False)
        await session_a(station, clock)
        readings = (*B_BEFORE_RESET_WH, *B_AFTER_RESET_WH)
        await session_b(station, clock, readings)
        transaction = h2.charger.connector(1).transaction
        assert transaction is not None
        clock.tick(READING_EVERY_S)
        await end_offline(station, len(readings), register_wh=B_STORED_WH)
    truth_wh = B_BEFORE_RESET_WH[1] - B_BEFORE_RESET_WH[0] + B_STORED_WH
    assert transaction.energy_wh == pytest.approx(truth_wh)
    # The lifetime counter starts at the first register it saw (A's start).
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(A_END_WH + truth_wh)


async def test_not_after_a_reading_that_came_after_its_newest_message(h2: Harness) -> None:
    """Pinned: a station that kept its clock builds B's Ended at its boot; then the EVSE's
    MeterValues (the register restarted when the power failed) count for B ahead of the queued
    Ended, whose register (350 Wh) was stored before: a reading of the life before, never a rise
    from 10 Wh (taken as one: 650 Wh for B). Its 50 Wh past B's last reading wait as the life
    before's (meter._hold_life_before)."""
    with our_clock() as clock:
        station, seq_no, transaction = await until_the_boot(h2, clock)
        for n, wh in enumerate(AFTER_BOOT_WH):
            if n:
                clock.tick(READING_EVERY_S)
            await station.meter_values(1, [sampled(wh, ENERGY_REGISTER, unit="Wh")], now_iso())
        await end_offline(station, seq_no, built_s=-len(AFTER_BOOT_WH) * READING_EVERY_S)
    after_boot_wh = AFTER_BOOT_WH[-1] - AFTER_BOOT_WH[0]
    assert transaction.energy_wh == pytest.approx(B_READINGS_WH[-1] + after_boot_wh)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(
        A_END_WH + B_READINGS_WH[-1] + after_boot_wh
    )


def offline_ended(at: datetime) -> Event:
    return Event.parse(
        {
            "eventType": "Ended",
            "timestamp": at.isoformat(),
            "triggerReason": "AbnormalCondition",
            "seqNo": 4,
            "offline": True,
            "transactionInfo": {"transactionId": "B", "stoppedReason": "PowerLoss"},
        }
    )


@pytest.mark.parametrize(
    ("read_after_s", "taken_now"), [(0.0, True), (20.0, False)], ids=["with_it", "after_it"]
)
def test_an_offline_ended_is_not_taken_now_after_a_reading_newer_than_its_messages(
    read_after_s: float, taken_now: bool
) -> None:
    """The rule the pin above relies on, apart from the meter's stamp rules (which hold that
    case too): B's last reading read with its newest message, or 20 s after it (a MeterValues)."""
    newest = datetime(2026, 1, 1, tzinfo=UTC)
    transaction = Transaction(
        transaction_id="B",
        connector_id=1,
        id_tag=None,
        started_at=newest - timedelta(minutes=2),
        meter_start_wh=0,
        meter_last_wh=B_READINGS_WH[-1],
        meter_last_at=newest + timedelta(seconds=read_after_s),
        sequence=EventSequence(seen=[(0, 4)], latest=4, latest_at=newest),
    )
    ended = offline_ended(newest + timedelta(days=BUILD_DATE_BEHIND_S / 86400))
    assert _taken_now(transaction, ended, Seen.NEW, newest) is taken_now
