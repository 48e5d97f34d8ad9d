"""1.6 chargers with several connectors and connector 0 (the charger as a whole): energy, sessions
and statuses as real ones report them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import ConnectorStatus, EventKind
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .v16_harness import Harness, now_iso, protocol_harness


@pytest.fixture
async def h(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    directory.id_tags.update({"TAG1", "TAG2"})
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


def _energy(wh: float) -> list[dict[str, str]]:
    return [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]


async def report(sim: Any, connector_id: int, wh: float, at_s: float, tx: Any = None) -> None:
    """Connector ``connector_id``'s register ``wh``, read ``at_s`` from now (of ``tx``: a
    StartTransaction's answer)."""
    await sim.meter(
        connector_id,
        _energy(wh),
        transaction_id=None if tx is None else tx.transaction_id,
        timestamp=now_iso(at_s),
    )


async def two_sessions(sim: Any) -> tuple[Any, Any]:
    """Both outlets charging since an hour ago: TAG1 on 1 from 1,000 Wh, TAG2 on 2 from 5,000."""
    await sim.status(1, "Charging")
    await sim.status(2, "Charging")
    a = await sim.start_tx(1, "TAG1", meter=1000, timestamp=now_iso(-3600))
    b = await sim.start_tx(2, "TAG2", meter=5000, timestamp=now_iso(-3600))
    return a, b


async def rising_together(h: Harness, sim: Any) -> tuple[Any, float]:
    """A session on outlet 1 from 5,000 Wh half an hour ago; connector 0 and the outlet report
    then (10,000 / 5,000) and 15 minutes ago (11,000 / 6,000). Returns the session's start answer
    and the lifetime total after the first report."""
    await sim.status(1, "Charging")
    a = await sim.start_tx(1, "TAG1", meter=5000, timestamp=now_iso(-1800))
    await report(sim, 0, 10_000, -1800)
    await report(sim, 1, 5000, -1800, a)
    before = h.charger.lifetime_energy.total_wh
    await report(sim, 0, 11_000, -900)
    await report(sim, 1, 6000, -900, a)
    return a, before


async def test_two_connectors_with_whole_charger_meter_sum(h: Harness) -> None:
    """Control: connector 0 reports the sum; the lifetime follows it; sessions per connector."""
    sim = await h.charger_client(boot=False)
    a, b = await two_sessions(sim)
    await report(sim, 0, 6000, -3600)
    before = h.charger.lifetime_energy.total_wh
    await report(sim, 1, 1500, -10, a)
    await report(sim, 2, 5300, -10, b)
    await report(sim, 0, 6800, -10)
    assert h.charger.connector(1).session_energy_wh == 500
    assert h.charger.connector(2).session_energy_wh == 300
    assert h.charger.lifetime_energy.total_wh - before == 800


async def test_lifetime_counts_on_after_connector_0_reported_once(h: Harness) -> None:
    """A 2-outlet charger answers one triggered MeterValues (no connector id) on every connector
    incl. 0, then reports per outlet only (no clock-aligned data configured). The outlets charge
    3 kWh: the lifetime total must grow by that, not stay at the one connector-0 value forever."""
    sim = await h.charger_client(boot=False)
    a, b = await two_sessions(sim)
    # The triggered MeterValues: connector 0 (whole charger) once.
    await report(sim, 0, 6000, -3599)
    before = h.charger.lifetime_energy.total_wh
    # From then on per outlet only (MeterValueSampleInterval), an hour of charging.
    await report(sim, 1, 3000, -5, a)
    await report(sim, 2, 6000, -5, b)
    assert h.charger.connector(1).session_energy_wh == 2000
    assert h.charger.connector(2).session_energy_wh == 1000
    # the 3000 Wh the outlets delivered count in the lifetime total.
    assert h.charger.lifetime_energy.total_wh - before == pytest.approx(3000)


async def test_reboot_mid_session_then_powerloss_stop(h: Harness) -> None:
    """BootNotification while a transaction is open, then its StopTransaction (PowerLoss)."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Charging")
    await sim.status(2, "Charging")
    a = await sim.start_tx(1, "TAG1", meter=1000, timestamp=now_iso(-3600))
    await report(sim, 1, 2000, -600, a)
    await sim.boot()
    await sim.status(1, "Preparing")
    await sim.call(
        call.StopTransaction(
            meter_stop=2200,
            timestamp=now_iso(-300),
            transaction_id=a.transaction_id,
            reason="PowerLoss",
        )
    )
    assert h.charger.connector(1).transaction is None
    assert h.charger.connector(1).last_session_energy_wh == 1200
    ended = [e for e in h.events if e.kind is EventKind.SESSION_ENDED]
    assert ended[-1].data["reason"] == "PowerLoss"


async def test_connector0_unavailable_and_new_connector(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(0, "Unavailable")
    assert not h.charger.operative
    await sim.status(3, "Available")
    assert [c.connector_id for c in h.charger.outlets] == [3]
    assert h.charger.connector(0).status is ConnectorStatus.UNAVAILABLE


async def test_lifetime_not_ahead_when_connector_0_reports_before_its_outlets(h: Harness) -> None:
    """Clock-aligned MeterValues of connector 0 and of the outlet arrive at the same instant; the
    charger sends connector 0's message first. The main meter rises 2,000 Wh in all (the outlet
    too): the lifetime total must rise 2,000 Wh, not 3,000 (the outlet's last interval counted
    beside connector 0's rise that already held it)."""
    sim = await h.charger_client(boot=False)
    a, before = await rising_together(h, sim)
    await report(sim, 0, 12_000, -1)
    await report(sim, 1, 7000, -1, a)
    assert h.charger.connector(1).session_energy_wh == 2000
    assert h.charger.lifetime_energy.total_wh - before == pytest.approx(2000)


async def test_lifetime_outlet_lead_survives_a_restart(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Connector 0 and outlet 1 rise together. The outlet's reading of the last interval
    (+1,000 Wh) arrives, then Home Assistant restarts before connector 0's reading of that same
    interval. After the restart connector 0 reports 12,000 (its rise since 11,000 is the very
    1,000 Wh the outlet already counted). Main meter rose 2,000 Wh in all: the lifetime must rise
    2,000, not 3,000 (the persisted outlets_ahead_wh must survive the restart)."""
    sim = await h.charger_client(boot=False)
    a, before = await rising_together(h, sim)
    await report(sim, 1, 7000, -5, a)
    assert h.charger.lifetime_energy.outlets_ahead_wh == pytest.approx(1000)
    charger = restarted(h.charger)
    async with harness_with(charger, directory, server_settings, type(h)) as h2:
        sim2 = await h2.charger_client(boot=False)
        await sim2.meter(0, _energy(12_000), timestamp=now_iso(-4))
        assert h2.charger.lifetime_energy.total_wh - before == pytest.approx(2000)


async def test_lifetime_outlet_reporting_only_at_stop_is_not_counted_twice(h: Harness) -> None:
    """A charger with a clock-aligned whole-charger meter (connector 0, every 15 min) whose outlet
    sends no MeterValues during a session (MeterValueSampleInterval 0), only meterStop. A 3-hour
    session at 11 kW: connector 0 rises 33,000 Wh, the outlet's meterStop 33,000 Wh above its
    meterStart. The lifetime must rise 33,000 Wh (a bound on connector 0's lead, 22 kWh, made the
    outlet's stop add the 11,000 Wh beyond it a second time: 44,000)."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Charging")
    a = await sim.start_tx(1, "TAG1", meter=5000, timestamp=now_iso(-3 * 3600))
    await report(sim, 0, 100_000, -3 * 3600)
    before = h.charger.lifetime_energy.total_wh
    for step in range(1, 13):  # 12 quarter hours of 2,750 Wh each
        offset = -3 * 3600 + step * 900
        await sim.meter(0, _energy(100_000 + step * 2750), timestamp=now_iso(offset - 1))
    await sim.call(
        call.StopTransaction(
            meter_stop=5000 + 33_000, timestamp=now_iso(), transaction_id=a.transaction_id
        )
    )
    assert h.charger.connector(1).last_transaction is not None
    assert h.charger.connector(1).last_transaction.energy_wh == pytest.approx(33_000)
    assert h.charger.lifetime_energy.total_wh - before == pytest.approx(33_000)


async def test_v16_zero_meter_stop_tail_not_counted_twice(h: Harness) -> None:
    """1.6: outlet 1 reports 5,000 / 6,000; connector 0 10,000 -> 12,000 (1,000 ahead). The
    StopTransaction says meterStop 0 (a known firmware quirk; implausible: not counted). The next
    session's meterStart 7,000 is plausible from the outlet's 6,000: its 1,000 Wh is what
    connector 0 counted already. Lifetime must rise 2,000 (connector 0's lead is kept until the
    outlet reported what it took)."""
    sim = await h.charger_client(boot=False)
    a, before = await rising_together(h, sim)
    await report(sim, 0, 12_000, -120)
    await sim.call(
        call.StopTransaction(meter_stop=0, timestamp=now_iso(-60), transaction_id=a.transaction_id)
    )
    await sim.start_tx(1, "TAG1", meter=7000, timestamp=now_iso(-5))
    assert h.charger.lifetime_energy.total_wh - before == pytest.approx(2000)
