"""The simulated wallbox of ``scripts/simulate_charger.py``, in OCPP 1.6J, 2.0.1 or 2.1.

- :mod:`.model`: the car, the meter, the installed charging profiles and the limit they give,
  the state file (every version);
- :mod:`.station`: the behaviour (connection, boot, plug in, charge, leave) on version hooks;
- :mod:`.v16`: the 1.6 messages; :mod:`.v201`: the 2.0.1 and 2.1 messages, with the device model
  of :mod:`.device_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from .station import Station

VERSIONS = ("1.6", "2.0.1", "2.1")


def make_station(args: argparse.Namespace) -> Station:
    """The station for ``args.ocpp`` (default 1.6)."""
    version = getattr(args, "ocpp", "1.6")
    if version == "1.6":
        from .v16 import Station16

        return Station16(args)
    from .v201 import Station21, Station201

    if version == "2.0.1":
        return Station201(args)
    if version == "2.1":
        return Station21(args)
    raise ValueError(f"OCPP {version}: not one of {', '.join(VERSIONS)}")
