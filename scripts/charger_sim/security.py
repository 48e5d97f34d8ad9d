"""What the wallbox does on its own for security profiles 2 and 3 (1.6 security whitepaper, 2.0.1
A02-A05), in any OCPP version: its key and CSR, installing a root certificate, taking the signed
certificate when it is for that key, the ids of its installed certificates, and its TLS side
(trusting only the root certificates the server installed, presenting its client certificate on
profile 3)."""

from __future__ import annotations

import logging
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from .model import SimState

_LOGGER = logging.getLogger("simulate_charger")

ORGANIZATION = "OCPP EMS development"


def new_csr(common_name: str) -> tuple[str, str]:
    """A fresh EC P-256 key and a CSR for it with CN ``common_name``: (CSR PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def install_root(state: SimState, certificate_type: str, pem: str) -> bool:
    """InstallCertificate: keep a root certificate by type (False: not a certificate)."""
    try:
        hash_data(pem)
    except ValueError:
        return False
    installed = state.root_certificates.setdefault(certificate_type, [])
    if pem not in installed:
        installed.append(pem)
    state.save()
    _LOGGER.info("Installed a %s", certificate_type)
    return True


def take_certificate(state: SimState, chain_pem: str) -> bool:
    """CertificateSigned: keep the certificate when it is for the key of our last CSR."""
    key = state.pending_key_pem
    if key is None or not certificate_for_key(chain_pem, key):
        _LOGGER.warning("CertificateSigned: not for the key of our CSR")
        return False
    state.certificate_pem = chain_pem
    state.key_pem = key
    state.pending_key_pem = None
    state.save()
    _LOGGER.info("Received our client certificate")
    return True


def _public_der(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def certificate_for_key(chain_pem: str, key_pem: str) -> bool:
    """Whether the first certificate of ``chain_pem`` is for the key ``key_pem``."""
    try:
        leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, IndexError):
        return False
    return _public_der(leaf.public_key()) == _public_der(key.public_key())


def hash_data(pem: str) -> dict[str, str]:
    """The CertificateHashData of a certificate (SHA256, as 1.6 GetInstalledCertificateIds)."""
    certificate = x509.load_pem_x509_certificate(pem.encode())

    def sha256(data: bytes) -> str:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(data)
        return digest.finalize().hex()

    # issuerKeyHash: the hash of the issuer's public key bits; the issuer of a self-signed root
    # (what the server installs) is the certificate itself.
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": sha256(certificate.issuer.public_bytes()),
        "issuer_key_hash": sha256(_key_bits(certificate)),
        "serial_number": format(certificate.serial_number, "x"),
    }


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey bits of the certificate's SubjectPublicKeyInfo."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))


def client_context(
    roots: list[str], certificate_pem: str | None, key_pem: str | None
) -> ssl.SSLContext:
    """The TLS client side: it trusts ``roots`` only; with a certificate and key it presents them.

    The host name is not checked: the server's certificate carries Home Assistant's host names and
    LAN addresses, not the loopback address the development simulator connects to. The chain is
    (only our installed roots are trusted)."""
    context = ssl.create_default_context(cadata="\n".join(roots))
    context.check_hostname = False
    if certificate_pem and key_pem:
        # ssl loads a client certificate from files only.
        with tempfile.TemporaryDirectory() as where:
            certificate = Path(where) / "client.crt"
            key = Path(where) / "client.key"
            certificate.write_text(certificate_pem)
            key.write_text(key_pem)
            key.chmod(0o600)
            context.load_cert_chain(certificate, key)
    return context
