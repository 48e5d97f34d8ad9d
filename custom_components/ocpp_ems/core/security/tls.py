"""The TLS side of the ``wss://`` listener (OCPP security profiles 2 and 3).

Protocol and cipher suites (OCPP 1.6 security whitepaper, OCPP 2.0.1 part 2 A00): TLS 1.2 or
newer (1.0 and 1.1 are refused at the handshake), and a server must offer

* TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, which
  need an **EC** server key, and
* TLS_RSA_WITH_AES_128_GCM_SHA256 and TLS_RSA_WITH_AES_256_GCM_SHA384 (for chargers without
  ECDSA), which need an **RSA** server key.

No single key serves both, so the context holds two certificates with the same names (an EC P-256
and an RSA 2048 one, see :meth:`.ca.CertificateAuthority.issue_server_certificates`): OpenSSL keeps
one certificate per key type and picks, per handshake, the one the negotiated suite (TLS 1.2) or
the client's signature algorithms (TLS 1.3) call for. Between them come the ECDHE-RSA suites
(forward secrecy for RSA-certificate clients that have ECDHE); the TLS 1.3 suites are OpenSSL's
defaults. Python's default server cipher list drops TLS_RSA: we set ours explicitly. A
user-provided certificate has one key: only the suites of its key type are then usable.

Client certificates are requested but optional at the TLS level (``CERT_OPTIONAL``): a profile-2
charger without one still connects. One that is presented must chain to our CA (the only trust
anchor) and be valid now, or OpenSSL ends the handshake with an alert; which charger id it may
be used for is decided at the HTTP handshake (:mod:`..handshake`).

A failed handshake is classified here (:func:`tls_failure`: a client certificate not from our CA
or expired, TLS older than 1.2, no TLS at all, a client that does not accept our certificate ...)
and reported by :mod:`..tls_listener`, which makes the listener's handshakes itself.

Renewal without restart: the listener takes a context *source*. A callable source is asked for the
current context at every TLS handshake (from the listener context's ``sni_callback``, which runs
for every ClientHello, with or without SNI), and the connection switches to it: a renewed server
certificate is used for new connections at once. Build contexts off the event loop
(:func:`build_server_context` reads the PEM through file descriptors); the source itself must
answer at once (return the context built last).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509

from .ca import ServerCredentials

_LOGGER = logging.getLogger(__name__)

TLS_MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
# The OCPP-mandated suites (IANA name -> OpenSSL name).
OCPP_REQUIRED_SUITES: dict[str, str] = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
# TLS 1.2 suites we offer, in our order of preference (forward secrecy first).
TLS12_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)

type TlsContextSource = ssl.SSLContext | Callable[[], ssl.SSLContext]
# A charger gets this long for its TLS handshake (as websockets' open_timeout for the HTTP one).
TLS_HANDSHAKE_TIMEOUT_S = 10.0


def build_server_context(
    credentials: ServerCredentials, *, client_ca_pem: str | None
) -> ssl.SSLContext:
    """The ``wss://`` listener's context: TLS 1.2+, the OCPP suites, every certificate of
    ``credentials``, and client certificates verified against ``client_ca_pem`` (our CA) when
    presented (None: none are asked for, so profile 3 is impossible).

    Blocking (OpenSSL reads the PEM from file descriptors): call it off the event loop."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_MINIMUM_VERSION
    context.set_ciphers(":".join(TLS12_CIPHERS))
    context.options |= (
        ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    )
    for certificate in credentials.certificates:
        _load_cert_chain(context, certificate.chain_pem, certificate.private_key_pem)
    if client_ca_pem is not None:
        context.load_verify_locations(cadata=client_ca_pem)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _load_cert_chain(context: ssl.SSLContext, chain_pem: str, key_pem: str) -> None:
    """``load_cert_chain`` from memory: Python's ssl reads only files. Linux: anonymous memory
    files (the key never touches a disk); elsewhere a private temporary directory, removed at
    once."""
    with _pem_files(chain_pem, key_pem) as (chain_path, key_path):
        context.load_cert_chain(chain_path, key_path)


@contextlib.contextmanager
def _pem_files(chain_pem: str, key_pem: str) -> Iterator[tuple[str, str]]:
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        descriptors: list[int] = []
        try:
            for name, data in (("chain", chain_pem), ("key", key_pem)):
                descriptor = os.memfd_create(f"ocpp_ems_{name}", os.MFD_CLOEXEC)
                descriptors.append(descriptor)
                os.write(descriptor, data.encode())
            yield f"/proc/self/fd/{descriptors[0]}", f"/proc/self/fd/{descriptors[1]}"
        finally:
            for descriptor in descriptors:
                os.close(descriptor)
        return
    with tempfile.TemporaryDirectory(prefix="ocpp_ems_tls_") as directory:  # mode 0700
        chain_path = Path(directory, "chain.pem")
        key_path = Path(directory, "key.pem")
        chain_path.write_text(chain_pem)
        key_path.touch(mode=0o600)
        key_path.write_text(key_pem)
        yield str(chain_path), str(key_path)


def listener_context(source: TlsContextSource) -> ssl.SSLContext:
    """The context a listener is created with. For a callable source: its current context, with an
    ``sni_callback`` that moves every new handshake to whatever context the source returns then.
    Either way the context's ``sni_callback`` (replacing one it had) and ``sslobject_class`` are
    ours: a failed handshake carries the host name the client asked for (:func:`tls_failure`)."""
    if isinstance(source, ssl.SSLContext):
        source.sslobject_class = _ListenerSSLObject
        source.sni_callback = _note_server_name
        return source
    context = source()
    latest = [context]

    def use_current(
        ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext
    ) -> None:
        _note_server_name(ssl_object, server_name, _context)
        try:
            latest[0] = source()
        except Exception:
            _LOGGER.exception("The TLS context source failed; its last context is used")
        if latest[0] is not ssl_object.context:
            ssl_object.context = latest[0]

    context.sslobject_class = _ListenerSSLObject
    context.sni_callback = use_current
    return context


class _ListenerSSLObject(ssl.SSLObject):
    """The server side of one listener handshake: a failure carries the host name the client
    asked for (SNI) to whoever reports it (:func:`tls_failure`)."""

    server_name_seen: str | None = None

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as err:
            err.ocpp_server_name = self.server_name_seen  # type: ignore[attr-defined]
            raise


def _note_server_name(
    ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext
) -> None:
    if isinstance(ssl_object, _ListenerSSLObject):
        ssl_object.server_name_seen = None if server_name is None else loggable_name(server_name)


# The longest DNS name; a longer SNI host name is shown escaped and cut.
_MAX_HOST_NAME = 253


def loggable_name(name: str) -> str:
    """A host name the peer chose, safe for one log line: as it came when printable and no
    longer than a DNS name, else escaped (line breaks and other controls as ``\\n``, ...) and
    cut to that length."""
    if name.isprintable() and len(name) <= _MAX_HOST_NAME:
        return name
    escaped = name.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= _MAX_HOST_NAME else escaped[: _MAX_HOST_NAME - 3] + "..."


class TlsFailureReason(StrEnum):
    """Why a TLS handshake on the ``wss://`` listener failed (translated in the HA layer)."""

    UNKNOWN_CA = "unknown_ca"  # a client certificate not issued by our CA
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    CERTIFICATE_INVALID = "certificate_invalid"  # any other verification failure
    VERSION_TOO_OLD = "tls_version_too_old"  # TLS 1.0 / 1.1 (or SSL)
    NO_SHARED_CIPHER = "no_shared_cipher"
    NOT_TLS = "not_tls"  # plain HTTP (ws:// to the TLS port) or other bytes
    # A ClientHello on the plain ws:// listener (a charger set up for wss:// on the wrong port).
    TLS_ON_PLAIN_PORT = "tls_on_plain_port"
    # An SNI host name that is not ASCII (Python cannot decode it: the handshake fails).
    BAD_SERVER_NAME = "bad_server_name"
    # The client refused our server certificate (it does not trust our CA, or wants other names).
    SERVER_CERTIFICATE_REFUSED = "server_certificate_refused"
    HANDSHAKE_FAILED = "handshake_failed"  # another TLS error
    # Counted, not reported: a port scan's connect-and-close, a client that never finishes.
    CLOSED = "closed"
    TIMEOUT = "timeout"


TLS_FAILURE_TEXT: dict[TlsFailureReason, str] = {
    TlsFailureReason.UNKNOWN_CA: "certificate not issued by our CA",
    TlsFailureReason.CERTIFICATE_EXPIRED: "certificate expired",
    TlsFailureReason.CERTIFICATE_NOT_YET_VALID: "certificate not valid yet (check its clock)",
    TlsFailureReason.CERTIFICATE_INVALID: "client certificate refused",
    TlsFailureReason.VERSION_TOO_OLD: "TLS version too old (1.2 or newer needed)",
    TlsFailureReason.NO_SHARED_CIPHER: "no cipher suite in common",
    TlsFailureReason.NOT_TLS: "not TLS (a ws:// or other client on the TLS port)",
    TlsFailureReason.TLS_ON_PLAIN_PORT: (
        "TLS on the plain ws:// port (a charger set up for wss:// needs the TLS port)"
    ),
    TlsFailureReason.BAD_SERVER_NAME: "the host name it asked for (SNI) is not ASCII",
    TlsFailureReason.SERVER_CERTIFICATE_REFUSED: (
        "it does not accept our server certificate (install our CA certificate in it)"
    ),
    TlsFailureReason.HANDSHAKE_FAILED: "TLS handshake failed",
    TlsFailureReason.CLOSED: "closed during the TLS handshake",
    TlsFailureReason.TIMEOUT: f"no TLS handshake within {TLS_HANDSHAKE_TIMEOUT_S:.0f} s",
}
UNREPORTED_TLS_FAILURES = frozenset({TlsFailureReason.CLOSED, TlsFailureReason.TIMEOUT})

# OpenSSL verify codes (X509_V_ERR_*) of a chain that does not lead to our CA.
_UNKNOWN_ISSUER_CODES = frozenset({2, 18, 19, 20, 21})
_VERIFY_CODES = {
    10: TlsFailureReason.CERTIFICATE_EXPIRED,
    9: TlsFailureReason.CERTIFICATE_NOT_YET_VALID,
}
# OpenSSL reason codes of the server side of a handshake.
_SSL_REASONS = {
    "UNSUPPORTED_PROTOCOL": TlsFailureReason.VERSION_TOO_OLD,
    "NO_SHARED_CIPHER": TlsFailureReason.NO_SHARED_CIPHER,
    "WRONG_VERSION_NUMBER": TlsFailureReason.NOT_TLS,
    "HTTP_REQUEST": TlsFailureReason.NOT_TLS,
    "HTTPS_PROXY_REQUEST": TlsFailureReason.NOT_TLS,
    "UNKNOWN_PROTOCOL": TlsFailureReason.NOT_TLS,
    "RECORD_LAYER_FAILURE": TlsFailureReason.NOT_TLS,
    "PACKET_LENGTH_TOO_LONG": TlsFailureReason.NOT_TLS,
    # Python's servername callback failed before ours: a host name it cannot decode.
    "CALLBACK_FAILED": TlsFailureReason.BAD_SERVER_NAME,
    "TLSV1_ALERT_UNKNOWN_CA": TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
    "SSLV3_ALERT_BAD_CERTIFICATE": TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
}


@dataclass(frozen=True, kw_only=True)
class TlsFailureCause:
    """What a failed handshake tells: the reason, OpenSSL's words, the SNI host name."""

    reason: TlsFailureReason
    detail: str
    server_name: str | None = None


def tls_failure(err: BaseException) -> TlsFailureCause:
    """Classify what a failed server-side TLS handshake raised."""
    server_name = getattr(err, "ocpp_server_name", None)
    reason = TlsFailureReason.HANDSHAKE_FAILED
    detail = str(err) or type(err).__name__
    if isinstance(err, ssl.SSLCertVerificationError):
        code = err.verify_code
        reason = (
            TlsFailureReason.UNKNOWN_CA
            if code in _UNKNOWN_ISSUER_CODES
            else _VERIFY_CODES.get(code, TlsFailureReason.CERTIFICATE_INVALID)
        )
        detail = str(err.verify_message)
    elif isinstance(err, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        reason = TlsFailureReason.CLOSED
    elif isinstance(err, ssl.SSLError):
        detail = str(err.reason)
        reason = _SSL_REASONS.get(detail, TlsFailureReason.HANDSHAKE_FAILED)
    elif isinstance(err, (TimeoutError, ConnectionAbortedError)):
        # asyncio ends a handshake that takes too long with ConnectionAbortedError.
        reason = TlsFailureReason.TIMEOUT
    elif isinstance(err, OSError):  # reset or closed by the peer
        reason = TlsFailureReason.CLOSED
    return TlsFailureCause(reason=reason, detail=detail, server_name=server_name)


@dataclass(frozen=True, kw_only=True)
class TlsPeer:
    """What the TLS layer knows of a connection's peer."""

    version: str | None  # "TLSv1.3"
    cipher: str | None
    # The client certificate (already verified against our CA by OpenSSL), or None.
    certificate: x509.Certificate | None


def tls_peer(ssl_object: object) -> TlsPeer | None:
    """The TLS facts of a connection (``transport.get_extra_info("ssl_object")``); None when the
    connection is not TLS."""
    if not isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    return TlsPeer(
        version=ssl_object.version(),
        cipher=None if cipher is None else cipher[0],
        certificate=None if der is None else x509.load_der_x509_certificate(der),
    )
