"""The integration's own certificate authority, for OCPP security profiles 2 and 3.

One :class:`CertificateAuthority` per server: created on first use, kept by the host (HA storage)
as the plain dict of PEM strings :meth:`CertificateAuthority.to_dict` returns. It issues

* the server certificates of the ``wss://`` listener (:meth:`~CertificateAuthority.
  issue_server_certificates`): an EC P-256 and an RSA 2048 one with the same names (the
  ECDHE-ECDSA suites OCPP requires need an EC key, the TLS_RSA ones an RSA key; see
  :mod:`.tls`), renewed when :func:`server_renewal_due` says so;
* charger certificates (:meth:`~CertificateAuthority.sign_csr`, the OCPP SignCertificate flow):
  only for a CSR whose signature holds and whose CN is the charger id. The CN is what binds the
  certificate to the charger: the server admits a client certificate only for the id in its CN.

The CA key is RSA 3072: every TLS stack verifies RSA signatures (an RSA-only charger would fail
on an EC CA's signature), and 3072 bits fit a CA that lives 20 years. Path length 0: the CA signs
end-entity certificates only.

A user may bring their own server certificate instead (:meth:`ServerCredentials.from_user_pem`);
client certificates are still checked against our CA.

The private keys are secrets: no ``repr``/``str`` here shows them; only the ``to_dict()``
documents (for the host's storage) contain them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custom_components.ocpp_ems.core.errors import OcppEmsError

CA_VALIDITY_DAYS = 20 * 365
CA_RSA_KEY_BITS = 3072
DEFAULT_CA_NAME = "OCPP EMS local CA"
# Our server certificates live a year and are renewed a month before they end (no restart needed:
# the TLS listener takes the new one for new connections).
SERVER_CERT_VALIDITY_DAYS = 365
SERVER_CERT_RENEW_BEFORE_DAYS = 30
SERVER_RSA_KEY_BITS = 2048
# Charger certificates (SignCertificate): two years; the charger asks for a new one before.
CHARGER_CERT_VALIDITY_DAYS = 2 * 365
# OCPP 2.0.1 (A00) and the 1.6 security whitepaper: RSA keys of at least 2048 bits, EC keys on
# the NIST curves of at least 224 bits (we take the ones TLS stacks implement).
MIN_RSA_KEY_BITS = 2048
ALLOWED_EC_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
# Certificates start a little in the past: a charger whose clock lags a few minutes accepts them.
BACKDATE = timedelta(minutes=5)
# X.520 upper bound of a common name.
_MAX_CN_LENGTH = 64
_SERVER_CN = "OCPP EMS server"

type PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
type PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
type CertificateLike = x509.Certificate | str | bytes


class CertificateErrorReason(StrEnum):
    """Why a certificate, key or CSR was refused (the HA layer translates these)."""

    INVALID_CERTIFICATE = "invalid_certificate"  # not a PEM/DER X.509 certificate
    INVALID_KEY = "invalid_key"  # not a PEM private key (or encrypted)
    INVALID_CSR = "invalid_csr"  # not a PEM/DER certificate signing request
    BAD_SIGNATURE = "bad_signature"  # the CSR is not signed by the key it contains
    CN_MISMATCH = "cn_mismatch"  # the CSR's common name is not the charger id
    UNSUPPORTED_KEY = "unsupported_key"  # RSA < 2048 bits, another curve, or not RSA/EC
    KEY_MISMATCH = "key_mismatch"  # the private key does not belong to the certificate
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NOT_A_CA = "not_a_ca"  # a stored CA certificate that may not sign certificates
    INVALID_HOST = "invalid_host"  # a server name that is neither an IP address nor a DNS name


class CertificateError(OcppEmsError):
    """A certificate, key or CSR was refused; ``reason`` says why (the message says more)."""

    def __init__(self, reason: CertificateErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _unarmoured_der(raw: bytes) -> bytes:
    """DER given as such, or as base64 without the PEM lines (line breaks allowed)."""
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except binascii.Error:
        return raw  # DER itself (its bytes are no base64)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- reading certificates ----------------------------------------------------------------------
def load_certificates(data: str | bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (leaf first), or the one DER certificate in ``data``."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            certificates = x509.load_pem_x509_certificates(raw)
        else:
            certificates = [x509.load_der_x509_certificate(raw)]
    except ValueError as err:
        raise CertificateError(
            CertificateErrorReason.INVALID_CERTIFICATE, f"Not an X.509 certificate: {err}"
        ) from err
    return certificates


def load_certificate(data: CertificateLike) -> x509.Certificate:
    """A certificate from PEM (the first one of a bundle) or DER."""
    if isinstance(data, x509.Certificate):
        return data
    return load_certificates(data)[0]


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint_sha256(certificate: CertificateLike) -> str:
    """The SHA-256 fingerprint as users compare it: upper-case hex pairs joined by colons."""
    digest = load_certificate(certificate).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def common_name(name: x509.Name) -> str | None:
    """The one common name of ``name`` (None when it has none or several)."""
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attributes) != 1:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode(errors="replace")


def describe_key(key: PublicKey | PrivateKey) -> str:
    """``RSA 2048`` / ``EC secp256r1``."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA {key.key_size}"
    return f"EC {key.curve.name}"


@dataclass(frozen=True, kw_only=True)
class CertificateInfo:
    """What a user (or a sensor) wants to know about a certificate; nothing secret."""

    subject_cn: str | None
    issuer_cn: str | None
    serial_number: str  # upper-case hex, as OCPP's CertificateHashData serialNumber
    not_valid_before: datetime
    not_valid_after: datetime
    fingerprint_sha256: str
    key: str  # "RSA 2048" / "EC secp256r1" / another algorithm's name
    names: tuple[str, ...] = ()  # subject alternative names (DNS names and IP addresses)

    @classmethod
    def of(cls, certificate: CertificateLike) -> CertificateInfo:
        cert = load_certificate(certificate)
        public_key = cert.public_key()
        key = (
            describe_key(public_key)
            if isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
            else type(public_key).__name__
        )
        return cls(
            subject_cn=common_name(cert.subject),
            issuer_cn=common_name(cert.issuer),
            serial_number=f"{cert.serial_number:X}",
            not_valid_before=cert.not_valid_before_utc,
            not_valid_after=cert.not_valid_after_utc,
            fingerprint_sha256=fingerprint_sha256(cert),
            key=key,
            names=tuple(subject_names(cert)),
        )

    def days_left(self, now: datetime | None = None) -> float:
        """Days until it expires (negative once it has)."""
        return (self.not_valid_after - (now or _utcnow())).total_seconds() / 86400

    def valid_at(self, now: datetime | None = None) -> bool:
        moment = now or _utcnow()
        return self.not_valid_before <= moment < self.not_valid_after


def subject_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is issued for (its SAN extension)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(extension.value.get_values_for_type(x509.DNSName))
    names.extend(str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress))
    return names


# --- keys --------------------------------------------------------------------------------------
def _check_key(key: object) -> PublicKey:
    """``key`` if OCPP allows it for a certificate, else CertificateError(UNSUPPORTED_KEY)."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            raise CertificateError(
                CertificateErrorReason.UNSUPPORTED_KEY,
                f"RSA key of {key.key_size} bits; at least {MIN_RSA_KEY_BITS} are required",
            )
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ALLOWED_EC_CURVES:
            raise CertificateError(
                CertificateErrorReason.UNSUPPORTED_KEY,
                f"EC key on {key.curve.name}; allowed: {', '.join(sorted(ALLOWED_EC_CURVES))}",
            )
        return key
    raise CertificateError(
        CertificateErrorReason.UNSUPPORTED_KEY,
        f"{type(key).__name__} keys are not supported (RSA or EC only)",
    )


def load_private_key(data: str | bytes) -> PrivateKey:
    """An unencrypted PEM private key (RSA or EC)."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):  # TypeError: the key is encrypted
        # Not chained: the parser's message might quote the key material.
        raise CertificateError(
            CertificateErrorReason.INVALID_KEY, "Not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CertificateError(
            CertificateErrorReason.UNSUPPORTED_KEY,
            f"{type(key).__name__} keys are not supported (RSA or EC only)",
        )
    return key


def private_key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_der(key: object) -> bytes:
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return b""  # never equal to an RSA/EC key's encoding
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_matches(certificate: x509.Certificate, key: PrivateKey) -> bool:
    return _public_der(certificate.public_key()) == _public_der(key.public_key())


def _check_validity(certificate: x509.Certificate, now: datetime, what: str) -> None:
    if certificate.not_valid_after_utc <= now:
        raise CertificateError(
            CertificateErrorReason.EXPIRED,
            f"The {what} expired on {certificate.not_valid_after_utc:%Y-%m-%d}",
        )
    if certificate.not_valid_before_utc > now:
        raise CertificateError(
            CertificateErrorReason.NOT_YET_VALID,
            f"The {what} is valid only from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )


def _name(cn: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _host_name(host: str) -> x509.GeneralName:
    """An IP address or DNS name for a server certificate's SAN."""
    text = host.strip().rstrip(".")
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(_dns_label(label) for label in labels):
        raise CertificateError(
            CertificateErrorReason.INVALID_HOST,
            f"{host!r} is neither an IP address nor a host name",
        )
    return x509.DNSName(ascii_name)


def _dns_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(char.isalnum() or char in "-_" for char in label)
    )


def _general_name_text(name: x509.GeneralName) -> str:
    return str(name.value)


# --- the server's certificate ------------------------------------------------------------------
class ServerCertificate:
    """A server certificate (with its chain, leaf first) and its private key."""

    __slots__ = ("_chain", "_key", "info")

    def __init__(self, chain: Sequence[x509.Certificate], key: PrivateKey) -> None:
        if not chain:
            raise CertificateError(CertificateErrorReason.INVALID_CERTIFICATE, "No certificate")
        if not _key_matches(chain[0], key):
            raise CertificateError(
                CertificateErrorReason.KEY_MISMATCH,
                "The private key does not belong to the certificate",
            )
        self._chain = tuple(chain)
        self._key = key
        self.info = CertificateInfo.of(chain[0])

    @classmethod
    def from_pem(cls, certificate_pem: str, private_key_pem: str) -> ServerCertificate:
        return cls(load_certificates(certificate_pem), load_private_key(private_key_pem))

    @property
    def certificate(self) -> x509.Certificate:
        return self._chain[0]

    @property
    def chain_pem(self) -> str:
        """The certificate and its intermediates, leaf first (what the TLS server sends)."""
        return "".join(certificate_pem(cert) for cert in self._chain)

    @property
    def private_key_pem(self) -> str:
        """The private key (a secret: for the TLS context and the host's storage only)."""
        return private_key_pem(self._key)

    def to_dict(self) -> dict[str, str]:
        """For the host's storage. Contains the PRIVATE KEY: never log or show it."""
        return {"certificate": self.chain_pem, "private_key": self.private_key_pem}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerCertificate:
        return cls.from_pem(str(data.get("certificate", "")), str(data.get("private_key", "")))

    def __repr__(self) -> str:
        info = self.info
        return (
            f"ServerCertificate(cn={info.subject_cn!r}, key={info.key!r}, "
            f"expires={info.not_valid_after.isoformat()}, sha256={info.fingerprint_sha256})"
        )

    __str__ = __repr__


class ServerCredentials:
    """The certificate(s) the TLS listener presents: our EC + RSA pair, or the user's own one."""

    __slots__ = ("certificates", "user_provided")

    def __init__(
        self, certificates: Sequence[ServerCertificate], *, user_provided: bool = False
    ) -> None:
        if not certificates:
            raise CertificateError(CertificateErrorReason.INVALID_CERTIFICATE, "No certificate")
        self.certificates = tuple(certificates)
        self.user_provided = user_provided

    @classmethod
    def from_user_pem(
        cls, certificate_pem: str, private_key_pem: str, *, now: datetime | None = None
    ) -> ServerCredentials:
        """The user's own server certificate (PEM, optionally followed by its intermediates) and
        private key: refused unless the key belongs to the certificate, the key is one OCPP
        allows, and the certificate is valid now."""
        chain = load_certificates(certificate_pem)
        key = load_private_key(private_key_pem)
        _check_key(chain[0].public_key())
        certificate = ServerCertificate(chain, key)
        _check_validity(chain[0], now or _utcnow(), "certificate")
        return cls([certificate], user_provided=True)

    @property
    def not_valid_after(self) -> datetime:
        """When the first of them expires."""
        return min(cert.info.not_valid_after for cert in self.certificates)

    @property
    def names(self) -> tuple[str, ...]:
        """The host names and addresses the certificates are issued for."""
        return self.certificates[0].info.names

    def to_dict(self) -> dict[str, Any]:
        """For the host's storage. Contains PRIVATE KEYS: never log or show it."""
        return {
            "user_provided": self.user_provided,
            "certificates": [cert.to_dict() for cert in self.certificates],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerCredentials:
        return cls(
            [ServerCertificate.from_dict(item) for item in data.get("certificates", [])],
            user_provided=bool(data.get("user_provided", False)),
        )

    def __repr__(self) -> str:
        return (
            f"ServerCredentials(user_provided={self.user_provided}, "
            f"certificates={list(self.certificates)!r})"
        )

    __str__ = __repr__


# --- the authority -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class IssuedCertificate:
    """A certificate the CA signed for a charger: the PEM to send (CertificateSigned) and facts."""

    pem: str
    info: CertificateInfo


class CertificateAuthority:
    """Our CA: its certificate (public) and private key (secret, never shown)."""

    __slots__ = ("_certificate", "_key", "info")

    def __init__(self, certificate: x509.Certificate, key: PrivateKey) -> None:
        if not _key_matches(certificate, key):
            raise CertificateError(
                CertificateErrorReason.KEY_MISMATCH,
                "The CA private key does not belong to the CA certificate",
            )
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            is_ca = constraints.value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CertificateError(
                CertificateErrorReason.NOT_A_CA, "The certificate may not sign certificates"
            )
        self._certificate = certificate
        self._key = key
        self.info = CertificateInfo.of(certificate)

    @classmethod
    def create(
        cls,
        *,
        common_name: str = DEFAULT_CA_NAME,
        organization: str | None = None,
        validity_days: int = CA_VALIDITY_DAYS,
        key_bits: int = CA_RSA_KEY_BITS,
        now: datetime | None = None,
    ) -> CertificateAuthority:
        """A new CA (takes a moment: an RSA key is generated; run it off the event loop)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
        start = (now or _utcnow()) - BACKDATE
        name = _name(common_name[:_MAX_CN_LENGTH], organization)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertificateAuthority:
        """The CA from the document :meth:`to_dict` wrote."""
        return cls(
            load_certificate(str(data.get("certificate", ""))),
            load_private_key(str(data.get("private_key", ""))),
        )

    def to_dict(self) -> dict[str, str]:
        """For the host's storage. Contains the CA's PRIVATE KEY: never log or show it."""
        return {
            "certificate": self.certificate_pem,
            "private_key": private_key_pem(self._key),
        }

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def certificate_pem(self) -> str:
        """The CA certificate to install in chargers (OCPP InstallCertificate CSMSRootCertificate
        / 1.6 CentralSystemRootCertificate) and to offer for download."""
        return certificate_pem(self._certificate)

    @property
    def fingerprint(self) -> str:
        return self.info.fingerprint_sha256

    def issued(self, certificate: CertificateLike) -> bool:
        """True when ``certificate`` carries this CA's signature."""
        cert = load_certificate(certificate)
        try:
            cert.verify_directly_issued_by(self._certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def _builder(
        self,
        subject: x509.Name,
        public_key: PublicKey,
        start: datetime,
        end: datetime,
        usage: x509.ObjectIdentifier,
    ) -> x509.CertificateBuilder:
        # Nothing outlives the CA: a chain with an expired CA fails anyway.
        end = min(end, self._certificate.not_valid_after_utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(key_encipherment=isinstance(public_key, rsa.RSAPublicKey)),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._public_key()),
                critical=False,
            )
        )

    def _public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self._key, hashes.SHA256())

    def sign_csr(
        self,
        csr: str | bytes,
        charger_id: str,
        *,
        validity_days: int = CHARGER_CERT_VALIDITY_DAYS,
        not_valid_before: datetime | None = None,
        not_valid_after: datetime | None = None,
        now: datetime | None = None,
    ) -> IssuedCertificate:
        """Sign a charger's CSR (PEM, DER, or DER in bare base64: some firmware leaves the PEM
        armour out) as its TLS client certificate (profile 3).

        Refused (CertificateError) unless the CSR is well-formed, signed by its own key (the
        charger holds that key), its key is one OCPP allows, and its subject has exactly one
        common name, equal to ``charger_id``. Only the subject and key are taken from the CSR;
        the extensions are ours (end entity, digital signature, TLS client authentication).
        ``not_valid_before`` / ``not_valid_after`` override the validity (tests make expired
        certificates with them)."""
        raw = csr.encode() if isinstance(csr, str) else csr
        try:
            if b"-----BEGIN" in raw:
                request = x509.load_pem_x509_csr(raw)
            else:
                request = x509.load_der_x509_csr(_unarmoured_der(raw))
        except ValueError as err:
            raise CertificateError(
                CertificateErrorReason.INVALID_CSR, f"Not a certificate signing request: {err}"
            ) from err
        if not request.is_signature_valid:
            raise CertificateError(
                CertificateErrorReason.BAD_SIGNATURE,
                "The CSR's signature does not match its public key",
            )
        public_key = _check_key(request.public_key())
        cn = common_name(request.subject)
        if cn != charger_id:
            raise CertificateError(
                CertificateErrorReason.CN_MISMATCH,
                f"The CSR's common name is {cn!r}, not the charger id {charger_id!r}",
            )
        start = not_valid_before or (now or _utcnow()) - BACKDATE
        end = not_valid_after or start + timedelta(days=validity_days)
        certificate = self._sign(
            self._builder(request.subject, public_key, start, end, ExtendedKeyUsageOID.CLIENT_AUTH)
        )
        return IssuedCertificate(
            pem=certificate_pem(certificate), info=CertificateInfo.of(certificate)
        )

    def issue_server_certificates(
        self,
        hosts: Iterable[str],
        *,
        validity_days: int = SERVER_CERT_VALIDITY_DAYS,
        now: datetime | None = None,
    ) -> ServerCredentials:
        """The listener's certificates for ``hosts`` (host names and IP addresses, in the SAN):
        one EC P-256 and one RSA 2048 (see :mod:`.tls` for why both). Generates two keys: run it
        off the event loop."""
        names: list[x509.GeneralName] = []
        for host in hosts:
            name = _host_name(host)
            if name not in names:
                names.append(name)
        if not names:
            raise CertificateError(CertificateErrorReason.INVALID_HOST, "No host name given")
        first = _general_name_text(names[0])
        subject = _name(first if len(first) <= _MAX_CN_LENGTH else _SERVER_CN)
        start = (now or _utcnow()) - BACKDATE
        end = start + timedelta(days=validity_days)
        keys: list[PrivateKey] = [
            ec.generate_private_key(ec.SECP256R1()),
            rsa.generate_private_key(public_exponent=65537, key_size=SERVER_RSA_KEY_BITS),
        ]
        certificates = []
        for key in keys:
            builder = self._builder(
                subject, key.public_key(), start, end, ExtendedKeyUsageOID.SERVER_AUTH
            ).add_extension(x509.SubjectAlternativeName(names), critical=False)
            certificates.append(ServerCertificate([self._sign(builder)], key))
        return ServerCredentials(certificates)

    def __repr__(self) -> str:
        info = self.info
        return (
            f"CertificateAuthority(cn={info.subject_cn!r}, "
            f"expires={info.not_valid_after.isoformat()}, sha256={info.fingerprint_sha256})"
        )

    __str__ = __repr__


def server_renewal_due(
    credentials: ServerCredentials | None,
    ca: CertificateAuthority,
    hosts: Iterable[str],
    *,
    now: datetime | None = None,
    renew_before_days: float = SERVER_CERT_RENEW_BEFORE_DAYS,
) -> bool:
    """True when our server certificates should be issued (again) with
    :meth:`CertificateAuthority.issue_server_certificates`: there are none yet, one expires within
    ``renew_before_days``, ``ca`` did not issue them (the CA was replaced), or they do not name
    every one of ``hosts`` (the host got a new name or address).

    Never for the user's own certificate: we cannot renew it (its ``not_valid_after`` tells the
    host when to remind the user)."""
    if credentials is None:
        return True
    if credentials.user_provided:
        return False
    moment = now or _utcnow()
    wanted = {_general_name_text(_host_name(host)) for host in hosts}
    for certificate in credentials.certificates:
        if certificate.info.days_left(moment) < renew_before_days:
            return True
        if not ca.issued(certificate.certificate):
            return True
        if not wanted <= set(certificate.info.names):
            return True
    return False
