"""The local certificate authority (core/security/ca.py) and the TLS context builder (tls.py),
without sockets: keys, CSRs and certificates made the way a charger or a user would make them."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custom_components.ocpp_ems.core.security import (
    CHARGER_CERT_VALIDITY_DAYS,
    OCPP_REQUIRED_SUITES,
    SERVER_CERT_VALIDITY_DAYS,
    CertificateAuthority,
    CertificateError,
    CertificateErrorReason,
    CertificateInfo,
    ServerCertificate,
    ServerCredentials,
    build_server_context,
    fingerprint_sha256,
    listener_context,
    server_renewal_due,
    tls_peer,
)
from custom_components.ocpp_ems.core.security import ca as ca_module
from custom_components.ocpp_ems.core.security import tls as tls_module

from .pki import key_pem, make_csr, self_signed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTS = ("homeassistant.local", "192.168.1.10", "fd00::10")


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create(now=NOW)


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    return CertificateAuthority.create(common_name="Someone else's CA", key_bits=2048, now=NOW)


@pytest.fixture(scope="module")
def credentials(ca: CertificateAuthority) -> ServerCredentials:
    return ca.issue_server_certificates(HOSTS, now=NOW)


def reason(info: pytest.ExceptionInfo[CertificateError]) -> CertificateErrorReason:
    return info.value.reason


# --- the CA itself -------------------------------------------------------------------------------
def test_a_new_ca_is_a_long_lived_rsa_ca_that_signs_end_entities_only(
    ca: CertificateAuthority,
) -> None:
    cert = ca.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 3072
    assert cert.subject == cert.issuer
    assert ca.issued(cert)  # self-signed
    assert ca.info.subject_cn == "OCPP EMS local CA"
    assert ca.info.key == "RSA 3072"
    assert ca.info.days_left(NOW) > 19 * 365
    assert ca.info.valid_at(NOW)
    assert not ca.info.valid_at(NOW - timedelta(hours=1))


def test_fingerprint_is_the_sha256_of_the_der(ca: CertificateAuthority) -> None:
    der = ca.certificate.public_bytes(serialization.Encoding.DER)
    expected = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert ca.fingerprint == expected
    assert ca.info.fingerprint_sha256 == expected
    assert fingerprint_sha256(ca.certificate_pem) == expected
    assert fingerprint_sha256(der) == expected
    assert len(expected) == 32 * 3 - 1


def test_dump_and_load_round_trip(ca: CertificateAuthority) -> None:
    data = ca.to_dict()
    assert set(data) == {"certificate", "private_key"}
    assert all(isinstance(value, str) for value in data.values())
    assert data["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    loaded = CertificateAuthority.from_dict(data)
    assert loaded.fingerprint == ca.fingerprint
    assert loaded.certificate_pem == ca.certificate_pem
    # The loaded CA signs, and the original recognises its signature.
    csr, _key = make_csr("CP1")
    assert ca.issued(loaded.sign_csr(csr, "CP1").pem)


def test_loading_a_damaged_ca_is_refused(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    mismatched = {**ca.to_dict(), "private_key": other_ca.to_dict()["private_key"]}
    with pytest.raises(CertificateError) as info:
        CertificateAuthority.from_dict(mismatched)
    assert reason(info) is CertificateErrorReason.KEY_MISMATCH
    with pytest.raises(CertificateError) as info:
        CertificateAuthority.from_dict({**ca.to_dict(), "certificate": "garbage"})
    assert reason(info) is CertificateErrorReason.INVALID_CERTIFICATE
    with pytest.raises(CertificateError) as info:
        CertificateAuthority.from_dict({"certificate": ca.certificate_pem})
    assert reason(info) is CertificateErrorReason.INVALID_KEY
    # A leaf certificate with its key is no CA.
    csr, key = make_csr("CP1")
    leaf = ca.sign_csr(csr, "CP1").pem
    with pytest.raises(CertificateError) as info:
        CertificateAuthority.from_dict({"certificate": leaf, "private_key": key_pem(key)})
    assert reason(info) is CertificateErrorReason.NOT_A_CA
    # A self-signed certificate without basic constraints is no CA either.
    user_cert, user_key = self_signed()
    with pytest.raises(CertificateError) as info:
        CertificateAuthority.from_dict({"certificate": user_cert, "private_key": user_key})
    assert reason(info) is CertificateErrorReason.NOT_A_CA


def test_an_encrypted_or_foreign_type_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(CertificateError) as info:
        ca_module.load_private_key(encrypted)
    assert reason(info) is CertificateErrorReason.INVALID_KEY
    assert info.value.__cause__ is None  # nothing of the key in a chained message
    with pytest.raises(CertificateError) as info:
        ca_module.load_private_key(key_pem(ed25519.Ed25519PrivateKey.generate()))
    assert reason(info) is CertificateErrorReason.UNSUPPORTED_KEY


def test_private_keys_never_appear_in_repr_str_or_logs(
    ca: CertificateAuthority, credentials: ServerCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [ca.to_dict()["private_key"]] + [
        cert.private_key_pem for cert in credentials.certificates
    ]
    for obj in (ca, credentials, *credentials.certificates):
        logging.getLogger("test").info("%s %r %s", obj, obj, f"{obj!s}")
        assert "PRIVATE KEY" not in repr(obj)
        assert "PRIVATE KEY" not in str(obj)
    assert ca.fingerprint in repr(ca)
    assert "RSA 2048" in repr(credentials)
    assert "PRIVATE KEY" not in caplog.text
    for secret in secrets:
        body = "".join(secret.splitlines()[1:-1])
        assert body[:40] not in caplog.text
    # No instance dict to dump either.
    assert not hasattr(ca, "__dict__")
    assert not hasattr(credentials.certificates[0], "__dict__")


# --- charger certificates (SignCertificate) --------------------------------------------------------
def test_a_chargers_csr_is_signed_for_tls_client_authentication(ca: CertificateAuthority) -> None:
    csr, key = make_csr("CP1")
    issued = ca.sign_csr(csr, "CP1", now=NOW)
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    assert cert.issuer == ca.certificate.subject
    assert ca.issued(cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Test CPO"
    assert cert.public_key() == key.public_key()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert issued.info.subject_cn == "CP1"
    assert issued.info.issuer_cn == "OCPP EMS local CA"
    assert issued.info.serial_number == f"{cert.serial_number:X}"
    assert issued.info.fingerprint_sha256 == fingerprint_sha256(cert)
    assert issued.info.key == "EC secp256r1"
    lifetime = issued.info.not_valid_after - issued.info.not_valid_before
    assert lifetime == timedelta(days=CHARGER_CERT_VALIDITY_DAYS)
    assert issued.info.not_valid_before < NOW  # back-dated for chargers whose clock lags


def test_a_csr_in_der_and_an_rsa_key_are_accepted(ca: CertificateAuthority) -> None:
    csr, _key = make_csr(
        "CP-RSA", key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    der = x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER)
    issued = ca.sign_csr(der, "CP-RSA")
    assert issued.info.key == "RSA 2048"
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_a_csr_in_bare_base64_without_pem_armour_is_signed(ca: CertificateAuthority) -> None:
    """Some firmware sends the DER as base64 without the BEGIN/END lines (line breaks kept)."""
    csr, _key = make_csr("CP1")
    der = x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER)
    bare = base64.encodebytes(der).decode()  # 76-character lines
    issued = ca.sign_csr(bare, "CP1")
    assert issued.info.subject_cn == "CP1"


@pytest.mark.parametrize(
    ("names", "charger_id"),
    [
        (("CP2",), "CP1"),  # another charger's id
        (("cp1",), "CP1"),  # ids are compared exactly
        (("CP1", "CP2"), "CP1"),  # two common names: ambiguous
        ((), "CP1"),  # none at all
    ],
)
def test_a_csr_whose_cn_is_not_the_charger_id_is_refused(
    ca: CertificateAuthority, names: tuple[str, ...], charger_id: str
) -> None:
    csr, _key = make_csr(*names)
    with pytest.raises(CertificateError) as info:
        ca.sign_csr(csr, charger_id)
    assert reason(info) is CertificateErrorReason.CN_MISMATCH
    assert repr(charger_id) in str(info.value)


def test_a_csr_with_a_bad_signature_is_refused(ca: CertificateAuthority) -> None:
    csr, _key = make_csr("CP1")
    der = bytearray(x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte belongs to the signature
    with pytest.raises(CertificateError) as info:
        ca.sign_csr(bytes(der), "CP1")
    assert reason(info) is CertificateErrorReason.BAD_SIGNATURE


def test_garbage_is_no_csr(ca: CertificateAuthority) -> None:
    with pytest.raises(CertificateError) as info:
        ca.sign_csr("-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END-----", "CP1")
    assert reason(info) is CertificateErrorReason.INVALID_CSR
    with pytest.raises(CertificateError) as info:
        ca.sign_csr(b"\x30\x03\x02\x01\x00", "CP1")
    assert reason(info) is CertificateErrorReason.INVALID_CSR


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ec.generate_private_key(ec.SECP256K1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa1024", "secp256k1", "ed25519"],
)
def test_keys_ocpp_does_not_allow_are_refused(
    ca: CertificateAuthority, key: rsa.RSAPrivateKey
) -> None:
    csr, _key = make_csr("CP1", key=key)
    with pytest.raises(CertificateError) as info:
        ca.sign_csr(csr, "CP1")
    assert reason(info) is CertificateErrorReason.UNSUPPORTED_KEY


def test_explicit_validity_makes_an_expired_certificate(ca: CertificateAuthority) -> None:
    csr, _key = make_csr("CP1")
    issued = ca.sign_csr(
        csr,
        "CP1",
        not_valid_before=NOW - timedelta(days=30),
        not_valid_after=NOW - timedelta(days=1),
    )
    assert not issued.info.valid_at(NOW)
    assert issued.info.days_left(NOW) == pytest.approx(-1)


def test_no_certificate_outlives_the_ca() -> None:
    short = CertificateAuthority.create(validity_days=100, key_bits=2048, now=NOW)
    csr, _key = make_csr("CP1")
    issued = short.sign_csr(csr, "CP1", now=NOW)
    assert issued.info.not_valid_after == short.info.not_valid_after


# --- the server certificates -------------------------------------------------------------------
def test_server_certificates_one_ec_one_rsa_for_the_given_names(
    ca: CertificateAuthority, credentials: ServerCredentials
) -> None:
    keys = [cert.info.key for cert in credentials.certificates]
    assert keys == ["EC secp256r1", "RSA 2048"]
    for server in credentials.certificates:
        cert = server.certificate
        assert ca.issued(cert)
        assert server.info.names == ("homeassistant.local", "192.168.1.10", "fd00::10")
        assert server.info.subject_cn == "homeassistant.local"
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
        lifetime = server.info.not_valid_after - server.info.not_valid_before
        assert lifetime == timedelta(days=SERVER_CERT_VALIDITY_DAYS)
    assert credentials.names == HOSTS
    assert not credentials.user_provided
    assert credentials.not_valid_after == credentials.certificates[0].info.not_valid_after


def test_server_names_are_normalised_and_checked(ca: CertificateAuthority) -> None:
    long_name = ".".join(["a" * 30] * 3)  # a valid DNS name longer than a CN may be
    issued = ca.issue_server_certificates(
        [long_name, "HomeAssistant.Local.", "bücher.example", "[::1]", "homeassistant.local"]
    )
    names = issued.names
    assert names == (long_name, "homeassistant.local", "xn--bcher-kva.example", "::1")
    assert issued.certificates[0].info.subject_cn == "OCPP EMS server"
    for bad in ("", "under score..dots", "-leading.example", "a" * 64 + ".example"):
        with pytest.raises(CertificateError) as info:
            ca.issue_server_certificates([bad])
        assert reason(info) is CertificateErrorReason.INVALID_HOST
    with pytest.raises(CertificateError) as info:
        ca.issue_server_certificates([])
    assert reason(info) is CertificateErrorReason.INVALID_HOST
    with pytest.raises(CertificateError):
        ca.issue_server_certificates(["\udcff.example"])  # not encodable as IDNA


def test_renewal_is_due_when_missing_expiring_foreign_or_names_changed(
    ca: CertificateAuthority, other_ca: CertificateAuthority, credentials: ServerCredentials
) -> None:
    assert server_renewal_due(None, ca, HOSTS, now=NOW)
    assert not server_renewal_due(credentials, ca, HOSTS, now=NOW)
    assert not server_renewal_due(credentials, ca, HOSTS[:1], now=NOW)  # fewer names: fine
    expires = credentials.not_valid_after
    assert not server_renewal_due(credentials, ca, HOSTS, now=expires - timedelta(days=31))
    assert server_renewal_due(credentials, ca, HOSTS, now=expires - timedelta(days=29))
    assert server_renewal_due(
        credentials, ca, HOSTS, now=expires - timedelta(days=59), renew_before_days=60
    )
    assert server_renewal_due(credentials, ca, [*HOSTS, "10.0.0.2"], now=NOW)
    assert server_renewal_due(credentials, other_ca, HOSTS, now=NOW)  # the CA was replaced


def test_server_credentials_round_trip(credentials: ServerCredentials) -> None:
    data = credentials.to_dict()
    assert data["user_provided"] is False
    assert len(data["certificates"]) == 2
    loaded = ServerCredentials.from_dict(data)
    assert [c.info.fingerprint_sha256 for c in loaded.certificates] == [
        c.info.fingerprint_sha256 for c in credentials.certificates
    ]
    assert loaded.certificates[0].private_key_pem == credentials.certificates[0].private_key_pem
    with pytest.raises(CertificateError):
        ServerCredentials.from_dict({})
    with pytest.raises(CertificateError):
        ServerCertificate([], ec.generate_private_key(ec.SECP256R1()))


# --- the user's own server certificate -----------------------------------------------------------
def test_a_users_certificate_and_key_are_accepted_with_their_chain(
    ca: CertificateAuthority,
) -> None:
    cert, key = self_signed("charging.example")
    chain = cert + ca.certificate_pem  # leaf first, then whatever issued it
    accepted = ServerCredentials.from_user_pem(chain, key)
    assert accepted.user_provided
    assert accepted.names == ("charging.example",)
    assert accepted.certificates[0].chain_pem == chain
    # Never renewed by us: the user renews it.
    assert not server_renewal_due(accepted, ca, ["other.example"])
    restored = ServerCredentials.from_dict(accepted.to_dict())
    assert restored.user_provided


def test_a_users_certificate_is_refused_when_key_or_dates_do_not_fit() -> None:
    cert, _key = self_signed()
    _other_cert, other_key = self_signed()
    with pytest.raises(CertificateError) as info:
        ServerCredentials.from_user_pem(cert, other_key)
    assert reason(info) is CertificateErrorReason.KEY_MISMATCH
    expired, expired_key = self_signed(start=NOW - timedelta(days=100), days=10)
    with pytest.raises(CertificateError) as info:
        ServerCredentials.from_user_pem(expired, expired_key, now=NOW)
    assert reason(info) is CertificateErrorReason.EXPIRED
    future, future_key = self_signed(start=NOW + timedelta(days=1))
    with pytest.raises(CertificateError) as info:
        ServerCredentials.from_user_pem(future, future_key, now=NOW)
    assert reason(info) is CertificateErrorReason.NOT_YET_VALID
    weak, weak_key = self_signed(key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(CertificateError) as info:
        ServerCredentials.from_user_pem(weak, weak_key)
    assert reason(info) is CertificateErrorReason.UNSUPPORTED_KEY
    with pytest.raises(CertificateError) as info:
        ServerCredentials.from_user_pem("not a certificate", other_key)
    assert reason(info) is CertificateErrorReason.INVALID_CERTIFICATE


def test_certificate_info_of_other_key_types_and_names() -> None:
    cert, _key = self_signed(key=ed25519.Ed25519PrivateKey.generate())
    info = CertificateInfo.of(cert)
    assert info.key == "Ed25519PublicKey"
    assert info.names == ("user.example",)
    two_cns = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "a"),
            x509.NameAttribute(NameOID.COMMON_NAME, "b"),
        ]
    )
    assert ca_module.common_name(two_cns) is None
    assert ca_module.subject_names(x509.load_pem_x509_certificate(cert.encode())) == [
        "user.example"
    ]


def test_a_certificate_without_names(ca: CertificateAuthority) -> None:
    assert ca.info.names == ()
    foreign, _key = self_signed()
    assert not ca.issued(foreign)


# --- the TLS context ---------------------------------------------------------------------------
def test_server_context_tls12_minimum_ocpp_suites_and_optional_client_certificates(
    ca: CertificateAuthority, credentials: ServerCredentials
) -> None:
    context = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_OPTIONAL
    offered = {cipher["name"] for cipher in context.get_ciphers()}
    assert set(OCPP_REQUIRED_SUITES.values()) <= offered
    assert {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"} <= offered
    assert not any("CBC" in name or name.endswith("-SHA") for name in offered)
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    # Our CA is the only trust anchor for client certificates.
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "OCPP EMS local CA"),),)
    ]
    no_clients = build_server_context(credentials, client_ca_pem=None)
    assert no_clients.verify_mode is ssl.CERT_NONE


def test_server_context_without_memfd_uses_a_private_temporary_directory(
    ca: CertificateAuthority, credentials: ServerCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)
    created: list[str] = []
    real = tls_module.tempfile.TemporaryDirectory

    def spy(*args: object, **kwargs: object) -> object:
        directory = real(*args, **kwargs)  # type: ignore[call-overload]
        created.append(directory.name)
        return directory

    monkeypatch.setattr(tls_module.tempfile, "TemporaryDirectory", spy)
    context = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    assert context.verify_mode is ssl.CERT_OPTIONAL
    assert len(created) == 2
    assert not any(os.path.exists(path) for path in created)  # removed at once


def test_a_broken_key_pair_does_not_load(credentials: ServerCredentials) -> None:
    ec_cert, rsa_cert = credentials.certificates
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with pytest.raises(ssl.SSLError):
        tls_module._load_cert_chain(context, ec_cert.chain_pem, rsa_cert.private_key_pem)


def test_listener_context_of_a_plain_context_is_that_context(
    ca: CertificateAuthority, credentials: ServerCredentials
) -> None:
    context = build_server_context(credentials, client_ca_pem=ca.certificate_pem)
    assert listener_context(context) is context
    # Its only addition: the SNI host name a client asked for is noted (for TLS failure reports).
    assert context.sni_callback is tls_module._note_server_name
    assert tls_peer(None) is None
    assert tls_peer(object()) is None


def test_certificates_signed_with_sha256(ca: CertificateAuthority) -> None:
    csr, _key = make_csr("CP1")
    cert = x509.load_pem_x509_certificate(ca.sign_csr(csr, "CP1").pem.encode())
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert isinstance(ca.certificate.signature_hash_algorithm, hashes.SHA256)


def test_a_ca_with_an_organization_and_a_key_of_another_type(ca: CertificateAuthority) -> None:
    named = CertificateAuthority.create(organization="Home", key_bits=2048)
    organization = named.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert organization[0].value == "Home"
    # An Ed25519 certificate never matches an RSA/EC key.
    cert, _key = self_signed(key=ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(CertificateError) as info:
        ServerCertificate(
            [x509.load_pem_x509_certificate(cert.encode())], ec.generate_private_key(ec.SECP256R1())
        )
    assert reason(info) is CertificateErrorReason.KEY_MISMATCH
