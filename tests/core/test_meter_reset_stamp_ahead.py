"""The stamp of a register's reset (meter._reset_stamp) is never kept further ahead of our clock
than a charger's stamp may be a time (meter_time.MAX_CLOCK_AHEAD_S): a charger whose clock ran a
year ahead when its register reset, then set right, would have every later reading taken for
the register's life before the reset, for a year (its first reading after the clock was set is
shown at once: its register rose past the one shown). A stored one that far ahead is damage."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.timeutil import utcnow

from .test_meter_clock_first_reading import READING_EVERY_S, session
from .test_meter_history_shown import LIVE, NEXT, assert_shown
from .test_meter_reset_old_queue import (
    NEW_LIFE_WH,
    NEXT_WH,
    OLD_LIFE_WH,
    RESET_KEY,
    assert_counted,
    live,
    reset_keeping_a_queue,
    sender16,
)
from .test_time_hostile import our_clock
from .v16_harness import Harness, now_iso

YEAR_AHEAD_S = 365 * 24 * 3600.0


async def test_a_reset_on_a_clock_far_ahead_leaves_the_set_clock_live(h_cp1: Harness) -> None:
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        await live(send, clock, OLD_LIFE_WH, ahead_s=YEAR_AHEAD_S)
        await live(send, clock, NEW_LIFE_WH, ahead_s=YEAR_AHEAD_S)  # the reset, confirmed
        reset = h_cp1.charger.connector(1).meter._register_reset_stamp
        assert reset is not None
        assert reset <= utcnow() + timedelta(seconds=MAX_CLOCK_AHEAD_S)
        assert_shown(h_cp1, NEXT)
        clock.tick(READING_EVERY_S)
        await send(NEXT_WH[0], LIVE, now_iso())  # the clock set right: a live reading
    assert_shown(h_cp1, LIVE)
    assert_counted(h_cp1, OLD_LIFE_WH[-1] + NEXT_WH[0] - NEW_LIFE_WH[0])


@pytest.mark.parametrize(("ahead_s", "kept"), [(YEAR_AHEAD_S, False), (60.0, True)])
async def test_a_stored_reset_stamp_far_ahead_is_damage(
    h_cp1: Harness, ahead_s: float, kept: bool
) -> None:
    """A store holding a reset stamp a year ahead of our clock (none is kept that far ahead)
    loads with no reset; one a minute ahead (a charger's clock a little fast) is kept."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await reset_keeping_a_queue(sender16(sim, tx), clock)
    stored = json.loads(json.dumps(charger_to_dict(h_cp1.charger)))
    stamp = utcnow() + timedelta(seconds=ahead_s)
    stored["connectors"]["1"][RESET_KEY] = stamp.isoformat()
    connector = charger_from_dict(stored).connector(1)
    assert connector.meter._register_reset_stamp == (stamp if kept else None)
