"""The charger's certificate signing request over OCPP, the same in every version (security
profiles 2 and 3), and the certificate service the server gives its sessions.

**The round** (1.6 security extension, 2.x A02 / A03): the charger sends SignCertificate with a
CSR (on its own, before its certificate expires, or asked with
:meth:`~..session.ChargerSession.request_new_client_certificate`). We answer at once: Accepted
when the server's :class:`~..session.CertificateService` (``SessionContext.certificates``) admits
it, else Rejected:

* no certificate authority is set up;
* the connection is not authenticated (neither its password nor a client certificate of ours):
  a certificate for a charger id must never go to whoever merely claims that id;
* the connection is not TLS (profile 1, plain ``ws://``): whoever read the password sent in clear,
  or relays the frames and swaps the CSR, would get a client certificate in the charger's name
  (:func:`csr_allowed_over`);
* the charger's last request is less than :data:`CSR_MIN_INTERVAL_S` ago, or its previous round
  still runs (a charger must not make us sign in a loop);
* (2.x) it asks for an ISO 15118 certificate: Plug & Charge is not offered.

Once the answer is on the wire (the route's ``after`` hook, never inside the handler), a session
task has the CA sign the CSR off the event loop and sends CertificateSigned. A CSR the CA refuses
(a common name other than the charger id, a signature that does not hold, a weak key ...) gets no
CertificateSigned: a WARNING in the log (the reason, never the CSR's text) and a security event
of ours (``source: "server"``). The charger tries again on its own (2.x: after
``CertSigningWaitMinimum``, at most ``CertSigningRepeatTimes``).

**The chain we send is the charger certificate alone.** Both specifications ask for the signed
certificate, followed by the sub-CA certificates between it and the root when there are any; the
root itself is not sent: the charger has it already (InstallCertificate of our CA as its CSMS
root certificate, :meth:`~..session.ChargerSession.install_root_certificate`), and our TLS
listener checks client certificates against it. Our CA is the root and signs charger certificates
directly (path length 0): there is nothing between the two. A service on another CA, with
intermediates, returns them after the leaf (:meth:`~..session.CertificateService.sign_csr`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.core.model import ConnectionSecurity
from custom_components.ocpp_ems.core.security.ca import (
    CHARGER_CERT_VALIDITY_DAYS,
    CertificateAuthority,
    CertificateError,
    CertificateInfo,
    load_certificate,
)
from custom_components.ocpp_ems.core.session import CertificateHashData

from .limits import Trust
from .rpc import Payload, Route

if TYPE_CHECKING:
    from .rpc_session import RpcSession

_LOGGER = logging.getLogger(__name__)

# At most one certificate signing request per charger in this time (server-wide).
CSR_MIN_INTERVAL_S = 60.0
# The only certificate we sign: the charger's TLS client certificate (2.x certificateType).
CHARGING_STATION_CERTIFICATE = "ChargingStationCertificate"
# Our security events (SECURITY_EVENT with ``source: "server"``).
CSR_REFUSED_EVENT = "CertificateSigningRefused"
CERTIFICATE_ISSUED_EVENT = "CertificateIssued"
# Longest refusal reason we log or put in an event (its text quotes the CSR's common name).
_DETAIL_CHARS = 200
# The throttle forgets chargers whose last request is older than its interval beyond this many.
_THROTTLE_KEEP = 256
_TRY_LATER = "TryLater"
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


def csr_allowed_over(security: ConnectionSecurity | None) -> bool:
    """Whether our CA takes a certificate signing request over a connection secured so: over TLS
    only (profile 2 or 3). On plain ``ws://`` the password travels in clear and the frames can be
    changed on the way, and the certificate would then let its holder in as the charger."""
    return security is not None and security.tls_version is not None


def certificate_hash_data(
    certificate: str | bytes | x509.Certificate,
    issuer: str | bytes | x509.Certificate | None = None,
    *,
    algorithm: str = "SHA256",
) -> CertificateHashData:
    """How a charger names ``certificate`` in GetInstalledCertificateIds / DeleteCertificate: the
    OCSP CertID of RFC 6960 (hashes of the issuer's name and key, the serial number in hex).
    ``issuer`` None: ``certificate`` is self-signed (a root, such as our CA)."""
    subject = load_certificate(certificate)
    signer = subject if issuer is None else load_certificate(issuer)
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(subject, signer, _HASHES[algorithm]()).build()
    )
    return CertificateHashData(
        hash_algorithm=algorithm,
        issuer_name_hash=request.issuer_name_hash.hex(),
        issuer_key_hash=request.issuer_key_hash.hex(),
        serial_number=f"{request.serial_number:x}",
    )


# --- the server's certificate service ------------------------------------------------------------
class CsrThrottle:
    """At most one certificate signing request per charger every ``interval_s`` seconds."""

    def __init__(
        self, interval_s: float = CSR_MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def admit(self, charger_id: str) -> bool:
        """True (and counted) when ``charger_id`` may have a request handled now."""
        now = self._clock()
        last = self._last.get(charger_id)
        if last is not None and now - last < self._interval_s:
            return False
        self._last[charger_id] = now
        if len(self._last) > _THROTTLE_KEEP:
            self._last = {key: at for key, at in self._last.items() if now - at < self._interval_s}
        return True


class AuthorityCertificates:
    """The :class:`~..session.CertificateService` on our :class:`CertificateAuthority` (or on the
    one ``authority()`` returns at the moment: the host creates it on first use). Charger
    certificates are valid ``validity_days``; requests are throttled per charger id."""

    def __init__(
        self,
        authority: CertificateAuthority | Callable[[], CertificateAuthority | None],
        *,
        throttle: CsrThrottle | None = None,
        validity_days: int = CHARGER_CERT_VALIDITY_DAYS,
    ) -> None:
        self._authority = (
            (lambda: authority) if isinstance(authority, CertificateAuthority) else authority
        )
        self._throttle = throttle or CsrThrottle()
        self._validity_days = validity_days

    def root_certificate_pem(self) -> str | None:
        authority = self._authority()
        return None if authority is None else authority.certificate_pem

    def admit_csr(self, charger_id: str) -> bool:
        return self._authority() is not None and self._throttle.admit(charger_id)

    def sign_csr(self, csr: str, charger_id: str) -> str:
        authority = self._authority()
        if authority is None:
            raise RuntimeError("The certificate authority went away")
        # The leaf alone: our CA is the root (see the module docstring).
        return authority.sign_csr(csr, charger_id, validity_days=self._validity_days).pem


# --- the round, per session ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Request:
    """An accepted request, waiting for its answer to be sent."""

    csr: str
    # What CertificateSigned carries besides the chain (2.x certificateType, 2.1 requestId).
    extra: Payload = field(default_factory=dict)


class CertificateSigning:
    """One session's certificate signing requests (see the module docstring)."""

    def __init__(self, session: RpcSession) -> None:
        self._session = session
        # This connection's, recorded by the server's handshake just before it made the session
        # (the charger's record is a newer connection's once one took over).
        self._over_tls = csr_allowed_over(session.charger.connection_security)
        self._accepted: _Request | None = None
        self._running: asyncio.Task[None] | None = None

    @property
    def _charger_id(self) -> str:
        return self._session.charger.charger_id

    def request(self, payload: Payload, *, typed: bool) -> Payload:
        """The answer to SignCertificate. ``typed``: 2.x (CertificateSigned names the certificate
        type, answers may carry ``statusInfo``); else 1.6."""
        wanted = payload.get("certificateType")
        refusal = self._refusal(wanted)
        if refusal is not None:
            reason, description = refusal
            # A charger that asks again and again is told TryLater: not worth a line each time.
            level = logging.DEBUG if reason == _TRY_LATER else logging.INFO
            _LOGGER.log(
                level, "%s: certificate signing request rejected: %s", self._charger_id, description
            )
            answer: Payload = {"status": "Rejected"}
            if typed:
                answer["statusInfo"] = {"reasonCode": reason, "additionalInfo": description}
            return answer
        extra: Payload = {"certificateType": CHARGING_STATION_CERTIFICATE} if typed else {}
        if "requestId" in payload:  # 2.1: CertificateSigned names the request it answers
            extra["requestId"] = payload["requestId"]
        self._accepted = _Request(csr=payload["csr"], extra=extra)
        return {"status": "Accepted"}

    def _refusal(self, wanted: str | None) -> tuple[str, str] | None:
        """(reason code, description) of a request we reject; None: accept it."""
        service = self._session.context.certificates
        if wanted not in (None, CHARGING_STATION_CERTIFICATE):
            return "NotSupported", f"{wanted} (ISO 15118 Plug & Charge) is not offered"
        if service is None:
            return "NoCA", "No certificate authority is set up"
        if self._session.trust is not Trust.AUTHENTICATED:
            return "NotAuthenticated", "The connection is not authenticated"
        if not self._over_tls:
            return "NotSecure", "The connection is not TLS (security profile 2 or 3)"
        busy = self._running is not None and not self._running.done()
        if busy or not service.admit_csr(self._charger_id):
            return _TRY_LATER, "Another request of it is too recent or still running"
        return None

    def after(self) -> None:
        """Our answer is on the wire: sign what we accepted and send it (a session task)."""
        accepted, self._accepted = self._accepted, None
        if accepted is not None:
            self._running = self._session.tasks.spawn(self._sign_and_send(accepted), "CSR")

    async def _sign_and_send(self, request: _Request) -> None:
        session = self._session
        service = session.context.certificates
        assert service is not None  # checked when the request was accepted
        try:
            chain = await asyncio.to_thread(service.sign_csr, request.csr, self._charger_id)
        except CertificateError as err:
            detail = f"{err.reason}: {str(err)[:_DETAIL_CHARS]}"
            _LOGGER.warning(
                "%s: refused its certificate signing request (%s)", self._charger_id, detail
            )
            session.state.record_server_security_event(CSR_REFUSED_EVENT, detail)
            return
        except Exception:
            _LOGGER.exception("%s: could not sign its certificate request", self._charger_id)
            return
        try:
            info = CertificateInfo.of(chain)
        except CertificateError:
            _LOGGER.error("%s: the certificate service returned no certificate", self._charger_id)
            return
        try:
            result = await session.send(
                "CertificateSigned", {"certificateChain": chain, **request.extra}
            )
        except OcppEmsError as err:
            _LOGGER.warning("%s: its new certificate was not delivered: %s", self._charger_id, err)
            return
        if result["status"] != "Accepted":
            reason = (result.get("statusInfo") or {}).get("reasonCode")
            _LOGGER.warning(
                "%s: refused the certificate we signed (serial %s)%s",
                self._charger_id,
                info.serial_number,
                f": {reason}" if reason else "",
            )
            return
        _LOGGER.info(
            "%s: installed its new certificate (serial %s, valid until %s)",
            self._charger_id,
            info.serial_number,
            info.not_valid_after.date().isoformat(),
        )
        session.state.record_server_security_event(
            CERTIFICATE_ISSUED_EVENT,
            f"serial {info.serial_number}, valid until {info.not_valid_after.isoformat()}",
        )


def sign_certificate_route[S: RpcSession](*, typed: bool) -> Route[S]:
    """The SignCertificate route of a version's table (``typed``: see
    :meth:`CertificateSigning.request`)."""

    def handle(session: S, payload: Payload) -> Payload:
        return session.certificate_signing.request(payload, typed=typed)

    def after(session: S, payload: Payload) -> None:
        session.certificate_signing.after()

    return Route(handle, after)
