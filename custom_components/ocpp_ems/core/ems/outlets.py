"""Which outlets of a station share its limit: its limit (a charger-wide TxDefault profile) holds
for each outlet, so the station draws that many times the limit written. The energy manager
decides the station's current for them and writes it divided among them (``driver.py``).

An outlet shares the limit when its car takes it, or soon will:

- its own meter shows current (at least :data:`DRAWING_A`), whatever its status says (a station
  whose status lags: it reported the car full and the car draws);
- it charges; or it is held at 0 A by the station (SuspendedEVSE), unless its car was seen full
  (SuspendedEV) in this session: OCPP 1.6 reports SuspendedEVSE for every plugged car while the
  station offers nothing, the full one too, and counting it doubled the hungry car's start
  threshold in the sun (it never started: 2.8 kWh exported in 30 minutes);
- it is plugged into a session begun with a card we accepted (the car starts once the station
  enabled it); not one a 2.x station opened at plug-in, before any card (its car may wait for one
  for hours: the charging car got half meanwhile);
- its car stopped taking current by itself (SuspendedEV) less than :data:`LEAVE_S` ago: a car
  near full pauses and resumes every few seconds, and counting each change wrote the limit anew
  every time (60 writes a minute at a 1-s toggle) with the fuse over at every resume (the car
  takes the whole limit until its half lands).

Not a car in a session with a card we refused: that session is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from custom_components.ocpp_ems.core.model import Charger, Connector, ConnectorStatus

# An outlet whose meter shows at least this much current (A, on a line) draws.
DRAWING_A = 1.0
# How long a car that stopped taking current by itself still counts (s).
LEAVE_S = 60.0


@dataclass
class _OutletMemory:
    # The session in which the car was seen full (SuspendedEV).
    full_in: str | None = None
    # Since when the car takes nothing by itself (SuspendedEV); None: it does not.
    left_at: float | None = None


@dataclass
class SharingOutlets:
    """The outlets that share each station's limit (see the module docstring), with what was
    seen of them."""

    _memory: dict[tuple[str, int], _OutletMemory] = field(default_factory=dict)

    def count(self, charger: Charger, now: float) -> int:
        """How many of ``charger``'s outlets share its limit at ``now``, at least one."""
        outlets = charger.outlets
        if len(outlets) < 2:
            return 1  # (nothing to divide: nothing to remember)
        sharing = sum(
            1 for connector in outlets if self._shares(charger.charger_id, connector, now)
        )
        return max(1, sharing)

    def next_change_at(self, now: float) -> float | None:
        """When a car that stopped taking current stops counting (None: none will)."""
        return min(
            (
                ends
                for memory in self._memory.values()
                if memory.left_at is not None and (ends := memory.left_at + LEAVE_S) > now
            ),
            default=None,
        )

    def forget(self, charger_id: str) -> None:
        for key in [key for key in self._memory if key[0] == charger_id]:
            del self._memory[key]

    def _shares(self, charger_id: str, connector: Connector, now: float) -> bool:
        memory = self._memory.setdefault((charger_id, connector.connector_id), _OutletMemory())
        transaction = connector.transaction
        session = None if transaction is None else transaction.transaction_id
        status = connector.status
        if status is not ConnectorStatus.SUSPENDED_EV:
            memory.left_at = None
        elif memory.left_at is None:
            memory.left_at = now
        if status is ConnectorStatus.SUSPENDED_EV and session is not None:
            memory.full_in = session
        elif status is ConnectorStatus.CHARGING or memory.full_in != session:
            memory.full_in = None
        if transaction is not None and not transaction.authorized:
            return False
        drawn = connector.meter.current_a.max()
        if drawn is not None and drawn >= DRAWING_A:
            return True
        if status is ConnectorStatus.CHARGING:
            return True
        if status is ConnectorStatus.SUSPENDED_EVSE:
            return session is None or memory.full_in != session
        if status is ConnectorStatus.SUSPENDED_EV:
            return memory.left_at is not None and now - memory.left_at < LEAVE_S
        return (
            status is ConnectorStatus.PREPARING
            and transaction is not None
            and transaction.id_tag is not None
        )
