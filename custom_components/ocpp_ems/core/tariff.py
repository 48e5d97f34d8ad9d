"""Energy prices as price integrations publish them, brought to one unit: currency per kWh.

Price sensors differ in their unit: ``EUR/kWh`` (Tibber, Nord Pool), ``ct/kWh`` or ``c€/kWh``
(aWATTar, EPEX Spot), ``EUR/MWh`` (ENTSO-E day-ahead), ``SEK/kWh`` and ``öre/kWh`` (Nordic),
``p/kWh`` (UK). A session's cost is in the currency's main unit, so a price in cents is divided by
100 and a price per MWh by 1000. A unit this module cannot read gives no price rather than a cost
off by a factor of 100 or 1000.
"""

from __future__ import annotations

import re

from .numbers import parse_number

# Per what energy the price is given: how many kWh that is.
_ENERGY_KWH = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0}
# Sub-units of currencies (1/100 of the main unit), as price integrations write them.
_MINOR_UNITS = frozenset(
    {"ct", "cts", "cent", "cents", "c", "c€", "€c", "¢", "öre", "ore", "øre", "p", "pence", "rp"}
)
_SPACES = re.compile(r"\s+")
# An ISO 4217 code (EUR, SEK ...), as the unit's money part is written in (case-folded).
_CURRENCY_CODE = re.compile(r"[a-z]{3}")


def per_kwh_factor(unit: object, currency: str | None = None) -> float | None:
    """What a price in ``unit`` is multiplied by to be in main currency units per kWh.

    No unit: the price is taken as per kWh in the main unit (what most sensors without a unit
    mean). None when the unit is no price per energy (``EUR``, ``EUR/h``, ``%``), no text at all
    (a state attribute can hold anything), or names a currency code other than ``currency`` (the
    cost would be shown in the wrong currency)."""
    if unit is None:
        return 1.0
    if not isinstance(unit, str):
        return None
    if not unit.strip():
        return 1.0
    money, slash, energy = _SPACES.sub("", unit).casefold().partition("/")
    if not slash or not money:
        return None
    per = _ENERGY_KWH.get(energy)
    if per is None:
        return None
    if money in _MINOR_UNITS:
        return 0.01 / per
    if currency is not None and _CURRENCY_CODE.fullmatch(money) and money != currency.casefold():
        return None
    return 1.0 / per


def price_per_kwh(value: object, unit: object, currency: str | None = None) -> float | None:
    """A price sensor's state in main currency units per kWh (None when it is not a price: no
    number, not finite, a unit that is no price per energy, or in another currency than
    ``currency``, when given)."""
    number = parse_number(value)
    factor = per_kwh_factor(unit, currency)
    if number is None or factor is None:
        return None
    return number * factor
