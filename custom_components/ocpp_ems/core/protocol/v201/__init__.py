"""OCPP 2.0.1 and 2.1 adapter: translates 2.x messages into the version-agnostic charger model.

One package serves both versions (2.1 is a superset of 2.0.1 for everything a household charger
does): the route table and the commands are shared, each version has its own dialect (schemas).

Module map:
- :mod:`.session`: :class:`V201Session` / :class:`V21Session` and their dialects;
- :mod:`.handlers`: one function per incoming action (charging station -> CSMS) and the routing;
- :mod:`.transactions`: TransactionEvent (seqNo order, duplicates, gaps, offline replays, ended
  transactions, missing EVSE);
- :mod:`.station`: EVSE bookkeeping and the status mapping (connectorStatus + chargingState);
- :mod:`.commands`: every outgoing action (CSMS -> charging station);
- :mod:`.provisioning`: post-boot setup (device model), boot watchdog, Basic-auth password;
- :mod:`.device_model`: variables and their configuration keys, report reassembly, capabilities;
- :mod:`.charging_profiles`: a limit request -> SetChargingProfile payload (units, purposes).

The model's connector id is the 2.x EVSE id (a household charger has one connector per EVSE).
"""

from .session import V21Session, V201Session

__all__ = ["V21Session", "V201Session"]
