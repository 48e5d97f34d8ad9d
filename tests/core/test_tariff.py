"""Prices in the units price integrations publish, brought to currency per kWh."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.tariff import per_kwh_factor, price_per_kwh


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("EUR/kWh", 1.0),
        ("€/kWh", 1.0),
        ("SEK/kWh", 1.0),
        ("$/kWh", 1.0),
        ("ct/kWh", 0.01),
        ("c€/kWh", 0.01),
        ("Cent / kWh", 0.01),
        ("öre/kWh", 0.01),
        ("p/kWh", 0.01),
        ("¢/kWh", 0.01),
        ("EUR/MWh", 0.001),
        ("ct/MWh", 0.00001),
        ("EUR/Wh", 1000.0),
        (None, 1.0),
        ("", 1.0),
        ("  ", 1.0),
        ("EUR", None),
        ("EUR/h", None),
        ("/kWh", None),
        ("%", None),
        # A state attribute can hold anything: no text is no unit of a price.
        (123, None),
        (["EUR/kWh"], None),
    ],
)
def test_per_kwh_factor(unit: object, factor: float | None) -> None:
    assert per_kwh_factor(unit) == (None if factor is None else pytest.approx(factor))


@pytest.mark.parametrize(
    ("value", "unit", "price"),
    [
        ("0.30", "EUR/kWh", 0.30),
        (30, "ct/kWh", 0.30),
        ("300", "EUR/MWh", 0.30),
        ("-5.2", "EUR/MWh", -0.0052),  # negative spot prices are prices too
        ("unknown", "EUR/kWh", None),
        (None, "EUR/kWh", None),
        (True, "EUR/kWh", None),
        ("nan", "EUR/kWh", None),
        ("inf", "EUR/kWh", None),
        ("0.30", "EUR", None),
        ("0.30", 30, None),
    ],
)
def test_price_per_kwh(value: object, unit: object, price: float | None) -> None:
    assert price_per_kwh(value, unit) == (None if price is None else pytest.approx(price))


@pytest.mark.parametrize(
    ("unit", "currency", "price"),
    [
        ("SEK/kWh", "EUR", None),  # 2 SEK are no 2 EUR: no price rather than a wrong one
        ("sek/kWh", "SEK", 2.0),
        ("EUR/kWh", "eur", 2.0),
        ("ct/kWh", "EUR", 0.02),  # a minor unit names no currency
        ("cts/kWh", "EUR", 0.02),  # not even in three letters
        ("ore/kWh", "SEK", 0.02),
        ("€/kWh", "EUR", 2.0),  # nor does a symbol
        ("SEK/kWh", None, 2.0),  # no home currency given: as before
    ],
)
def test_a_price_in_another_currency_is_none(
    unit: str, currency: str | None, price: float | None
) -> None:
    assert price_per_kwh("2", unit, currency) == (None if price is None else pytest.approx(price))
