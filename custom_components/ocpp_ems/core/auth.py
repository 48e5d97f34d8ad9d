"""HTTP Basic authentication of chargers (OCPP security profile 1 and 2).

OCPP 1.6 (security whitepaper) provisions the password through the ``AuthorizationKey``
configuration key, written as a hex string; the charger must send the *bytes decoded from that hex*
as its Basic-auth password. MicroOcpp does exactly that, but some firmware sends the hex string
itself. We therefore compare raw bytes and accept both forms. OCPP 2.0.1 uses the plain UTF-8
password (``SecurityCtrlr.BasicAuthPassword``).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import secrets

# 24 random bytes -> 32 URL-safe characters: inside the 16..40 range OCPP 2.0.1 allows, and its hex
# AuthorizationKey (64 chars) stays within the 1.6 whitepaper's 40-byte / 80-hex-digit maximum.
_PASSWORD_BYTES = 24


def generate_password() -> str:
    """A fresh random password for a charger (URL-safe characters only, 32 long)."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def password_to_authorization_key(password: str) -> str:
    """The 1.6 ``AuthorizationKey`` value for ``password``: its UTF-8 bytes as lowercase hex."""
    return password.encode().hex()


def parse_basic_authorization(header: str) -> tuple[str, bytes] | None:
    """Split an ``Authorization: Basic ...`` header into (username, raw password bytes).

    The password stays bytes: a hex-decoded AuthorizationKey need not be valid UTF-8. Returns None
    when the header is not well-formed Basic credentials.
    """
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None
    username, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return username.decode(), password
    except UnicodeDecodeError:
        return None


def accepted_password_forms(password: str) -> list[bytes]:
    """Every byte string a correctly provisioned charger may present for ``password``."""
    raw = password.encode()
    forms = [raw, raw.hex().encode()]
    # The stored password may itself be a hex AuthorizationKey (typed in from the charger's UI):
    # then the charger sends its decoded bytes.
    with contextlib.suppress(ValueError):
        forms.append(bytes.fromhex(password))
    return forms


def password_matches(presented: bytes, password: str) -> bool:
    """Constant-time check of ``presented`` against every accepted form of ``password``."""
    # Evaluate every form (no short-circuit) so timing does not reveal which form matched.
    results = [hmac.compare_digest(presented, form) for form in accepted_password_forms(password)]
    return any(results)


def check_credentials(header: str | None, charger_id: str, password: str) -> bool:
    """True when ``header`` carries username ``charger_id`` and a matching password."""
    if header is None:
        return False
    credentials = parse_basic_authorization(header)
    if credentials is None:
        return False
    username, presented = credentials
    user_ok = hmac.compare_digest(username.encode(), charger_id.encode())
    return password_matches(presented, password) and user_ok
