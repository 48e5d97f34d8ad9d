"""A seeded subset of the frame fuzz benchmark (benchmarks/fuzz_frames.py) against the real server.

Every CALL gets exactly one answer, no connection is closed by payload, and nothing is logged with a
traceback. The full run (>= 100,000 frames, RSS and latency) is the benchmark itself.
"""

from __future__ import annotations

import logging
import random

import pytest

from benchmarks.fuzz_frames import (
    ACCEPTED_PREFIX,
    PASSWORD,
    FuzzDirectory,
    fuzz_connections,
)
from benchmarks.fuzz_payloads import VERSIONS
from custom_components.ocpp_ems.core.protocol.limits import LIMITS, Trust
from custom_components.ocpp_ems.core.protocol.rpc import Dialect
from custom_components.ocpp_ems.core.protocol.v16.handlers import ROUTES as ROUTES_16
from custom_components.ocpp_ems.core.protocol.v16.session import DIALECT as DIALECT_16
from custom_components.ocpp_ems.core.protocol.v201.handlers import ROUTES as ROUTES_2X
from custom_components.ocpp_ems.core.protocol.v201.session import DIALECT_21, DIALECT_201

from .conftest import MakeCentral


@pytest.mark.parametrize(
    ("version", "seed", "hostile"),
    [("1.6", 11, 0.0), ("1.6", 12, 0.5), ("2.0.1", 13, 0.5), ("2.1", 14, 0.5)],
)
async def test_fuzz_subset(
    make_central: MakeCentral,
    caplog: pytest.LogCaptureFixture,
    version: str,
    seed: int,
    hostile: float,
) -> None:
    """Hostile frames; with ``hostile``, that share of the server's own CALLs is answered hostile
    too (a broken answer, a CALLERROR, none, twice, under another id)."""
    caplog.set_level(logging.INFO)
    central = await make_central(directory_=FuzzDirectory())
    base_url = f"ws://127.0.0.1:{central.port}"
    accepted = await fuzz_connections(
        base_url,
        [f"{ACCEPTED_PREFIX}{i}" for i in range(3)],
        PASSWORD,
        1500,
        seed,
        0,
        version=version,
        hostile_answers=hostile,
    )
    pending = await fuzz_connections(
        base_url,
        ["FUZZ-P0"],
        None,
        12,
        seed,
        0,
        max_frame=LIMITS[Trust.PENDING].hard_frame_bytes - 1024,
        version=version,
    )
    for tally in (accepted, pending):
        assert tally.refused_handshakes == 0
        assert tally.unanswered == 0, tally.samples
        assert tally.answered_twice == 0
        assert tally.closed_by_payload == {}, tally.samples
        assert tally.closed_by_size_limit == 0
    assert accepted.calls > 1000
    # The valid frames reach the handlers: most are answered with a CALLRESULT (the rest by the
    # handlers' own errors, e.g. a meter value for a transaction that never started).
    answers = accepted.valid_answers
    assert answers.get("CALLRESULT", 0) > 0.5 * sum(answers.values()), answers
    assert set(accepted.by_kind) >= {
        "field_type",
        "semantic",
        "stray",
        "broken_json",
        "duplicate",
        "deep",
    }
    assert accepted.server_calls > 0  # the set-up after each boot
    if hostile:
        assert sum(accepted.hostile_answers.values()) > 0
    tracebacks = [r for r in caplog.records if r.exc_info is not None and r.exc_info[0]]
    assert tracebacks == []


@pytest.mark.parametrize(
    ("version", "dialect", "routes"),
    [
        ("1.6", DIALECT_16, ROUTES_16),
        ("2.0.1", DIALECT_201, ROUTES_2X),
        ("2.1", DIALECT_21, ROUTES_2X),
    ],
)
def test_every_handled_action_is_fuzzed_from_a_valid_payload(
    version: str, dialect: Dialect, routes: dict[str, object]
) -> None:
    fuzz = VERSIONS[version]
    assert set(fuzz.actions) == set(routes)  # a new handler needs a payload here
    rng = random.Random(3)
    for action in fuzz.actions:
        for _ in range(20):
            dialect.schemas.check_request(action, fuzz.template(action, rng), ours=True)
