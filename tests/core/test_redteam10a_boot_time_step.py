"""Red team 10a: the stored 2.x boot time when our clock stepped between the boot and the save.

Home Assistant records the station's BootNotification by our clock (``Charger._booted_at``) and,
within one run, moves it by the step our clock took since (``tx_boot_mark.boot_time_now``, by the
monotonic clock). The store kept the boot as recorded, not as moved; restored without the
monotonic clock it is never moved again. Our host came up 45 min off (behind: no real-time clock,
its last saved time; ahead: a real-time clock kept in local time) and NTP set it after the
station's boot, before Home Assistant restarted:

- behind: the stored boot lies 45 min early, and a reading the station queued 20 min before its
  boot passes for one written after it (``tx_boot_mark.written_since_boot``): it clears the boot
  mark of the session the station lost; the station's next session, on EVSE 2 with the same id,
  leaves the lost one open and marks the station as numbering per EVSE for good;
- ahead: the stored boot lies 45 min late, and a reading written 10 min after the boot no longer
  shows the station kept its session: EVSE 2's Started of its id ends it as Reboot.

Fixed: ``persistence.charger_to_dict`` stores the boot by our clock as it is at the save
(``meter_time.by_our_clock_now``, the rule ``tx_boot_mark.boot_time_now`` goes by), not
``_booted_at[0]``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.model import Transaction
from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_time_hostile import our_clock
from .test_v201_boot_mark_gaps2 import evse_1_runs
from .test_v201_boot_mark_written_after_boot import SENT_AFTER_BOOT, reboot
from .test_v201_reboot_mark import _stored
from .test_v201_reused_id_clock_back import _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_QUEUED_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    Station,
    cable_started,
    periodic_updated,
    send,
)

# How far off our host's clock came up, until NTP set it.
HOST_OFF = timedelta(minutes=45)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


RESTART = [pytest.param(False, id="same_run"), pytest.param(True, id="after_a_restart")]
BootWhileOff = Callable[..., Awaitable[tuple[Transaction, Transaction | None, bool]]]


async def _boot_while_our_clock_is_off(
    h: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    *,
    restart: bool,
    off: timedelta,
    queued_after_boot: timedelta,
) -> tuple[Transaction, Transaction | None, bool]:
    """EVSE 1's "1" runs; the station boots while our clock is ``off``; NTP sets it; Home
    Assistant restarts (``restart``); the station sends EVSE 1's reading queued
    ``queued_after_boot`` after its boot (true time), then starts "1" live on EVSE 2. Returns
    EVSE 1's "1", what is open on EVSE 1 then, whether the station is taken to number per EVSE."""
    sim = await evse_1_runs(h)
    with our_clock() as clock:
        boot = datetime.now(UTC)  # the true time of the station's boot
        clock.step(off)
        await reboot(h, sim)
        clock.step(-off)  # NTP sets our clock
        clock.tick(SENT_AFTER_BOOT.total_seconds())
        if not restart:
            return await _queue_then_evse_2_starts(h, sim, boot + queued_after_boot)
        async with harness_with(
            charger_from_dict(_stored(h)), directory, server_settings, type(h)
        ) as after:
            sim = await after.charger_client(boot=False)
            return await _queue_then_evse_2_starts(after, sim, boot + queued_after_boot)


@pytest.fixture
def boot_while_our_clock_is_off(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> BootWhileOff:
    """:func:`_boot_while_our_clock_is_off` on ``h``, in the same run or after a restart (the
    test's ``restart``)."""
    return functools.partial(
        _boot_while_our_clock_is_off, h, directory, server_settings, restart=restart
    )


async def _queue_then_evse_2_starts(
    h: Harness, sim: Station, queued_at: datetime
) -> tuple[Transaction, Transaction | None, bool]:
    evse_1 = h.charger.connectors[1].transaction
    assert evse_1 is not None
    await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, queued_at.isoformat(), offline=True))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    assert h.charger.connectors[2].transaction is not None
    return evse_1, h.charger.connectors[1].transaction, h.charger._numbers_per_evse


@pytest.mark.parametrize("restart", RESTART)
async def test_a_queue_from_before_the_boot_still_ends_the_lost_session_after_our_clock_was_behind(
    boot_while_our_clock_is_off: BootWhileOff,
) -> None:
    lost, open_on_evse_1, numbers_per_evse = await boot_while_our_clock_is_off(
        off=-HOST_OFF, queued_after_boot=-timedelta(minutes=20)
    )
    assert (open_on_evse_1, numbers_per_evse) == (None, False), "EVSE 1's lost session stayed open"
    assert lost.stop_reason == STOPPED_BY_REBOOT


@pytest.mark.parametrize("restart", RESTART)
async def test_a_queue_from_after_the_boot_still_keeps_the_session_after_our_clock_was_ahead(
    boot_while_our_clock_is_off: BootWhileOff,
) -> None:
    kept, open_on_evse_1, numbers_per_evse = await boot_while_our_clock_is_off(
        off=HOST_OFF, queued_after_boot=timedelta(minutes=10)
    )
    assert open_on_evse_1 is kept, "the session the station kept was ended"
    assert kept.stop_reason is None
    assert numbers_per_evse is True  # (its id ran on both EVSEs at once: as in the same run)
