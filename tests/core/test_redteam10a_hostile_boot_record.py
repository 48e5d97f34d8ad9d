"""Red team 10a, pinned (passes): a hand-edited or damaged boot record in the store
(``booted_at``, ``started_since_boot``) costs its own part at most: loading never raises, creates
no connector (each would become entities), keeps the other part, and the restored charger goes
on routing, counting, booting and saving with it (a time at the edge of ``datetime``'s range
too: moved by our clock's step or turned to UTC it would overflow).

Seen, not pinned as a defect: keys no EVSE can have (negative, huge) and a dict of any size are
kept as stored until the station's next BootNotification (inert: only a real EVSE's open
transaction is looked up), and a null id becomes the string "None".
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_v201_boot_mark_gaps2 import evse_1_ended_then_evse_2_started, late_naming_no_evse
from .test_v201_reboot_mark import _stored
from .test_v201_reused_id_clock_back import _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import EVSE_2, EVSE_2_BEGIN_WH, EVSE_SESSION_WH, periodic_updated, send

EDGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
UNREADABLE_TIMES: list[Any] = [17, ["2026-12-05T10:00:00+00:00"], {"at": 1}, "", "nan", True]
UNREADABLE_STARTS: list[Any] = ["12", 17, True, {"1e3": "1"}, {"one": "1"}]
INERT_STARTS: list[Any] = [
    {"-1": "1", "0": "2", "99999999999999999999": "3"},
    {str(n): str(n) for n in range(3, 20_003)},
    [["7", "x"]],
]


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.fixture
async def stored(h: Harness) -> dict[str, Any]:
    """EVSE 1's "1" ended, the station booted, EVSE 2's "1" began live since: as stored."""
    await evse_1_ended_then_evse_2_started(h, _ago(5))
    return _stored(h)


@pytest.mark.parametrize(
    ("key", "value"),
    [("booted_at", v) for v in UNREADABLE_TIMES]
    + [("started_since_boot", v) for v in UNREADABLE_STARTS + INERT_STARTS],
)
async def test_a_hostile_boot_record_costs_its_part_only(
    stored: dict[str, Any], caplog: pytest.LogCaptureFixture, key: str, value: Any
) -> None:
    intact = charger_from_dict(stored)
    stored[key] = value
    with caplog.at_level(logging.WARNING):
        charger = charger_from_dict(stored)
    assert sorted(charger.connectors) == sorted(intact.connectors)  # no entities created
    other = "started_since_boot" if key == "booted_at" else "booted_at"
    kept = {"booted_at": charger._booted_at, "started_since_boot": charger._started_since_boot}
    wanted = {"booted_at": intact._booted_at, "started_since_boot": intact._started_since_boot}
    assert kept[other] == wanted[other]
    if value in UNREADABLE_TIMES + UNREADABLE_STARTS:
        assert kept[key] in (None, {})
        assert "damaged, using defaults" in caplog.text
    json.dumps(charger_to_dict(charger))  # saved again as it is


@pytest.mark.parametrize("booted_at", EDGE_TIMES)
async def test_a_boot_time_at_the_edge_of_time_neither_raises_nor_loses_a_reading(
    h: Harness,
    stored: dict[str, Any],
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    booted_at: str,
) -> None:
    stored["booted_at"] = booted_at
    async with harness_with(
        charger_from_dict(stored), directory, server_settings, type(h)
    ) as after:
        sim = await after.charger_client(boot=False)
        running = after.charger.connectors[2].transaction
        assert running is not None
        # The late message naming no EVSE: the boot time decides.
        await send(sim, late_naming_no_evse())
        queued = periodic_updated(2, EVSE_2_BEGIN_WH, _ago(3), evse=EVSE_2, offline=True)
        await send(sim, queued)  # written since the boot? the boot time decides
        await sim.boot(reason="PowerUp")
        going_on = periodic_updated(3, EVSE_2_BEGIN_WH + EVSE_SESSION_WH, _ago(0), evse=EVSE_2)
        await send(sim, going_on)
        assert after.charger.connectors[2].transaction is running
        assert running.energy_wh == EVSE_SESSION_WH
        json.dumps(charger_to_dict(after.charger))
