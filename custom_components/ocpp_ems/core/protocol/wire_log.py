"""Frame logging: every frame on one logger, secrets and id tags redacted, free when nobody reads
it.

Off by default. Two ways on: the logger at DEBUG (``logger: logs: custom_components.ocpp_ems.frames:
debug``, or the integration's "Enable debug logging"), or a server's "Log OCPP frames" option
(``always``: its chargers' frames at INFO whatever the log levels say, so no YAML is needed). The
check comes first, so a frame is neither formatted nor redacted unless somebody reads it.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict

from .common import SECRET_NAME_PATTERN

# A child of the integration's logger with a short name: custom_components.ocpp_ems.frames.
WIRE_LOGGER = logging.getLogger(__name__.partition(".core.")[0] + ".frames")

REDACTED = "***"

# Names whose value is a secret: 1.6 AuthorizationKey; 2.x SecurityCtrlr.BasicAuthPassword; and
# any other password a charger keeps (a vendor's Wi-Fi or APN password, 2.1's network profiles).
_SECRET_NAME = f'"(?:{SECRET_NAME_PATTERN})"'
# A JSON string's content (escaped quotes included).
_VALUE = r'(?:[^"\\]|\\.)*'
# A secret value sits beside its name: 1.6 ChangeConfiguration / GetConfiguration ("key" and
# "value", either order); 2.x SetVariables / GetVariables ("attributeValue" beside nested component /
# variable objects, either order). Within one array element at most: a neighbour's value is rather
# redacted too than the password shown. The gap is bounded (an element is short): unbounded, a
# frame of many names took seconds per 64 kB (each name scanned to the frame's end).
_GAP = "{0,400}?"
_NEAR = r"(?:(?!\"(?:attributeValue|value)\")[^\[\]{}])" + _GAP
_NEAR_NESTED = r"(?:(?!\"attributeValue\")[^\[\]])" + _GAP
_SECRET_IN_FRAME = (
    re.compile(_SECRET_NAME + _NEAR + r'"value"\s*:\s*"(' + _VALUE + ")"),
    re.compile(r'"value"\s*:\s*"(' + _VALUE + ')"' + _NEAR + _SECRET_NAME),
    re.compile(_SECRET_NAME + _NEAR_NESTED + r'"attributeValue"\s*:\s*"(' + _VALUE + ")"),
    re.compile(r'"attributeValue"\s*:\s*"(' + _VALUE + ')"' + _NEAR_NESTED + _SECRET_NAME),
    # A password field of its own (2.1 NetworkConnectionProfile basicAuthPassword, apnPassword).
    re.compile(_SECRET_NAME + r'\s*:\s*"(' + _VALUE + ")"),
)
# 2.x NotifyReport: the values sit in the variable's "variableAttribute" array, after or before
# its name. One charger writes its entries in one order: the first order found is the frame's (the
# other would take the neighbouring entry's values).
_ATTRIBUTES = r'"variableAttribute"\s*:\s*\[([^\[\]]*)\]'
_SECRET_ATTRIBUTES = (
    re.compile(_SECRET_NAME + r"[^\[\]]" + _GAP + _ATTRIBUTES),
    re.compile(_ATTRIBUTES + r"[^\[\]]" + _GAP + _SECRET_NAME),
)
_ATTRIBUTE_VALUE = re.compile(r'"value"\s*:\s*"(' + _VALUE + ")")
# Id tags (1.6 idTag / parentIdTag, 2.x idToken / additionalIdToken): a card's number, enough
# to copy a card that only its number proves. Hidden like the secrets; the user finds them in
# the sessions log, the events and the authorization list.
_ID_TAG = re.compile(r'"(?:idTag|parentIdTag|idToken|additionalIdToken)"\s*:\s*"(' + _VALUE + ")")
# Only names that may hold a secret (or an id tag) send the frame through the patterns.
_MAY_HOLD_SECRET = re.compile(r"AuthorizationKey|[Pp]assword")
_MAY_HOLD_ID_TAG = re.compile(r"[iI]d(?:Tag|Token)")

# Secrets seen in frames are also hidden wherever else they turn up: a charger that quotes the
# password it refuses in a CALLERROR's description, or in a SetVariables result's additionalInfo.
# Shorter values are not hidden by value (they would blank out unrelated text).
_MIN_REMEMBERED = 8
_MAX_REMEMBERED = 256


class _SeenSecrets:
    """The most recent secret values seen in frames (see above), newest last."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()

    def remember(self, value: str) -> None:
        for form in _forms(value):
            if len(form) < _MIN_REMEMBERED:
                continue
            self._values[form] = None
            self._values.move_to_end(form)
        while len(self._values) > _MAX_REMEMBERED:
            self._values.popitem(last=False)

    def hide(self, text: str) -> str:
        if not self._values:
            return text
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text


def _forms(value: str) -> list[str]:
    """A secret as a frame carries it and as a charger may quote it: a 1.6 AuthorizationKey is
    the hex of the Basic-auth password, which it may quote decoded."""
    forms = [value]
    try:
        decoded = bytes.fromhex(value).decode()
    except ValueError:
        return forms
    if decoded.isprintable():
        forms.append(decoded)
    return forms


_SEEN = _SeenSecrets()


def _without_value(match: re.Match[str]) -> str:
    """The match with its value group replaced."""
    start, end = match.span(1)
    whole = match.group(0)
    offset = match.start(0)
    return whole[: start - offset] + REDACTED + whole[end - offset :]


def _hide_match(match: re.Match[str]) -> str:
    """The match with its secret value replaced (and remembered)."""
    _SEEN.remember(match.group(1))
    return _without_value(match)


def _hide_attributes(match: re.Match[str]) -> str:
    start, end = match.span(1)
    whole = match.group(0)
    offset = match.start(0)
    attributes = _ATTRIBUTE_VALUE.sub(_hide_match, match.group(1))
    return whole[: start - offset] + attributes + whole[end - offset :]


def redact(text: str) -> str:
    """A frame (or any text quoting one) with secret values and id tags replaced by ``***``
    (safe to log, and to share)."""
    if _MAY_HOLD_SECRET.search(text):
        for pattern in _SECRET_ATTRIBUTES:
            text, found = pattern.subn(_hide_attributes, text)
            if found:
                break
        for pattern in _SECRET_IN_FRAME:
            text = pattern.sub(_hide_match, text)
    if _MAY_HOLD_ID_TAG.search(text):
        text = _ID_TAG.sub(_without_value, text)
    return _SEEN.hide(text)


def log_frame(charger_id: str, direction: str, frame: str | bytes, *, always: bool = False) -> None:
    """One frame (``direction``: "receive" or "send"): at DEBUG when the logger is at DEBUG, else
    at INFO when ``always`` (the server's option), past the logger's level."""
    debug = WIRE_LOGGER.isEnabledFor(logging.DEBUG)
    if not (debug or always):
        if direction == "send" and isinstance(frame, str) and _MAY_HOLD_SECRET.search(frame):
            # Not logged, but the secret it sends is learnt: the answer may quote it where it
            # is logged (a dropped or stray answer, whatever the frames log says).
            redact(frame)
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
