# ruff: noqa: F811 - the TLS fixtures of test_tls are imported, and requested by name
"""Failed TLS handshakes on the wss:// listener are reported: a WARNING naming the peer address
and the reason in plain words (once per address and reason per window), an exact counter, and
the listeners (HA: the server's security event). Real TLS on 127.0.0.1: Python's ssl clients
with a foreign or expired client certificate, TLS 1.1, a ws:// client and raw bytes on the TLS
port; a good charger stays connected and served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_ems.core.guard import MAX_OPENING_PER_ADDRESS
from custom_components.ocpp_ems.core.handshake import REFUSAL_WARNINGS_PER_WINDOW
from custom_components.ocpp_ems.core.security import CertificateAuthority
from custom_components.ocpp_ems.core.security.tls import (
    TlsFailureReason,
    loggable_name,
    tls_failure,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.tls_listener import (
    SERVER_NAME_ERRORS,
    TLS_FAILURE_WINDOW_S,
    TlsFailure,
    TlsFailureLog,
)
from tests.helpers.tls_client import blocking_handshake

from .certificate_fixtures import FakeClock
from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .test_tls import (  # noqa: F401 - fixtures
    LOCALHOST,
    PASSWORD,
    TLS_SETTINGS,
    Charger,
    basic,
    ca,
    charger,
    connected,
    credentials,
    foreign_ca,
    server_context,
    tls_refused,
    wss,
)
from .v16_harness import wait_for

LOGGER = "custom_components.ocpp_ems.core.tls_listener"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def central(
    make_central: MakeCentral, server_context: ssl.SSLContext, clock: FakeClock
) -> CentralSystem:
    return await make_central(settings=TLS_SETTINGS, tls=server_context, clock=clock)


@pytest.fixture
def reported(central: CentralSystem) -> list[TlsFailure]:
    failures: list[TlsFailure] = []
    central.tls_failures.add_listener(failures.append)
    return failures


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER and record.levelno == logging.WARNING
    ]


async def send_raw(central: CentralSystem, data: bytes) -> bytes:
    """Open a TCP connection to the TLS port, send ``data``, read until the server closes."""
    reader, writer = await asyncio.open_connection(LOCALHOST, central.tls_port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def expired_certificate(charger: Charger, ca: CertificateAuthority) -> None:
    now = datetime.now(UTC)
    charger.get_certificate(
        "CP3", ca, not_valid_before=now - timedelta(days=30), not_valid_after=now - timedelta(1)
    )


def old_tls_context(charger: Charger) -> ssl.SSLContext:
    with pytest.warns(DeprecationWarning, match="TLSVersion"):
        context = charger.context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


async def _foreign_ca(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    charger.get_certificate("CP3", foreign)
    await tls_refused(wss(central, "CP3"), charger.context())


async def _expired(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    expired_certificate(charger, ca)
    await tls_refused(wss(central, "CP3"), charger.context())


async def _tls_1_1(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    await tls_refused(wss(central, "CP3"), old_tls_context(charger))


async def _plain_http(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    # A charger configured with ws:// but the TLS port.
    assert await send_raw(central, b"GET /ocpp/CP3 HTTP/1.1\r\nHost: x\r\n\r\n") == b""


async def _garbage(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    await send_raw(central, b"\x00\x01\x02garbage" * 10)


async def _distrusts_us(
    central: CentralSystem,
    charger: Charger,
    ca: CertificateAuthority,
    foreign: CertificateAuthority,
) -> None:
    context = Charger(charger.tmp_path, foreign).context()
    error = await asyncio.to_thread(blocking_handshake, central.tls_port, context)
    assert isinstance(error, ssl.SSLCertVerificationError)


CASES = {
    "foreign_ca": (_foreign_ca, TlsFailureReason.UNKNOWN_CA, "certificate not issued by our CA"),
    "expired": (_expired, TlsFailureReason.CERTIFICATE_EXPIRED, "certificate expired"),
    "tls_1_1": (_tls_1_1, TlsFailureReason.VERSION_TOO_OLD, "TLS version too old"),
    "plain_http": (_plain_http, TlsFailureReason.NOT_TLS, "not TLS"),
    "garbage": (_garbage, TlsFailureReason.NOT_TLS, "not TLS"),
    "distrusts_us": (
        _distrusts_us,
        TlsFailureReason.SERVER_CERTIFICATE_REFUSED,
        "it does not accept our server certificate (install our CA certificate in it)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_failed_handshake_is_logged_counted_and_reported(
    central: CentralSystem,
    directory: MemoryDirectory,
    reported: list[TlsFailure],
    charger: Charger,
    tmp_path: Path,
    ca: CertificateAuthority,
    foreign_ca: CertificateAuthority,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    attempt, reason, text = CASES[case]
    directory.accept("CP3")
    directory.set_security("CP3", 3)
    directory.accept("GOOD", PASSWORD)
    directory.set_security("GOOD", 2)
    good = Charger(tmp_path / "good", ca)
    (tmp_path / "good").mkdir()
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with connected(
        central, wss(central, "GOOD"), "GOOD", ssl=good.context(), additional_headers=basic("GOOD")
    ) as client:
        session = central.session("GOOD")
        await attempt(central, charger, ca, foreign_ca)
        await wait_for(lambda: central.tls_failures.total == 1)
        # The good charger was served throughout: same connection, and it still answers.
        pong = await client.ping()
        await asyncio.wait_for(pong, 5)
        assert central.session("GOOD") is session
    assert dict(central.tls_failures.counts) == {reason: 1}
    assert [failure.reason for failure in reported] == [reason]
    failure = reported[0]
    assert failure.remote == LOCALHOST
    assert failure.count == 1
    # GOOD connected from this address: the report names it as a possible culprit.
    assert failure.charger_ids == ("GOOD",)
    assert central.tls_failures.last is failure
    [line] = warnings(caplog)
    assert line.startswith(f"TLS connection from {LOCALHOST} failed: {text}")
    assert "charger GOOD last connected from there" in line
    # The HTTP handshake never ran: no refusal of it, no session.
    assert central.last_refusal is None
    assert central.session("CP3") is None
    if case in ("foreign_ca", "expired", "tls_1_1", "distrusts_us"):
        assert failure.server_name is None  # an IP address in the URL: no SNI sent


async def test_the_sni_host_name_is_reported(
    central: CentralSystem, reported: list[TlsFailure], charger: Charger, ca: CertificateAuthority
) -> None:
    expired_certificate(charger, ca)
    context = charger.context()
    context.check_hostname = False
    await asyncio.to_thread(blocking_handshake, central.tls_port, context, "ems.example")
    await wait_for(lambda: reported)
    assert reported[0].server_name == "ems.example"
    assert reported[0].reason is TlsFailureReason.CERTIFICATE_EXPIRED


async def test_an_sni_host_name_with_a_line_break_cannot_forge_a_log_line(
    central: CentralSystem,
    reported: list[TlsFailure],
    foreign_ca: CertificateAuthority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OpenSSL refuses only NUL bytes in an SNI host name: the rest is escaped before it reaches
    the WARNING and the report."""
    context = Charger(tmp_path, foreign_ca).context()  # distrusts our server certificate
    context.check_hostname = False
    forged = "ems.local\n2026-01-01 00:00:00.000 WARNING (MainThread) [homeassistant] forged"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await asyncio.to_thread(blocking_handshake, central.tls_port, context, forged)
        await wait_for(lambda: reported)
    [line] = warnings(caplog)
    assert "\n" not in line
    assert "ems.local\\n2026" in line
    assert reported[0].server_name == forged.replace("\n", "\\n")


def test_a_long_host_name_is_cut() -> None:
    name = loggable_name("a" * 300 + "\r")
    assert len(name) == 253
    assert name.endswith("...")
    assert loggable_name("ems.local") == "ems.local"


def client_hello(server_name: bytes) -> bytes:
    """A real ClientHello (Python's TLS client) whose SNI host name is replaced by
    ``server_name`` of the same length (the lengths around it stay right)."""
    placeholder = b"a" * len(server_name)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=placeholder.decode())
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = outgoing.read()
    assert hello.count(placeholder) == 1
    return hello.replace(placeholder, server_name)


async def test_a_non_ascii_sni_host_name_is_a_failure_not_a_traceback(
    central: CentralSystem, reported: list[TlsFailure], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's servername callback cannot decode it and hands the error to
    sys.unraisablehook (a traceback per handshake); that one error is dropped while handshakes
    run, other unraisable errors still reach the hook."""
    unraisable: list[Any] = []  # sys.UnraisableHookArgs (no runtime type)
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    dropped = SERVER_NAME_ERRORS.dropped
    for _ in range(3):
        assert await send_raw(central, client_hello(b"\xff\xfe\xfdhost")) == b""
    await wait_for(lambda: central.tls_failures.total == 3)
    assert unraisable == []
    assert SERVER_NAME_ERRORS.dropped == dropped + 3
    assert dict(central.tls_failures.counts) == {TlsFailureReason.BAD_SERVER_NAME: 3}
    assert reported[0].reason is TlsFailureReason.BAD_SERVER_NAME
    assert sys.unraisablehook == unraisable.append  # given back after the handshakes
    with SERVER_NAME_ERRORS.active():
        _FailsWhenDeleted()
    [other] = unraisable
    assert isinstance(other.exc_value, ValueError)


class _FailsWhenDeleted:
    def __del__(self) -> None:
        raise ValueError("another unraisable error")


async def test_tls_on_the_plain_port_is_reported(
    central: CentralSystem,
    reported: list[TlsFailure],
    charger: Charger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A charger set up for wss:// with the plain port: its ClientHello is reported like plain
    HTTP on the TLS port (websockets alone drops it at DEBUG)."""
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(2):
            await asyncio.to_thread(blocking_handshake, central.port, charger.context())
        await wait_for(lambda: central.tls_failures.total == 2)
    assert dict(central.tls_failures.counts) == {TlsFailureReason.TLS_ON_PLAIN_PORT: 2}
    assert [failure.reason for failure in reported] == [TlsFailureReason.TLS_ON_PLAIN_PORT]
    [line] = warnings(caplog)  # once per address and window
    assert "TLS on the plain ws:// port" in line


async def test_a_flood_is_counted_exactly_but_warned_about_once(
    central: CentralSystem,
    reported: list[TlsFailure],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    for _ in range(200 // MAX_OPENING_PER_ADDRESS + 1):  # as many at once as one address may
        batch = min(MAX_OPENING_PER_ADDRESS, 200 - central.tls_failures.total)
        await asyncio.gather(*(send_raw(central, b"\x16\x00garbage\r\n" * 4) for _ in range(batch)))
        await wait_for(lambda: len(central.opening_connections) == 0)
    await wait_for(lambda: central.tls_failures.total == 200)
    assert central.tls_failures.counts[TlsFailureReason.NOT_TLS] == 200
    assert len(warnings(caplog)) == 1
    assert len(reported) == 1
    # After the window, the next one is reported again, with the ones in between.
    clock.now += TLS_FAILURE_WINDOW_S
    await send_raw(central, b"garbage")
    await wait_for(lambda: len(reported) == 2)
    assert reported[1].count == 200
    assert "200 such failures from this address since the last warning" in warnings(caplog)[1]
    assert central.tls_failures.total == 201


async def test_many_addresses_share_the_refusal_warning_budget(
    central: CentralSystem, reported: list[TlsFailure], caplog: pytest.LogCaptureFixture
) -> None:
    """Other addresses (127.0.0.x: all loopback) each get their warning until the server-wide
    budget of refusal warnings runs out."""
    for last in range(2, 2 + REFUSAL_WARNINGS_PER_WINDOW + 5):
        reader, writer = await asyncio.open_connection(
            LOCALHOST, central.tls_port, local_addr=(f"127.0.0.{last}", 0)
        )
        writer.write(b"garbage")
        await reader.read()
        writer.close()
    await wait_for(lambda: central.tls_failures.total == REFUSAL_WARNINGS_PER_WINDOW + 5)
    assert len(reported) == REFUSAL_WARNINGS_PER_WINDOW
    assert len(warnings(caplog)) == REFUSAL_WARNINGS_PER_WINDOW


async def test_a_scan_or_an_idle_client_is_counted_not_reported(
    central: CentralSystem, reported: list[TlsFailure], caplog: pytest.LogCaptureFixture
) -> None:
    _reader, writer = await asyncio.open_connection(LOCALHOST, central.tls_port)
    writer.close()  # connect and close: a port scan
    await wait_for(lambda: central.tls_failures.counts[TlsFailureReason.CLOSED] == 1)
    # A client that never sends its ClientHello keeps the listener from closing only until the
    # server stops: stop() drops it at once.
    _reader, writer = await asyncio.open_connection(LOCALHOST, central.tls_port)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await central.stop()
    assert time.monotonic() - started < 2
    writer.close()
    assert reported == []
    assert warnings(caplog) == []


def test_classification_of_other_errors() -> None:
    assert tls_failure(TimeoutError()).reason is TlsFailureReason.TIMEOUT
    assert tls_failure(ConnectionAbortedError("slow")).reason is TlsFailureReason.TIMEOUT
    assert tls_failure(ConnectionResetError()).reason is TlsFailureReason.CLOSED
    assert tls_failure(ssl.SSLEOFError()).reason is TlsFailureReason.CLOSED
    assert tls_failure(ValueError("?")).reason is TlsFailureReason.HANDSHAKE_FAILED


def test_the_memory_of_addresses_is_bounded(clock: FakeClock) -> None:
    """A scan from many addresses: each is counted, warned about within the budget, and only
    the most recent addresses are remembered."""
    budget = iter([True] * 5)
    log = TlsFailureLog(
        clock, warning_allowed=lambda: next(budget, False), chargers_at=lambda _remote: []
    )
    reported: list[TlsFailure] = []
    log.add_listener(reported.append)
    error = ssl.SSLError(1, "[SSL: HTTP_REQUEST] http request")
    error.reason = "HTTP_REQUEST"
    for host in range(300):
        log.record(f"10.0.{host // 256}.{host % 256}", error)
    assert log.counts == {TlsFailureReason.NOT_TLS: 300}
    assert [failure.remote for failure in reported] == [f"10.0.0.{n}" for n in range(5)]
    # With the budget back: the first address (reported, its window not over) was forgotten,
    # so it is reported afresh; the last one (held back) is remembered with its count.
    budget = iter([True] * 2)
    log.record("10.0.0.0", error)
    log.record("10.0.1.43", error)
    assert [(failure.remote, failure.count) for failure in reported[5:]] == [
        ("10.0.0.0", 1),
        ("10.0.1.43", 2),
    ]
