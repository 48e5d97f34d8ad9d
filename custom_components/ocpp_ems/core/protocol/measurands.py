"""Which measurands a charger samples: what we want, within what it accepts (every version).

1.6 keeps them in ``MeterValuesSampledData`` (at most ``MeterValuesSampledDataMaxLength``); 2.x in
``SampledDataCtrlr.TxUpdatedMeasurands`` and ``AlignedDataCtrlr.Measurands``, whose device-model
entry may list the supported values (``valuesList``) and the longest value (``maxLimit``). Where
the charger does not say what it supports, a rejected list is probed one measurand at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class MeasurandRules:
    """What a charger said about one measurand list (None: it did not say)."""

    max_items: int | None = None
    max_chars: int | None = None  # the comma-separated value's length
    supported: frozenset[str] | None = None

    def fit(self, measurands: Sequence[str]) -> list[str]:
        """The first measurands that fit the list's length limits."""
        items = list(measurands[: self.max_items] if self.max_items else measurands)
        while self.max_chars and items and len(",".join(items)) > self.max_chars:
            items.pop()
        return items


async def negotiate_measurands(
    wanted: Sequence[str],
    current: Sequence[str],
    *,
    rules: MeasurandRules,
    rejected: Collection[str],
    write: Callable[[str], Awaitable[bool]],
) -> frozenset[str]:
    """Make the charger sample ``wanted`` (in that order of priority) as far as it can.

    ``write(value)`` sets the list and says whether the charger accepted it. Nothing is written
    when the charger samples the target already, or when none of ``wanted`` is possible (its
    current list stays). Returns ``rejected`` plus the measurands found unsupported by probing
    (those outside ``rules.supported`` are only skipped: the next charger may take them)."""
    unsupported = set(rejected)
    wanted = [
        m
        for m in dict.fromkeys(wanted)
        if m not in unsupported and (rules.supported is None or m in rules.supported)
    ]
    target = rules.fit(wanted)
    if not target or set(target) == set(current) or await write(",".join(target)):
        return frozenset(unsupported)
    # Rejected as a whole: find out which measurands it supports (what it samples now is known
    # good), then set those. Probing changes the list, so always finish with a final value.
    supported = [m for m in wanted if m in current or await write(m)]
    unsupported |= set(wanted) - set(supported)
    final = ",".join(rules.fit(supported) or current)
    if not final or not await write(final):
        await write(",".join(current))
    return frozenset(unsupported)
