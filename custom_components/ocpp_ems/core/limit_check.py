"""Whether a charger applies the live limit we write (:mod:`.current_control`'s).

Two witnesses: the charger's composite schedule, asked a moment after each write, and its
Current.Offered readings while charging (higher than the limit: it ignores it; lower looks the
same as a cable or car limit). A live limit the charger refuses counts too (source
:data:`REFUSED`) until it takes one. A disagreement sets ``charger.limit.mismatch``, is logged
and emits LIMIT_MISMATCH; ``charger.limit.applied_a`` shows what the charger said it applies.
A charger that leaves the composite-schedule question unanswered is not asked again on that
connection (each question holds every other CALL back until it times out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .errors import CommandTimeoutError, OcppEmsError
from .limits import LimitRules
from .model import Charger, ChargerEvent, ChargingRateUnit, EventKind
from .session import ChargerSession

_LOGGER = logging.getLogger(__name__)

# Verification waits LimitCheck.verify_delay_s plus up to this fraction more, fixed per charger
# (pacing.phase): limits written to many chargers at once are not all read back at once.
VERIFY_SPREAD = 1.0
# Tolerance when comparing a limit with what the charger reports (A).
MISMATCH_TOLERANCE_A = 0.5
# The mismatch source of a live limit the charger refused.
REFUSED = "refused"

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


@dataclass(frozen=True, slots=True)
class WrittenLimit:
    """A live limit as written: ``amps``, sent in ``unit`` for ``phases``; its composite
    schedule is read on ``connector_id``."""

    connector_id: int
    amps: float
    unit: ChargingRateUnit
    phases: int


class LimitCheck:
    """Compares one charger's applied limit with the live limit written to it."""

    # Delays (s); class attributes so tests can shorten them.
    verify_delay_s: float = 2.0
    offered_grace_s: float = 30.0

    def __init__(
        self,
        charger: Charger,
        *,
        rules: Callable[[], LimitRules],
        session: Callable[[], ChargerSession | None],
        spawn: Spawn,
        phase: float,
    ) -> None:
        self._charger = charger
        self._rules = rules
        self._session = session
        self._spawn = spawn
        self._phase = phase
        self._task: asyncio.Task[None] | None = None
        # The charger left a GetCompositeSchedule unanswered on this connection.
        self._composite_unanswered = False
        # The mismatch shown is a refusal: the next limit taken clears it.
        self._mismatch_refused = False

    def written(self, session: ChargerSession, limit: WrittenLimit) -> None:
        """``limit`` was written: its composite schedule is read back a moment later. A limit
        taken ends a refusal's mismatch."""
        self.cancel()
        if self._mismatch_refused:
            self._report(False, {"source": REFUSED})  # verified anew, like any write
        self._task = self._spawn(self._verify(session, limit), "verify")

    def cancel(self) -> None:
        """The check of the write before is moot (a new one comes): its question (one CALL at a
        time) must not hold the new write back."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def drop_session(self) -> None:
        """The connection is gone: a new one is asked again."""
        self.cancel()
        self._composite_unanswered = False

    def refused(self, expected_a: float, status: str) -> None:
        """The charger refused the live limit of ``expected_a`` we keep for it."""
        self._report(True, {"expected_a": expected_a, "status": status, "source": REFUSED})

    def offered(self, expected_a: float, written_s_ago: float) -> None:
        """A charger offering more than the live limit of ``expected_a``, written
        ``written_s_ago`` (given time to apply it), ignores it (Current.Offered, while
        charging)."""
        if written_s_ago < self.offered_grace_s:
            return
        offered = [
            c.meter.offered_current_a
            for c in self._charger.outlets
            if c.status.charging and c.meter.offered_current_a is not None
        ]
        if not offered:
            return
        highest = max(offered)
        self._charger.limit.applied_a = highest
        self._report(
            highest > expected_a + MISMATCH_TOLERANCE_A,
            {"expected_a": expected_a, "applied_a": highest, "source": "current_offered"},
        )

    async def _verify(self, session: ChargerSession, limit: WrittenLimit) -> None:
        """Ask the charger what limit is in force now and compare."""
        await asyncio.sleep(self.verify_delay_s * (1 + VERIFY_SPREAD * self._phase))
        if self._composite_unanswered:
            return
        try:
            composite = await session.get_composite_limit(limit.connector_id, 60, limit.unit)
        except CommandTimeoutError:
            if self._session() is session:
                self._composite_unanswered = True
                _LOGGER.info(
                    "%s: does not answer GetCompositeSchedule; limits are checked with "
                    "Current.Offered only until it reconnects",
                    self._charger.charger_id,
                )
            return
        except OcppEmsError as err:
            _LOGGER.debug("%s: cannot verify the limit: %s", self._charger.charger_id, err)
            return
        if composite is None:
            return
        applied = self._rules().to_amps(composite, limit.unit, limit.phases)
        self._charger.limit.applied_a = round(applied, 1)
        self._report(
            abs(applied - limit.amps) > MISMATCH_TOLERANCE_A,
            {"expected_a": limit.amps, "applied_a": round(applied, 1), "source": "composite"},
        )

    def _report(self, mismatch: bool, data: dict[str, Any]) -> None:
        limit = self._charger.limit
        if mismatch == limit.mismatch:
            return
        limit.mismatch = mismatch
        self._mismatch_refused = mismatch and data["source"] == REFUSED
        if mismatch:
            if not self._mismatch_refused:  # a refusal is told with the write that failed
                _LOGGER.warning(
                    "%s: charger does not apply its limit: %s", self._charger.charger_id, data
                )
            self._charger.notify(ChargerEvent(kind=EventKind.LIMIT_MISMATCH, data=data))
        self._charger.notify()
