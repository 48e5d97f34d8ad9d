"""The HTTP handshake of a charger connection: who may open a websocket, and why not.

:meth:`Handshake.process_request` runs before the websocket opens, on the plain ``ws://`` and the
``wss://`` listener alike. In order:

1. charger id from the URL (400 ``invalid_id``);
2. admission from the host's :class:`~.directory.ChargerDirectory` (404 ``rejected``, or
   ``not_allowed`` for an unknown id while new chargers are not allowed);
3. login throttling (429 ``throttled`` + Retry-After);
4. transport security (:func:`check_transport`, the charger's
   :class:`~.settings.SecurityProfile`): a client certificate not valid now (403
   ``certificate_invalid``) or whose CN is not the charger id (403 ``certificate_mismatch``, a
   failed login); a connection lower than the profile without an allowed downgrade: plain ws for
   profile 2/3 (403 ``tls_required``), wss without a client certificate for profile 3 (403
   ``certificate_required``). A certificate that does not chain to our CA, or has expired, never
   gets here: OpenSSL ends the TLS handshake with an alert (reported by :mod:`.tls_listener`,
   before any charger id is known);
5. Basic auth (401 ``bad_credentials``): required for a charger of profile 2 or 3 that has no
   valid client certificate, and for any charger that committed to its password; a valid client
   certificate authenticates without it;
6. takeover of an open connection (409 ``already_connected``);
7. room among the pending chargers (503 ``too_many_pending`` + Retry-After).

Every refusal is recorded (:attr:`Handshake.last_refusal`, listeners) and logged at WARNING once per
charger id and reason (at most :data:`REFUSAL_WARNINGS_PER_WINDOW` per window; the rest at DEBUG).

Takeover rule: a new connection that authenticated (password or client certificate) always replaces
the open one. A connection without valid credentials (a pending id, an accepted charger without a
password or whose password is only offered) replaces it only when the open socket does not answer
a websocket ping within :data:`TAKEOVER_PING_TIMEOUT_S` (it is dead); otherwise it is refused with
HTTP 409.

Throttling: failed logins (401, 409, a certificate of another charger) are counted per charger id and
per source address (:class:`~.guard.LoginThrottle`): from the 3rd failure within 10 minutes the id /
address gets HTTP 429 with Retry-After, 5 s doubling up to 5 minutes; a successful login resets
both. The address a charger last connected from and a login that proves itself (right password,
own certificate) are exempt from its id's block (so failures from elsewhere cannot lock the charger
out, also after a restart), not from the address block (guessing stays throttled per address).
"""

from __future__ import annotations

import asyncio
import http
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import auth
from .directory import Admission, ChargerDirectory
from .guard import THROTTLE_FAILURES, Clock, LoginThrottle, Refusal, RefusalReason
from .model import Charger, ConnectionSecurity
from .opening import OpeningConnection, peer_address
from .security.ca import CertificateInfo
from .security.tls import TlsPeer, tls_peer
from .settings import ChargerSettings, SecurityProfile, ServerSettings

_LOGGER = logging.getLogger(__name__)

# OCPP identity: CiString48 in 1.6, identifierString(48) in 2.0.1; ':' would break Basic auth.
MAX_CHARGER_ID_LENGTH = 48
BASIC_REALM = 'Basic realm="OCPP", charset="UTF-8"'
# A connection without valid credentials may replace an open one of the same charger only when the
# open socket does not answer a ping within this time (it is dead).
TAKEOVER_PING_TIMEOUT_S = 3.0
# Expired pending ids and throttle entries are dropped this often (and whenever a new id arrives);
# a charger refused for lack of room among the pending ones is told to retry after it.
HOUSEKEEPING_INTERVAL_S = 600.0
# Refusals are logged at WARNING once per (charger id, reason); this many pairs are remembered.
_MAX_WARNED_REFUSALS = 256
# ... and at most this many such warnings per window (someone trying many ids must not flood the
# log; the rest go to DEBUG and the "last refused connection" sensor).
REFUSAL_WARNINGS_PER_WINDOW = 10
REFUSAL_WARNING_WINDOW_S = 600.0
_MAX_LOGGED_PATH = 80

_REFUSAL_TEXT = {
    RefusalReason.INVALID_ID: "no valid charger id in the URL path",
    RefusalReason.REJECTED: "the charger was ignored, deleted or disabled",
    RefusalReason.NOT_ALLOWED: "unknown charger and new chargers are not allowed",
    RefusalReason.BAD_CREDENTIALS: "wrong or missing password",
    RefusalReason.THROTTLED: "too many failed logins",
    RefusalReason.ALREADY_CONNECTED: (
        "the charger is connected and the new connection has no valid password"
    ),
    RefusalReason.TOO_MANY_PENDING: "too many chargers wait for approval",
    RefusalReason.TLS_REQUIRED: "its security profile requires TLS (wss://)",
    RefusalReason.CERTIFICATE_REQUIRED: (
        "its security profile requires a client certificate from our CA"
    ),
    RefusalReason.CERTIFICATE_MISMATCH: "its client certificate belongs to another charger",
    RefusalReason.CERTIFICATE_INVALID: "its client certificate is not valid now",
}


def parse_charger_id(path: str) -> str | None:
    """The charger id in a request path: the last non-empty segment, URL-decoded; None if invalid.

    ``/ID``, ``//ID``, ``/ocpp/ID`` and ``/ocpp/ID/`` all name ``ID``; a query string or fragment is
    ignored. (Not ``urlsplit``: it reads ``//ID`` as a host name.)
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return None
    charger_id = unquote(segments[-1])
    if (
        len(charger_id) > MAX_CHARGER_ID_LENGTH
        or ":" in charger_id
        or not charger_id.isprintable()
        or not charger_id.strip()
    ):
        return None
    return charger_id


def now_utc() -> datetime:
    return datetime.now(UTC)


def remote_address(connection: ServerConnection) -> str:
    return peer_address(connection.transport)


# --- transport security ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TransportRefusal:
    """Why :func:`check_transport` refuses a connection."""

    reason: RefusalReason
    status: http.HTTPStatus = http.HTTPStatus.FORBIDDEN
    # Counts as a failed login (throttling): someone presented another charger's identity.
    failed_login: bool = False


def _must_log_in(
    admission: Admission, verdict: ConnectionSecurity | TransportRefusal, password: str | None
) -> bool:
    """Whether a connection without the charger's own certificate must present its password."""
    # Profile 2 and 3: the password is a must.
    if (
        isinstance(verdict, ConnectionSecurity)
        and verdict.configured_profile >= SecurityProfile.TLS_BASIC_AUTH
    ):
        return True
    # So for a charger accepted on another of our servers (pending here, with a password): it
    # moves here once it boots, and is given its password; any device could otherwise move it
    # and take the password.
    return admission is Admission.PENDING and password is not None


def check_transport(
    charger_id: str, settings: ChargerSettings, peer: TlsPeer | None, *, now: datetime
) -> ConnectionSecurity | TransportRefusal:
    """Whether the connection's transport satisfies the charger's security profile.

    ``peer`` is None on plain ws. A client certificate was verified against our CA by OpenSSL;
    here it must be valid at ``now`` and name ``charger_id`` as its CN (whatever the profile: a
    charger presenting another one's certificate is refused). A connection lower than the profile
    is refused unless ``settings.allow_security_downgrade``. Basic auth is checked afterwards."""
    configured = settings.security_profile
    certificate: CertificateInfo | None = None
    if peer is None:
        seen = SecurityProfile.BASIC_AUTH
    elif peer.certificate is None:
        seen = SecurityProfile.TLS_BASIC_AUTH
    else:
        certificate = CertificateInfo.of(peer.certificate)
        if not certificate.valid_at(now):
            return TransportRefusal(reason=RefusalReason.CERTIFICATE_INVALID, failed_login=True)
        if certificate.subject_cn != charger_id:
            return TransportRefusal(reason=RefusalReason.CERTIFICATE_MISMATCH, failed_login=True)
        seen = SecurityProfile.TLS_CLIENT_CERTIFICATE
    downgraded = seen < configured
    if downgraded and not settings.allow_security_downgrade:
        return TransportRefusal(
            reason=RefusalReason.TLS_REQUIRED
            if peer is None
            else RefusalReason.CERTIFICATE_REQUIRED
        )
    return ConnectionSecurity(
        profile=seen,
        configured_profile=configured,
        downgraded=downgraded,
        tls_version=None if peer is None else peer.version,
        cipher=None if peer is None else peer.cipher,
        certificate_cn=None if certificate is None else certificate.subject_cn,
        certificate_serial=None if certificate is None else certificate.serial_number,
        certificate_fingerprint=None if certificate is None else certificate.fingerprint_sha256,
        certificate_expires=None if certificate is None else certificate.not_valid_after,
    )


# --- the handshake ---------------------------------------------------------------------------------
class Handshake:
    """The admission checks of one central system, and what they remember: login throttles, where
    chargers last connected from, refusals.

    The central system owns the chargers and connections; the handshake sees them through the
    callables it is given: ``charger`` (the model of an id, if any), ``open_connection`` (the
    charger's open websocket, if any), ``make_pending_room`` (register a pending id from an address;
    False when the list is full), ``reset_auth`` (forget a charger's password state), ``ping_timeout_s``
    (for takeover checks).
    """

    def __init__(
        self,
        settings: ServerSettings,
        directory: ChargerDirectory,
        *,
        clock: Clock,
        charger: Callable[[str], Charger | None],
        open_connection: Callable[[str], ServerConnection | None],
        make_pending_room: Callable[[str, str], bool],
        reset_auth: Callable[[Charger], None],
        ping_timeout_s: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._directory = directory
        self._clock = clock
        self._charger = charger
        self._open_connection = open_connection
        self._make_pending_room = make_pending_room
        self._reset_auth = reset_auth
        self._ping_timeout_s = ping_timeout_s
        self._id_throttle = LoginThrottle(clock)
        self._address_throttle = LoginThrottle(clock)
        # Where each charger last connected from: exempt from its id's throttle.
        self._known_address: dict[str, str] = {}
        # Unauthenticated handshakes -> the open connection they found (None: none).
        self._checked: weakref.WeakKeyDictionary[ServerConnection, ServerConnection | None] = (
            weakref.WeakKeyDictionary()
        )
        # Admitted handshakes -> how they are secured (taken when the connection opens).
        self._security: weakref.WeakKeyDictionary[ServerConnection, ConnectionSecurity] = (
            weakref.WeakKeyDictionary()
        )
        self._last_refusal: Refusal | None = None
        self._refusal_listeners: list[Callable[[Refusal], None]] = []
        self._warned: OrderedDict[tuple[str, RefusalReason], None] = OrderedDict()
        self._warning_window: tuple[float, int] = (-REFUSAL_WARNING_WINDOW_S, 0)  # (start, count)

    # --- what the central system asks -------------------------------------------------------------
    @property
    def last_refusal(self) -> Refusal | None:
        return self._last_refusal

    def add_refusal_listener(self, callback: Callable[[Refusal], None]) -> Callable[[], None]:
        self._refusal_listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._refusal_listeners:
                self._refusal_listeners.remove(callback)

        return unsubscribe

    def take_checked(self, connection: ServerConnection) -> ServerConnection | None:
        """The open connection an unauthenticated handshake found (None: none, or authenticated)."""
        return self._checked.pop(connection, None)

    def take_security(self, connection: ServerConnection) -> ConnectionSecurity:
        """How an admitted connection is secured (recorded by :meth:`process_request`)."""
        security = self._security.pop(connection, None)
        if security is None:  # pragma: no cover - every admitted handshake records it
            return ConnectionSecurity(
                profile=SecurityProfile.BASIC_AUTH, configured_profile=SecurityProfile.BASIC_AUTH
            )
        return security

    def connected(self, charger_id: str, remote: str) -> None:
        """The charger is in: its address is exempt from its id's block; a refusal recurring
        after this is warned about again."""
        self._known_address[charger_id] = remote
        for reason in RefusalReason:
            self._warned.pop((charger_id, reason), None)

    def forget(self, charger_id: str) -> None:
        self._known_address.pop(charger_id, None)

    def chargers_at(self, remote: str) -> list[str]:
        """The chargers that last connected from ``remote``."""
        return [
            charger_id for charger_id, address in self._known_address.items() if address == remote
        ]

    def prune(self) -> None:
        """Drop expired throttle entries."""
        self._id_throttle.prune()
        self._address_throttle.prune()

    # --- the checks ---------------------------------------------------------------------------------
    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit or refuse a charger before the websocket opens (see the module docstring)."""
        remote = remote_address(connection)
        path = request.path
        charger_id = parse_charger_id(path)
        if charger_id is None:
            return self.refuse(
                connection,
                None,
                path,
                remote,
                RefusalReason.INVALID_ID,
                http.HTTPStatus.BAD_REQUEST,
            )

        admission = self._directory.admission(charger_id)
        if admission is Admission.REJECTED:
            return self.refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.REJECTED,
                http.HTTPStatus.NOT_FOUND,
            )
        if admission is Admission.PENDING and not self._settings.allow_new_chargers:
            return self.refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.NOT_ALLOWED,
                http.HTTPStatus.NOT_FOUND,
            )

        verdict = check_transport(
            charger_id,
            self._directory.settings(charger_id),
            tls_peer(connection.transport.get_extra_info("ssl_object")),
            now=now_utc(),
        )
        certified = (
            isinstance(verdict, ConnectionSecurity)
            and verdict.profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
        )
        # Several Authorization headers are not credentials (and .get() would raise on them).
        headers = request.headers.get_all("Authorization")
        header = headers[0] if len(headers) == 1 else ("" if headers else None)
        password = self._directory.password(charger_id)
        password_ok = (
            header is not None
            and password is not None
            and auth.check_credentials(header, charger_id, password)
        )
        charger = self._charger(charger_id)
        committed = charger is not None and charger.auth_committed
        required = _must_log_in(admission, verdict, password)
        # The right password (or the charger's own certificate) is never refused by the charger
        # id's block: failures from elsewhere must not lock the charger out (also after a
        # restart, when its address is not known yet). Guessing stays throttled per address.
        # Neither is a request with nothing to prove: no credentials, let in without them (the
        # password is not in the charger yet) and taking over no open connection.
        proven = (
            certified
            or password_ok
            or (
                header is None
                and not committed
                and not required
                and self._open_connection(charger_id) is None
            )
        )
        if (retry_after := self._retry_after(charger_id, remote, proven=proven)) is not None:
            # A wrong guess while the id is blocked still counts for its address: else the block
            # answered every guess (429) but the right one (101), without limit.
            guessed = header is not None and password is not None and not password_ok
            return self._throttled(connection, charger_id, path, remote, retry_after, guessed)

        if isinstance(verdict, TransportRefusal):
            if verdict.failed_login:
                self.login_failed(charger_id, remote)
            return self.refuse(connection, charger_id, path, remote, verdict.reason, verdict.status)

        basic_auth = False
        if not certified:
            checked = self._check_password(
                connection,
                charger_id,
                path,
                remote,
                header=header,
                password=password,
                password_ok=password_ok,
                committed=committed,
                required=required,
            )
            if isinstance(checked, Response):
                return checked
            basic_auth = checked
        authenticated = certified or basic_auth

        previous = self._open_connection(charger_id)
        if not authenticated and await self._alive(connection, charger_id, previous, admission):
            self.login_failed(charger_id, remote)
            return self.refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.ALREADY_CONNECTED,
                http.HTTPStatus.CONFLICT,
            )
        if previous is not None and not authenticated:
            _LOGGER.info(
                "Charger %s: its open connection does not answer a ping; the new one from %s "
                "replaces it",
                charger_id,
                remote,
            )
            previous.transport.abort()
        if not authenticated:
            # What this handshake found (see CentralSystem._may_take_over: another may race it).
            self._checked[connection] = previous

        if admission is Admission.PENDING and not self._make_pending_room(charger_id, remote):
            response = self.refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.TOO_MANY_PENDING,
                http.HTTPStatus.SERVICE_UNAVAILABLE,
            )
            response.headers["Retry-After"] = str(int(HOUSEKEEPING_INTERVAL_S))
            return response
        if (
            admission is Admission.PENDING
            and charger is not None
            and (charger.auth_provisioned or charger.auth_committed)
        ):
            # Deleted and now asking again: whatever password it had belongs to the old entry.
            # Accepting it again offers the new one (two-phase), so it cannot be locked out.
            self._reset_auth(charger)

        if authenticated:
            connection.username = charger_id
            self._id_throttle.success(charger_id)
            self._address_throttle.success(remote)
        if basic_auth:
            self._directory.on_auth_success(charger_id)
        self._security[connection] = replace(verdict, basic_auth=basic_auth)
        return None

    def _check_password(
        self,
        connection: ServerConnection,
        charger_id: str,
        path: str,
        remote: str,
        *,
        header: str | None,
        password: str | None,
        password_ok: bool,
        committed: bool,
        required: bool,
    ) -> Response | bool:
        """Basic auth: True when the charger logged in with its password, False when it need not
        (and did not try), else the 401 refusal. ``committed``: it logged in with its password
        before (from then on only the password works); ``required``: it must log in (profile 2
        or 3, or accepted on another of our servers)."""
        if header is None and not committed and not required:
            return False
        if password_ok:
            return True
        if password is None and not required:
            # Nothing to check against (never provisioned, "no password" chosen, or the host lost
            # it): a profile-1 charger is let in rather than locked out for good.
            _LOGGER.debug("Charger %s sent credentials but has no password", charger_id)
            return False
        if password is not None:  # a wrong password (not a missing one of ours): a failed login
            self.login_failed(charger_id, remote)
            self._directory.on_auth_failure(charger_id, remote)
        response = self.refuse(
            connection,
            charger_id,
            path,
            remote,
            RefusalReason.BAD_CREDENTIALS,
            http.HTTPStatus.UNAUTHORIZED,
        )
        response.headers["WWW-Authenticate"] = BASIC_REALM
        return response

    def _throttled(
        self,
        connection: ServerConnection,
        charger_id: str,
        path: str,
        remote: str,
        retry_after: int,
        guessed: bool,
    ) -> Response:
        """Refuse a blocked id or address (HTTP 429); ``guessed``: it sent a wrong password."""
        if guessed:
            self._failed(self._address_throttle, remote, f"address {remote}")
        response = self.refuse(
            connection,
            charger_id,
            path,
            remote,
            RefusalReason.THROTTLED,
            http.HTTPStatus.TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    def refuse(
        self,
        connection: ServerConnection,
        charger_id: str | None,
        path: str,
        remote: str,
        reason: RefusalReason,
        status: http.HTTPStatus,
    ) -> Response:
        """Answer ``status``; record the refusal; log it at WARNING once per id and reason (a
        throttled login only at DEBUG: the throttle warned when it started)."""
        # Without the query string: it may carry a token.
        shown_path = path.split("?", 1)[0][:_MAX_LOGGED_PATH]
        refusal = Refusal(
            charger_id=charger_id, path=shown_path, reason=reason, remote=remote, at=now_utc()
        )
        self._last_refusal = refusal
        key = (charger_id if charger_id is not None else shown_path, reason)
        level = logging.DEBUG
        if key in self._warned:
            self._warned.move_to_end(key)
        else:
            self._warned[key] = None
            while len(self._warned) > _MAX_WARNED_REFUSALS:
                self._warned.popitem(last=False)
            if reason is not RefusalReason.THROTTLED and self.warning_allowed():
                level = logging.WARNING
        _LOGGER.log(
            level,
            "Refused connection %s from %s: %s (HTTP %d)",
            f"of charger {charger_id}" if charger_id is not None else f"to {key[0]!r}",
            remote,
            _REFUSAL_TEXT[reason],
            status,
        )
        for callback in list(self._refusal_listeners):
            callback(refusal)
        return connection.respond(status, f"{status.phrase}: {_REFUSAL_TEXT[reason]}\n")

    def warning_allowed(self) -> bool:
        """Budget of refusal warnings per window (refused TLS handshakes use it too); says once
        when it runs out."""
        now = self._clock()
        start, count = self._warning_window
        if now - start >= REFUSAL_WARNING_WINDOW_S:
            start, count = now, 0
        count += 1
        self._warning_window = (start, count)
        if count == REFUSAL_WARNINGS_PER_WINDOW + 1:
            _LOGGER.warning(
                "Many refused connections: further ones are logged at DEBUG for %.0f minutes "
                '(the server\'s "Last refused connection" sensor shows the latest)',
                (start + REFUSAL_WARNING_WINDOW_S - now) / 60,
            )
        return count <= REFUSAL_WARNINGS_PER_WINDOW

    def _retry_after(self, charger_id: str, remote: str, *, proven: bool = False) -> int | None:
        """Seconds the id or the address must still wait after failed logins (None: go ahead).

        The id's block spares the address the charger last connected from and a request that
        proved itself (``proven``); the address block applies to everyone."""
        waits = [self._address_throttle.retry_after(remote)]
        if not proven and self._known_address.get(charger_id) != remote:
            waits.append(self._id_throttle.retry_after(charger_id))
        blocked = [wait for wait in waits if wait is not None]
        return max(blocked) if blocked else None

    def login_failed(self, charger_id: str, remote: str) -> None:
        self._failed(self._id_throttle, charger_id, f"charger {charger_id}")
        self._failed(self._address_throttle, remote, f"address {remote}")

    @staticmethod
    def _failed(throttle: LoginThrottle, key: str, what: str) -> None:
        delay = throttle.failure(key)
        if delay is not None:
            # Once per burst at WARNING: the first block; longer ones follow at DEBUG.
            first = throttle.failures(key) == THROTTLE_FAILURES
            _LOGGER.log(
                logging.WARNING if first else logging.DEBUG,
                "Too many failed logins for %s: its logins are refused for %.0f s (HTTP 429)",
                what,
                delay,
            )

    async def _alive(
        self,
        connection: ServerConnection,
        charger_id: str,
        previous: ServerConnection | None,
        admission: Admission,
    ) -> bool:
        """Whether the charger is connected and answers a ping: here (``previous``, its open
        connection), or, for one accepted on another of our servers (pending here), there. An
        unauthenticated handshake must not take its place (nor move it from a server where it is
        alive)."""
        if previous is None and admission is not Admission.PENDING:
            return False
        if isinstance(connection, OpeningConnection):
            # Its request is in; the wait for the ping is ours: no flood may close it as an idle
            # connection meanwhile (the guard's idle time is below the ping's timeout).
            connection.release_slot()
        if previous is not None:
            return await self.answers_ping(previous)
        return await self._directory.answers_elsewhere(charger_id)

    async def answers_ping(self, connection: ServerConnection) -> bool:
        """True when the socket answers a ping in time (it is alive)."""
        try:
            # Sending waits too when the peer stops reading (a full write buffer): in the timeout.
            async with asyncio.timeout(self._ping_timeout_s()):
                pong = await connection.ping()
                await pong
        except ConnectionClosed, TimeoutError:
            return False
        return True
