"""Test-side PKI: what a charger does on its own (keys, CSRs) and foreign certificates.

The CA under test is :class:`~custom_components.ocpp_ems.core.security.ca.CertificateAuthority`;
everything here is the other party's doing, made with ``cryptography`` directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from custom_components.ocpp_ems.core.security.ca import certificate_pem, private_key_pem


def _hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    """Ed25519 signs without a separate hash."""
    return (
        hashes.SHA256()
        if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
        else None
    )


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> str:
    return private_key_pem(key)  # type: ignore[arg-type]  # Ed25519 serialises the same way


def make_csr(
    *common_names: str,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    organization: str | None = "Test CPO",
) -> tuple[str, CertificateIssuerPrivateKeyTypes]:
    """A charger's CSR (PEM) with these CNs (normally one: its id) and the key it holds."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, _hash(key))
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def self_signed(
    cn: str = "user.example",
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    days: float = 90,
    start: datetime | None = None,
) -> tuple[str, str]:
    """A user's own server certificate and key (PEM), self-signed."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    begin = start or datetime.now(UTC) - timedelta(minutes=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, _hash(key))
    )
    return certificate_pem(certificate), key_pem(key)
