"""Frame logging: every frame on one logger, secrets redacted, free when nobody reads it.

Off by default. Two ways on: the logger at DEBUG (``logger: logs: custom_components.ocpp_ems.frames:
debug``, or the integration's "Enable debug logging"), or a server's "Log OCPP frames" option
(``always``: its chargers' frames at INFO whatever the log levels say, so no YAML is needed). The
check comes first, so a frame is neither formatted nor redacted unless somebody reads it.
"""

from __future__ import annotations

import logging
import re

# A child of the integration's logger with a short name: custom_components.ocpp_ems.frames.
WIRE_LOGGER = logging.getLogger(__name__.partition(".core.")[0] + ".frames")

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


def log_frame(charger_id: str, direction: str, frame: str | bytes, *, always: bool = False) -> None:
    """One frame (``direction``: "receive" or "send"): at DEBUG when the logger is at DEBUG, else
    at INFO when ``always`` (the server's option), past the logger's level."""
    debug = WIRE_LOGGER.isEnabledFor(logging.DEBUG)
    if not (debug or always):
        return
    text = frame if isinstance(frame, str) else frame.decode(errors="replace")
    args = (charger_id, direction, redact(text))
    if debug:
        WIRE_LOGGER.debug("%s: %s %s", *args)
    else:
        # handle() skips the level check (the logger may be at WARNING) but keeps the filters.
        WIRE_LOGGER.handle(
            WIRE_LOGGER.makeRecord(
                WIRE_LOGGER.name, logging.INFO, __file__, 0, "%s: %s %s", args, None
            )
        )
