"""Charger certificates renewed before they expire (profile 3), and renewals that do not happen.

A charger's client certificate from our CA lasts two years; a charger should ask for a new one by
itself, but not every firmware does. :func:`request_client_renewals` asks each connected charger
whose certificate (as presented at its last TLS handshake) ends within ``renew_before_days`` to send
a new certificate request (1.6 ExtendedTriggerMessage SignChargePointCertificate, 2.x TriggerMessage
SignChargingStationCertificate); the CA signs it like any other request.

:class:`ClientRenewals` runs that daily (the host calls :meth:`ClientRenewals.check`) and follows the
outcome on the chargers' models: a renewal succeeded once the charger accepted the certificate we
signed (our ``CertificateIssued`` security event; it presents the new one from its next
connection). A charger whose certificate in use ends within :data:`CLIENT_CERT_RENEWAL_OVERDUE_DAYS`
without that (it sent no request, its request was refused, or it rejected CertificateSigned) is
*overdue* (:meth:`ClientRenewals.overdue`; Home Assistant raises a repair issue): after the expiry
it can no longer connect on profile 3.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.charger_state import SECURITY_EVENT_FROM_SERVER
from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.core.model import Charger, ChargerEvent, EventKind
from custom_components.ocpp_ems.core.protocol.certificates import (
    CERTIFICATE_ISSUED_EVENT,
    CSR_REFUSED_EVENT,
)
from custom_components.ocpp_ems.core.session import ChargerSession

if TYPE_CHECKING:
    from custom_components.ocpp_ems.core.server import CentralSystem

_LOGGER = logging.getLogger(__name__)

CLIENT_CERT_RENEW_BEFORE_DAYS = 30
# A certificate in use this close to its end, not renewed: the user must act (a week to do so).
CLIENT_CERT_RENEWAL_OVERDUE_DAYS = 7


async def request_client_renewals(
    chargers: Mapping[str, Charger],
    session: Callable[[str], ChargerSession | None],
    *,
    now: datetime | None = None,
    renew_before_days: float = CLIENT_CERT_RENEW_BEFORE_DAYS,
    skip: Callable[[str], bool] = lambda _charger_id: False,
) -> list[str]:
    """Ask the connected chargers whose client certificate expires soon for a new one (but not
    those ``skip`` names); the ids asked (a charger that refuses or is gone is logged and
    skipped)."""
    due_by = (now or datetime.now(UTC)) + timedelta(days=renew_before_days)
    asked: list[str] = []
    for charger_id, charger in chargers.items():
        expires = _certificate_expiry(charger)
        if (
            expires is None
            or expires > due_by
            or skip(charger_id)
            or (live := session(charger_id)) is None
        ):
            continue
        try:
            await live.request_new_client_certificate()
        except OcppEmsError as err:
            _LOGGER.warning("%s: could not ask for a new certificate: %s", charger_id, err)
            continue
        _LOGGER.info("%s: certificate expires %s; asked for a new one", charger_id, expires)
        asked.append(charger_id)
    return asked


def _certificate_expiry(charger: Charger) -> datetime | None:
    security = charger.connection_security
    return None if security is None else security.certificate_expires


def _certificate_serial(charger: Charger) -> str | None:
    security = charger.connection_security
    return None if security is None else security.certificate_serial


@dataclass(frozen=True, kw_only=True)
class OverdueRenewal:
    """A charger whose client certificate ends soon and was not renewed."""

    charger_id: str
    expires: datetime
    # How often we asked it for a new certificate since this server started.
    asked: int
    # Why its last certificate request was refused, if it was.
    refused: str | None


class ClientRenewals:
    """The renewal of one server's charger certificates (see the module docstring).

    Follows the models of ``central`` (also those created later) until :meth:`close`;
    ``on_change`` is called when a renewal succeeded or a request was refused."""

    def __init__(
        self,
        central: CentralSystem,
        *,
        on_change: Callable[[], None] = lambda: None,
        renew_before_days: float = CLIENT_CERT_RENEW_BEFORE_DAYS,
        overdue_days: float = CLIENT_CERT_RENEWAL_OVERDUE_DAYS,
    ) -> None:
        self._central = central
        self._on_change = on_change
        self._renew_before_days = renew_before_days
        self._overdue_days = overdue_days
        self._asked: dict[str, int] = {}
        self._refused: dict[str, str] = {}
        # Charger id -> serial of the certificate in use when it accepted its new one.
        self._renewed: dict[str, str | None] = {}
        self._stops: list[Callable[[], None]] = [central.add_charger_listener(self._follow)]
        for charger_id in list(central.chargers):
            self._follow(charger_id)

    def close(self) -> None:
        stops, self._stops = self._stops, []
        for stop in stops:
            stop()

    def _follow(self, charger_id: str) -> None:
        charger = self._central.charger(charger_id)
        self._stops.append(charger.add_listener(lambda event: self._on_event(charger, event)))

    def _on_event(self, charger: Charger, event: ChargerEvent | None) -> None:
        if (
            event is None
            or event.kind is not EventKind.SECURITY_EVENT
            or event.data.get("source") != SECURITY_EVENT_FROM_SERVER
        ):
            return
        charger_id = charger.charger_id
        if event.data.get("type") == CERTIFICATE_ISSUED_EVENT:
            self._renewed[charger_id] = _certificate_serial(charger)
            self._refused.pop(charger_id, None)
            self._asked.pop(charger_id, None)
        elif event.data.get("type") == CSR_REFUSED_EVENT:
            self._refused[charger_id] = str(event.data.get("tech_info") or "")
        else:
            return
        self._on_change()

    def _renewed_in_use(self, charger: Charger) -> bool:
        """It accepted a new certificate while presenting the one it still uses."""
        charger_id = charger.charger_id
        return charger_id in self._renewed and self._renewed[charger_id] == _certificate_serial(
            charger
        )

    async def check(self, *, now: datetime | None = None) -> list[str]:
        """Ask the chargers due for a new certificate (not those that have one waiting); the
        ids asked."""
        chargers = self._central.chargers
        asked = await request_client_renewals(
            chargers,
            self._central.session,
            now=now,
            renew_before_days=self._renew_before_days,
            skip=lambda charger_id: self._renewed_in_use(chargers[charger_id]),
        )
        for charger_id in asked:
            self._asked[charger_id] = self._asked.get(charger_id, 0) + 1
        return asked

    def overdue(self, *, now: datetime | None = None) -> list[OverdueRenewal]:
        """The chargers whose certificate in use ends within the overdue days, not renewed."""
        limit = (now or datetime.now(UTC)) + timedelta(days=self._overdue_days)
        found = []
        for charger_id, charger in self._central.chargers.items():
            expires = _certificate_expiry(charger)
            if expires is None or expires > limit or self._renewed_in_use(charger):
                continue
            found.append(
                OverdueRenewal(
                    charger_id=charger_id,
                    expires=expires,
                    asked=self._asked.get(charger_id, 0),
                    refused=self._refused.get(charger_id),
                )
            )
        return found
