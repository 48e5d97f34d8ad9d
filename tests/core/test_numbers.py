"""Numbers from outside: stored JSON takes JSON numbers only, sensor and payload text may be
numeric; a bool, NaN or infinity is never a number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from custom_components.ocpp_ems.core.numbers import (
    day_numbers,
    finite_number,
    parse_number,
    quantile,
)


@pytest.mark.parametrize(
    ("value", "stored", "parsed"),
    [
        (3, 3.0, 3.0),
        (-2.5, -2.5, -2.5),
        ("4.5", None, 4.5),
        (" 7 ", None, 7.0),
        ("1e3", None, 1000.0),
        (Decimal("1.5"), None, 1.5),
        (True, None, None),
        (False, None, None),
        (float("nan"), None, None),
        (float("inf"), None, None),
        ("nan", None, None),
        ("-inf", None, None),
        ("1e999", None, None),
        pytest.param(10**400, None, None, id="an int too large for a float"),
        ("", None, None),
        ("12 kW", None, None),
        (None, None, None),
        ([1], None, None),
        ({"value": 1}, None, None),
    ],
)
def test_stored_and_parsed_numbers(value: Any, stored: float | None, parsed: float | None) -> None:
    assert finite_number(value) == stored
    assert parse_number(value) == parsed


def test_stored_day_numbers_keep_the_last_readable_pairs() -> None:
    items = [[1, 0.5], [2, "x"], ["3", 0.7], [4, -1.0], [5, True], [6, 2], "no", [7, 0.9, 1]]
    assert day_numbers(items, 14) == [(1, 0.5), (6, 2.0)]
    assert day_numbers(items, 1) == [(6, 2.0)]
    assert day_numbers(items, 0) == []
    assert day_numbers("not a list", 14) == []


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 0.5, 2.0),  # the median of an odd count
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),  # ...of an even one: between the middle two
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.25, 2.0),
        ([1.0, 2.0], 0.25, 1.25),  # linear between neighbours
        ([5.0], 0.9, 5.0),
        ([1.0, 9.0], 0.0, 1.0),
        ([1.0, 9.0], 1.0, 9.0),
    ],
)
def test_quantiles_are_linear_between_neighbours(
    values: list[float], q: float, expected: float
) -> None:
    assert quantile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0], 0.25, 1.0),  # the nearest rank: one of the values
        ([1.0, 2.0], 0.5, 2.0),  # halfway rounds up
        ([4.0, 1.0, 3.0, 2.0], 0.75, 3.0),  # rank 2.25 -> 2
        ([5.0], 0.9, 5.0),
        ([1.0, 9.0], 1.0, 9.0),
    ],
)
def test_nearest_rank_quantiles_are_one_of_the_values(
    values: list[float], q: float, expected: float
) -> None:
    assert quantile(values, q, nearest=True) == expected
