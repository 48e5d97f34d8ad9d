"""Red team 10a: a stored boot mark gone stale. The station rebooted while Home Assistant was
down and, still thinking itself registered, reconnects without a BootNotification: the stored
``started_since_boot`` still says EVSE 2's open "1" began live after the station's last boot.
Its clock restarted at an old date (its build date) and it resumes "1" with an Updated naming no
EVSE (2.0.1 asks for the EVSE in a transaction's first message only), stamped at that date: before
"1" began and before the stored boot. ``tx_routing._ended_elsewhere_before_boot`` then takes it
for a late message of EVSE 1's ended "1": EVSE 2's reading went to EVSE 1's ended session
(fixed: such a late message reads no register above the ended one's last,
``tx_routing._reads_none_above``).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_v201_boot_mark_gaps import BUILD_DATE
from .test_v201_boot_mark_gaps2 import ended_on_1_open_on_2, evse_1_ended_then_evse_2_started
from .test_v201_reboot_mark import _stored
from .test_v201_reused_id_clock_back import _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_1_SENT_WH,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    periodic_updated,
    send,
)

RESUMED_WH = EVSE_2_BEGIN_WH + EVSE_SESSION_WH


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def test_a_resumed_session_after_an_unannounced_reboot_keeps_its_reading_after_a_restart(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    await evse_1_ended_then_evse_2_started(h, _ago(5))
    async with harness_with(
        charger_from_dict(_stored(h)), directory, server_settings, type(h)
    ) as after:
        sim = await after.charger_client(boot=False)  # no BootNotification: "still registered"
        ended, running = ended_on_1_open_on_2(after)
        resumed = periodic_updated(1, RESUMED_WH, BUILD_DATE, charging_state="Charging")
        del resumed["evse"]
        await send(sim, resumed)
        # Its clock set again (a Heartbeat's answer), it goes on charging.
        going_on = periodic_updated(2, RESUMED_WH + EVSE_SESSION_WH, _ago(0))
        del going_on["evse"]
        await send(sim, going_on)
    assert ended.sequence is not None
    assert running.sequence is not None
    assert ended.sequence.seen == [(0, 0), (2, 2)], "EVSE 2's Updated went to EVSE 1's session"
    assert running.sequence.seen == [(0, 2)]
    assert (ended.meter_last_wh, ended.energy_wh) == (
        EVSE_1_SENT_WH,
        EVSE_1_SENT_WH - EVSE_1_BEGIN_WH,
    )
    assert running.energy_wh == 2 * EVSE_SESSION_WH
