"""Fair sharing of limited resources (fuse headroom per phase, solar power) between chargers.

Rules: every claimant gets its minimum before anyone gets more (in priority order, so the lowest
priority is the one paused when even the minimums do not fit), then the rest is shared equally
("water filling"), higher priorities filled first. Pure functions over plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Claim:
    """One charger asking for ``demand`` units (>= ``minimum``) that use ``resources``.

    ``resources`` maps a resource name (e.g. "L1") to units of it used per unit granted.
    """

    key: str
    minimum: float
    demand: float
    resources: Mapping[str, float]
    priority: int = 0


def water_fill(
    extras: Mapping[str, float],
    resources: Mapping[str, Mapping[str, float]],
    capacity: Mapping[str, float],
) -> dict[str, float]:
    """Raise every claimant by the same amount until it has its extra or a resource runs out."""
    granted = dict.fromkeys(extras, 0.0)
    left = {name: max(0.0, cap) for name, cap in capacity.items()}
    active = {k for k, extra in extras.items() if extra > _EPS}
    while active:
        step = min(extras[k] - granted[k] for k in active)
        for name, cap in left.items():
            load = sum(resources[k].get(name, 0.0) for k in active)
            if load > _EPS:
                step = min(step, cap / load)
        if step > _EPS:
            for k in active:
                granted[k] += step
                for name, per_unit in resources[k].items():
                    if name in left:
                        left[name] -= step * per_unit
        saturated = {
            k
            for k in active
            if extras[k] - granted[k] <= _EPS
            or any(left.get(name, 1.0) <= _EPS for name, u in resources[k].items() if u > 0)
        }
        if not saturated:  # pragma: no cover - step hit a bound, so something saturated
            break
        active -= saturated
    return granted


def share(claims: Sequence[Claim], capacity: Mapping[str, float]) -> dict[str, float]:
    """Grant each claim 0 (its minimum did not fit) or a value in [minimum, demand].

    Claims are taken in the given order within a priority: callers put running chargers first, so a
    new car does not push out one that is already charging.
    """
    left = dict(capacity)
    granted: dict[str, float] = {}
    fitted: set[str] = set()
    ordered = sorted(claims, key=lambda c: -c.priority)  # stable: keeps the caller's order
    for claim in ordered:
        fits = claim.demand > _EPS and all(
            left.get(name, float("inf")) + _EPS >= claim.minimum * per_unit
            for name, per_unit in claim.resources.items()
        )
        if fits:
            fitted.add(claim.key)
            granted[claim.key] = claim.minimum
            for name, per_unit in claim.resources.items():
                if name in left:
                    left[name] -= claim.minimum * per_unit
        else:
            granted[claim.key] = 0.0
    for priority in sorted({c.priority for c in ordered}, reverse=True):
        group = [c for c in ordered if c.priority == priority and c.key in fitted]
        extras = {c.key: max(0.0, c.demand - c.minimum) for c in group}
        fill = water_fill(extras, {c.key: c.resources for c in group}, left)
        for claim in group:
            granted[claim.key] += fill[claim.key]
            for name, per_unit in claim.resources.items():
                if name in left:
                    left[name] -= fill[claim.key] * per_unit
    return granted
