"""Red team 20g, pinned (passes): a charger with two outlets that each meter on their own (no
whole-charger meter), both charging when Home Assistant goes down. What was drawn while it was
down reaches the lifetime total (and the sessions) once, whatever the charger sends after it:
a stop queued meanwhile, a whole session queued meanwhile, a session whose messages were lost
(only the next start's register shows it), a bare reading outside any session, or nothing for
the idle outlet. The README said the lifetime missed that energy on such chargers (a note of
the first version, before each connector kept its own register across a restart): no longer so.
"""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_v16_connectors import report, two_sessions
from .test_v201_session import meter, token
from .v16_harness import Harness as Harness16
from .v16_harness import now_iso
from .v16_harness import protocol_harness as protocol_harness16
from .v201_harness import Harness as Harness2x


async def stop(sim: Any, transaction: Any, wh: float, at_s: float) -> None:
    await sim.call(
        call.StopTransaction(
            meter_stop=wh, timestamp=now_iso(at_s), transaction_id=transaction.transaction_id
        )
    )


async def queued_stop(sim: Any, a: Any, b: Any) -> float:
    """Outlet 2's session ended while Home Assistant was down (1,500 Wh since its last reading)."""
    await stop(sim, b, 7500, -300)
    await report(sim, 1, 3000, -60, a)
    return 2500


async def queued_session(sim: Any, a: Any, _b: Any) -> float:
    """A whole session on outlet 2 started and ended while Home Assistant was down."""
    c = await sim.start_tx(2, "TAG2", meter=6000, timestamp=now_iso(-900))
    await stop(sim, c, 8000, -300)
    await report(sim, 1, 3000, -60, a)
    return 3000


async def lost_session(sim: Any, a: Any, _b: Any) -> float:
    """Outlet 2's session while Home Assistant was down never arrives: the next start's register
    (2,000 Wh above the last) shows it."""
    c = await sim.start_tx(2, "TAG2", meter=8000, timestamp=now_iso(-120))
    await report(sim, 1, 3000, -60, a)
    await report(sim, 2, 8500, -30, c)
    return 3500


async def bare_reading(sim: Any, a: Any, _b: Any) -> float:
    """Outlet 2 reports its register outside any session (2,000 Wh above the last)."""
    await report(sim, 2, 8000, -120)
    await report(sim, 1, 3000, -60, a)
    return 3000


async def idle_outlet(sim: Any, a: Any, _b: Any) -> float:
    await report(sim, 1, 3000, -60, a)
    return 1000


@pytest.mark.parametrize(
    "after_restart", [queued_stop, queued_session, lost_session, bare_reading, idle_outlet]
)
async def test_v16_two_outlets_energy_while_down_counts_once(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    after_restart: Any,
) -> None:
    directory.id_tags.update({"TAG1", "TAG2"})
    async with protocol_harness16(directory, server_settings) as h:
        sim = await h.charger_client(boot=False)
        a, b = await two_sessions(sim)  # from 1,000 / 5,000 Wh an hour ago
        await report(sim, 1, 2000, -1200, a)
        await report(sim, 2, 6000, -1200, b)
        if after_restart is not queued_stop:  # outlet 2's session ended before the restart
            await stop(sim, b, 6000, -1100)
        before = h.charger.lifetime_energy.total_wh
        assert before == 2000
        charger = restarted(h.charger)
    async with harness_with(charger, directory, server_settings, Harness16) as h2:
        sim2 = await h2.charger_client(boot=False)
        expected = await after_restart(sim2, a, b)
        assert h2.charger.lifetime_energy.total_wh - before == pytest.approx(expected)
        assert h2.charger.connector(1).session_energy_wh == pytest.approx(2000)


async def test_v2x_two_evses_energy_while_down_counts_once(
    h2: Harness2x, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The same on a 2.x station: EVSE 1 charges on across the restart, EVSE 2's session ended
    while Home Assistant was down (its Ended queued, offline), then EVSE 2 reads 1,000 Wh more
    outside any session (a session whose messages were lost)."""
    sim = await h2.charger_client(boot=False)
    for evse, tx, begin in ((1, "A", 1000), (2, "B", 5000)):
        await sim.tx_event(
            "Started",
            tx,
            seq_no=0,
            evse={"id": evse, "connectorId": 1},
            timestamp=now_iso(-3600),
            id_token=token(),
            charging_state="Charging",
            meter_value=meter(begin, -3600, "Transaction.Begin"),
        )
        await sim.tx_event(
            "Updated",
            tx,
            seq_no=1,
            trigger_reason="MeterValuePeriodic",
            timestamp=now_iso(-1200),
            meter_value=meter(begin + 1000, -1200),
        )
    # (The base may hold EVSE 1's first register: it looked like the only outlet then.)
    before = h2.charger.lifetime_energy.total_wh
    async with harness_with(restarted(h2.charger), directory, server_settings, type(h2)) as again:
        station = await again.charger_client(boot=False)
        await station.tx_event(
            "Ended",
            "B",
            seq_no=2,
            trigger_reason="EVCommunicationLost",
            stopped_reason="EVDisconnected",
            offline=True,
            timestamp=now_iso(-300),
            meter_value=meter(7500, -300, "Transaction.End"),
        )
        await station.meter_values(2, meter(8500, -120)[0]["sampledValue"], now_iso(-120))
        await station.tx_event(
            "Updated",
            "A",
            seq_no=2,
            trigger_reason="MeterValuePeriodic",
            timestamp=now_iso(-60),
            meter_value=meter(3000, -60),
        )
        charger = again.charger
        assert charger.lifetime_energy.total_wh - before == pytest.approx(1000 + 1500 + 1000)
        assert charger.connector(1).session_energy_wh == pytest.approx(2000)
        ended = charger.connector(2).last_transaction
        assert ended is not None
        assert ended.energy_wh == pytest.approx(2500)
