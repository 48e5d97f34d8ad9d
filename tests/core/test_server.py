"""CentralSystem over real websockets on 127.0.0.1: handshake, admission, auth, reconnects, stop.

The protocol adapter is replaced by a small echo session (the server's contract with adapters is
the ChargerSession interface; the real 1.6 adapter is tested on its own). The server itself is
never mocked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from custom_components.ocpp_ems.core import handshake as handshake_module
from custom_components.ocpp_ems.core import server as server_module
from custom_components.ocpp_ems.core.auth import password_to_authorization_key
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import CommandNotSupportedError, ServerBindError
from custom_components.ocpp_ems.core.guard import (
    MAX_PENDING_CHARGERS,
    PENDING_FORGET_AFTER_S,
    THROTTLE_WINDOW_S,
    LoginThrottle,
    PendingChargers,
    Refusal,
    RefusalReason,
)
from custom_components.ocpp_ems.core.handshake import (
    REFUSAL_WARNING_WINDOW_S,
    REFUSAL_WARNINGS_PER_WINDOW,
    TAKEOVER_PING_TIMEOUT_S,
)
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargerEvent,
    EventKind,
    Transaction,
)
from custom_components.ocpp_ems.core.persistence import state_from_dict, state_to_dict
from custom_components.ocpp_ems.core.protocol import SessionFactory, select_version
from custom_components.ocpp_ems.core.server import (
    CentralSystem,
    ProvisionResult,
    parse_charger_id,
)
from custom_components.ocpp_ems.core.session import ChargerSession, LimitRequest, SessionContext
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .certificate_fixtures import FakeClock
from .conftest import MakeCentral
from .fakes import MemoryDirectory, MemoryStore

PASSWORD = "s3cret-Pa55word-0123456789"


class EchoSession(ChargerSession):
    """Minimal adapter: echoes frames; "boot" / "save" / "crash" drive the server's callbacks."""

    def __init__(
        self, connection: ServerConnection, charger: Charger, context: SessionContext
    ) -> None:
        self.connection = connection
        self.charger = charger
        self.context = context
        self.ocpp_version = connection.subprotocol or "ocpp1.6"
        self.closed = False
        self.accepted_with: list[str | None] = []

    async def run(self) -> None:
        async for message in self.connection:
            if message == "boot":
                self.context.on_booted()
            elif message == "save":
                self.context.request_save()
            elif message == "crash":
                raise RuntimeError("adapter bug")
            await self.connection.send(f"echo:{message!s}")

    async def close(self) -> None:
        self.closed = True
        await self.connection.close()

    async def on_accepted(self, password: str | None) -> None:
        self.accepted_with.append(password)

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise CommandNotSupportedError("test")

    reset = unlock = remote_start = remote_stop = get_configuration = set_configuration = (
        change_availability
    ) = clear_cache = trigger_message = data_transfer = update_firmware = request_diagnostics = (
        send_local_list
    ) = get_local_list_version = reserve_now = cancel_reservation = set_limit_profile = (
        set_raw_profile
    ) = clear_profiles = get_composite_limit = get_composite_schedule = _unsupported
    # Security (profiles 2 and 3): certificates, security profile, signed firmware, logs.
    install_root_certificate = get_installed_certificate_ids = delete_certificate = (
        request_new_client_certificate
    ) = set_security_profile = set_network_profile = signed_update_firmware = get_log = _unsupported


class StubbornSession(EchoSession):
    """An adapter that neither closes its socket nor returns from run(): the server must cope."""

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        await asyncio.Event().wait()


@pytest.fixture
def sessions() -> list[EchoSession]:
    return []


def factories_of(
    cls: type[EchoSession], sessions: list[EchoSession], versions: tuple[str, ...] = ("ocpp1.6",)
) -> dict[str, SessionFactory]:
    """Session factories creating ``cls`` for each of ``versions``; ``sessions`` collects them."""

    def factory(
        connection: ServerConnection, charger: Charger, context: SessionContext
    ) -> ChargerSession:
        session = cls(connection, charger, context)
        sessions.append(session)
        return session

    return dict.fromkeys(versions, factory)


@pytest.fixture
def factories(sessions: list[EchoSession]) -> dict[str, SessionFactory]:
    return factories_of(EchoSession, sessions, versions=("ocpp1.6", "ocpp2.0.1"))


@pytest.fixture
async def central(make_central: MakeCentral, factories: dict[str, SessionFactory]) -> CentralSystem:
    return await make_central(factories=factories)


def url(central: CentralSystem, path: str = "/ocpp/CP1") -> str:
    return f"ws://127.0.0.1:{central.port}{path}"


def basic(username: str, password: bytes) -> dict[str, str]:
    token = base64.b64encode(username.encode() + b":" + password).decode()
    return {"Authorization": f"Basic {token}"}


async def roundtrip(ws: ClientConnection, message: str = "ping") -> None:
    """Send and await the echo: afterwards the server has registered the connection."""
    await ws.send(message)
    assert await ws.recv() == f"echo:{message}"


async def until(condition: Callable[[], bool]) -> None:
    """Poll server-side state that changes after the client saw its socket close."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the state has no event to wait on
            await asyncio.sleep(0.01)


async def refused(central: CentralSystem, path: str, **kwargs: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url(central, path), **kwargs):
            pass
    return info.value


# --- charger id ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/CP1", "CP1"),
        ("/CP1", "CP1"),
        ("/ocpp/CP1/", "CP1"),
        ("/ocpp//CP1//", "CP1"),
        ("/ocpp/CP%201", "CP 1"),
        ("/ocpp/%C3%A9t%C3%A9", "été"),
        ("/ocpp/CP1?token=x", "CP1"),
        ("/" + "x" * 48, "x" * 48),
        ("/" + "x" * 49, None),
        ("/ocpp/a%3Ab", None),
        ("/ocpp/a:b", None),
        ("/", None),
        ("", None),
        ("/ocpp/%0A", None),
        ("/ocpp/%20", None),
        # ws://host:9000/ + "ID" gives "//ID", which urlsplit would read as a host name.
        ("//CP1", "CP1"),
        ("//ocpp//CP1", "CP1"),
        ("CP1", "CP1"),
        ("/ocpp/CP1?next=/other", "CP1"),
        ("/ocpp/CP1#frag", "CP1"),
        ("/ocpp/C%50%31/?a=b", "CP1"),
        ("//", None),
        ("/?CP1", None),
    ],
)
def test_parse_charger_id(path: str, expected: str | None) -> None:
    assert parse_charger_id(path) == expected


async def test_url_encoded_id_and_trailing_slash(
    central: CentralSystem, sessions: list[EchoSession]
) -> None:
    async with connect(url(central, "/ocpp/My%20Charger/")) as ws:
        await roundtrip(ws)
        assert sessions[0].charger.charger_id == "My Charger"
        assert central.session("My Charger") is sessions[0]


@pytest.mark.parametrize("path", ["/", "/ocpp/" + "x" * 49, "/ocpp/a%3Ab"])
async def test_invalid_id_is_400(central: CentralSystem, path: str) -> None:
    assert (await refused(central, path)).response.status_code == 400


# --- subprotocol ---------------------------------------------------------------------------------
async def test_no_subprotocol_offered_means_ocpp16(
    central: CentralSystem, sessions: list[EchoSession]
) -> None:
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        assert ws.subprotocol is None
        assert central.charger("CP1").ocpp_version == "ocpp1.6"


async def test_the_chargers_first_common_version_wins(
    central: CentralSystem, sessions: list[EchoSession]
) -> None:
    async with connect(url(central), subprotocols=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]) as ws:  # type: ignore[list-item]
        await roundtrip(ws)
        assert ws.subprotocol == "ocpp2.0.1"
        assert central.charger("CP1").ocpp_version == "ocpp2.0.1"


async def test_subprotocol_case_is_echoed(central: CentralSystem) -> None:
    async with connect(url(central), subprotocols=["OCPP1.6"]) as ws:  # type: ignore[list-item]
        await roundtrip(ws)
        assert ws.subprotocol == "OCPP1.6"
        assert central.charger("CP1").ocpp_version == "ocpp1.6"


async def test_only_unsupported_subprotocols_is_400(central: CentralSystem) -> None:
    error = await refused(central, "/CP1", subprotocols=["ocpp1.5", "ocpp1.2"])
    assert error.response.status_code == 400
    assert b"unsupported subprotocol" in error.response.body
    assert central.session("CP1") is None


async def test_no_default_adapter_requires_a_subprotocol(
    make_central: MakeCentral, factories: dict[str, SessionFactory]
) -> None:
    central = await make_central(factories={"ocpp2.0.1": factories["ocpp2.0.1"]})
    assert (await refused(central, "/CP1")).response.status_code == 400


# --- admission -----------------------------------------------------------------------------------
async def test_rejected_charger_is_404(central: CentralSystem, directory: MemoryDirectory) -> None:
    directory.admissions["CP1"] = Admission.REJECTED
    assert (await refused(central, "/CP1")).response.status_code == 404
    assert "CP1" not in central.chargers


async def test_pending_charger_needs_allow_new_chargers(
    make_central: MakeCentral, factories: dict[str, SessionFactory], directory: MemoryDirectory
) -> None:
    central = await make_central(
        factories=factories,
        settings=ServerSettings(host="127.0.0.1", port=0, allow_new_chargers=False),
    )
    assert (await refused(central, "/NEW")).response.status_code == 404
    directory.accept("KNOWN")
    async with connect(url(central, "/KNOWN")) as ws:
        await roundtrip(ws)


# --- basic auth ----------------------------------------------------------------------------------
@pytest.fixture
def provisioned(central: CentralSystem, directory: MemoryDirectory) -> Charger:
    directory.accept("CP1", PASSWORD)
    charger = central.charger("CP1")
    charger.auth_provisioned = charger.auth_committed = True
    return charger


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize(
    "password",
    [
        PASSWORD.encode(),  # bytes decoded from the hex AuthorizationKey (MicroOcpp)
        password_to_authorization_key(PASSWORD).encode(),  # the hex string sent literally
    ],
)
async def test_basic_auth_accepts_both_forms(
    central: CentralSystem, directory: MemoryDirectory, password: bytes
) -> None:
    async with connect(url(central), additional_headers=basic("CP1", password)) as ws:
        await roundtrip(ws)
    assert directory.auth_successes == ["CP1"]


@pytest.mark.usefixtures("provisioned")
async def test_credentials_never_reach_the_debug_log(
    central: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    """websockets logs every handshake header and frame at DEBUG under our logger: the Basic-auth
    header (and any AuthorizationKey inside a frame) must not appear, wrong password or right."""
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems")
    secret = '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"%s"}]' % ("ab" * 20)
    async with connect(url(central), additional_headers=basic("CP1", PASSWORD.encode())) as ws:
        await roundtrip(ws, secret)
    await refused(central, "/CP1", additional_headers=basic("CP1", b"wrong-password"))
    # A token in the query string (review finding: the request line was logged whole).
    await refused(central, "/CP1?token=query-secret", additional_headers=basic("CP1", b"x"))
    ours = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.ocpp_ems")  # not the test client's logs
    ]
    assert any("authorization" in line.lower() for line in ours)  # logged, its value hidden
    text = "\n".join(ours)
    for encoded in (basic("CP1", PASSWORD.encode()), basic("CP1", b"wrong-password")):
        assert encoded["Authorization"].split()[1] not in text
    assert "ab" * 12 not in text
    assert "query-secret" not in text
    assert any("GET /CP1 HTTP/1.1" in line for line in ours)


async def test_hex_stored_password_accepts_its_decoded_bytes(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    raw = bytes(range(200, 220))  # not UTF-8: only comparing bytes can work
    directory.accept("CP1", raw.hex())
    async with connect(url(central), additional_headers=basic("CP1", raw)) as ws:
        await roundtrip(ws)


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("CP1", b"wrong"),
        basic("OTHER", PASSWORD.encode()),
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!notbase64"},
    ],
)
async def test_wrong_or_missing_credentials_are_401(
    central: CentralSystem, directory: MemoryDirectory, headers: dict[str, str]
) -> None:
    error = await refused(central, "/CP1", additional_headers=headers)
    assert error.response.status_code == 401
    assert error.response.headers["WWW-Authenticate"].startswith("Basic")
    assert directory.auth_failures == [("CP1", "127.0.0.1")]
    assert central.session("CP1") is None


async def test_presented_credentials_are_checked_before_provisioning(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    directory.accept("CP1", PASSWORD)
    error = await refused(central, "/CP1", additional_headers=basic("CP1", b"factory-default"))
    assert error.response.status_code == 401
    # Without credentials and before provisioning, the charger may connect (security profile 0).
    async with connect(url(central)) as ws:
        await roundtrip(ws)


async def test_credentials_without_a_known_password_are_let_in(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    async with connect(url(central), additional_headers=basic("CP1", b"installer-set")) as ws:
        await roundtrip(ws)
    assert directory.auth_failures == []


# --- connection lifecycle ------------------------------------------------------------------------
async def test_connect_and_disconnect_update_model_and_notify(
    central: CentralSystem, sessions: list[EchoSession], caplog: pytest.LogCaptureFixture
) -> None:
    charger = central.charger("CP1")
    events: list[ChargerEvent | None] = []
    charger.add_listener(events.append)
    caplog.set_level(logging.INFO, logger=server_module.__name__)

    async with connect(url(central)) as ws:
        await roundtrip(ws)
        assert charger.connected
        assert charger.last_seen is not None
        assert central.session("CP1") is sessions[0]
    await until(lambda: not charger.connected)

    assert central.session("CP1") is None
    assert sessions[0].closed
    kinds = [e.kind for e in events if e is not None]
    assert kinds == [EventKind.CONNECTED, EventKind.DISCONNECTED]
    lines = [r.getMessage() for r in caplog.records if r.name == server_module.__name__]
    assert any("CP1 connected from 127.0.0.1 (ocpp1.6)" in line for line in lines)
    assert any("CP1 disconnected" in line for line in lines)


async def test_reconnect_replaces_old_connection(
    central: CentralSystem, sessions: list[EchoSession], directory: MemoryDirectory
) -> None:
    directory.accept("CP1", PASSWORD)
    charger = central.charger("CP1")
    events: list[ChargerEvent | None] = []
    charger.add_listener(events.append)

    async with connect(url(central)) as first:
        await roundtrip(first)
        # With its password, a new connection always replaces the open one.
        async with connect(
            url(central), additional_headers=basic("CP1", PASSWORD.encode())
        ) as second:
            await roundtrip(second)
            # The old socket is closed by the server; the model object is kept.
            with pytest.raises(ConnectionClosed):
                await first.recv()
            assert sessions[0].closed
            assert central.session("CP1") is sessions[1]
            assert sessions[1].charger is sessions[0].charger is charger
            assert charger.connected
            await roundtrip(second, "still alive")
        await until(lambda: not charger.connected)

    kinds = [e.kind for e in events if e is not None]
    assert kinds == [EventKind.CONNECTED, EventKind.CONNECTED, EventKind.DISCONNECTED]


async def test_session_failure_is_logged_and_disconnects(
    central: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        await ws.send("crash")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    await until(lambda: not central.charger("CP1").connected)
    assert "OCPP session of charger CP1 failed" in caplog.text


async def test_reject_charger_closes_connection(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        directory.admissions["CP1"] = Admission.REJECTED
        await central.reject_charger("CP1")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    await until(lambda: central.session("CP1") is None)
    assert (await refused(central, "/CP1")).response.status_code == 404
    await central.reject_charger("CP1")  # offline: nothing to do


async def test_accept_charger_provisions_password(
    central: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession]
) -> None:
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        directory.accept("CP1", PASSWORD)
        await central.accept_charger("CP1")
        assert sessions[0].accepted_with == [PASSWORD]
    await until(lambda: central.session("CP1") is None)
    await central.accept_charger("CP1")  # offline: nothing to do
    assert sessions[0].accepted_with == [PASSWORD]


async def test_charger_listener_and_models(central: CentralSystem) -> None:
    created: list[str] = []
    unsubscribe = central.add_charger_listener(created.append)
    async with connect(url(central, "/A")) as ws:
        await roundtrip(ws)
    assert central.charger("A") is central.chargers["A"]
    unsubscribe()
    unsubscribe()  # idempotent
    central.charger("B")
    assert created == ["A"]
    assert set(central.chargers) == {"A", "B"}


async def test_keepalive_settings_reach_the_connection(
    make_central: MakeCentral, factories: dict[str, SessionFactory], sessions: list[EchoSession]
) -> None:
    settings = ServerSettings(host="127.0.0.1", port=0, ping_interval_s=7.0, ping_timeout_s=3.0)
    central = await make_central(factories=factories, settings=settings)
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        assert sessions[0].connection.ping_interval == 7.0
        assert sessions[0].connection.ping_timeout == 3.0
        # Oversized frames are refused with 1009 instead of being buffered.
        await ws.send("x" * (server_module.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


# --- binding and stopping ------------------------------------------------------------------------
async def test_port_in_use_is_a_clear_error(
    central: CentralSystem, make_central: MakeCentral, factories: dict[str, SessionFactory]
) -> None:
    with pytest.raises(ServerBindError) as info:
        await make_central(
            factories=factories, settings=ServerSettings(host="127.0.0.1", port=central.port)
        )
    assert info.value.port == central.port
    assert "in use" in str(info.value)


async def test_start_twice_and_port_before_start(
    central: CentralSystem, directory: MemoryDirectory
) -> None:
    with pytest.raises(RuntimeError):
        await central.start()
    idle = CentralSystem(ServerSettings(host="127.0.0.1", port=0), directory)
    with pytest.raises(RuntimeError):
        _ = idle.port
    await idle.stop()  # never started: nothing to do


async def test_stop_closes_everything_and_leaves_no_tasks(
    make_central: MakeCentral, factories: dict[str, SessionFactory], sessions: list[EchoSession]
) -> None:
    before = asyncio.all_tasks()
    central = await make_central(factories=factories)
    clients = [await connect(url(central, f"/CP{i}")) for i in range(3)]
    for ws in clients:
        await roundtrip(ws)

    await central.stop()

    assert all(s.closed for s in sessions)
    assert all(not c.connected for c in central.chargers.values())
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert asyncio.all_tasks() - before == set()
    await asyncio.gather(central.stop(), central.stop())  # idempotent, also concurrently


async def test_stop_copes_with_a_stuck_session(
    make_central: MakeCentral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "CLOSE_TIMEOUT_S", 0.1)

    def stubborn(
        connection: ServerConnection, charger: Charger, context: SessionContext
    ) -> ChargerSession:
        return StubbornSession(connection, charger, context)

    before = asyncio.all_tasks()
    central = await make_central(factories={"ocpp1.6": stubborn})
    async with connect(url(central)) as ws:
        await until(lambda: central.session("CP1") is not None)
        await central.stop()
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert asyncio.all_tasks() - before == set()


# --- persistence ---------------------------------------------------------------------------------
async def test_state_survives_a_restart(
    make_central: MakeCentral, factories: dict[str, SessionFactory], store: MemoryStore
) -> None:
    directory = MemoryDirectory()
    directory.accept("CP1")  # only accepted chargers are stored
    first = await make_central(factories=factories, store=store, directory_=directory)
    async with connect(url(first)) as ws:
        await roundtrip(ws)
        charger = first.charger("CP1")
        charger.connector(1).transaction = Transaction(
            transaction_id="42",
            connector_id=1,
            id_tag="TAG",
            started_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
            meter_start_wh=1000.0,
            meter_last_wh=1500.0,
        )
        charger.lifetime_energy.update(1500.0)
        await roundtrip(ws, "save")
        assert store.pending is not None
        store.flush()
        assert store.data is not None
        assert "42" in str(store.data)
    await first.stop()
    # stop() wrote the final state itself (and a pending delayed save is superseded).
    saved: MemoryStore = store  # re-read: mypy narrowed ``pending`` before stop()
    assert saved.pending is None
    assert saved.save_count == 2

    created: list[str] = []
    second = CentralSystem(ServerSettings(host="127.0.0.1", port=0), directory, store)
    second.add_charger_listener(created.append)
    try:
        await second.start()
        assert created == ["CP1"]
        restored = second.charger("CP1")
        tx = restored.find_transaction("42")
        assert tx is not None
        assert tx.energy_wh == 500.0
        assert restored.lifetime_energy.total_wh == 1500.0
        assert not restored.connected
    finally:
        await second.stop()


async def test_no_save_requested_without_store(central: CentralSystem) -> None:
    async with connect(url(central)) as ws:
        await roundtrip(ws, "save")


# --- current control wiring ----------------------------------------------------------------------


class ProfileSession(EchoSession):
    """Accepts every charging profile and remembers it (what current control sends)."""

    def __init__(
        self, connection: ServerConnection, charger: Charger, context: SessionContext
    ) -> None:
        super().__init__(connection, charger, context)
        self.profiles: list[LimitRequest] = []

    async def set_limit_profile(self, request: LimitRequest) -> None:
        self.profiles.append(request)

    async def get_composite_limit(self, *args: Any, **kwargs: Any) -> float | None:
        return None


@pytest.fixture
def profile_factories(sessions: list[EchoSession]) -> dict[str, SessionFactory]:
    return factories_of(ProfileSession, sessions)


async def test_boot_attaches_current_control_and_disconnect_detaches(
    make_central: MakeCentral,
    profile_factories: dict[str, SessionFactory],
    sessions: list[ProfileSession],
    directory: MemoryDirectory,
) -> None:
    directory.charger_settings["CP1"] = ChargerSettings(safe_current_a=8.0)
    central = await make_central(factories=profile_factories)
    controller = central.current_control("CP1")
    assert central.current_control("CP1") is controller

    async with connect(url(central)) as ws:
        await roundtrip(ws, "boot")  # the adapter calls context.on_booted() from its handler
        await until(lambda: len(sessions[0].profiles) >= 3)
        purposes = [(p.purpose, p.stack_level, p.limit) for p in sessions[0].profiles]
        assert ("tx_default", 0, 8.0) in purposes  # the safe base profile
        assert purposes[0][0] == "charger_max"

        await controller.set_limit(10.0)
        assert sessions[0].profiles[-1].limit == 10.0
        # A second boot (charger rebooted) attaches again, cancelling nothing it needs.
        await roundtrip(ws, "boot")
        await until(lambda: sessions[0].profiles[-1].limit == 10.0 and not central._attach_tasks)
    await until(lambda: central.session("CP1") is None)

    # Detached: a new limit is remembered but nothing is sent to the departed session.
    count = len(sessions[0].profiles)
    await controller.set_limit(12.0)
    assert len(sessions[0].profiles) == count
    assert central.charger("CP1").limit.requested_a == 12.0


class DroppingSession(ProfileSession):
    """The socket drops while current control installs its first profile."""

    async def set_limit_profile(self, request: LimitRequest) -> None:
        raise ConnectionClosed(None, None)


class SlowSession(ProfileSession):
    """Profile writes hang until released: attach stays in progress."""

    async def set_limit_profile(self, request: LimitRequest) -> None:
        await asyncio.Event().wait()


async def test_attach_failure_is_a_warning(
    make_central: MakeCentral, sessions: list[EchoSession], caplog: pytest.LogCaptureFixture
) -> None:
    central = await make_central(factories=factories_of(DroppingSession, sessions))
    async with connect(url(central)) as ws:
        await roundtrip(ws, "boot")
        await until(lambda: not central._attach_tasks)
        await roundtrip(ws)  # the session itself lives on
    assert "current control could not be set up" in caplog.text


async def test_pending_attach_is_cancelled_by_reboot_and_disconnect(
    make_central: MakeCentral, sessions: list[EchoSession]
) -> None:
    central = await make_central(factories=factories_of(SlowSession, sessions))
    async with connect(url(central)) as ws:
        await roundtrip(ws, "boot")
        first = central._attach_tasks["CP1"]
        await roundtrip(ws, "boot")
        await until(first.cancelled)
        assert not central._attach_tasks["CP1"].done()
        second = central._attach_tasks["CP1"]
    await until(second.cancelled)
    assert central._attach_tasks == {}


async def test_stop_closes_controllers_and_pending_attach(
    make_central: MakeCentral, sessions: list[EchoSession]
) -> None:
    before = asyncio.all_tasks()
    central = await make_central(factories=factories_of(SlowSession, sessions))
    async with connect(url(central)) as ws:
        await roundtrip(ws, "boot")
        assert central._attach_tasks
        await central.stop()
    assert central._controllers == {}
    assert asyncio.all_tasks() - before == set()


async def test_boot_of_a_replaced_session_is_ignored(
    central: CentralSystem, sessions: list[EchoSession], directory: MemoryDirectory
) -> None:
    directory.accept("CP1", PASSWORD)
    async with connect(url(central)) as first:
        await roundtrip(first)
        async with connect(
            url(central), additional_headers=basic("CP1", PASSWORD.encode())
        ) as second:
            await roundtrip(second)
            sessions[0].context.on_booted()  # stale adapter: must not attach anything
            assert central._attach_tasks == {}


async def test_spawned_task_failure_is_logged(
    central: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError("kaputt")

    async def fine() -> None:
        return None

    await asyncio.gather(
        central._spawn(boom(), name="boom"),
        central._spawn(fine(), name="fine"),
        return_exceptions=True,
    )
    assert "Task boom failed" in caplog.text


# --- with the real 1.6 adapter ------------------------------------------------------------------
async def test_real_ocpp16_adapter_is_the_default(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """The registry's 1.6 factory: a pending charger boots and reaches the host application."""
    from ocpp.v16 import ChargePoint, call

    central = await make_central()
    async with connect(url(central, "/ocpp/REAL1"), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        client = ChargePoint("REAL1", ws)
        runner = asyncio.create_task(client.start())
        try:
            response = await client.call(
                call.BootNotification(charge_point_vendor="ACME", charge_point_model="Wall")
            )
            assert response.status == "Pending"
            assert central.charger("REAL1").info.vendor == "ACME"
            assert directory.pending[0][0] == "REAL1"
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


class ForgetfulSession(EchoSession):
    """close() that forgets to close the socket: the server closes it anyway."""

    async def close(self) -> None:
        self.closed = True


async def test_server_closes_the_socket_a_session_left_open(
    make_central: MakeCentral, sessions: list[EchoSession]
) -> None:
    central = await make_central(factories=factories_of(ForgetfulSession, sessions))
    async with connect(url(central)) as ws:
        await roundtrip(ws)
        await central.reject_charger("CP1")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert sessions[0].closed


def test_select_version_follows_the_chargers_preference() -> None:
    assert select_version(["ocpp1.6", "ocpp2.1"], {"ocpp1.6", "ocpp2.1"}) == "ocpp1.6"
    assert select_version(["ocpp2.1", "ocpp1.6"], {"ocpp1.6", "ocpp2.1"}) == "ocpp2.1"
    assert select_version(["ocpp2.1"], {"ocpp1.6"}) is None
    assert select_version(["x-test", "ocpp9"], {"ocpp9", "x-test"}) == "x-test"
    assert select_version([], {"ocpp1.6"}) is None


# --- URL forms, refusals -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/CP1", "//CP1", "/ocpp/CP1", "/ocpp/CP1/", "/ocpp//CP1/?token=x&y=/z", "/ocpp/C%50%31"],
)
async def test_every_url_form_reaches_the_charger(
    central: CentralSystem, sessions: list[EchoSession], path: str
) -> None:
    async with connect(url(central, path)) as ws:
        await roundtrip(ws)
        assert central.session("CP1") is sessions[0]


async def test_refusals_are_recorded_and_warned_once_per_id_and_reason(
    central: CentralSystem, directory: MemoryDirectory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Refusal] = []
    unsubscribe = central.add_refusal_listener(seen.append)
    assert central.last_refusal is None
    caplog.set_level(logging.DEBUG, logger=server_module.__name__)

    for _ in range(2):
        assert (await refused(central, "/ocpp/%20")).response.status_code == 400
    directory.admissions["BAD"] = Admission.REJECTED
    for _ in range(2):
        error = await refused(central, "/BAD")
        assert error.response.status_code == 404
        assert b"ignored, deleted or disabled" in error.response.body

    assert [r.reason for r in seen] == [RefusalReason.INVALID_ID] * 2 + [RefusalReason.REJECTED] * 2
    last = central.last_refusal
    assert last is not None
    assert (last.charger_id, last.reason, last.remote) == (
        "BAD",
        RefusalReason.REJECTED,
        "127.0.0.1",
    )
    assert seen[0].charger_id is None
    assert seen[0].path == "/ocpp/%20"
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("Refused connection")
    ]
    assert warnings == [
        "Refused connection to '/ocpp/%20' from 127.0.0.1: no valid charger id in the URL path "
        "(HTTP 400)",
        "Refused connection of charger BAD from 127.0.0.1: the charger was ignored, deleted or "
        "disabled (HTTP 404)",
    ]
    unsubscribe()
    unsubscribe()  # idempotent
    await refused(central, "/ocpp/%20?token=secret")
    assert len(seen) == 4
    assert central.last_refusal is not None
    assert central.last_refusal.path == "/ocpp/%20"  # a query string may hold a secret
    assert not any("secret" in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)


async def test_a_refusal_is_warned_again_after_the_charger_got_in(
    make_central: MakeCentral,
    factories: dict[str, SessionFactory],
    directory: MemoryDirectory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    central = await make_central(
        factories=factories,
        settings=ServerSettings(host="127.0.0.1", port=0, allow_new_chargers=False),
    )
    assert (await refused(central, "/CP1")).response.status_code == 404
    assert central.last_refusal is not None
    assert central.last_refusal.reason is RefusalReason.NOT_ALLOWED
    directory.accept("CP1")
    async with connect(url(central, "/CP1")) as ws:
        await roundtrip(ws)
    del directory.admissions["CP1"]
    await refused(central, "/CP1")
    warned = [r for r in caplog.records if "unknown charger and new chargers" in r.getMessage()]
    assert [r.levelno for r in warned] == [logging.WARNING, logging.WARNING]


# --- takeover ------------------------------------------------------------------------------------
def _setup_pending(central: CentralSystem, directory: MemoryDirectory) -> None:
    """An unknown charger id."""


def _setup_unprovisioned(central: CentralSystem, directory: MemoryDirectory) -> None:
    directory.accept("CP1", PASSWORD)  # accepted; the password never reached the charger


def _setup_offered(central: CentralSystem, directory: MemoryDirectory) -> None:
    directory.accept("CP1", PASSWORD)
    central.charger("CP1").auth_provisioned = True  # accepted the key, never used it


def _setup_no_password(central: CentralSystem, directory: MemoryDirectory) -> None:
    directory.accept("CP1")  # "no password (trusted network)"


TAKEOVER_CASES = {
    "pending": _setup_pending,
    "accepted_unprovisioned": _setup_unprovisioned,
    "accepted_offered": _setup_offered,
    "accepted_no_password": _setup_no_password,
}


@pytest.mark.parametrize("case", list(TAKEOVER_CASES))
async def test_no_takeover_of_a_live_connection_without_password(
    central: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession], case: str
) -> None:
    TAKEOVER_CASES[case](central, directory)
    async with connect(url(central)) as first:
        await roundtrip(first)
        error = await refused(central, "/ocpp/CP1")
        assert error.response.status_code == 409
        assert b"connected" in error.response.body
        # The charger's own connection is untouched.
        await roundtrip(first, "still mine")
        assert central.session("CP1") is sessions[0]
        assert len(sessions) == 1
    assert central.last_refusal is not None
    assert central.last_refusal.reason is RefusalReason.ALREADY_CONNECTED


@pytest.mark.parametrize("case", list(TAKEOVER_CASES))
async def test_a_dead_connection_is_replaced_without_password(
    central: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession], case: str
) -> None:
    TAKEOVER_CASES[case](central, directory)
    central.takeover_ping_timeout_s = 0.2
    charger = central.charger("CP1")
    events: list[ChargerEvent | None] = []
    charger.add_listener(events.append)
    async with connect(url(central)) as first:
        await roundtrip(first)
        first.transport.pause_reading()  # half-open: never answers the ping
        async with connect(url(central)) as second:
            await roundtrip(second)
            assert central.session("CP1") is sessions[1]
            assert charger.connected
            first.transport.resume_reading()
            with pytest.raises(ConnectionClosed):
                await first.recv()
            await roundtrip(second, "still alive")
    kinds = [e.kind for e in events if e is not None]
    assert kinds[0] is EventKind.CONNECTED
    assert kinds.count(EventKind.CONNECTED) == 2


@pytest.mark.parametrize("case", ["accepted_unprovisioned", "accepted_offered"])
async def test_a_connection_with_the_password_always_replaces(
    central: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession], case: str
) -> None:
    TAKEOVER_CASES[case](central, directory)
    async with connect(url(central)) as first:
        await roundtrip(first)
        async with connect(url(central), additional_headers=basic("CP1", PASSWORD.encode())) as new:
            await roundtrip(new)
            with pytest.raises(ConnectionClosed):
                await first.recv()
            assert central.session("CP1") is sessions[1]
    assert central.charger("CP1").auth_committed


# --- throttling ----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def guarded(
    socket_enabled: None,
    directory: MemoryDirectory,
    factories: dict[str, SessionFactory],
    clock: FakeClock,
) -> Any:
    central = CentralSystem(
        ServerSettings(host="127.0.0.1", port=0), directory, factories=factories, clock=clock
    )
    await central.start()
    yield central
    await central.stop()


async def login(
    central: CentralSystem, charger_id: str, password: bytes, source: str = "127.0.0.1"
) -> int:
    """Open and close a connection; the HTTP status (101 when it got in)."""
    try:
        async with connect(
            url(central, f"/{charger_id}"),
            additional_headers=basic(charger_id, password),
            local_addr=(source, 0),
        ) as ws:
            await roundtrip(ws)
    except InvalidStatus as err:
        return err.response.status_code
    await until(lambda: central.session(charger_id) is None)
    return 101


def _committed(central: CentralSystem, directory: MemoryDirectory, *ids: str) -> None:
    for charger_id in ids:
        directory.accept(charger_id, PASSWORD)
        charger = central.charger(charger_id)
        charger.auth_provisioned = charger.auth_committed = True


async def test_failed_logins_are_throttled_per_charger_id(
    guarded: CentralSystem,
    directory: MemoryDirectory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    central = guarded
    _committed(central, directory, "CP1")
    # Three wrong passwords from three addresses: the id is blocked, from anywhere new.
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert await login(central, "CP1", b"guess", source) == 401
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            url(central, "/CP1"),
            additional_headers=basic("CP1", b"another guess"),
            local_addr=("127.0.0.5", 0),
        ):
            pass
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "5"
    assert central.last_refusal is not None
    assert central.last_refusal.reason is RefusalReason.THROTTLED
    # A 429 is no failure (a charger that retries is not punished for it).
    assert await login(central, "CP1", b"guess", "127.0.0.6") == 429

    clock.advance(5.1)
    # The block is over; the next failure doubles it.
    assert await login(central, "CP1", b"guess", "127.0.0.7") == 401
    with pytest.raises(InvalidStatus) as info:
        async with connect(url(central, "/CP1"), local_addr=("127.0.0.8", 0)):
            pass
    assert info.value.response.headers["Retry-After"] == "10"
    clock.advance(10.1)
    # Success resets the id: the next wrong password is a plain 401 again.
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.5") == 101
    assert await login(central, "CP1", b"guess", "127.0.0.9") == 401
    assert await login(central, "CP1", b"guess", "127.0.0.9") == 401
    warned = [
        r
        for r in caplog.records
        if r.getMessage().startswith("Too many failed logins for charger CP1")
    ]
    assert [r.levelno for r in warned] == [logging.WARNING, logging.DEBUG]


async def test_failed_logins_are_throttled_per_address(
    guarded: CentralSystem, directory: MemoryDirectory, clock: FakeClock
) -> None:
    central = guarded
    _committed(central, directory, "A", "B", "C", "D")
    for charger_id in ("A", "B", "C"):
        assert await login(central, charger_id, b"guess", "127.0.0.2") == 401
    # The address is blocked, even for another id with the right password ...
    assert await login(central, "D", PASSWORD.encode(), "127.0.0.2") == 429
    # ... other addresses are not.
    assert await login(central, "D", PASSWORD.encode(), "127.0.0.3") == 101
    clock.advance(6)
    assert await login(central, "D", PASSWORD.encode(), "127.0.0.2") == 101
    # The success reset the address.
    for charger_id in ("A", "B"):
        assert await login(central, charger_id, b"guess", "127.0.0.2") == 401
    assert await login(central, "D", PASSWORD.encode(), "127.0.0.2") == 101


async def test_the_chargers_own_address_is_exempt_from_its_id_block(
    guarded: CentralSystem, directory: MemoryDirectory
) -> None:
    central = guarded
    _committed(central, directory, "CP1")
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.1") == 101
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert await login(central, "CP1", b"guess", source) == 401
    assert await login(central, "CP1", b"guess", "127.0.0.5") == 429
    # Failures elsewhere do not lock the charger out where it lives...
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.1") == 101
    # ... nor from a new address (after a restart, a new DHCP lease): the right password is
    # never refused by the id's block (review finding).
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert await login(central, "CP1", b"guess", source) in (401, 429)
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.9") == 101


async def test_takeover_attempts_count_as_failures(
    guarded: CentralSystem, directory: MemoryDirectory
) -> None:
    central = guarded
    async with connect(url(central, "/P1")) as first:
        await roundtrip(first)
        for _ in range(3):
            assert (await refused(central, "/P1")).response.status_code == 409
        assert (await refused(central, "/P1")).response.status_code == 429
        await roundtrip(first)


def test_login_throttle_doubles_up_to_its_cap_and_stays_bounded() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, max_entries=3)
    assert [throttle.failure("k") for _ in range(3)] == [None, None, 5.0]
    assert throttle.retry_after("k") == 5
    delays = [throttle.failure("k") for _ in range(8)]
    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert throttle.retry_after("other") is None
    for key in ("a", "b", "c"):
        throttle.failure(key)
    assert len(throttle) == 3  # "k", the oldest, made room
    assert throttle.failures("k") == 0
    clock.advance(THROTTLE_WINDOW_S + 1)
    throttle.failure("d")
    throttle.prune()
    assert len(throttle) == 1
    # A failure after the window starts a new count.
    clock.advance(THROTTLE_WINDOW_S + 1)
    assert throttle.failure("d") is None
    assert throttle.failures("d") == 1
    throttle.success("d")
    assert len(throttle) == 0


# --- pending chargers ----------------------------------------------------------------------------
async def test_pending_ids_are_bounded(
    guarded: CentralSystem, directory: MemoryDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    central = guarded
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(connect(url(central, f"/P{i}")))
            for i in range(MAX_PENDING_CHARGERS)
        ]
        for ws in sockets:
            await roundtrip(ws)
        assert len(central.pending_chargers) == MAX_PENDING_CHARGERS
        # Full of connected ids: a new one waits.
        error = await refused(central, "/NEW")
        assert error.response.status_code == 503
        assert "Retry-After" in error.response.headers
        assert central.last_refusal is not None
        assert central.last_refusal.reason is RefusalReason.TOO_MANY_PENDING
        # A known pending id may still reconnect (its dead socket is replaced).
        await sockets[0].close()
        await until(lambda: central.session("P0") is None)
        # The disconnected id seen longest ago makes room.
        async with connect(url(central, "/NEW")) as ws:
            await roundtrip(ws)
        assert directory.forgotten == ["P0"]
        assert "P0" not in central.chargers
        assert len(central.pending_chargers) == MAX_PENDING_CHARGERS
        assert "NEW" in central.pending_chargers


async def test_one_address_cannot_fill_the_pending_list(
    guarded: CentralSystem, directory: MemoryDirectory
) -> None:
    """A device that keeps the list full of connected new ids does not keep the user's new
    charger out: the crowded address's last id is closed and forgotten for it."""
    central = guarded
    async with contextlib.AsyncExitStack() as stack:
        crowd = [
            await stack.enter_async_context(
                connect(url(central, f"/FLOOD{i}"), local_addr=("127.0.0.2", 0))
            )
            for i in range(MAX_PENDING_CHARGERS)
        ]
        for ws in crowd:
            await roundtrip(ws)
        # The crowded address itself gets no more room.
        error = await refused(central, "/FLOOD-MORE", local_addr=("127.0.0.2", 0))
        assert error.response.status_code == 503
        async with connect(url(central, "/MINE"), local_addr=("127.0.0.3", 0)) as mine:
            await roundtrip(mine)
            await asyncio.wait_for(crowd[-1].wait_closed(), 5)
            await until(lambda: directory.forgotten == [f"FLOOD{MAX_PENDING_CHARGERS - 1}"])
            pending = central.pending_chargers
            assert "MINE" in pending
            assert len(pending) == MAX_PENDING_CHARGERS
            assert f"FLOOD{MAX_PENDING_CHARGERS - 1}" not in central.chargers
            # The crowd may not take the place back: it holds 19, the user's address 1.
            error = await refused(central, "/FLOOD-AGAIN", local_addr=("127.0.0.2", 0))
            assert error.response.status_code == 503
            await roundtrip(mine)
            for ws in crowd[:-1]:
                await roundtrip(ws)


def test_pending_room_goes_to_the_gone_then_to_the_less_crowded() -> None:
    clock = FakeClock()
    pending = PendingChargers(clock, limit=3)
    for charger_id, address in (("A1", "a"), ("A2", "a"), ("B1", "b")):
        pending.touch(charger_id, address)
        clock.advance(1)
    connected = {"A1", "A2", "B1"}
    # Every id connected: the address holding the most gives its last one, to another address.
    assert pending.victim("c", connected.__contains__) == "A2"
    assert pending.victim("b", connected.__contains__) == "A2"
    assert pending.victim("a", connected.__contains__) is None
    # A disconnected id makes room first, the one seen longest ago, whoever asks.
    connected -= {"B1"}
    pending.touch("B1")
    assert pending.victim("a", connected.__contains__) == "B1"
    connected -= {"A1"}
    assert pending.victim("a", connected.__contains__) == "A1"
    # A reconnection from elsewhere moves the id to its new address.
    pending.touch("A2", "b")
    connected = {"A1", "A2", "B1"}
    assert pending.victim("c", connected.__contains__) == "B1"  # b holds 2: A2 and B1, the last


async def test_pending_ids_are_forgotten_after_a_day_unless_accepted(
    guarded: CentralSystem, directory: MemoryDirectory, clock: FakeClock
) -> None:
    central = guarded
    for charger_id in ("P1", "P2"):
        async with connect(url(central, f"/{charger_id}")) as ws:
            await roundtrip(ws)
        await until(lambda cid=charger_id: central.session(cid) is None)  # type: ignore[misc]
    directory.accept("P2")
    async with connect(url(central, "/P3")) as live:
        await roundtrip(live)
        clock.advance(PENDING_FORGET_AFTER_S - 1)
        central.housekeeping()
        assert directory.forgotten == []
        clock.advance(2)
        central.housekeeping()
        # P1: forgotten; P2: accepted meanwhile; P3: connected right now.
        assert directory.forgotten == ["P1"]
        assert "P1" not in central.chargers
        assert {"P2", "P3"} <= set(central.chargers)
        assert central.pending_chargers == ["P3"]
    await until(lambda: central.session("P3") is None)
    clock.advance(PENDING_FORGET_AFTER_S)
    central.housekeeping()
    assert directory.forgotten == ["P1", "P3"]
    assert "P2" in central.chargers


async def test_pending_ids_are_never_persisted(
    make_central: MakeCentral,
    factories: dict[str, SessionFactory],
    directory: MemoryDirectory,
    store: MemoryStore,
) -> None:
    central = await make_central(factories=factories, store=store)
    async with connect(url(central, "/P1")) as ws:
        await roundtrip(ws, "save")
    store.flush()
    assert store.data is not None
    assert "P1" not in store.data["chargers"]
    directory.accept("P1")
    central.request_save()
    store.flush()
    assert "P1" in store.data["chargers"]


async def test_stored_ids_never_accepted_are_dropped_at_start(
    make_central: MakeCentral, factories: dict[str, SessionFactory], directory: MemoryDirectory
) -> None:
    """Older versions stored every id that ever connected."""
    store = MemoryStore(
        data=state_to_dict({cid: Charger(charger_id=cid) for cid in ("KNOWN", "X1", "X2")})
    )
    directory.accept("KNOWN")
    central = await make_central(factories=factories, store=store)
    assert set(central.chargers) == {"KNOWN"}


# --- two-phase password --------------------------------------------------------------------------
class KeySession(EchoSession):
    """Accepts the password it is offered (as a charger answering AuthorizationKey Accepted)."""

    accept_key = True

    async def on_accepted(self, password: str | None) -> None:
        await super().on_accepted(password)
        if password and self.accept_key:
            self.charger.auth_provisioned = True
            self.charger.auth_committed = False
            self.charger.auth_unused_logins = 0


@pytest.fixture
async def keyed(make_central: MakeCentral, sessions: list[EchoSession]) -> CentralSystem:
    return await make_central(factories=factories_of(KeySession, sessions))


async def test_password_is_offered_then_committed_by_its_first_use(
    keyed: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession]
) -> None:
    central = keyed
    async with connect(url(central)) as ws:  # pending, no credentials
        await roundtrip(ws)
        directory.accept("CP1", PASSWORD)
        await central.accept_charger("CP1")
    charger = central.charger("CP1")
    assert charger.auth_provisioned
    assert not charger.auth_committed
    # Offered: it may still come without the password (it has not used it yet) ...
    async with connect(url(central)) as ws:
        await roundtrip(ws)
    assert charger.auth_unused_logins == 1
    # ... its first login with it commits it ...
    async with connect(url(central), additional_headers=basic("CP1", PASSWORD.encode())) as ws:
        await roundtrip(ws)
    assert charger.auth_committed
    assert charger.auth_unused_logins == 0
    # ... and from then on only the password works.
    assert (await refused(central, "/CP1")).response.status_code == 401
    assert directory.passwords_ignored == []


async def test_a_charger_that_ignores_its_password_is_reported_and_still_let_in(
    keyed: CentralSystem, directory: MemoryDirectory, caplog: pytest.LogCaptureFixture
) -> None:
    central = keyed
    directory.accept("CP1", PASSWORD)
    central.charger("CP1").auth_provisioned = True
    for count in range(1, 4):
        async with connect(url(central)) as ws:
            await roundtrip(ws)
        await until(lambda: central.session("CP1") is None)
        assert central.charger("CP1").auth_unused_logins == count
    assert directory.passwords_ignored == ["CP1", "CP1"]
    assert caplog.text.count("accepted its password but connected without it") == 1


async def test_reprovision_and_forget_password(
    keyed: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession]
) -> None:
    central = keyed
    directory.accept("CP1", PASSWORD)
    charger = central.charger("CP1")
    charger.auth_provisioned = charger.auth_committed = True
    # Offline: the password becomes optional again, offered at the next accepted boot.
    assert await central.reprovision("CP1") is ProvisionResult.NEXT_CONNECTION
    assert not charger.auth_committed
    assert not charger.auth_provisioned
    async with connect(url(central)) as ws:
        await roundtrip(ws, "boot")
        await until(lambda: sessions[0].accepted_with == [PASSWORD])
        assert charger.auth_provisioned
        await roundtrip(ws, "boot")  # once per connection
        assert sessions[0].accepted_with == [PASSWORD]
        # Connected: offered now.
        assert await central.reprovision("CP1") is ProvisionResult.ACCEPTED
        assert sessions[0].accepted_with == [PASSWORD, PASSWORD]
        cast(KeySession, sessions[0]).accept_key = False
        assert await central.reprovision("CP1") is ProvisionResult.REFUSED
    # "No password": the host drops it, the model forgets the key.
    charger.auth_provisioned = charger.auth_committed = True
    del directory.passwords["CP1"]
    central.forget_password("CP1")
    assert not charger.auth_provisioned
    assert not charger.auth_committed
    async with connect(url(central), additional_headers=basic("CP1", b"whatever")) as ws:
        await roundtrip(ws, "boot")
    assert sessions[1].accepted_with == []


async def test_warned_refusals_are_bounded(
    central: CentralSystem, directory: MemoryDirectory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handshake_module, "_MAX_WARNED_REFUSALS", 1)
    for charger_id in ("A", "B"):
        directory.admissions[charger_id] = Admission.REJECTED
        await refused(central, f"/{charger_id}")
    assert list(central._handshake._warned) == [("B", RefusalReason.REJECTED)]


async def test_housekeeping_runs_by_itself(
    socket_enabled: None,
    directory: MemoryDirectory,
    factories: dict[str, SessionFactory],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "HOUSEKEEPING_INTERVAL_S", 0.01)
    central = CentralSystem(
        ServerSettings(host="127.0.0.1", port=0), directory, factories=factories, clock=clock
    )
    await central.start()
    try:
        async with connect(url(central, "/P1")) as ws:
            await roundtrip(ws)
        await until(lambda: central.session("P1") is None)
        clock.advance(PENDING_FORGET_AFTER_S)
        await until(lambda: directory.forgotten == ["P1"])
    finally:
        await central.stop()


async def test_a_deleted_charger_asking_again_forgets_its_old_password(
    keyed: CentralSystem, directory: MemoryDirectory, sessions: list[EchoSession]
) -> None:
    """Deleted (its password gone with the entry), then pending again: accepting it again offers
    the new password; the old commitment must not lock it out."""
    central = keyed
    charger = central.charger("CP1")
    charger.auth_provisioned = charger.auth_committed = True  # it used the old password
    async with connect(url(central)) as ws:  # pending now: no password known for it
        await roundtrip(ws)
    assert not charger.auth_committed
    assert not charger.auth_provisioned
    directory.accept("CP1", "new-password-0123456789")
    async with connect(url(central)) as ws:  # offline while accepted: still gets in
        await roundtrip(ws, "boot")
        await until(lambda: sessions[-1].accepted_with == ["new-password-0123456789"])
    assert charger.auth_provisioned


async def test_refusal_warnings_have_a_budget(
    guarded: CentralSystem,
    directory: MemoryDirectory,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Someone trying many ids does not flood the log (nor do throttled logins)."""
    central = guarded
    for i in range(REFUSAL_WARNINGS_PER_WINDOW + 2):
        directory.admissions[f"X{i}"] = Admission.REJECTED
        await refused(central, f"/X{i}")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    assert len([w for w in warnings() if w.startswith("Refused")]) == REFUSAL_WARNINGS_PER_WINDOW
    assert len([w for w in warnings() if w.startswith("Many refused")]) == 1
    clock.advance(REFUSAL_WARNING_WINDOW_S)
    directory.admissions["Y"] = Admission.REJECTED
    await refused(central, "/Y")
    assert warnings()[-1].startswith("Refused connection of charger Y")

    _committed(central, directory, "CP1")
    for _ in range(4):
        await login(central, "CP1", b"guess", "127.0.0.2")
    assert not [w for w in warnings() if "too many failed logins (HTTP 429)" in w]
    assert [w for w in warnings() if w.startswith("Too many failed logins for address")]


def test_two_phase_password_state_is_persisted() -> None:
    charger = Charger(charger_id="CP1")
    charger.auth_provisioned = charger.auth_committed = True
    charger.auth_unused_logins = 0
    offered = Charger(charger_id="CP2", auth_provisioned=True, auth_unused_logins=2)
    restored = state_from_dict(state_to_dict({"CP1": charger, "CP2": offered}))
    assert restored["CP1"].auth_committed
    assert not restored["CP2"].auth_committed
    assert restored["CP2"].auth_unused_logins == 2
    # Written before the two-phase password: provisioned counts as offered, not mandatory.
    legacy = state_to_dict({"CP1": charger})
    del legacy["chargers"]["CP1"]["auth_committed"]
    del legacy["chargers"]["CP1"]["auth_unused_logins"]
    old = state_from_dict(legacy)["CP1"]
    assert old.auth_provisioned
    assert not old.auth_committed


async def test_racing_takeovers_do_not_replace_the_live_reconnection(
    make_central: MakeCentral, directory: MemoryDirectory, factories: dict[str, SessionFactory]
) -> None:
    """Review finding: two handshakes without credentials both found the half-open socket dead;
    the second replaced the charger's live reconnection. Now it is pinged again and refused."""
    directory.admissions["CP2"] = Admission.ACCEPTED
    central = await make_central(factories=factories)
    central.takeover_ping_timeout_s = 0.5
    half_open = await connect(url(central, "/CP2"), local_addr=("127.0.0.2", 0))
    half_open.transport.pause_reading()  # never answers a ping again

    async def reconnect(source: str, delay: float) -> ClientConnection:
        await asyncio.sleep(delay)
        return await connect(url(central, "/CP2"), local_addr=(source, 0), open_timeout=10)

    legit, intruder = await asyncio.gather(
        reconnect("127.0.0.2", 0.0), reconnect("127.0.0.66", 0.1)
    )
    await asyncio.wait_for(intruder.wait_closed(), 5)
    assert intruder.close_code == 1008
    await roundtrip(legit)
    assert legit.state.name == "OPEN"
    session = central.session("CP2")
    assert session is not None
    await legit.close()
    half_open.transport.abort()


def test_login_throttle_survives_a_charger_retrying_for_days() -> None:
    """A key that retries after each block fails within the window again and again: after
    ~85 h the doubling overflowed (2.0 ** 1024) and every wrong login got HTTP 500, unthrottled."""
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    for _ in range(1100):
        clock.advance(301)
        throttle.failure("127.0.0.2")
    assert throttle.retry_after("127.0.0.2") == 300


async def test_takeover_of_a_socket_that_stops_reading_follows_the_ping_timeout(
    socket_enabled: None, make_central: MakeCentral
) -> None:
    """A peer that stops reading while the server has data for it (a stuck or half-open charger):
    the ping waited in drain() past its timeout, and every reconnection of the id hung until the
    open timeout. Now it is replaced once the ping times out."""
    central = await make_central(factories=factories_of(EchoSession, []))
    central.takeover_ping_timeout_s = 0.2
    old = await connect(url(central, "/P1"), local_addr=("127.0.0.2", 0), max_size=None)
    await roundtrip(old)
    old.transport.pause_reading()

    async def flood() -> None:  # the server's echoes fill its write buffer
        with contextlib.suppress(Exception):
            for _ in range(2000):
                await old.send("x" * 30_000)

    flooder = asyncio.create_task(flood())
    await asyncio.sleep(3)
    try:
        async with connect(url(central, "/P1"), local_addr=("127.0.0.2", 0), open_timeout=6) as new:
            await roundtrip(new)
    finally:
        flooder.cancel()
        old.transport.abort()


async def test_unprovisioned_charger_is_not_locked_out_after_a_restart(
    socket_enabled: None, make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """A charger accepted on profile 1 whose password is not in it yet connects without
    credentials. After a restart its address is not known; three wrong logins under its id from
    another address blocked it (429), again at each block's end. It has nothing to prove now."""
    factories = factories_of(EchoSession, [])
    directory.accept("CP1", PASSWORD)
    first = await make_central(factories=factories)
    async with connect(url(first, "/CP1"), local_addr=("127.0.0.2", 0)) as ws:
        await roundtrip(ws)
    await first.stop()
    central = await make_central(factories=factories)  # Home Assistant restarted
    for _ in range(3):
        with pytest.raises(InvalidStatus):
            async with connect(
                url(central, "/CP1"),
                additional_headers=basic("CP1", b"guess"),
                local_addr=("127.0.0.66", 0),
            ):
                pass
    async with connect(url(central, "/CP1"), local_addr=("127.0.0.2", 0)) as ws:
        await roundtrip(ws)


# --- found by an adversarial review (2026-12-03, second) --------------------------------------
async def test_wrong_guesses_during_an_id_block_count_for_their_address(
    guarded: CentralSystem, directory: MemoryDirectory
) -> None:
    """While the id was blocked, a wrong guess was answered 429 before it was checked and never
    counted for its address, and the right password (exempt from the id's block) got in: one
    address could guess without limit, 429 meaning wrong and 101 right."""
    central = guarded
    _committed(central, directory, "CP1")
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert await login(central, "CP1", b"guess", source) == 401
    statuses = [await login(central, "CP1", f"guess{n}".encode(), "127.0.0.10") for n in range(8)]
    assert statuses == [429] * 8
    # The address that guessed is blocked now, whatever it presents.
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.10") == 429
    # The charger itself (the right password from elsewhere) is not locked out by the id's block.
    assert await login(central, "CP1", PASSWORD.encode(), "127.0.0.20") == 101


async def test_a_flood_does_not_close_a_reconnect_waiting_for_the_takeover_ping(
    socket_enabled: None, directory: MemoryDirectory, factories: dict[str, SessionFactory]
) -> None:
    """A charger without a password reconnects over its own half-open socket; the handshake
    pings the old one (up to TAKEOVER_PING_TIMEOUT_S). The guard took a handshake older than
    OPENING_IDLE_S for a flood's idle connection: a flood from many addresses at the
    cap (lowered to 3 here) closed the charger's reconnect."""
    clock = FakeClock()
    central = CentralSystem(
        ServerSettings(host="127.0.0.1", port=0, max_opening_connections=3),
        directory,
        factories=factories,
        clock=clock,
    )
    await central.start()
    writers: list[asyncio.StreamWriter] = []
    old = None
    try:
        directory.accept("CP1")
        old = await connect(url(central, "/CP1"))
        await roundtrip(old)
        old.transport.pause_reading()  # half-open: the server's ping gets no pong

        async def reconnecting() -> ClientConnection:
            return await connect(url(central, "/CP1"), open_timeout=15)

        reconnect = asyncio.create_task(reconnecting())
        await asyncio.sleep(0.2)
        # In the handshake, waiting for the takeover ping: it gave its slot back.
        await until(lambda: len(central.opening_connections) == 0)
        assert not reconnect.done()
        clock.advance(TAKEOVER_PING_TIMEOUT_S - 0.5)  # the guard's clock: near the ping's end
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            _reader, writer = await asyncio.open_connection(
                "127.0.0.1", central.port, local_addr=(source, 0)
            )
            writers.append(writer)
            await asyncio.sleep(0.1)
        new = await reconnect
        assert central.opening_connections.evicted == 0
        await new.close()
    finally:
        for writer in writers:
            writer.close()
        if old is not None:
            old.transport.abort()
        await central.stop()
