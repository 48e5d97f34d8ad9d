"""Energy and session accounting with quirky or hostile chargers, 1.6 and 2.x: messages out of
order, starts without a register value, overflowing values, inlet-only meters, a station that
does not count its messages up."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import Charger, ConnectorStatus
from custom_components.ocpp_ems.core.persistence import (
    charger_from_dict,
    charger_to_dict,
    state_from_dict,
    state_to_dict,
)
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import CHARGER_ID, Harness, now_iso, protocol_harness
from .v201_harness import sampled

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def token(value: str = "TAG1") -> dict[str, str]:
    return {"idToken": value, "type": "ISO14443"}


def reading(offset_s: float, *samples: dict[str, Any]) -> list[dict[str, Any]]:
    """A 2.x meterValue taken ``offset_s`` from now."""
    return [{"timestamp": now_iso(offset_s), "sampledValue": list(samples)}]


def meter2(wh: float, offset_s: float = 0.0, context: str | None = None) -> list[dict[str, Any]]:
    return reading(offset_s, sampled(wh, ENERGY, context=context))


async def started(sim: Any, transaction_id: str, offset_s: int, **extra: Any) -> None:
    """A Started of ``transaction_id`` on EVSE 1 with TAG1, sent ``offset_s`` from now."""
    await sim.tx_event(
        "Started",
        transaction_id,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(offset_s),
        id_token=token(),
        **extra,
    )


def restarted(charger: Charger) -> Charger:
    """The charger model as Home Assistant's store gives it back after a restart."""
    return charger_from_dict(json.loads(json.dumps(charger_to_dict(charger))))


@contextlib.asynccontextmanager
async def harness_with(
    charger: Charger, directory: MemoryDirectory, settings: ServerSettings, cls: type[Harness]
) -> AsyncIterator[Harness]:
    """A protocol harness around an existing (restored) charger model."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    harness = cls(directory=directory, settings=settings, charger=charger)
    harness.attach_controller = False
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def h16(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    directory.id_tags.add("TAG1")
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


# --- 2.x ---------------------------------------------------------------------------------------


async def test_v2_started_arriving_after_its_updated_keeps_the_energy_since_begin(
    h2: Harness,
) -> None:
    """E11/E12: a transaction's messages out of order (the Updated arrives before the Started,
    e.g. an offline queue with the Started retried after the Updated). The Started's
    Transaction.Begin register (1000 Wh, 10 min ago) is the session's start; the Updated showed
    1500 Wh: 500 Wh charged. 1.6 handles its late StartTransaction (energy_up_to_base); 2.x
    must not drop the energy between Begin and the first reading that arrived."""
    sim = await h2.charger_client(boot=False)
    await sim.tx_event(
        "Updated",
        "OOO1",
        seq_no=1,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(-60),
        meter_value=meter2(1500, -60, "Sample.Periodic"),
        charging_state="Charging",
        trigger_reason="MeterValuePeriodic",
    )
    await started(
        sim,
        "OOO1",
        -600,
        seq_no=0,
        meter_value=meter2(1000, -600, "Transaction.Begin"),
        charging_state="Charging",
    )
    tx = h2.charger.connectors[1].transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(500)


async def test_v2_late_started_without_context_keeps_the_energy_since_its_reading(
    h2: Harness,
) -> None:
    """The same with a Started whose reading has no context (2.0.1 allows it): its reading is
    the session's start, as on the in-order path."""
    sim = await h2.charger_client(boot=False)
    await sim.tx_event(
        "Updated",
        "OOO2",
        seq_no=1,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(-60),
        meter_value=meter2(1500, -60),
        charging_state="Charging",
    )
    await started(sim, "OOO2", -600, seq_no=0, meter_value=meter2(1000, -600))
    tx = h2.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.meter_start_wh, tx.energy_wh) == (1000, 500)


@pytest.mark.parametrize("with_begin", [False, True])
async def test_v2_main_meter_is_never_an_outlets_start_after_a_restart(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    h2: Harness,
    with_begin: bool,
) -> None:
    """A station with a main meter (EVSE 0, 9,700 Wh) and one outlet (EVSE 1, 3,500 Wh). Home
    Assistant restarts; a session runs on EVSE 1 from 3,500 to 5,000 Wh, its Started with or
    without a register (TxStartedMeasurands may be empty): 1,500 Wh for the session and the
    lifetime; the main meter's register (the lifetime's last) is never the outlet's start."""
    sim = await h2.charger_client(boot=False)
    for evse, wh, offset in (
        (1, 3000, -4000),
        (0, 9000, -3990),
        (1, 3500, -3790),
        (0, 9700, -3700),
    ):
        await sim.meter_values(evse, [sampled(wh, ENERGY)], now_iso(offset))
    before = h2.charger.lifetime_energy.total_wh
    cls = type(h2)
    async with harness_with(restarted(h2.charger), directory, server_settings, cls) as h:
        sim = await h.charger_client(boot=False)
        begin = {"meter_value": meter2(3500, -3600, "Transaction.Begin")} if with_begin else {}
        await started(sim, "R1", -3600, seq_no=0, charging_state="Charging", **begin)
        await sim.tx_event("Updated", "R1", seq_no=1, meter_value=meter2(4500, -1800))
        await sim.tx_event(
            "Ended",
            "R1",
            seq_no=2,
            stopped_reason="EVDisconnected",
            meter_value=meter2(5000, 0, "Transaction.End"),
        )
        last = h.charger.connectors[1].last_transaction
        assert last is not None
        assert (last.meter_start_wh, last.energy_wh) == (3500, 1500)
        assert h.charger.lifetime_energy.total_wh - before == pytest.approx(1500)


async def test_v2_started_without_meter_after_a_restart_counts_its_session(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    h2: Harness,
) -> None:
    """A station whose Started carries no meter value (TxStartedMeasurands empty: allowed) and
    whose Ended carries the Transaction.End register. Before a restart its register was known
    (1,000,000 Wh, lifetime counter). After the restart, a 1 h session ends at 1,010,000 Wh:
    10 kWh are the session's and the lifetime's (nothing is lost)."""
    sim = await h2.charger_client(boot=False)
    # Before the restart: one session that leaves the register at 1,000,000 Wh.
    await started(sim, "A", -7200, meter_value=meter2(990_000, -7200, "Transaction.Begin"))
    await sim.tx_event(
        "Ended",
        "A",
        timestamp=now_iso(-5400),
        meter_value=meter2(1_000_000, -5400, "Transaction.End"),
        stopped_reason="EVDisconnected",
        trigger_reason="EVCommunicationLost",
    )
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(1_000_000)
    charger = restarted(h2.charger)
    cls = type(h2)
    async with harness_with(charger, directory, server_settings, cls) as h:
        sim2 = await h.charger_client(boot=False)
        await started(sim2, "B", -3600, seq_no=0, charging_state="Charging")
        await sim2.tx_event(
            "Ended",
            "B",
            seq_no=1,
            timestamp=now_iso(),
            meter_value=meter2(1_010_000, 0, "Transaction.End"),
            stopped_reason="EVDisconnected",
            trigger_reason="EVCommunicationLost",
        )
        # The station's next (idle) meter reading, 10 Wh later.
        await sim2.meter_values(1, [sampled(1_010_010, ENERGY)], timestamp=now_iso(1))
        last = h.charger.connectors[1].last_transaction
        assert last is not None
        assert last.transaction_id == "B"
        # (session energy, lifetime): 10 kWh of session B; the lifetime never loses them.
        assert (last.energy_wh, h.charger.lifetime_energy.total_wh) == (10_000, 1_010_010)


async def test_v2_started_without_meter_on_an_unknown_register_counts_from_the_next_reading(
    h2: Harness,
) -> None:
    """ChargerState.start_transaction: "meter_start_wh None: the charger did not say (2.x); the
    session counts from the connector's next reading". A station new to us (register 3,000 Wh,
    never reported) starts a session without a meter value; its first Updated 9 min later shows
    3,000 Wh, the next 3,200 Wh. The session charged (at least, as far as we can know) 200 Wh,
    not the charger's whole lifetime register."""
    sim = await h2.charger_client(boot=False)
    await started(sim, "N1", -600, charging_state="Charging")
    await sim.tx_event("Updated", "N1", timestamp=now_iso(-60), meter_value=meter2(3000, -60))
    await sim.tx_event("Updated", "N1", timestamp=now_iso(-30), meter_value=meter2(3200, -30))
    tx = h2.charger.connectors[1].transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(200)


async def test_v2_overflowing_reading_never_becomes_infinity(h2: Harness) -> None:
    """numbers.py: a number from outside is a finite float or None. A schema-valid sampled value
    1e300 with multiplier 9 (or 1.7e308 kWh) overflows to inf when scaled; it must be dropped,
    never stored (the model is persisted as JSON, which has no Infinity)."""
    sim = await h2.charger_client(boot=False)
    await started(
        sim,
        "INF",
        -600,
        meter_value=reading(
            -600,
            sampled(1e300, ENERGY, multiplier=9, context="Transaction.Begin"),
            sampled(1.7e308, POWER, unit="kW", context="Transaction.Begin"),
        ),
    )
    charger = h2.charger
    meter = charger.connectors[1].meter
    assert meter.power_w is None or math.isfinite(meter.power_w)
    tx = charger.connectors[1].transaction
    assert tx is not None
    assert math.isfinite(tx.meter_start_wh)
    assert math.isfinite(charger.lifetime_energy.total_wh)
    json.dumps(charger_to_dict(charger), allow_nan=False)


# --- 1.6 ---------------------------------------------------------------------------------------


async def test_v16_overflowing_reading_never_becomes_infinity(h16: Harness) -> None:
    sim = await h16.charger_client(boot=False)
    await sim.boot()
    await sim.start_tx(1, meter=1000, timestamp=now_iso(-600))
    tx_id = h16.charger.connectors[1].transaction.transaction_id
    await sim.meter(
        1,
        [
            {"value": "1.7e308", "measurand": ENERGY, "unit": "kWh"},
            {"value": "1.7e308", "measurand": POWER, "unit": "kW"},
        ],
        transaction_id=int(tx_id),
    )
    charger = h16.charger
    meter = charger.connectors[1].meter
    assert meter.power_w is None or math.isfinite(meter.power_w)
    json.dumps(charger_to_dict(charger), allow_nan=False)


# --- location: an inlet energy meter beside outlet measurands ------------------------------------


async def test_v2_energy_measured_only_at_the_inlet_still_counts(h2: Harness) -> None:
    """A station whose (MID) energy meter sits at the supply inlet and whose current / power are
    measured at the outlet: every reading has Energy.Active.Import.Register at location Inlet and
    Power.Active.Import at Outlet. The inlet register is the only energy reading there is; it
    must count (meter.py prefers the outlet where both report the *same* measurand)."""
    sim = await h2.charger_client(boot=False)
    await started(
        sim,
        "IN1",
        -600,
        meter_value=reading(
            -600,
            sampled(1000, ENERGY, location="Inlet", context="Transaction.Begin"),
            sampled(0, POWER, location="Outlet", context="Transaction.Begin"),
        ),
    )
    await sim.tx_event(
        "Updated",
        "IN1",
        timestamp=now_iso(-60),
        meter_value=reading(
            -60, sampled(1500, ENERGY, location="Inlet"), sampled(7000, POWER, location="Outlet")
        ),
    )
    tx = h2.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.meter_start_wh, tx.energy_wh) == (1000, 500)


async def test_v16_energy_measured_only_at_the_inlet_still_counts(h16: Harness) -> None:
    sim = await h16.charger_client(boot=False)
    await sim.boot()
    await sim.start_tx(1, meter=1000, timestamp=now_iso(-600))
    tx = h16.charger.connectors[1].transaction
    assert tx is not None
    await sim.meter(
        1,
        [
            {"value": "1300", "measurand": ENERGY, "unit": "Wh", "location": "Inlet"},
            {"value": "16.0", "measurand": "Current.Import", "unit": "A", "location": "Outlet"},
        ],
        transaction_id=int(tx.transaction_id),
        timestamp=now_iso(-60),
    )
    assert tx.energy_wh == 300


# --- a charger clock corrected backwards (by our own Heartbeat answer) ---------------------------


@pytest.mark.parametrize("ahead_s", [240, 3000])
async def test_v2_status_after_a_clock_correction_is_not_lost(h2: Harness, ahead_s: int) -> None:
    """The 2.x twin of the 1.6 test below, with a clock 4 min fast (taken as it is) and 50 min
    fast (flagged as skewed): after our Heartbeat answer set the station's clock, the session's
    end and the car's departure show at once (not after the wrong old times have passed)."""
    sim = await h2.charger_client(boot=False)
    await sim.boot()
    await sim.status(1, 1, "Occupied", now_iso(ahead_s - 10))
    await started(sim, "C1", ahead_s, meter_value=meter2(1000, ahead_s), charging_state="Charging")
    assert h2.charger.connectors[1].status is ConnectorStatus.CHARGING
    await sim.heartbeat()
    await sim.tx_event(
        "Ended", "C1", stopped_reason="Local", meter_value=meter2(1500, 1, "Transaction.End")
    )
    await sim.status(1, 1, "Available", now_iso(3))
    assert h2.charger.connectors[1].transaction is None
    assert h2.charger.connectors[1].status is ConnectorStatus.AVAILABLE


async def test_v2_overflowing_begin_reading_does_not_lose_the_charger_at_the_next_restart(
    h2: Harness,
) -> None:
    """The consequence of an overflowing reading once the model is stored the way Home Assistant
    stores it (orjson writes inf as null): a session whose Transaction.Begin register was 1e300
    x 10^9 Wh is stored with meter_start_wh null, Transaction.from_dict fails, and
    state_from_dict drops the whole charger: its lifetime total (10 kWh here) is gone after the
    restart ("energy ... survive a kill -9 of Home Assistant")."""
    sim = await h2.charger_client(boot=False)
    await sim.meter_values(1, [sampled(10_000, ENERGY)], timestamp=now_iso(-700))
    assert h2.charger.lifetime_energy.total_wh == 10_000
    await started(
        sim,
        "INF2",
        -600,
        meter_value=reading(
            -600, sampled(1e300, ENERGY, multiplier=9, context="Transaction.Begin")
        ),
    )
    stored = state_from_dict(orjson.loads(orjson.dumps(state_to_dict({CHARGER_ID: h2.charger}))))
    assert CHARGER_ID in stored
    assert stored[CHARGER_ID].lifetime_energy.total_wh == 10_000


async def test_v2_ended_in_the_same_second_as_the_last_updated_with_a_stuck_seqno(
    h2: Harness,
) -> None:
    """A quirky station that never increments seqNo (always 0) and stamps to the second: its
    Updated (StopAuthorized) and its Ended go out in the same second. The Ended is a different
    message (another eventType): it must end the session, not be dropped as a duplicate."""
    sim = await h2.charger_client(boot=False)
    second = datetime.now(UTC).replace(microsecond=0)
    stamp = second.strftime("%Y-%m-%dT%H:%M:%SZ")
    await sim.tx_event(
        "Started",
        "S0",
        seq_no=0,
        evse={"id": 1, "connectorId": 1},
        timestamp=(second - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        id_token=token(),
        meter_value=meter2(1000, -600, "Transaction.Begin"),
    )
    await sim.tx_event(
        "Updated",
        "S0",
        seq_no=0,
        timestamp=stamp,
        trigger_reason="StopAuthorized",
        charging_state="EVConnected",
    )
    await sim.tx_event(
        "Ended",
        "S0",
        seq_no=0,
        timestamp=stamp,
        trigger_reason="StopAuthorized",
        stopped_reason="Local",
        meter_value=[
            {"timestamp": stamp, "sampledValue": [sampled(1800, ENERGY, context="Transaction.End")]}
        ],
    )
    connector = h2.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is not None
    assert connector.last_transaction.energy_wh == 800


async def test_v16_status_after_a_clock_correction_is_not_lost(h16: Harness) -> None:
    """A charger clock 4 min fast (below the 5 min skew threshold, so its times are taken as
    they are) reports Charging; it then sets its clock from our Heartbeat answer (OCPP 1.6 4.6:
    RECOMMENDED) and reports the unplug: Available, stamped with the corrected time. On a live
    connection messages arrive in order (one CALL at a time): the newest status is Available.
    StatusNotification is only sent on a change, so a dropped one would stay wrong for good."""
    sim = await h16.charger_client(boot=False)
    await sim.boot()
    await sim.status(1, "Charging", timestamp=now_iso(240))
    await sim.meter(1, [{"value": "7000", "measurand": POWER, "unit": "W"}], timestamp=now_iso(240))
    await sim.call(call.Heartbeat())
    await sim.status(1, "Finishing", timestamp=now_iso(1))
    await sim.meter(1, [{"value": "0", "measurand": POWER, "unit": "W"}], timestamp=now_iso(2))
    await sim.status(1, "Available", timestamp=now_iso(3))
    connector = h16.charger.connectors[1]
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.AVAILABLE, 0.0)


async def test_status_order_kept_for_a_clock_slightly_ahead(h16: Harness) -> None:
    """A charger clock 60 s ahead (within MAX_CLOCK_AHEAD_S, so its times are believed), no clock
    sync in between: statuses are ordered by the charger's timestamps, so a 'Preparing @ +30 s'
    arriving after 'Charging @ +60 s' (older by the charger's clock) changes nothing."""
    sim = await h16.charger_client(boot=False)
    await sim.boot()
    await sim.status(1, "Charging", timestamp=now_iso(60))
    await sim.status(1, "Preparing", timestamp=now_iso(30))
    assert h16.charger.connector(1).status is ConnectorStatus.CHARGING


async def test_v2_ended_without_readings_tail_not_counted_twice(h2: Harness) -> None:
    """2.x station with an EVSE 0 main meter. Session T1 on EVSE 1: Begin 5,000, one Updated at
    6,000; EVSE 0 goes 10,000 -> 12,000 (it counted the outlet's last 1,000 Wh ahead of the
    outlet). T1's Ended carries no meter value (TxEndedMeasurands empty: allowed). The next
    session's Transaction.Begin is 7,000: the outlet's rise 6,000 -> 7,000 is the very 1,000 Wh
    EVSE 0 counted. Both meters rose 2,000 Wh: the lifetime must rise 2,000 (EVSE 0's lead on the
    lifetime is kept until the outlet reported what it took)."""
    h = h2
    sim = await h.charger_client(boot=False)
    await sim.meter_values(0, [sampled(10_000, ENERGY)], now_iso(-1800))
    await started(
        sim,
        "T1",
        -1800,
        charging_state="Charging",
        meter_value=meter2(5000, -1800, "Transaction.Begin"),
    )
    before = h.charger.lifetime_energy.total_wh
    await sim.tx_event(
        "Updated",
        "T1",
        trigger_reason="MeterValuePeriodic",
        timestamp=now_iso(-900),
        meter_value=meter2(6000, -900, "Sample.Periodic"),
    )
    await sim.meter_values(0, [sampled(11_000, ENERGY)], now_iso(-900))
    await sim.meter_values(0, [sampled(12_000, ENERGY)], now_iso(-120))
    await sim.tx_event(
        "Ended",
        "T1",
        trigger_reason="EVCommunicationLost",
        timestamp=now_iso(-60),
        stopped_reason="EVDisconnected",
    )
    await started(
        sim, "T2", -5, charging_state="Charging", meter_value=meter2(7000, -5, "Transaction.Begin")
    )
    assert h.charger.connectors[1].meter.energy_register_wh == 7000
    assert h.charger.lifetime_energy.total_wh - before == pytest.approx(2000)


# --- 1.6: late and past sessions -----------------------------------------------------------------
def energy16(wh: float, **extra: str) -> dict[str, str]:
    return {"value": str(wh), "measurand": ENERGY, "unit": "Wh", **extra}


async def test_v16_meter_values_after_the_stop_do_not_bring_power_back(h16: Harness) -> None:
    """A charger re-sent the last MeterValues of a session after its StopTransaction (it never
    saw our answer): the ended session's 7 kW came back as the connector's live power."""
    sim = await h16.charger_client(boot=False)
    tx = (await sim.start_tx(meter=1000, timestamp=now_iso(-1800))).transaction_id
    last = [energy16(4000), {"value": "7000", "measurand": POWER, "unit": "W"}]
    await sim.meter(1, last, transaction_id=tx, timestamp=now_iso(-60))
    await sim.call(call.StopTransaction(meter_stop=4100, timestamp=now_iso(-30), transaction_id=tx))
    connector = h16.charger.connector(1)
    await sim.meter(1, last, transaction_id=tx, timestamp=now_iso(-60))
    assert connector.meter.power_w == 0.0
    assert connector.last_session_energy_wh == 3100


async def _past_session(h16: Harness, **stop: Any) -> float:
    """A session (meterStart 1,000, 2 h ago, 1 h long) sent behind the running one: its energy."""
    sim = await h16.charger_client(boot=False)
    await sim.start_tx(meter=5000, timestamp=now_iso(-60))
    old = (await sim.start_tx(meter=1000, timestamp=now_iso(-7200))).transaction_id
    await sim.call(call.StopTransaction(timestamp=now_iso(-3600), transaction_id=old, **stop))
    past = h16.charger.find_ended_transaction(str(old))
    assert past is not None
    return past.energy_wh


async def test_v16_past_session_energy_is_bounded_like_any_other(h16: Harness) -> None:
    """A past session ended with a garbage meterStop (0xFFFFFFFF, a firmware's "no meter") and
    booked 4.3 GWh for one hour: bounded by the charger's power over its duration."""
    energy = await _past_session(h16, meter_stop=4294967295)
    assert 0 < energy < 100_000


async def test_v16_past_session_with_meter_stop_0_takes_its_transaction_data(
    h16: Harness,
) -> None:
    """A past session ended with meterStop 0 (a firmware quirk) and its readings in
    transactionData (3,000 Wh at its end): it booked nothing; a live session with the same Stop
    counts 2,000 Wh, and so must it."""
    data = [
        {
            "timestamp": now_iso(-7200),
            "sampledValue": [energy16(1000, context="Transaction.Begin")],
        },
        {"timestamp": now_iso(-3600), "sampledValue": [energy16(3000, context="Transaction.End")]},
    ]
    assert await _past_session(h16, meter_stop=0, transaction_data=data) == 2000
