"""A reading held as maybe the register's life before (meter_life_before.hold_life_before) that
its session's end did not settle (2.x: an Ended without a meter value), proven only by the next
session's first reading. The held rise came with the session that ended: it is that session's
energy, so its record grows by it (SESSION_UPDATED, as for late readings:
record_watch.RecordWatcher.watching_records). Was (a strict xfail): the proof counted it for the lifetime
only (meter_life_before._life_before_session looked at open sessions alone): 293 Wh for 405."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_meter_life_before_at_end import AT_END_WH, ended2, t2_from_the_end
from .test_meter_reset_old_queue import TRUTH_WH
from .test_time_hostile import our_clock
from .v16_harness import Harness


async def test_a_hold_proven_after_its_session_ended_is_credited_to_that_session(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """T1 ends without a meter value (293 Wh, the 213 Wh reading still held); T2's first
    reading (195 Wh, below it) proves it: T1's record should read 405 Wh, told by a
    SESSION_UPDATED; the lifetime counts it once (420 Wh)."""
    with our_clock() as clock:
        h = await ended2(h2, directory, server_settings, clock, restart=False, end_wh=None)
        station = await h.charger_client(boot=False)
        await t2_from_the_end(station, clock)
    assert h.charger.lifetime_energy.total_wh == pytest.approx(TRUTH_WH)
    ended = h.charger.find_ended_transaction("T1")
    assert ended is not None
    assert ended.energy_wh == pytest.approx(AT_END_WH)
    updated = [e.data["energy_wh"] for e in h.events if e.kind is EventKind.SESSION_UPDATED]
    assert updated == [pytest.approx(AT_END_WH)]
