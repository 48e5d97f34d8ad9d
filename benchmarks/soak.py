"""Soak benchmark: does the server's memory stay flat under a charger's endless, valid traffic?

The fuzz (``fuzz_frames.py``) sends hostile frames drawn from small pools of ids; this sends what
a long-lived charger sends, with every value new: sessions one after another (a new transaction
and id tag each), card swipes of tags that never start (accepted and refused), meter values of the
session and of another connector for it, statuses, and in 2.x one seqNo counter for all messages
(the quirk that leaves a gap in each transaction's sequence). The real core server runs in a
subprocess (``fuzz_frames.py --serve``, its memory its own); its RSS is read every ``--sample``
messages.

Printed: the RSS after each tenth of the messages, and the growth per 100,000 messages over the
second half (a one-off step in the first, such as a schema compiled for a CALL the server sends
after a while, is not growth). Memory that grows with the number of messages is a leak a charger
can drive; it must be flat. ``--server-root`` runs the server of another checkout (e.g. an older
commit from ``git worktree add``) against the same traffic.

Usage: .venv/bin/python benchmarks/soak.py [--messages 200000] [--ocpp 1.6] [--server-root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import proc_stats  # noqa: E402
from benchmarks.fuzz_frames import (  # noqa: E402
    ACCEPTED_PREFIX,
    PASSWORD,
    FuzzClient,
    Tally,
    start_server,
    stop_server,
)

type Message = tuple[str, dict[str, Any]]
METER_VALUES_PER_SESSION = 20
WH_PER_READING = 10
# A session's messages: two card swipes, its start, a status, its meter values, the whole
# charger's meter, its end, a status and a heartbeat (the same in every version).
MESSAGES_PER_SESSION = METER_VALUES_PER_SESSION + 8
# The charger's clock moves this much per message: its readings stay physically possible (the
# energy rules bound a rise by the charger's maximum power over the time between readings).
STEP_S = 10.0


class ChargerClock:
    """The timestamps the soak charger writes: from far enough back that the last message is
    sent at about our time (a clock ahead of ours would be taken as a wrong clock)."""

    def __init__(self, messages: int) -> None:
        self._at = datetime.now(UTC) - timedelta(seconds=messages * STEP_S)

    def now(self) -> str:
        return self._at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def advance(self) -> None:
        self._at += timedelta(seconds=STEP_S)


def _energy_16(clock: ChargerClock, wh: int) -> list[dict[str, Any]]:
    sample = {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    return [{"timestamp": clock.now(), "sampledValue": [sample]}]


def _energy_2x(
    clock: ChargerClock, wh: int, context: str = "Sample.Periodic"
) -> list[dict[str, Any]]:
    sample = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}
    return [{"timestamp": clock.now(), "sampledValue": [sample]}]


def traffic_16(client: SoakClient, clock: ChargerClock) -> Iterator[Message]:
    """1.6: a session after another; transaction ids come from the server's answers."""
    wh = 0
    for n in itertools.count():
        yield "Authorize", {"idTag": f"NO{n}"}  # a refused card: no start follows
        yield "Authorize", {"idTag": f"OK{n}"}
        start = {"connectorId": 1, "idTag": f"OK{n}", "meterStart": wh, "timestamp": clock.now()}
        yield "StartTransaction", start
        tx = client.last_answer.get("transactionId", 0)
        yield "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        for _ in range(METER_VALUES_PER_SESSION):
            wh += WH_PER_READING
            yield (
                "MeterValues",
                {"connectorId": 1, "transactionId": tx, "meterValue": _energy_16(clock, wh)},
            )
        # The whole charger's meter, sent with the session's id (read as its own, and warned).
        yield (
            "MeterValues",
            {"connectorId": 0, "transactionId": tx, "meterValue": _energy_16(clock, wh)},
        )
        yield "StopTransaction", {"transactionId": tx, "meterStop": wh, "timestamp": clock.now()}
        yield (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        )
        yield "Heartbeat", {}


def traffic_2x(clock: ChargerClock) -> Iterator[Message]:
    """2.x: the same sessions as TransactionEvents, numbered by one counter for all messages."""
    wh = 0
    seq = itertools.count()

    def event(kind: str, tx: str, trigger: str, **more: Any) -> Message:
        info = {"transactionId": tx, **more.pop("info", {})}
        payload = {
            "eventType": kind,
            "timestamp": clock.now(),
            "triggerReason": trigger,
            "seqNo": next(seq),
            "transactionInfo": info,
            **more,
        }
        return "TransactionEvent", payload

    def status(state: str) -> Message:
        next(seq)  # the station counts every message
        return "StatusNotification", {
            "timestamp": clock.now(),
            "connectorStatus": state,
            "evseId": 1,
            "connectorId": 1,
        }

    for n in itertools.count():
        next(seq)
        yield "Authorize", {"idToken": {"idToken": f"NO{n}", "type": "ISO14443"}}
        next(seq)
        yield "Authorize", {"idToken": {"idToken": f"OK{n}", "type": "ISO14443"}}
        tx = f"S{n}"
        yield event(
            "Started",
            tx,
            "Authorized",
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": f"OK{n}", "type": "ISO14443"},
            meterValue=_energy_2x(clock, wh, "Transaction.Begin"),
            info={"chargingState": "Charging"},
        )
        yield status("Occupied")
        for _ in range(METER_VALUES_PER_SESSION):
            wh += WH_PER_READING
            yield event("Updated", tx, "MeterValuePeriodic", meterValue=_energy_2x(clock, wh))
        next(seq)
        yield "MeterValues", {"evseId": 0, "meterValue": _energy_2x(clock, wh)}
        yield event(
            "Ended",
            tx,
            "EVCommunicationLost",
            meterValue=_energy_2x(clock, wh, "Transaction.End"),
            info={"stoppedReason": "EVDisconnected"},
        )
        yield status("Available")
        next(seq)
        yield "Heartbeat", {}


class SoakTally(Tally):
    """The fuzz's tally, with the answers other than CALLRESULT by action and code."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, int] = {}

    def note_error(self, action: str, answer: list[Any]) -> None:
        key = f"{action}: {answer[2]}"
        self.errors[key] = self.errors.get(key, 0) + 1
        if len(self.samples) < 10:
            self.samples.append(f"{key} {str(answer[3])[:200]}")


class SoakClient(FuzzClient):
    """A fuzzing charger's connection used for valid traffic: keeps the last answer's payload."""

    tally: SoakTally

    def __init__(self, base_url: str, version: str) -> None:
        super().__init__(base_url, f"{ACCEPTED_PREFIX}SOAK", PASSWORD, SoakTally(), version=version)
        self.last_answer: dict[str, Any] = {}

    async def send_message(self, action: str, payload: dict[str, Any]) -> None:
        answer = await self.call_ok(action, payload)
        self.tally.calls += 1
        if answer[0] != 3:
            self.tally.note_error(action, answer)
        self.last_answer = answer[2] if answer[0] == 3 else {}

    async def run(
        self, messages: int, every: int = 0, on_sample: Callable[[int], None] | None = None
    ) -> None:
        """Connect, send ``messages`` of the traffic, call ``on_sample(count)`` every ``every``."""
        await self.connect()
        clock = ChargerClock(messages)
        is_16 = self.version.subprotocol == "ocpp1.6"
        traffic = traffic_16(self, clock) if is_16 else traffic_2x(clock)
        for count, (action, payload) in enumerate(itertools.islice(traffic, messages), start=1):
            await self.send_message(action, payload)
            clock.advance()
            if on_sample is not None and count % every == 0:
                on_sample(count)
        await self.close()


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    server, port = await start_server(Path(args.server_root).resolve())
    client = SoakClient(f"ws://127.0.0.1:{port}", args.ocpp)
    samples: list[tuple[int, int]] = []
    started = time.monotonic()
    try:
        await client.run(
            args.messages,
            args.sample,
            lambda count: samples.append((count, proc_stats.rss_bytes(server.pid) or 0)),
        )
    finally:
        tracebacks = await stop_server(server)
    return {
        "ocpp": args.ocpp,
        "messages": args.messages,
        "seconds": round(time.monotonic() - started, 1),
        "samples": samples,
        "errors": client.tally.errors,
        "error_samples": client.tally.samples,
        "server_calls": client.tally.server_calls,
        "tracebacks": len(tracebacks),
    }


def second_half_growth(samples: list[tuple[int, int]]) -> float:
    """MiB per 100,000 messages from the middle sample to the last: one-off steps of the first
    half (a schema compiled for a CALL the server sends after a while) are not growth."""
    (middle, rss_middle), (last, rss_last) = samples[len(samples) // 2], samples[-1]
    return (rss_last - rss_middle) / 2**20 * 100_000 / max(1, last - middle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1", "2.1"), default="1.6")
    parser.add_argument("--sample", type=int, default=5_000, help="read the RSS every N messages")
    parser.add_argument("--server-root", default=str(ROOT), help="the checkout the server runs")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    samples = result["samples"]
    print(f"OCPP {result['ocpp']}: {result['messages']} messages in {result['seconds']} s")
    tenths = [samples[max(0, len(samples) * k // 10 - 1)] for k in range(1, 11)]
    print("server RSS (MiB) after " + ", ".join(f"{n}: {rss / 2**20:.1f}" for n, rss in tenths))
    print(f"growth over the second half: {second_half_growth(samples):+.2f} MiB per 100k messages")
    print(f"answers other than CALLRESULT: {result['errors'] or 'none'}")
    print(f"server CALLs answered: {result['server_calls']}; tracebacks: {result['tracebacks']}")
    for sample in result["error_samples"]:
        print("  " + sample)


if __name__ == "__main__":
    main()
