"""Charger certificates renewed before they expire (profile 3).

A charger's client certificate from our CA lasts two years; a charger should ask for a new one by
itself, but not every firmware does. :func:`request_client_renewals` asks each connected charger
whose certificate (as presented at its last TLS handshake) ends within ``renew_before_days`` to send
a new certificate request (1.6 ExtendedTriggerMessage SignChargePointCertificate, 2.x TriggerMessage
SignChargingStationCertificate); the CA signs it like any other request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.session import ChargerSession

_LOGGER = logging.getLogger(__name__)

CLIENT_CERT_RENEW_BEFORE_DAYS = 30


async def request_client_renewals(
    chargers: Mapping[str, Charger],
    session: Callable[[str], ChargerSession | None],
    *,
    now: datetime | None = None,
    renew_before_days: float = CLIENT_CERT_RENEW_BEFORE_DAYS,
) -> list[str]:
    """Ask the connected chargers whose client certificate expires soon for a new one; the ids
    asked (a charger that refuses or is gone is logged and skipped)."""
    due_by = (now or datetime.now(UTC)) + timedelta(days=renew_before_days)
    asked: list[str] = []
    for charger_id, charger in chargers.items():
        security = charger.connection_security
        expires = None if security is None else security.certificate_expires
        if expires is None or expires > due_by or (live := session(charger_id)) is None:
            continue
        try:
            await live.request_new_client_certificate()
        except OcppEmsError as err:
            _LOGGER.warning("%s: could not ask for a new certificate: %s", charger_id, err)
            continue
        _LOGGER.info("%s: certificate expires %s; asked for a new one", charger_id, expires)
        asked.append(charger_id)
    return asked
