"""The soak benchmark's traffic (benchmarks/soak.py) against the real server, a few sessions long:
it is understood as the charger means it (every session booked with its energy), so the
benchmark's memory figures are about real work. The long run is the benchmark itself."""

from __future__ import annotations

import logging

import pytest

from benchmarks.fuzz_frames import FuzzDirectory
from benchmarks.soak import (
    MESSAGES_PER_SESSION,
    METER_VALUES_PER_SESSION,
    WH_PER_READING,
    SoakClient,
)

from .conftest import MakeCentral

SESSIONS = 5


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_soak_traffic_is_booked(
    make_central: MakeCentral, caplog: pytest.LogCaptureFixture, version: str
) -> None:
    caplog.set_level(logging.INFO)
    central = await make_central(directory_=FuzzDirectory())
    client = SoakClient(f"ws://127.0.0.1:{central.port}", version)
    await client.run(SESSIONS * MESSAGES_PER_SESSION)
    assert client.tally.errors == {}, client.tally.samples
    charger = central.charger(client.charger_id)
    session_wh = METER_VALUES_PER_SESSION * WH_PER_READING
    assert charger.lifetime_energy.total_wh == SESSIONS * session_wh
    last = charger.connectors[1].last_transaction
    assert last is not None
    assert last.energy_wh == session_wh
    assert charger.connectors[1].transaction is None
    assert sorted(charger.connectors) == [0, 1]
    tracebacks = [r for r in caplog.records if r.exc_info is not None and r.exc_info[0]]
    assert tracebacks == []
