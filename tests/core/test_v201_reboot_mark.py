"""A 2.x transaction lost in a reboot (tx_boot_mark._lost_for_another_evse) when the Started of its
id on the other EVSE comes after a restart of Home Assistant, or from the station's offline queue.

The station numbers its transactions per station and keeps the time. Session "1" runs on EVSE 1
(1,000 -> 1,500 Wh); the station boots again without it (its Ended never comes) and the next car
starts "1" on EVSE 2. The boot since EVSE 1's last message is what tells it lost:

- kept in memory only, a restart of Home Assistant between the BootNotification and EVSE 2's
  Started forgot it: EVSE 1's session stayed open for good (charging, never booked). It is
  stored with the transaction; a store written before has none (the session runs on, as then).
- EVSE 2's Started from the offline queue (the station had no connection when the car came)
  stamped after EVSE 1's session was last known to run left it open too.
"""

from __future__ import annotations

import json

import pytest

from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_redteam4_reboot_other_evse_clock_kept import _session_on_evse_1_then_boot
from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    Station,
    cable_started,
    periodic_updated,
    send,
)

MARK = "boot_since_last_message"


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def _evse_2_started(sim: Station, *, offline: bool = False) -> None:
    """ "1" on EVSE 2, stamped a minute ago (after EVSE 1's last message), seqNo 0."""
    started = cable_started(EVSE_2_BEGIN_WH, _ago(1), evse=EVSE_2, charging_state="Charging")
    await send(sim, started | {"offline": offline})


def _stored(h: Harness) -> dict[str, object]:
    """The charger as Home Assistant's store holds it (JSON)."""
    stored: dict[str, object] = json.loads(json.dumps(charger_to_dict(h.charger)))
    return stored


@pytest.mark.parametrize("old_store", [False, True], ids=["stored", "store_without_mark"])
async def test_the_boot_mark_survives_a_restart_of_home_assistant(
    h: Harness,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    old_store: bool,
) -> None:
    await _session_on_evse_1_then_boot(h)
    stored = _stored(h)
    connectors = stored["connectors"]
    assert isinstance(connectors, dict)
    transaction = connectors["1"]["transaction"]
    assert transaction[MARK] is True
    if old_store:
        del transaction[MARK]
    async with harness_with(charger_from_dict(stored), directory, server_settings, type(h)) as h2:
        sim = await h2.charger_client(boot=False)
        await _evse_2_started(sim)
        evse_1 = h2.charger.connectors[1]
        if old_store:
            # Written before the mark was stored: nothing tells it lost, it runs on.
            assert evse_1.transaction is not None
            assert evse_1.transaction.energy_wh == EVSE_SESSION_WH
            return
        lost = evse_1.last_transaction
        assert evse_1.transaction is None, "EVSE 1's lost session stayed open after the restart"
        assert lost is not None
        assert (lost.stop_reason, lost.energy_wh) == ("Reboot", EVSE_SESSION_WH)
        assert h2.charger.connectors[2].transaction is not None


async def test_a_session_kept_through_the_boot_stores_no_mark(h: Harness) -> None:
    """The station sends EVSE 1's session on after the boot (it kept it): the mark is gone, and
    is stored only when set (an older version reads the store as before)."""
    opened = await _session_on_evse_1_then_boot(h)
    wh = EVSE_1_BEGIN_WH + 2 * EVSE_SESSION_WH
    await send(opened.station, periodic_updated(2, wh, _ago(10), evse=EVSE))
    connectors = _stored(h)["connectors"]
    assert isinstance(connectors, dict)
    assert MARK not in connectors["1"]["transaction"]


async def test_an_offline_started_after_the_reboot_ends_the_lost_session(h: Harness) -> None:
    opened = await _session_on_evse_1_then_boot(h)
    lost = opened.transaction
    await _evse_2_started(opened.station, offline=True)
    assert h.charger.connectors[1].transaction is None, "EVSE 1's lost session stayed open"
    assert (lost.stop_reason, lost.energy_wh) == ("Reboot", EVSE_SESSION_WH)
    new = h.charger.connectors[2].transaction
    assert new is not None
    assert new.meter_start_wh == EVSE_2_BEGIN_WH


async def test_the_boot_mark_is_saved_at_the_boot(h: Harness) -> None:
    """Saved when the station boots, not at the next save of something else: Home Assistant
    killed between the boot and EVSE 2's Started would have forgotten it."""
    station = await h.charger_client(boot=True)
    started = cable_started(EVSE_1_BEGIN_WH, _ago(40), evse=EVSE, charging_state="Charging")
    await send(station, started)
    saves = h.saves
    await station.boot(reason="PowerUp")
    assert h.saves > saves
    connectors = _stored(h)["connectors"]
    assert isinstance(connectors, dict)
    assert connectors["1"]["transaction"][MARK] is True
