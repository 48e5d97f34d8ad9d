"""What the 2.x adapter keeps about a station's EVSEs, and how it maps them onto the model.

The model's connector id is the 2.x EVSE id. A 2.x station reports two things the model's
:class:`~...model.ConnectorStatus` combines:

- StatusNotification: per (EVSE, connector) ``connectorStatus`` Available / Occupied / Reserved /
  Unavailable / Faulted. An EVSE with several connectors (a socket and a cable) is the most
  telling of them: Occupied > Reserved > Available > Faulted > Unavailable (a car on one
  connector is what matters; one faulted connector does not make the EVSE unusable);
- TransactionEvent: the running transaction's ``chargingState`` Charging / SuspendedEV /
  SuspendedEVSE / EVConnected / Idle.

Combined (:func:`model_status`): Occupied + Charging -> CHARGING, + SuspendedEV -> SUSPENDED_EV,
+ SuspendedEVSE -> SUSPENDED_EVSE, + EVConnected -> PREPARING (connected, no energy offered yet),
+ Idle or no transaction -> PREPARING (a car plugged in without energy: what 1.6 calls Preparing,
so the HA side looks the same for both versions), or FINISHING once the EVSE's transaction ended
while the car is still plugged in. A charging state newer than an Available status wins (the station
reported the car before its status); Reserved, Unavailable and Faulted win over it.
Both kinds are ordered by the station's timestamps: an older report never overwrites a newer one.

:class:`StationState` outlives a connection (``Charger.protocol_state``): a reconnect without a
new StatusNotification keeps what the station said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.meter_time import Reception, clock_step_s, reception
from custom_components.ocpp_ems.core.model import Charger, ConnectorStatus

_KEY = "ocpp2"

_CONNECTOR_STATUS = {
    "Occupied": ConnectorStatus.PREPARING,
    "Reserved": ConnectorStatus.RESERVED,
    "Available": ConnectorStatus.AVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
}
# Most telling first (see the module docstring).
_PRECEDENCE = tuple(_CONNECTOR_STATUS)
_CHARGING_STATE = {
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "EVConnected": ConnectorStatus.PREPARING,
}


@dataclass(kw_only=True)
class Evse:
    """One EVSE as the station reported it."""

    # connector id -> (connectorStatus, as of)
    connectors: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    # The running transaction's chargingState and its time (None: no transaction / not said).
    charging_state: tuple[str, datetime] | None = None
    # The EVSE's transaction ended while a car was plugged in (FINISHING until it leaves).
    finished: bool = False
    # What a transaction's end implies while the station never sent a StatusNotification:
    # Available when the car left (EVDisconnected), else Occupied.
    implied: tuple[str, datetime] | None = None
    # The time of the newest report about this EVSE: its combined status holds as of then.
    as_of: datetime | None = None
    # When the newest report arrived, by our clock and our monotonic clock.
    _received: Reception = (None, None)

    def seen(self, at: datetime) -> None:
        if self.as_of is None or at > self.as_of:
            self.as_of = at

    def report_arrives(self) -> None:
        """A report arrives: the stamps kept move back as far as our clock went back since the
        last one (an NTP correction; ``meter_time.clock_step_s``, as ``later_s`` orders a 1.6 status). A
        station that stamps by our clock reports an hour "before" its report of a minute ago
        then: news, which the stamps kept would drop as out of order."""
        got = reception(None)
        back_s = -min(clock_step_s(self._received, got), 0.0)
        if back_s > 0.0:
            self._restamp(lambda at: at - timedelta(seconds=back_s))
        self._received = got

    def clock_set(self, now: datetime) -> None:
        """Stamps ahead of ``now`` pulled back (:class:`~...model.ClockStamped`)."""
        self._restamp(lambda at: min(at, now))

    def _restamp(self, move: Callable[[datetime], datetime]) -> None:
        """Every stamp kept, moved as ``move`` says."""
        self.connectors = {
            connector_id: (name, move(at)) for connector_id, (name, at) in self.connectors.items()
        }
        if self.charging_state is not None:
            self.charging_state = (self.charging_state[0], move(self.charging_state[1]))
        if self.implied is not None:
            self.implied = (self.implied[0], move(self.implied[1]))
        if self.as_of is not None:
            self.as_of = move(self.as_of)

    def status(self) -> tuple[str, datetime] | None:
        """The EVSE's connector status: its most telling connector's (see the module docstring),
        as of the newest report of any of its connectors."""
        reported = self.connectors.values()
        if not reported:
            return self.implied
        names = {status for status, _ in reported}
        name = next(name for name in _PRECEDENCE if name in names)
        return name, max(at for _, at in reported)


@dataclass(kw_only=True)
class StationState:
    """The adapter's memory of one station (see the module docstring)."""

    evses: dict[int, Evse] = field(default_factory=dict)
    # Transactions not booked yet: their EVSE is not known, or they began before the one running
    # there; their events, oldest first (transactions.py).
    held: dict[str, list[Any]] = field(default_factory=dict)
    # Of those, the ones that began before the one running there: history, held until they end.
    held_past: set[str] = field(default_factory=set)

    def evse(self, evse_id: int) -> Evse:
        return self.evses.setdefault(evse_id, Evse())

    def clock_set(self, now: datetime) -> None:
        """The station was told the time (:class:`~...model.ClockStamped`)."""
        for evse in self.evses.values():
            evse.clock_set(now)


def station_state(charger: Charger) -> StationState:
    """The 2.x bookkeeping of ``charger`` (created on first use, kept across connections)."""
    state = charger.protocol_state.get(_KEY)
    if not isinstance(state, StationState):
        state = StationState()
        charger.protocol_state[_KEY] = state
    return state


def model_status(evse: Evse) -> tuple[ConnectorStatus, datetime] | None:
    """The model's status of an EVSE and the time it holds as of (None: nothing reported)."""
    reported = evse.status()
    charging = evse.charging_state
    charging_status = None if charging is None else _CHARGING_STATE.get(charging[0])
    if reported is None:
        if charging is None or charging_status is None:
            return None
        return charging_status, evse.as_of or charging[1]
    name, at = reported
    as_of = evse.as_of or at
    if (
        charging is not None
        and charging_status is not None
        and (name == "Occupied" or (name == "Available" and charging[1] > at))
    ):
        return charging_status, as_of
    if name == "Occupied":
        return (ConnectorStatus.FINISHING if evse.finished else ConnectorStatus.PREPARING), as_of
    return _CONNECTOR_STATUS[name], as_of


def report_connector(
    charger: Charger, evse_id: int, connector_id: int, status: str, at: datetime
) -> bool:
    """A StatusNotification; False when older than what the connector reported already."""
    evse = station_state(charger).evse(evse_id)
    evse.report_arrives()
    known = evse.connectors.get(connector_id)
    if known is not None and at < known[1]:
        return False
    evse.connectors[connector_id] = (status, at)
    evse.seen(at)
    if status == "Available":
        evse.finished = False  # the car left
    return True


def report_charging_state(
    charger: Charger, evse_id: int, state: str | None, at: datetime, *, unplugged: bool = False
) -> None:
    """A TransactionEvent's chargingState; None: the transaction ended (``unplugged``: because the
    car left)."""
    evse = station_state(charger).evse(evse_id)
    evse.report_arrives()
    evse.seen(at)
    if state is None:
        if not evse.connectors:
            evse.implied = ("Available" if unplugged else "Occupied", at)
        reported = evse.status()
        evse.finished = reported is not None and reported[0] == "Occupied"
        evse.charging_state = None
        return
    if evse.charging_state is None or at >= evse.charging_state[1]:
        evse.charging_state = (state, at)
        evse.finished = False


def apply_status(state: ChargerState, evse_id: int) -> None:
    """Write an EVSE's combined status into the model (see :func:`model_status`)."""
    combined = model_status(station_state(state.charger).evse(evse_id))
    if combined is not None:
        status, as_of = combined
        state.record_status(evse_id, status, timestamp=as_of)


def resolve_evse(charger: Charger) -> int | None:
    """The EVSE a transaction that names none must be on, when only one can be (else None).

    Candidates are the EVSEs the station reported and those its device model counts. One
    candidate: that one. Several: the only one with a car plugged in and no transaction."""
    candidates = {c.connector_id for c in charger.outlets}
    candidates.update(range(1, charger.capabilities.number_of_connectors + 1))
    if len(candidates) == 1:
        return next(iter(candidates))
    evses = station_state(charger).evses
    free = [
        evse_id
        for evse_id in sorted(candidates)
        if _plugged_without_transaction(charger, evses.get(evse_id), evse_id)
    ]
    return free[0] if len(free) == 1 else None


def _plugged_without_transaction(charger: Charger, evse: Evse | None, evse_id: int) -> bool:
    connector = charger.connectors.get(evse_id)
    if evse is None or (connector is not None and connector.transaction is not None):
        return False
    reported = evse.status()
    return reported is not None and reported[0] == "Occupied"
