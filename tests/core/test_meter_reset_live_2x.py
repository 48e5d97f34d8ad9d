"""A 2.x TransactionEvent not flagged offline was read as it was sent (transactions._taken_now):
its register is of the register's present life whatever its stamp, so a live Updated after a
power cut, stamped by the clock restarted at the station's build date, counts its rise at once
(not only once a second reading confirms that clock), above the session's reset base."""

from __future__ import annotations

import pytest

from .test_redteam7_reset_then_reboot_clock import (
    B_FINAL_WH,
    BUILD_DATE_BEHIND_S,
    register,
    reset_then_reboot,
)
from .test_time_hostile import our_clock
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness


async def test_a_live_updated_after_the_boot_counts_its_rise_at_once(h2: Harness) -> None:
    with our_clock() as clock:
        station, seq_no = await reset_then_reboot(h2, clock)
        transaction = h2.charger.connector(1).transaction
        assert transaction is not None
        await station.tx_event(
            "Updated",
            "B",
            seq_no=seq_no,
            trigger_reason="MeterValuePeriodic",
            meter_value=register(B_FINAL_WH, now_iso(BUILD_DATE_BEHIND_S), "Sample.Periodic"),
            timestamp=now_iso(BUILD_DATE_BEHIND_S),
        )
    assert transaction.energy_wh == pytest.approx(B_FINAL_WH)
