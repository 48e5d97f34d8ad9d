"""Basic-auth helpers: both password forms of the 1.6 whitepaper, header parsing, generation."""

from __future__ import annotations

import base64
import string

import pytest

from custom_components.ocpp_ems.core.auth import (
    accepted_password_forms,
    check_credentials,
    generate_password,
    parse_basic_authorization,
    password_matches,
    password_to_authorization_key,
)

PASSWORD = "correct-horse-battery-staple"


def header(username: str, password: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} " + base64.b64encode(username.encode() + b":" + password).decode()


def test_generate_password_is_long_random_and_url_safe() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    allowed = set(string.ascii_letters + string.digits + "-_")
    for password in passwords:
        assert 20 <= len(password) <= 40  # 2.0.1 BasicAuthPassword allows 16..40
        assert set(password) <= allowed


def test_authorization_key_is_hex_of_the_password_bytes() -> None:
    assert password_to_authorization_key("AB") == "4142"
    key = password_to_authorization_key(PASSWORD)
    assert bytes.fromhex(key) == PASSWORD.encode()


@pytest.mark.parametrize(
    "presented",
    [PASSWORD.encode(), password_to_authorization_key(PASSWORD).encode()],
    ids=["hex-decoded bytes", "hex string"],
)
def test_both_forms_match(presented: bytes) -> None:
    assert password_matches(presented, PASSWORD)
    assert check_credentials(header("CP1", presented), "CP1", PASSWORD)


def test_hex_password_also_accepts_decoded_bytes() -> None:
    raw = b"\x00\xff\x10binary"
    stored = raw.hex()
    assert raw in accepted_password_forms(stored)
    assert check_credentials(header("CP1", raw), "CP1", stored)
    assert check_credentials(header("CP1", stored.encode()), "CP1", stored)


@pytest.mark.parametrize(
    "value",
    [
        None,
        header("CP1", b"wrong"),
        header("CP2", PASSWORD.encode()),
        header("CP1", PASSWORD.encode(), scheme="Bearer"),
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:" + PASSWORD.encode()).decode(),
        header("CP1", PASSWORD.encode()[:-1]),
        header("CP1", PASSWORD.encode() + b"x"),
    ],
)
def test_wrong_credentials_fail(value: str | None) -> None:
    assert not check_credentials(value, "CP1", PASSWORD)


def test_parse_keeps_password_bytes_and_colons() -> None:
    assert parse_basic_authorization(header("CP1", b"a:b\xff")) == ("CP1", b"a:b\xff")
    assert parse_basic_authorization("basic " + base64.b64encode(b"u:").decode()) == ("u", b"")
