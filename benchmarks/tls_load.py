"""What TLS costs our core server: the ``wss://`` listener (security profiles 2 and 3) next to plain
``ws://``, OCPP 1.6, loopback only.

Our server alone (``CentralSystem`` with its real 1.6 adapter and a TLS listener whose context is
``build_server_context`` over certificates of our own CA: an EC P-256 and an RSA 2048 one, client
certificates verified against the CA), in ONE run; every variant gets a fresh server process and
client process per round, and the variants take turns in every round. Medians over rounds with the
[min-max].

1. **Handshakes.** ``--handshakes`` connections per round, ``--concurrency`` at a time, over
   ``--ids`` charger ids (each connected once before the window, so the charger models exist):
   TCP connect, the TLS handshake (wss), the websocket upgrade with the admission checks (Basic auth
   or the client certificate), the session set up, the websocket closed. No OCPP message: the cost of
   a (re)connect. Reported: server CPU per connection (``time.process_time`` of the server process
   over the window / connections), the TLS share (that minus the ws variant's median), handshakes
   per second the run achieved (wall; the client process shares the 2 vCPUs and pays its own side of
   TLS) and the ceiling the server's CPU alone allows (1 / CPU per connection).
2. **Steady load.** ``--chargers`` OCPP 1.6 chargers (``load_fleet.SimCharger``: boot, a transaction,
   then MeterValues with energy, power, 3 currents, 3 voltages, offered current) each sending one
   MeterValues per ``--interval`` s for ``--duration`` s, over ws (Basic auth) and over wss (TLS 1.3,
   Basic auth). Reported: server CPU per message (server CPU in the window / MeterValues answered),
   round trip p50/p99 (client side).

Variants (the clients are Python ``ssl`` / OpenSSL; they offer the groups X25519 and P-256 only, as
charger TLS stacks do, not OpenSSL 3.5+'s default post-quantum hybrid: see ``CLIENT_GROUPS``):

- ``ws``: plain ws, profile 1, Basic auth;
- ``wss-p2``: TLS 1.3 (X25519, ECDSA P-256 server certificate), Basic auth: profile 2;
- ``wss-p3``: TLS 1.3 with a client certificate (EC P-256, from our CA): profile 3;
- ``wss-1.2-ecdsa``: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 (an OCPP-mandated suite), Basic auth;
- ``wss-1.2-rsa``: TLS 1.2 AES128-GCM-SHA256 (TLS_RSA_WITH_AES_128_GCM_SHA256: RSA key transport,
  the OCPP-mandated suite for chargers without ECDSA; the server decrypts with its RSA 2048 key).

Usage: .venv/bin/python benchmarks/tls_load.py [--rounds 5] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import multiprocessing
import os
import platform
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load_fleet import (  # noqa: E402
    OPEN_TIMEOUT_S,
    Channel,
    Fleet,
    FleetConfig,
    SimCharger,
    percentile,
    raise_nofile_limit,
)
from benchmarks.server_load import (  # noqa: E402
    AcceptAllDirectory,
    BenchmarkError,
    Child,
    ServerChild,
    WarningCounter,
    priming_count,
    rss_bytes,
)

if TYPE_CHECKING:
    from custom_components.ocpp_ems.core.settings import ChargerSettings

PASSWORD = "tls-bench-Pa55word-0123456789abc"
HOST = "127.0.0.1"
# What the clients offer for the TLS 1.3 key exchange (OPENSSL_CONF of the client process): a
# charger's TLS stack (mbedTLS, wolfSSL, an older OpenSSL) offers X25519 / P-256, not the
# X25519MLKEM768 hybrid that OpenSSL 3.5+ puts first (its encapsulation would be counted as TLS
# cost no charger causes). The server keeps OpenSSL's defaults, as in production.
CLIENT_GROUPS = "X25519:P-256"


# ---------------------------------------------------------------------------------------- variants
@dataclass(frozen=True, kw_only=True)
class Variant:
    key: str
    tls: bool
    profile: int  # the charger's security profile in the server's settings
    client_certificate: bool = False
    basic_auth: bool = True
    max_version: str | None = None  # "TLSv1_2": the client offers TLS 1.2 only
    ciphers: str | None = None  # the client's TLS 1.2 cipher list


VARIANTS: dict[str, Variant] = {
    v.key: v
    for v in (
        Variant(key="ws", tls=False, profile=1),
        Variant(key="wss-p2", tls=True, profile=2),
        Variant(key="wss-p3", tls=True, profile=3, client_certificate=True, basic_auth=False),
        Variant(
            key="wss-1.2-ecdsa",
            tls=True,
            profile=2,
            max_version="TLSv1_2",
            ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        Variant(
            key="wss-1.2-rsa",
            tls=True,
            profile=2,
            max_version="TLSv1_2",
            ciphers="AES128-GCM-SHA256",
        ),
    )
}
HANDSHAKE_VARIANTS = tuple(VARIANTS)
STEADY_VARIANTS = ("ws", "wss-p2")


@dataclass(frozen=True, kw_only=True)
class ClientTls:
    """What a client process needs to connect as ``variant`` (files written by the coordinator)."""

    variant: Variant
    ca_file: str
    # Client certificates by charger id: (certificate file, key file).
    certificates: dict[str, tuple[str, str]] = field(default_factory=dict)

    def context(self, charger_id: str) -> ssl.SSLContext | None:
        if not self.variant.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.variant.max_version is not None:
            context.maximum_version = ssl.TLSVersion[self.variant.max_version]
        if self.variant.ciphers is not None:
            context.set_ciphers(self.variant.ciphers)
        if self.variant.client_certificate:
            context.load_cert_chain(*self.certificates[charger_id])
        return context

    def headers(self, charger_id: str) -> dict[str, str]:
        if not self.variant.basic_auth:
            return {}
        token = base64.b64encode(f"{charger_id}:{PASSWORD}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


# ------------------------------------------------------------------------------------ server side
@dataclass
class BenchDirectory(AcceptAllDirectory):
    """Every charger accepted, with a password and the variant's security profile."""

    profile: int = 1

    def password(self, charger_id: str) -> str | None:
        return PASSWORD

    def settings(self, charger_id: str) -> ChargerSettings:
        settings = super().settings(charger_id)
        from custom_components.ocpp_ems.core.settings import SecurityProfile

        settings.security_profile = SecurityProfile(self.profile)
        return settings


@dataclass(frozen=True, kw_only=True)
class ServerPlan:
    chargers: int
    profile: int
    ca: dict[str, str]  # CertificateAuthority.to_dict()
    credentials: dict[str, Any]  # ServerCredentials.to_dict()


async def _serve(plan: ServerPlan, conn: Connection) -> None:
    import gc
    import logging

    from custom_components.ocpp_ems.core.security import (
        CertificateAuthority,
        ServerCredentials,
        build_server_context,
    )
    from custom_components.ocpp_ems.core.server import CentralSystem
    from custom_components.ocpp_ems.core.settings import ServerSettings

    counter = WarningCounter()
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(logging.WARNING)
    ca = CertificateAuthority.from_dict(plan.ca)
    context = build_server_context(
        ServerCredentials.from_dict(plan.credentials), client_ca_pem=ca.certificate_pem
    )
    central = CentralSystem(
        ServerSettings(host=HOST, port=0, tls_port=0),
        BenchDirectory(profile=plan.profile),
        tls=context,
    )
    await central.start()
    channel = Channel(conn)
    channel.send(
        {
            "event": "listening",
            "port": central.port,
            "tls_port": central.tls_port,
            "pid": os.getpid(),
        }
    )
    while True:
        message = await channel.queue.get()
        if message.get("cmd") != "measure":
            break
        cpu_end, wall_end = time.process_time(), time.monotonic()
        if message.get("gc", True):
            gc.collect()
        channel.send(
            {
                "event": "measured",
                "cpu_end": cpu_end,
                "wall_end": wall_end,
                "rss": rss_bytes(),
                "cpu_start": time.process_time(),
                "wall_start": time.monotonic(),
                "connected": sum(1 for c in central.chargers.values() if c.connected),
                "warnings": counter.count,
                "warning_samples": counter.samples,
            }
        )
    await central.stop()
    channel.send({"event": "stopped"})


def tls_server_process(plan: ServerPlan, conn: Connection) -> None:
    raise_nofile_limit(plan.chargers, "server process")
    asyncio.run(_serve(plan, conn))


class TlsServerChild(ServerChild):
    """Our server with both listeners in its own process (measure / stop as in server_load)."""

    def __init__(self, ctx: SpawnContext, variant: Variant, plan: ServerPlan) -> None:
        Child.__init__(self, ctx, f"server ({variant.key})", tls_server_process, (plan,))
        listening = self.recv("listening", 120)
        if variant.tls:
            self.url = f"wss://{HOST}:{listening['tls_port']}/ocpp"
        else:
            self.url = f"ws://{HOST}:{listening['port']}/ocpp"


# ------------------------------------------------------------------------------------ client side
class TlsSimCharger(SimCharger):
    """The 1.6 charger of the load fleet, connecting as the variant says (TLS, Basic auth, client
    certificate)."""

    client: ClassVar[ClientTls]

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        self.ws = await connect(
            self.url,
            subprotocols=[Subprotocol(self.subprotocol)],
            max_size=2**20,
            ping_interval=None,
            compression=None,
            open_timeout=OPEN_TIMEOUT_S,
            ssl=self.client.context(self.charger_id),
            additional_headers=self.client.headers(self.charger_id),
        )
        self.reader = asyncio.create_task(self._read())


class TlsFleet(Fleet):
    def __init__(self, config: FleetConfig, channel: Channel) -> None:
        super().__init__(config, channel)
        self.chargers = [TlsSimCharger(config.url, cid, self.stats) for cid in config.ids]


@dataclass(frozen=True, kw_only=True)
class HandshakePlan:
    url: str
    ids: list[str]
    handshakes: int
    concurrency: int


async def _one_connection(url: str, client: ClientTls, charger_id: str) -> dict[str, Any]:
    """Connect (TLS, upgrade, admission), note what TLS was negotiated, close."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    started = time.perf_counter()
    async with connect(
        f"{url}/{charger_id}",
        subprotocols=[Subprotocol("ocpp1.6")],
        ping_interval=None,
        compression=None,
        open_timeout=OPEN_TIMEOUT_S,
        ssl=client.context(charger_id),
        additional_headers=client.headers(charger_id),
    ) as ws:
        opened = time.perf_counter()
        ssl_object = ws.transport.get_extra_info("ssl_object")
        negotiated = (
            "plain" if ssl_object is None else f"{ssl_object.version()} {ssl_object.cipher()[0]}"
        )
    return {"connect_ms": (opened - started) * 1000, "negotiated": negotiated}


async def _handshakes(plan: HandshakePlan, client: ClientTls, channel: Channel) -> None:
    from benchmarks.load_fleet import handshake_failure_kind

    failures: Counter[str] = Counter()
    negotiated: Counter[str] = Counter()
    connect_ms: list[float] = []

    async def worker(index: int, count: int) -> None:
        for k in range(count):
            charger_id = plan.ids[(index + k * plan.concurrency) % len(plan.ids)]
            try:
                result = await _one_connection(plan.url, client, charger_id)
            except Exception as err:  # counted and reported by kind
                failures[handshake_failure_kind(err)] += 1
                continue
            connect_ms.append(result["connect_ms"])
            negotiated[result["negotiated"]] += 1

    # Every id once (its charger model is created), not measured.
    for start in range(0, len(plan.ids), plan.concurrency):
        await asyncio.gather(
            *(
                _one_connection(plan.url, client, charger_id)
                for charger_id in plan.ids[start : start + plan.concurrency]
            )
        )
    channel.send({"event": "warm"})
    await channel.recv("go")
    cpu, wall = time.process_time(), time.monotonic()
    share, extra = divmod(plan.handshakes, plan.concurrency)
    await asyncio.gather(
        *(worker(i, share + (1 if i < extra else 0)) for i in range(plan.concurrency))
    )
    wall = time.monotonic() - wall
    channel.send(
        {
            "event": "done",
            "connections": len(connect_ms),
            "wall_s": wall,
            "connect_ms": connect_ms,
            "failures": dict(failures),
            "negotiated": dict(negotiated),
            "client_cpu": (time.process_time() - cpu) / wall,
        }
    )
    await channel.recv("close")
    channel.send({"event": "closed"})


async def _run_client(mode: str, plan: Any, client: ClientTls, conn: Connection) -> None:
    TlsSimCharger.client = client
    channel = Channel(conn)
    if mode == "handshakes":
        await _handshakes(plan, client, channel)
        return
    fleet = TlsFleet(plan, channel)
    await fleet.steady()
    await fleet.close()


def client_process(mode: str, plan: Any, client: ClientTls, conn: Connection) -> None:
    """A spawned client process: ``mode`` "handshakes" (HandshakePlan) or "steady" (FleetConfig).
    Its OpenSSL offers ``CLIENT_GROUPS`` only (set before ``ssl`` loads its configuration)."""
    if not os.environ.get("OPENSSL_CONF"):
        raise SystemExit("client process: OPENSSL_CONF (the client groups) is not set")
    raise_nofile_limit(len(getattr(plan, "ids", [])) + 64, f"client process {os.getpid()}")
    asyncio.run(_run_client(mode, plan, client, conn))


def _client_openssl_conf(directory: Path) -> Path:
    path = directory / "client-openssl.cnf"
    path.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nssl_conf = ssl_sect\n"
        "[ssl_sect]\nsystem_default = system_default_sect\n"
        f"[system_default_sect]\nGroups = {CLIENT_GROUPS}\n"
    )
    return path


def spawn_client(
    ctx: SpawnContext, name: str, mode: str, plan: Any, client: ClientTls, openssl_conf: Path
) -> Child:
    """A client process with ``OPENSSL_CONF`` pointing at the client groups (only its own
    environment: the server processes keep OpenSSL's defaults)."""
    previous = os.environ.get("OPENSSL_CONF")
    os.environ["OPENSSL_CONF"] = str(openssl_conf)
    try:
        return Child(ctx, name, client_process, (mode, plan, client))
    finally:
        if previous is None:
            del os.environ["OPENSSL_CONF"]
        else:
            os.environ["OPENSSL_CONF"] = previous


# ------------------------------------------------------------------------------------ coordinator
@dataclass(frozen=True, kw_only=True)
class Plan:
    rounds: int
    handshakes: int
    concurrency: int
    ids: int
    chargers: int
    interval_s: float
    duration_s: float
    warmup_s: float
    quiet_s: float
    handshake_variants: tuple[str, ...]
    steady_variants: tuple[str, ...]


@dataclass
class Pki:
    """Our CA, the server's certificates and one client certificate per charger id, as files."""

    directory: Path
    ca: dict[str, str]
    credentials: dict[str, Any]
    ca_file: str
    certificates: dict[str, tuple[str, str]]

    @classmethod
    def create(cls, directory: Path, ids: list[str]) -> Pki:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from custom_components.ocpp_ems.core.security import CertificateAuthority

        ca = CertificateAuthority.create()
        credentials = ca.issue_server_certificates([HOST])
        ca_file = directory / "ca.pem"
        ca_file.write_text(ca.certificate_pem)
        certificates = {}
        for charger_id in ids:
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, charger_id)]))
                .sign(key, hashes.SHA256())
            )
            issued = ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM), charger_id)
            cert_file = directory / f"{charger_id}.pem"
            key_file = directory / f"{charger_id}.key"
            cert_file.write_text(issued.pem)
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            certificates[charger_id] = (str(cert_file), str(key_file))
        return cls(directory, ca.to_dict(), credentials.to_dict(), str(ca_file), certificates)

    def server_plan(self, variant: Variant, chargers: int) -> ServerPlan:
        return ServerPlan(
            chargers=chargers, profile=variant.profile, ca=self.ca, credentials=self.credentials
        )

    def client(self, variant: Variant) -> ClientTls:
        certificates = self.certificates if variant.client_certificate else {}
        return ClientTls(variant=variant, ca_file=self.ca_file, certificates=certificates)


def run_handshakes(
    ctx: SpawnContext, plan: Plan, variant: Variant, pki: Pki, openssl_conf: Path
) -> dict[str, Any]:
    ids = [f"TLS-{i:04d}" for i in range(plan.ids)]
    server = TlsServerChild(ctx, variant, pki.server_plan(variant, plan.ids))
    client: Child | None = None
    try:
        work = HandshakePlan(
            url=server.url, ids=ids, handshakes=plan.handshakes, concurrency=plan.concurrency
        )
        client = spawn_client(
            ctx, f"client ({variant.key})", "handshakes", work, pki.client(variant), openssl_conf
        )
        client.recv("warm", 120)
        before = server.measure()
        client.send({"cmd": "go"})
        done = client.recv("done", 300)
        after = server.measure()
        client.finish({"cmd": "close"}, "closed", 30)
    finally:
        if client is not None:
            client.finish({"cmd": "close"}, "closed", 5)
        server.stop()
    cpu = after["cpu_end"] - before["cpu_start"]
    window = after["wall_end"] - before["wall_start"]
    connections = done["connections"]
    per_connection = cpu / connections if connections else float("nan")
    return {
        "variant": variant.key,
        "connections": connections,
        "failures": done["failures"],
        "failure_count": sum(done["failures"].values()),
        "negotiated": done["negotiated"],
        "server_cpu_ms_per_connection": per_connection * 1000,
        "server_cpu_util": cpu / window if window > 0 else float("nan"),
        "handshakes_per_s": connections / done["wall_s"] if done["wall_s"] > 0 else float("nan"),
        "server_bound_per_s": 1 / per_connection if per_connection > 0 else float("nan"),
        "connect_p50_ms": percentile(done["connect_ms"], 50),
        "connect_p99_ms": percentile(done["connect_ms"], 99),
        "client_cpu": done["client_cpu"],
        "server_warnings": after["warnings"],
        "server_warning_samples": after["warning_samples"],
    }


def run_steady(
    ctx: SpawnContext, plan: Plan, variant: Variant, pki: Pki, openssl_conf: Path
) -> dict[str, Any]:
    server = TlsServerChild(ctx, variant, pki.server_plan(variant, plan.chargers))
    fleet: Child | None = None
    try:
        config = FleetConfig(
            url=server.url,
            ids=[f"TLS-{i:04d}" for i in range(plan.chargers)],
            primed=priming_count(plan.chargers),
            interval_s=plan.interval_s,
            warmup_s=plan.warmup_s,
            duration_s=plan.duration_s,
            quiet_s=plan.quiet_s,
        )
        fleet = spawn_client(
            ctx, f"fleet ({variant.key})", "steady", config, pki.client(variant), openssl_conf
        )
        fleet.recv("primed", 300)
        fleet.send({"cmd": "continue"})
        ready = fleet.recv("ready", 300)
        after = server.measure()
        fleet.send({"cmd": "go"})
        done = fleet.recv("done", plan.duration_s + 120)
        end = server.measure()
        fleet.finish({"cmd": "close"}, "closed", 120)
    finally:
        if fleet is not None:
            fleet.finish({"cmd": "close"}, "closed", 5)
        server.stop()
    latencies = done["latencies_ms"]
    messages = len(latencies)
    cpu = end["cpu_end"] - after["cpu_start"]
    wall = end["wall_end"] - after["wall_start"]
    return {
        "variant": variant.key,
        "chargers": plan.chargers,
        "accepted": done["up"],
        "not_accepted": ready["not_accepted"],
        "connected_at_server": after["connected"],
        "messages": messages,
        "errors": sum(done["errors"].values()),
        "error_kinds": done["errors"],
        "error_samples": done["error_samples"],
        "settled": ready["settled"],
        "server_calls_in_window": done["server_calls_in_window"],
        "cpu_us_per_msg": cpu / messages * 1e6 if messages else float("nan"),
        "server_cpu_util": cpu / wall if wall > 0 else float("nan"),
        "meter_p50_ms": percentile(latencies, 50),
        "meter_p99_ms": percentile(latencies, 99),
        "fleet_cpu": done["fleet_cpu"],
        "server_warnings": end["warnings"],
        "server_warning_samples": end["warning_samples"],
    }


# ----------------------------------------------------------------------------------------- report
def stats(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite)}


def cell(entry: dict[str, float], digits: int, rounds: int) -> str:
    if math.isnan(entry["median"]):
        return "-"
    text = f"{entry['median']:.{digits}f}"
    if rounds > 1:
        text += f" [{entry['min']:.{digits}f}-{entry['max']:.{digits}f}]"
    return text


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([title, rule, lines[0], rule, *lines[1:], rule])


HANDSHAKE_METRICS = (
    ("server_cpu_ms_per_connection", "server CPU per connection (ms)", 3),
    ("tls_ms", "  of which TLS (minus ws median, ms)", 3),
    ("server_bound_per_s", "connections/s the server CPU allows", 0),
    ("handshakes_per_s", "connections/s achieved (wall)", 0),
    ("server_cpu_util", "server CPU utilisation (%)", 0),
    ("client_cpu", "client CPU utilisation (%)", 0),
    ("connect_p50_ms", "connect p50, client side (ms)", 2),
    ("connect_p99_ms", "connect p99, client side (ms)", 2),
)
STEADY_METRICS = (
    ("cpu_us_per_msg", "server CPU per MeterValues (us)", 0),
    ("extra_us", "  of which TLS (minus ws median, us)", 0),
    ("server_cpu_util", "server CPU utilisation (%)", 1),
    ("meter_p50_ms", "MeterValues round trip p50 (ms)", 2),
    ("meter_p99_ms", "MeterValues round trip p99 (ms)", 2),
    ("fleet_cpu", "fleet CPU utilisation (%)", 1),
)
PERCENT = {"server_cpu_util", "client_cpu", "fleet_cpu"}


def summarise(
    runs: dict[str, list[dict[str, Any]]], metrics: tuple[tuple[str, str, int], ...], base: str
) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and metric: median, min, max over rounds; the TLS share against ``base``."""
    primary = metrics[0][0]
    baseline = stats([r[primary] for r in runs.get(base, [])])["median"]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for key, rounds in runs.items():
        entry: dict[str, dict[str, float]] = {}
        for metric, _, _ in metrics:
            if metric in ("tls_ms", "extra_us"):
                values = [r[primary] - baseline for r in rounds]
            else:
                scale = 100.0 if metric in PERCENT else 1.0
                values = [r[metric] * scale for r in rounds]
            entry[metric] = stats(values)
        summary[key] = entry
    return summary


def render(
    title: str,
    summary: dict[str, dict[str, dict[str, float]]],
    metrics: tuple[tuple[str, str, int], ...],
    rounds: int,
) -> str:
    keys = list(summary)
    rows = [
        [label, *(cell(summary[k][metric], digits, rounds) for k in keys)]
        for metric, label, digits in metrics
    ]
    return table(title, ["metric", *keys], rows)


def findings(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
    for key, rounds in runs.items():
        for index, run in enumerate(rounds, start=1):
            where = f"{key} round {index}"
            if run.get("failures"):
                lines.append(f"{where}: connection failures {run['failures']}")
            if run.get("errors"):
                lines.append(f"{where}: errors {run['error_kinds']}")
                lines.extend(f"    {sample}" for sample in run["error_samples"])
            if run.get("not_accepted"):
                lines.append(f"{where}: not Accepted {run['not_accepted']}")
            if run.get("settled") is False:
                lines.append(f"{where}: the server was still sending CALLs when the window began")
            for sample, count in run["server_warning_samples"].items():
                lines.append(f"{where}: server log x{count}: {sample}")
    return lines


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds per variant (5)")
    parser.add_argument("--handshakes", type=int, default=None, help="connections per round (1000)")
    parser.add_argument("--concurrency", type=int, default=10, help="connections at a time (10)")
    parser.add_argument("--ids", type=int, default=100, help="charger ids they rotate over (100)")
    parser.add_argument("--chargers", type=int, default=None, help="steady load: chargers (100)")
    parser.add_argument(
        "--interval", type=float, default=None, help="steady: MeterValues period per charger, s (5)"
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="steady: measurement window, s (30)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="steady: settle after boot, s")
    parser.add_argument(
        "--skip", default="", help="comma-separated: handshakes and/or steady to leave out"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, small counts")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    quick = args.quick

    def pick(value: Any, normal: Any, quick_value: Any) -> Any:
        return value if value is not None else (quick_value if quick else normal)

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    plan = Plan(
        rounds=pick(args.rounds, 5, 1),
        handshakes=pick(args.handshakes, 1000, 100),
        concurrency=args.concurrency,
        ids=args.ids if not quick else min(args.ids, 20),
        chargers=pick(args.chargers, 100, 20),
        interval_s=pick(args.interval, 5.0, 1.0),
        duration_s=pick(args.duration, 30.0, 4.0),
        warmup_s=args.warmup if not quick else 1.0,
        quiet_s=5.0 if not quick else 1.0,
        handshake_variants=() if "handshakes" in skip else HANDSHAKE_VARIANTS,
        steady_variants=() if "steady" in skip else STEADY_VARIANTS,
    )
    started = time.monotonic()
    print(
        f"TLS cost of our core server, wss vs ws, OCPP 1.6  ({datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC, Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, websockets "
        f"{version('websockets')}, {os.cpu_count()} CPUs, {platform.machine()}, load average "
        f"{load_average()})\n"
        f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n"
        f"each variant: a fresh server process and client process per round, variants in turn; "
        f"{plan.rounds} round(s); medians [min-max]; clients offer groups {CLIENT_GROUPS}",
        flush=True,
    )
    ctx = multiprocessing.get_context("spawn")
    report: dict[str, Any] = {"plan": plan.__dict__}
    with tempfile.TemporaryDirectory(prefix="tls_load_") as tmp:
        directory = Path(tmp)
        ids = [f"TLS-{i:04d}" for i in range(max(plan.ids, plan.chargers))]
        pki = Pki.create(directory, ids)
        openssl_conf = _client_openssl_conf(directory)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            "handshakes": {k: [] for k in plan.handshake_variants},
            "steady": {k: [] for k in plan.steady_variants},
        }
        try:
            for index in range(plan.rounds):
                for scenario, keys, runner in (
                    ("handshakes", plan.handshake_variants, run_handshakes),
                    ("steady", plan.steady_variants, run_steady),
                ):
                    for key in random.sample(keys, len(keys)) if index else keys:
                        print(
                            f"  round {index + 1}/{plan.rounds}: {scenario} {key} ...",
                            file=sys.stderr,
                            flush=True,
                        )
                        runs[scenario][key].append(
                            runner(ctx, plan, VARIANTS[key], pki, openssl_conf)
                        )
        except BenchmarkError as err:
            raise SystemExit(f"benchmark failed: {err}") from None
    report["runs"] = runs
    print()
    if plan.handshake_variants:
        summary = summarise(runs["handshakes"], HANDSHAKE_METRICS, "ws")
        report["handshakes"] = summary
        title = (
            f"connections: {plan.handshakes} per round, {plan.concurrency} at a time over "
            f"{plan.ids} charger ids (connect, TLS, upgrade + admission, session set up, close; "
            f"no OCPP message)"
        )
        print(render(title, summary, HANDSHAKE_METRICS, plan.rounds))
        negotiated = {
            k: sorted({n for r in rounds for n in r["negotiated"]})
            for k, rounds in runs["handshakes"].items()
        }
        print("negotiated: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in negotiated.items()))
        print()
    if plan.steady_variants:
        summary = summarise(runs["steady"], STEADY_METRICS, "ws")
        report["steady"] = summary
        accepted = {k: [r["accepted"] for r in rounds] for k, rounds in runs["steady"].items()}
        messages = {k: [r["messages"] for r in rounds] for k, rounds in runs["steady"].items()}
        title = (
            f"steady load: {plan.chargers} chargers (OCPP 1.6), 1 MeterValues / "
            f"{plan.interval_s:g} s each, {plan.duration_s:g} s window; Accepted per round "
            f"{accepted}; MeterValues per round {messages}"
        )
        print(render(title, summary, STEADY_METRICS, plan.rounds))
        print()
    notes = [line for scenario in runs.values() for line in findings(scenario)]
    print("findings:" if notes else "findings: none (no failures, errors or server warnings)")
    for line in notes:
        print(f"  {line}")
    print(
        f"\n(run took {time.monotonic() - started:.0f} s; load average at the end {load_average()})"
    )
    if args.json:
        print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
