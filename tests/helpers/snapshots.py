"""Snapshot matchers for the Home Assistant tests."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.syrupy import (  # type: ignore[import-untyped]
    StateSnapshot,
)

# Session facts that are real times of the test run (the session started an hour before "now"):
# their states are checked in test_session_facts.py, not in the entity snapshots.
_REAL_TIME_SUFFIXES = ("_session_start", "_session_end", "_session_duration")
_NO_VALUE = ("unknown", "unavailable")


def real_time_states(data: Any, path: Any) -> Any:
    """A session start, end or duration state as ``<real time>`` (a value of the test run)."""
    if (
        not path
        and isinstance(data, StateSnapshot)
        and str(data.get("entity_id", "")).endswith(_REAL_TIME_SUFFIXES)
        and data.get("state") not in _NO_VALUE
    ):
        return StateSnapshot({**data, "state": "<real time>"})
    return data
