"""OCPP 1.6J adapter: translates 1.6 messages into the version-agnostic charger model and back.

Module map (details in docs/architecture.md):
- :mod:`.session`: :class:`V16Session`, the connection lifecycle and the outgoing-call gate;
- :mod:`.handlers`: one function per incoming action (charger -> central system) and the routing;
- :mod:`.commands`: every outgoing action (central system -> charger);
- :mod:`.provisioning`: post-boot setup, boot watchdog, Basic-auth password;
- :mod:`.charging_profiles`: a limit request -> SetChargingProfile payload;
- :mod:`.capabilities`: feature profiles and capabilities from configuration keys.
"""

from custom_components.ocpp_ems.core.protocol.wire_log import redact

from .capabilities import capabilities_from_configuration
from .charging_profiles import build_limit_profile
from .handlers import PENDING_RETRY_S
from .session import OCPP_VERSION, V16Session

__all__ = [
    "OCPP_VERSION",
    "PENDING_RETRY_S",
    "V16Session",
    "build_limit_profile",
    "capabilities_from_configuration",
    "redact",
]
