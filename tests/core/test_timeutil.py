"""Defensive timestamp parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from custom_components.ocpp_ems.core.timeutil import (
    format_timestamp,
    parse_optional_timestamp,
    parse_timestamp,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-01T11:00:00Z", datetime(2025, 6, 1, 11, 0, tzinfo=UTC)),
        ("2025-06-01T11:00:00z", datetime(2025, 6, 1, 11, 0, tzinfo=UTC)),
        ("2025-06-01T11:00:00+02:00", datetime(2025, 6, 1, 9, 0, tzinfo=UTC)),
        ("2025-06-01T11:00:00", datetime(2025, 6, 1, 11, 0, tzinfo=UTC)),  # naive = UTC
        ("2025-06-01T11:00:00.5Z", datetime(2025, 6, 1, 11, 0, 0, 500000, tzinfo=UTC)),
        ("2025-06-01T11:00:00.123456789Z", datetime(2025, 6, 1, 11, 0, 0, 123456, tzinfo=UTC)),
        (" 2025-06-01 11:00:00Z ", datetime(2025, 6, 1, 11, 0, tzinfo=UTC)),
        (datetime(2025, 6, 1, 11, 0), datetime(2025, 6, 1, 11, 0, tzinfo=UTC)),
        (
            datetime(2025, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 1, 11, 0, tzinfo=UTC),
        ),
        ("2025-06-01T12:30:00Z", datetime(2025, 6, 1, 12, 30, tzinfo=UTC)),  # slightly ahead: ok
    ],
)
def test_parse_valid(value: object, expected: datetime) -> None:
    assert parse_timestamp(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "2025-13-45T99:00:00Z",
        12345,
        "1970-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
        "2025-06-01T14:00:00Z",
    ],
)
def test_parse_unusable_is_now(value: object) -> None:
    assert parse_timestamp(value, now=NOW) == NOW


def test_parse_without_now_uses_clock() -> None:
    before = datetime.now(UTC)
    assert parse_timestamp("garbage") >= before


def test_optional() -> None:
    assert parse_optional_timestamp(None) is None
    assert parse_optional_timestamp("1970-01-01T00:00:00Z") is None
    assert parse_optional_timestamp("2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)


def test_format() -> None:
    value = datetime(2025, 6, 1, 13, 0, 0, 123999, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(value) == "2025-06-01T12:00:00.123Z"
