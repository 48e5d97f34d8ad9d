"""What every version's outgoing half shares: feature names, value parsing, payload helpers.

Feature names are the 1.6 feature-profile names (``Capabilities.supported_profiles``); a 2.x
adapter derives the same names from its device model, so the rest of the core gates features
(smart charging, the local list, reservations) without knowing the version.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from custom_components.ocpp_ems.core.errors import CommandRejectedError

_LOGGER = logging.getLogger(__name__)

CORE = "Core"
FIRMWARE = "FirmwareManagement"
LOCAL_AUTH = "LocalAuthListManagement"
RESERVATION = "Reservation"
SMART_CHARGING = "SmartCharging"
REMOTE_TRIGGER = "RemoteTrigger"

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


def capped_local_list(
    charger_id: str, id_tags: Sequence[str], limits: Iterable[int | None]
) -> list[str]:
    """The id tags a charger can take: the first ones within the smallest of ``limits``
    (None or 0: no limit), with a warning when some are left out."""
    limit = min((n for n in limits if n), default=None)
    if limit is None or len(id_tags) <= limit:
        return list(id_tags)
    _LOGGER.warning(
        "%s: local list holds %s id tags; sending the first %s", charger_id, len(id_tags), limit
    )
    return list(id_tags[:limit])
