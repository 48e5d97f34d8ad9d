"""What every version's outgoing half shares: feature names, value parsing, payload helpers.

Feature names are the 1.6 feature-profile names (``Capabilities.supported_profiles``); a 2.x
adapter derives the same names from its device model, so the rest of the core gates features
(smart charging, the local list, reservations) without knowing the version.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Capabilities
from custom_components.ocpp_ems.core.settings import ChargerSettings, is_id_tag

_LOGGER = logging.getLogger(__name__)

CORE = "Core"
FIRMWARE = "FirmwareManagement"
LOCAL_AUTH = "LocalAuthListManagement"
RESERVATION = "Reservation"
SMART_CHARGING = "SmartCharging"
REMOTE_TRIGGER = "RemoteTrigger"


def offers(feature: str, settings: ChargerSettings, capabilities: Capabilities) -> bool:
    """Whether a CALL of ``feature`` may go out: smart charging as the charger's limit rules say
    (the user may force it on or off), any other as the charger reported (not yet known: try)."""
    if feature == SMART_CHARGING:
        return LimitRules(settings, capabilities).smart_charging
    supported = capabilities.supported_profiles
    return feature == CORE or not supported or feature in supported


# A configuration key or device-model variable whose value is a secret (never stored in the
# model, shown in diagnostics, nor logged): 1.6 AuthorizationKey, 2.x BasicAuthPassword, and any
# password a charger keeps under its own name (a vendor's Wi-Fi or APN password). The frames
# log's pattern of such names (wire_log.py) follows this rule.
SECRET_NAME_PATTERN = r"AuthorizationKey|[A-Za-z_]*[Pp]assword[A-Za-z_]*"


def names_a_secret(name: str) -> bool:
    """Whether a configuration key's or a variable's name (without component) holds a secret."""
    return name == "AuthorizationKey" or "password" in name.casefold()


# ChangeAvailability, the same in every version: Scheduled = once the running transaction ended.
AVAILABILITY_OK = ("Accepted", "Scheduled")


def availability(operative: bool) -> str:
    """ChangeAvailability's type (1.6) / operationalStatus (2.x)."""
    return "Operative" if operative else "Inoperative"


def expect_status(
    action: str, result: Mapping[str, Any], accepted: Sequence[str] = ("Accepted",)
) -> str:
    """The answer's status; :class:`CommandRejectedError` (with the charger's reason code, when
    it gave one: 2.x ``statusInfo``) unless it is ``accepted``."""
    status = str(result.get("status"))
    if status not in accepted:
        reason = (result.get("statusInfo") or {}).get("reasonCode")
        raise CommandRejectedError(action, f"{status}: {reason}" if reason else status)
    return status


def csv(value: str | None) -> list[str]:
    """A comma-separated list (some firmware uses ';' or spaces)."""
    if not value:
        return []
    return [item for item in re.split(r"[,;\s]+", value) if item]


def int_or_none(value: str | None) -> int | None:
    """An integer configuration value; None when absent or not a number."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def spans(ranges: Sequence[tuple[int, int]]) -> str:
    """Inclusive number ranges for a log line: ``[(3, 3), (5, 9)]`` as "3, 5-9"."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def without_none(payload: dict[str, Any]) -> dict[str, Any]:
    """Optional fields left out rather than sent as null (the schemas do not allow null)."""
    return {key: value for key, value in payload.items() if value is not None}


# The longest id tag each version's messages carry: 1.6 idTag (CiString20Type), 2.0.1 idToken (36),
# 2.1 idToken (255). Users may enter up to ID_TAG_MAX_ENTERED: every 2.x station takes those.
ID_TAG_MAX_LENGTH = {"1.6": 20, "2.0.1": 36, "2.1": 255}
ID_TAG_MAX_ENTERED = 36


@dataclass(frozen=True)
class LocalListUpdate:
    """One SendLocalList message: its update type, list version and id tags."""

    update_type: str  # "Full" or "Differential"
    version: int
    id_tags: list[str]


def local_list_updates(
    charger_id: str,
    id_tags: Sequence[str],
    version: int,
    *,
    max_length: int,
    storage: int | None,
    per_message: int | None,
) -> list[LocalListUpdate]:
    """The messages that give a charger the local list ``id_tags`` of ``version``.

    Tags this version cannot carry (longer than ``max_length``, not printable ASCII) are left out,
    so the others still get there; the list is capped at what the charger can store (``storage``;
    None or 0: no limit), with a warning for each. A list longer than one message (``per_message``,
    None or 0: no limit) is a Full update with the first part, then Differential updates adding the
    rest: their versions count up to ``version``, which only the last one carries (a list cut off
    midway is sent again, its version being unequal)."""
    sendable = [tag for tag in id_tags if is_id_tag(tag, max_length)]
    if left_out := [tag for tag in id_tags if not is_id_tag(tag, max_length)]:
        _LOGGER.warning(
            "%s: id tags left out of the local list (this OCPP version takes printable ASCII of at "
            "most %s characters): %s",
            charger_id,
            max_length,
            ", ".join(repr(tag) for tag in left_out),
        )
    if storage and len(sendable) > storage:
        _LOGGER.warning(
            "%s: local list holds %s id tags; sending the first %s (the charger stores no more)",
            charger_id,
            len(sendable),
            storage,
        )
        sendable = sendable[:storage]
    size = per_message or len(sendable) or 1
    chunks = [sendable[i : i + size] for i in range(0, len(sendable), size)] or [[]]
    first = max(1, version - len(chunks) + 1)
    return [
        LocalListUpdate(
            "Full" if i == 0 else "Differential",
            version if i == len(chunks) - 1 else first + i,
            chunk,
        )
        for i, chunk in enumerate(chunks)
    ]
