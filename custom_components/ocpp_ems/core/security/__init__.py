"""OCPP security profiles 2 and 3: our certificate authority (:mod:`.ca`) and the TLS context of
the ``wss://`` listener (:mod:`.tls`). The checks at the HTTP handshake live in
:mod:`..handshake`."""

from __future__ import annotations

from .ca import (
    CA_VALIDITY_DAYS,
    CHARGER_CERT_VALIDITY_DAYS,
    SERVER_CERT_RENEW_BEFORE_DAYS,
    SERVER_CERT_VALIDITY_DAYS,
    CertificateAuthority,
    CertificateError,
    CertificateErrorReason,
    CertificateInfo,
    IssuedCertificate,
    ServerCertificate,
    ServerCredentials,
    fingerprint_sha256,
    server_renewal_due,
)
from .tls import (
    OCPP_REQUIRED_SUITES,
    TLS12_CIPHERS,
    TlsContextSource,
    TlsPeer,
    build_server_context,
    listener_context,
    tls_peer,
)

__all__ = [
    "CA_VALIDITY_DAYS",
    "CHARGER_CERT_VALIDITY_DAYS",
    "OCPP_REQUIRED_SUITES",
    "SERVER_CERT_RENEW_BEFORE_DAYS",
    "SERVER_CERT_VALIDITY_DAYS",
    "TLS12_CIPHERS",
    "CertificateAuthority",
    "CertificateError",
    "CertificateErrorReason",
    "CertificateInfo",
    "IssuedCertificate",
    "ServerCertificate",
    "ServerCredentials",
    "TlsContextSource",
    "TlsPeer",
    "build_server_context",
    "fingerprint_sha256",
    "listener_context",
    "server_renewal_due",
    "tls_peer",
]
