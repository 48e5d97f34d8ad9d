"""Red team 10a, pinned (passes): a whole 2.x session at a realistic pace (a reading a minute)
across two restarts of Home Assistant, with the station's boot mark now stored
(``booted_at``, ``started_since_boot``). While Home Assistant is down the station queues its
readings (offline). It reconnects without a BootNotification (a restart of Home Assistant is no
boot of the station), or it rebooted meanwhile and kept the session (a BootNotification, then its
queue, then live readings), or on top of that our host came up three hours behind and NTP set it
after the station's boot. Every Wh counts once, the session ends once (as the station said),
nothing is routed to an ended transaction, and the station is never taken to number per EVSE.

Was: with our host 45 min behind, the queue's rise beyond the tolerance was taken for a register
jump (our clocks showed no time for it): SESSION_ENDED 13,571 Wh instead of 14,940 Wh. Now held
until our clocks cover it (``meter.held_for_our_clock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_time_hostile import OurClock, our_clock
from .test_v201_boot_mark_written_after_boot import reboot
from .test_v201_reboot_mark import _stored
from .v201_harness import V201Harness as Harness
from .v201_reuse import cable_started, periodic_updated, send

BEGIN_WH = 20_000.0
PER_MINUTE_WH = 180.0  # 10.8 kW
HOST_BEHIND = timedelta(minutes=45)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@dataclass
class Session:
    """The station's side: its next seqNo, its register, its clock's lead on ours, its queue."""

    clock: OurClock
    seq_no: int = 1
    wh: float = BEGIN_WH
    lead: timedelta = timedelta(0)
    queue: list[dict[str, Any]] = field(default_factory=list)

    def stamp(self) -> str:
        return (datetime.now(UTC) + self.lead).isoformat()

    def next_minute(self, **more: Any) -> dict[str, Any]:
        self.clock.tick(60)
        self.wh += PER_MINUTE_WH
        frame = periodic_updated(self.seq_no, self.wh, self.stamp(), **more)
        del frame["evse"]  # 2.0.1 asks for it in the first message only
        self.seq_no += 1
        return frame

    async def charge(self, sim: Any, minutes: int) -> None:
        for _ in range(minutes):
            await send(sim, self.next_minute(charging_state="Charging"))

    def queue_while_offline(self, minutes: int) -> None:
        self.queue += [self.next_minute(offline=True) for _ in range(minutes)]

    async def send_queue(self, sim: Any) -> None:
        for frame in self.queue:
            await send(sim, frame)
        self.queue.clear()


def _ended(h: Harness) -> list[dict[str, Any]]:
    return [e.data for e in h.events if e.kind is EventKind.SESSION_ENDED]


@pytest.mark.parametrize(
    "case",
    [
        "no_boot",
        "station_rebooted",
        "host_behind",
        "station_rebooted_host_behind",
    ],
)
async def test_a_session_across_two_restarts_counts_every_wh_once_and_ends_once(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings, case: str
) -> None:
    with our_clock() as clock:
        session = Session(clock)
        sim = await h.charger_client(boot=True)
        await send(sim, cable_started(BEGIN_WH, session.stamp(), charging_state="Charging"))
        await session.charge(sim, 30)
        stored = _stored(h)
        session.queue_while_offline(10)  # Home Assistant is down
        if case.endswith("host_behind"):
            clock.step(-HOST_BEHIND)
            session.lead = HOST_BEHIND  # the station keeps the true time
        async with harness_with(
            charger_from_dict(stored), directory, server_settings, type(h)
        ) as second:
            sim = await second.charger_client(boot=False)
            if case.startswith("station_rebooted"):
                await reboot(second, sim)
            await session.send_queue(sim)
            await session.charge(sim, 5)
            if session.lead:
                clock.step(HOST_BEHIND)  # NTP sets our clock
                session.lead = timedelta(0)
            await session.charge(sim, 25)
            stored = _stored(second)
        session.queue_while_offline(3)
        async with harness_with(
            charger_from_dict(stored), directory, server_settings, type(h)
        ) as third:
            sim = await third.charger_client(boot=False)
            await session.send_queue(sim)
            await session.charge(sim, 10)
            clock.tick(60)
            ended = periodic_updated(
                session.seq_no, session.wh, session.stamp(), stopped_reason="EVDisconnected"
            )
            del ended["evse"]
            await send(sim, ended)
    minutes = 30 + 10 + 30 + 3 + 10
    assert (_ended(h), _ended(second)) == ([], [])
    assert [e["reason"] for e in _ended(third)] == ["EVDisconnected"]
    connector = third.charger.connectors[1]
    assert connector.transaction is None
    last = connector.last_transaction
    assert last is not None
    assert last.sequence is not None
    assert last.sequence.seen == [(0, minutes + 1)]  # every message reached it, none elsewhere
    assert third.charger._numbers_per_evse is False
    assert _ended(third)[0]["energy_wh"] == pytest.approx(minutes * PER_MINUTE_WH)
    assert third.charger.lifetime_energy.total_wh == pytest.approx(session.wh, abs=1)
