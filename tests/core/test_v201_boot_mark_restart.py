"""The 2.x station's last boot, kept over a restart of Home Assistant (persistence:
``booted_at``, ``started_since_boot``). A restart of Home Assistant is no boot of the station: it
reconnects without a BootNotification, so what its last boot told must outlive the restart.

Kept in memory only, both were forgotten and the routing fell back to what it was without them:

- a late message naming no EVSE, written before the boot (test_v201_boot_mark_gaps2), went to
  EVSE 2's open "1" that began live after the boot instead of EVSE 1's ended "1";
- a queued message stamped after the boot (test_v201_boot_mark_written_after_boot) no longer
  showed the station kept EVSE 1's "1": EVSE 2's Started of "1" ended it as Reboot.

A store written before they were kept has neither: the routing of then (pinned here).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S
from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_time_hostile import our_clock
from .test_v201_boot_mark_gaps2 import (
    ended_on_1_open_on_2,
    evse_1_ended_then_evse_2_started,
    evse_1_runs,
    late_naming_no_evse,
)
from .test_v201_boot_mark_written_after_boot import SENT_AFTER_BOOT, _after, reboot
from .test_v201_reboot_mark import _stored
from .test_v201_reused_id_clock_back import _ago
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

# What the store keeps of the station's last boot.
BOOT_KEYS = ("booted_at", "started_since_boot")


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _restored(h: Harness, *, old_store: bool) -> dict[str, object]:
    """The charger as stored (as a store written before the boot was kept: ``old_store``)."""
    stored = _stored(h)
    if old_store:
        for key in BOOT_KEYS:
            stored.pop(key, None)  # (a store of today has them: test_..._costs_that_part_only)
    return stored


@pytest.mark.parametrize("old_store", [False, True], ids=["stored", "store_without_boot"])
async def test_a_late_message_written_before_the_boot_goes_to_evse_1_after_a_restart(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings, old_store: bool
) -> None:
    await evse_1_ended_then_evse_2_started(h, _ago(5))
    stored = _restored(h, old_store=old_store)
    async with harness_with(charger_from_dict(stored), directory, server_settings, type(h)) as h2:
        sim = await h2.charger_client(boot=False)
        ended, running = ended_on_1_open_on_2(h2)
        await send(sim, late_naming_no_evse())
    assert ended.sequence is not None
    assert running.sequence is not None
    if old_store:
        # No boot known: the open "1" of its id takes it (as before the boot was stored).
        assert (ended.sequence.seen, running.sequence.seen) == ([(0, 0), (2, 2)], [(0, 1)])
        return
    assert ended.sequence.seen == [(0, 2)], "EVSE 1's late Updated went to EVSE 2's session"
    assert running.sequence.seen == [(0, 0)]
    assert (ended.energy_wh, running.energy_wh) == (EVSE_1_SENT_WH - EVSE_1_BEGIN_WH, 0.0)


@pytest.mark.parametrize("old_store", [False, True], ids=["stored", "store_without_boot"])
async def test_a_queue_written_after_the_boot_keeps_the_session_after_a_restart(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings, old_store: bool
) -> None:
    sim = await evse_1_runs(h)
    with our_clock() as clock:
        boot = datetime.now(UTC)
        await reboot(h, sim)
        stored = _restored(h, old_store=old_store)
        charger = charger_from_dict(stored)
        async with harness_with(charger, directory, server_settings, type(h)) as h2:
            # Time passes (our clock and the monotonic one alike) before the station sends on.
            clock.tick(SENT_AFTER_BOOT.total_seconds())
            sim = await h2.charger_client(boot=False)
            running = h2.charger.connectors[1].transaction
            assert running is not None
            written_after_boot = _after(boot, 2 * MAX_CLOCK_AHEAD_S)
            await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, written_after_boot, offline=True))
            await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    assert h2.charger.connectors[2].transaction is not None
    if old_store:
        # No boot known: only a live message shows the station kept it (as before).
        assert h2.charger.connectors[1].transaction is None
        assert running.stop_reason == STOPPED_BY_REBOOT
        return
    assert h2.charger.connectors[1].transaction is running, "the session the station kept ended"
    assert running.stop_reason is None


@pytest.mark.parametrize(
    ("key", "damaged"),
    [("booted_at", "not a time"), ("started_since_boot", {"EVSE 2": "1"})],
)
async def test_a_damaged_boot_record_costs_that_part_only(
    h: Harness, caplog: pytest.LogCaptureFixture, key: str, damaged: object
) -> None:
    await evse_1_ended_then_evse_2_started(h, _ago(5))
    stored = _stored(h)
    intact = charger_from_dict(stored)
    assert intact._booted_at is not None
    assert intact._booted_at[1] is None  # our monotonic clock is not kept over a restart
    assert intact._started_since_boot == {EVSE_2["id"]: "1"}
    stored[key] = damaged
    with caplog.at_level(logging.WARNING):
        charger = charger_from_dict(stored)
    assert "damaged, using defaults" in caplog.text
    kept = {"booted_at": charger._booted_at, "started_since_boot": charger._started_since_boot}
    assert kept == {
        "booted_at": None if key == "booted_at" else intact._booted_at,
        "started_since_boot": {} if key == "started_since_boot" else {EVSE_2["id"]: "1"},
    }
    assert charger.connectors[2].transaction is not None
