"""Frame logging: every frame at DEBUG on one logger, secrets redacted, free when DEBUG is off.

Enable it per integration with ``logger: logs: custom_components.ocpp_ems.core.protocol.wire:
debug`` (or the integration's "Enable debug logging"). The check for the level comes first, so a
frame is neither formatted nor redacted unless somebody reads it.
"""

from __future__ import annotations

import logging
import re

WIRE_LOGGER = logging.getLogger(__name__.rpartition(".")[0] + ".wire")

# Secret values inside frames: 1.6 ChangeConfiguration / GetConfiguration of AuthorizationKey
# (either field order); 2.x SetVariables / GetVariables results of SecurityCtrlr.BasicAuthPassword,
# whose value sits beside nested component / variable objects (either order; within one array
# element at most, a neighbour's value is rather redacted too than the password shown).
_VALUE = r'(?:[^"\\]|\\.)*'
_SECRET_IN_FRAME = (
    re.compile(r'("AuthorizationKey"[^{}]*?"value"\s*:\s*")[^"]*'),
    re.compile(r'("value"\s*:\s*")[^"]*("[^{}]*?"AuthorizationKey")'),
    re.compile(
        r'("BasicAuthPassword"(?:(?!"attributeValue")[^\[\]])*?"attributeValue"\s*:\s*")' + _VALUE
    ),
    re.compile(
        r'("attributeValue"\s*:\s*")'
        + _VALUE
        + r'("(?:(?!"attributeValue")[^\[\]])*?"BasicAuthPassword")'
    ),
)


def redact(text: str) -> str:
    """A frame with secret configuration values replaced by ``***`` (safe to log)."""
    for pattern in _SECRET_IN_FRAME:
        text = pattern.sub(
            lambda m: m.group(1) + "***" + (m.group(2) if m.lastindex == 2 else ""), text
        )
    return text


def log_frame(charger_id: str, direction: str, frame: str | bytes) -> None:
    """One frame at DEBUG (``direction``: "receive" or "send")."""
    if WIRE_LOGGER.isEnabledFor(logging.DEBUG):
        text = frame if isinstance(frame, str) else frame.decode(errors="replace")
        WIRE_LOGGER.debug("%s: %s %s", charger_id, direction, redact(text))
