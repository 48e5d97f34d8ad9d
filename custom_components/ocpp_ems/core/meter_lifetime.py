"""The charger's lifetime energy total (``Charger.lifetime_energy``) from its registers.

The register of record is connector 0 (the whole charger) once it has a meter, else the outlets';
both sides keep a balance so that nothing is counted twice (:func:`count_lifetime`). Which
register's rise is how much energy is :mod:`.meter`'s.
"""

from __future__ import annotations

from .model import Charger, Connector


def count_lifetime(
    charger: Charger, connector: Connector, register_wh: float, credit: float, *, fresh: bool
) -> None:
    """Add ``credit`` Wh of ``connector`` (``fresh``: its first value, with no base to count
    from) to the lifetime total.

    The register of record is connector 0 (the whole charger) once it has a meter, else the
    outlets'. Outlets count also beside connector 0 (one that reported once, answering a
    TriggerMessage, and never again must not stop the total), and both sides keep a balance
    (``outlets_ahead_wh``): each one's rise adds only what exceeds what the other counted ahead
    of it, in whichever order they report, so nothing is counted twice. Connector 0's lead ends
    with the outlets' sessions (:func:`settle_lifetime_balance`: by then they reported all they
    took; what remains is the charger's own use, which no outlet reports and which must not hold
    back the outlets once connector 0 falls silent).
    """
    counter = charger.lifetime_energy
    if not counts_for_lifetime(charger, connector):
        ahead = counter.outlets_ahead_wh
        counter.total_wh += credit - min(credit, max(0.0, -ahead))
        counter.outlets_ahead_wh = ahead + credit
        return
    if connector.connector_id == 0:
        ahead = 0.0 if fresh else counter.outlets_ahead_wh  # starting over: nothing to match
        counter.outlets_ahead_wh = ahead - credit
        credit -= min(credit, max(0.0, ahead))
    if (
        counter.last_register_wh is None
        and counter.total_wh == 0.0
        and sole_lifetime_source(charger, connector)
    ):
        counter.total_wh = register_wh  # the charger's own total from the start
    else:
        counter.total_wh += credit
    counter.last_register_wh = register_wh
    counter.last_register_at = connector.meter.energy_timestamp


def settle_lifetime_balance(charger: Charger) -> None:
    """No outlet has a session open (one just ended, its stop value applied): the outlets have
    reported what they took, so what connector 0 counted beyond them is its own use, never
    theirs to make up (``count_lifetime``)."""
    counter = charger.lifetime_energy
    if counter.outlets_ahead_wh < 0.0 and all(c.transaction is None for c in charger.outlets):
        counter.outlets_ahead_wh = 0.0


def counts_for_lifetime(charger: Charger, connector: Connector) -> bool:
    """Whether ``connector``'s register is the lifetime's register of record: connector 0 (the
    whole charger) when it has a meter, else every outlet."""
    if connector.connector_id == 0:
        return True
    main = charger.connectors.get(0)
    return main is None or main.meter.energy_register_wh is None


def sole_lifetime_source(charger: Charger, connector: Connector) -> bool:
    """Whether this connector's register is the charger's total (not one outlet of several)."""
    return connector.connector_id == 0 or len(charger.outlets) <= 1
