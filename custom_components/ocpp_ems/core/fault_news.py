"""Which fault is news: when a connector's status (or a 2.x station's problem) fires the FAULT
event. One fault gives one event, however the charger tells it:

- a fault appears (``Connector.fault``: a Faulted status, or a 1.6 error code on another
  status), or another code replaces it; a Faulted repeated without its code ("") or with the
  code it lacked is the same fault (chargers send the code in the first report only);
- a warning the charger went on with stops it now (Faulted with the same code), unless it was
  out of service already (Unavailable: a self-test between two Faulted); after a restart, as
  stored before it (``Connector.stopped_for_fault``: the fault it reports again is no news);
- not a connector's fault the charger as a whole (connector 0) reports too, or the other way
  round (one fault of a one-outlet charger, reported on both);
- not a 2.x Faulted status that a problem of its EVSE or of the station told already (the RCD
  tripped, then the connector Faulted);
- not a 2.x problem the station had at its boot and reports again (``problem_is_news``).
"""

from __future__ import annotations

from .model import Charger, Connector, ConnectorStatus


def same_fault(one: str, other: str) -> bool:
    """Whether two faults are one: the same code, or one of them without a code ("")."""
    return one == other or "" in (one, other)


def status_fault_is_news(
    charger: Charger, connector: Connector, before: str | None, *, stopped_before: bool
) -> bool:
    """Whether ``connector``'s fault, after a status that followed the fault ``before`` (with
    ``stopped_before``: ``Connector.fault`` and ``stopped_for_fault`` then), is news (see the
    module docstring)."""
    fault = connector.fault
    if fault is None:
        return False
    stops = connector.status is ConnectorStatus.FAULTED and not stopped_before
    if before is not None and same_fault(fault, before) and not stops:
        return False
    if connector.status is ConnectorStatus.FAULTED and _problems_told(charger, connector):
        return False
    return not _told_by_the_other_side(charger, connector, fault)


def problem_is_news(connector: Connector, component: str) -> bool:
    """Whether a problem of ``component``, not shown on ``connector`` until now, is news: not one
    the station had at its last boot (``Connector.problems_before_boot``)."""
    return connector.problems_before_boot.pop(component, None) is None


def _problems_told(charger: Charger, connector: Connector) -> bool:
    station = charger.connectors.get(0)
    return bool(connector.problems) or (station is not None and bool(station.problems))


def _told_by_the_other_side(charger: Charger, connector: Connector, fault: str) -> bool:
    """Whether the charger as a whole reports the outlet's fault, or an outlet the whole
    charger's."""
    if connector.connector_id == 0:
        others = list(charger.outlets)
    else:
        station = charger.connectors.get(0)
        others = [] if station is None else [station]
    return any(
        (other_fault := other.fault) is not None and same_fault(fault, other_fault)
        for other in others
    )
