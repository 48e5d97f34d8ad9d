"""Condition timers: "true for N seconds", reset by any break (as the reference does); and
:func:`earlier`, how every remembered time follows the wall clock going back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class HoldTimer:
    since: float | None = None

    def update(self, condition: bool, now: float, delay_s: float) -> bool:
        """Track ``condition`` and return True once it has held for ``delay_s`` without a break."""
        if not condition:
            self.since = None
            return False
        # (The wall clock going back moves ``since`` back with it: ``clock_went_back``, told by
        # the manager for every timer it keeps.)
        if self.since is None:
            self.since = now
        return now - self.since >= delay_s

    def clock_went_back(self, by_s: float) -> None:
        """The wall clock went back ``by_s``: the timer's start moves back with it (it runs on
        as if the clock had not moved)."""
        self.since = earlier(self.since, by_s)

    def due_at(self, delay_s: float) -> float | None:
        """When the running timer fires (None when it is not running)."""
        return None if self.since is None else self.since + delay_s

    def reset(self) -> None:
        self.since = None


def earlier(at: float | None, by_s: float) -> float | None:
    """A remembered time ``at`` once the wall clock went back ``by_s`` (None: none remembered)."""
    return None if at is None else at - by_s
