"""Red team (9a) of c00d2d8's _ended_elsewhere_before_boot after a restart of Home Assistant
(Charger._started_since_boot is not persisted): test_v201_boot_mark_gaps2's EVSE 1 "1" ended
(its seqNo 1 missing), the station booted, EVSE 2 started "1" live; Home Assistant restarts;
EVSE 1's late Updated (naming no EVSE, stamped 90 minutes ago, EVSE 1's register 1,250 Wh)
comes. Without the note it may go to EVSE 2's open "1" (the documented fallback), but EVSE 2's
session must still count only its own rise: 300 Wh when its meter reads 7,300."""

from __future__ import annotations

import json

import pytest

from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_v201_boot_mark_gaps2 import LATE_WH, evse_1_ended_then_evse_2_started
from .test_v201_reused_id_clock_back import _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import EVSE_2, EVSE_2_BEGIN_WH, periodic_updated, send

EVSE_2_RISE_WH = 300.0


async def test_evse_2_counts_its_own_rise_after_a_restart(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    await evse_1_ended_then_evse_2_started(h2, _ago(5))
    stored = json.loads(json.dumps(charger_to_dict(h2.charger)))
    async with harness_with(charger_from_dict(stored), directory, server_settings, type(h2)) as h:
        sim = await h.charger_client(boot=False)
        late = periodic_updated(1, LATE_WH, _ago(90), charging_state="SuspendedEV", offline=True)
        del late["evse"]
        await send(sim, late)
        await send(sim, periodic_updated(1, EVSE_2_BEGIN_WH + EVSE_2_RISE_WH, _ago(0), evse=EVSE_2))
        running = h.charger.connectors[2].transaction
        assert running is not None
        assert running.energy_wh == pytest.approx(EVSE_2_RISE_WH)
        assert h.charger.connectors[2].meter.energy_register_wh == EVSE_2_BEGIN_WH + EVSE_2_RISE_WH
