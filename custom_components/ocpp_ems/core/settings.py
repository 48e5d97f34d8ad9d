"""Plain-data settings for the server and per-charger quirks (filled from HA config entries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from .guard import MAX_OPENING_PER_ADDRESS


class PauseStrategy(StrEnum):
    """How to pause charging: chargers differ (some end the transaction on a 0 A limit)."""

    ZERO_LIMIT = "zero_limit"
    REMOTE_STOP_START = "remote_stop_start"


class SmartChargingMode(StrEnum):
    """Whether limits are written as charging profiles. Chargers lie both ways: some take
    profiles but leave SmartCharging out of their feature list (Grizzl-e, wallbe-based ones),
    others list it and refuse every profile."""

    AUTO = "auto"  # as the charger reports (one that reports no features is assumed to)
    ON = "on"  # written whatever it lists
    OFF = "off"  # never written: paused by stopping and starting the transaction


class ProfilePurpose(StrEnum):
    """Which profile carries the dynamic (live) limit."""

    TX_DEFAULT = "tx_default"
    TX = "tx"


class RateUnitPreference(StrEnum):
    AUTO = "auto"
    AMPERE = "A"
    WATT = "W"


class SecurityProfile(IntEnum):
    """OCPP security profiles (1.6 security whitepaper, 2.0.1 part 2 A00): how a charger must
    connect. The server refuses a lower way unless the user allowed a downgrade for the charger
    (``ChargerSettings.allow_security_downgrade``): OCPP forbids silent downgrades."""

    # Plain ws:// (or wss://); the Basic-auth password once the charger committed to it.
    BASIC_AUTH = 1
    # wss:// with Basic auth (the password is always required).
    TLS_BASIC_AUTH = 2
    # wss:// with a client certificate from our CA whose CN is the charger id.
    TLS_CLIENT_CERTIFICATE = 3


@dataclass(kw_only=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 9000
    # The wss:// listener (security profiles 2 and 3) on the same host; None: off. 0 picks a free
    # port (tests). It needs a TLS context (CentralSystem's ``tls``).
    tls_port: int | None = None
    # websockets keepalive. Chargers also send Heartbeat; a ping much shorter than the heartbeat caused
    # reconnect loops in the field, so keep pings rare and tolerant by default.
    ping_interval_s: float | None = 60.0
    ping_timeout_s: float | None = 60.0
    heartbeat_interval_s: int = 300
    response_timeout_s: float = 30.0
    # A known charger that reconnects without a BootNotification gets
    # TriggerMessage(BootNotification) after this many seconds (some firmware never boots again
    # after a network loss).
    boot_trigger_after_s: float = 30.0
    allow_new_chargers: bool = True
    # Post-boot setups (configuration, meter values, local list, then current control's profile
    # writes) running at the same moment, server-wide (core/pacing.py). Boots are answered at once
    # whatever this says. 32 bounds a burst of setup answers to some 15 ms of event-loop time (about
    # 0.5 ms each), so MeterValues of running chargers never wait long behind a boot storm, and
    # still drains several hundred LAN chargers per second (more than the CPU manages anyway), or
    # 6-16 per second over cellular (setups of 2-5 s): 2,000 chargers in 2-5 minutes, before their
    # live profiles run out (at least 450 s after a restart). Raise it for thousands of cellular
    # chargers.
    setup_concurrency: int = 32
    # Once every slot is taken, a setup waits a random 0..this many seconds before it queues:
    # chargers that booted in the same instant leave the queue in random order. A free slot is taken
    # at once (a single charger is never delayed).
    setup_jitter_s: float = 1.0
    # Listen backlog (loop.create_server): TCP handshakes the kernel completes while the event loop
    # has not accepted them yet. asyncio's default of 100 reset 35 handshakes when 5,000 chargers
    # reconnected at once; Linux caps the value at net.core.somaxconn (4096 since kernel 5.4).
    listen_backlog: int = 2048
    # Connections still opening (accepted, websocket handshake not over), plain and TLS together
    # (guard.OpeningConnections: beyond it an idle one gives way, or the newest is refused). None:
    # a quarter of the process's soft file limit, at least 256 (guard.opening_limit). Per source
    # address: a charger opens one at a time; a reverse proxy in front of many chargers is one
    # address for all of them.
    max_opening_connections: int | None = None
    max_opening_per_address: int = MAX_OPENING_PER_ADDRESS
    # The OCPP versions (websocket subprotocols) this server speaks; a charger offering only others
    # is refused at the handshake (HTTP 400). Of those a charger offers, the first it lists
    # (its preference) is spoken.
    # Without "ocpp1.6", a charger offering no subprotocol at all is refused as well.
    ocpp_versions: tuple[str, ...] = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
    # Log every frame of this server's chargers (at INFO, whatever the log level; wire_log.py).
    # Changed in place while running: sessions read it per frame.
    log_frames: bool = False


@dataclass(kw_only=True)
class ChargerSettings:
    """Per-charger options that cover the quirks of real firmware."""

    installation_max_a: float = 32.0
    safe_current_a: float = 6.0
    min_current_a: float = 6.0
    base_stack_level: int = 0
    live_stack_level: int = 1
    live_profile_purpose: ProfilePurpose = ProfilePurpose.TX_DEFAULT
    rate_unit: RateUnitPreference = RateUnitPreference.AUTO
    pause_strategy: PauseStrategy = PauseStrategy.ZERO_LIMIT
    smart_charging: SmartChargingMode = SmartChargingMode.AUTO
    # A live limit lasts this long unless refreshed; if HA stops, the charger falls back to the safe base.
    live_limit_duration_s: int = 900
    meter_interval_s: int = 10
    nominal_voltage_v: float = 230.0
    # Phases of the supply: converts A to W for chargers that only take W limits (A * V * phases).
    phases: int = 3
    # The line (1-3) the charger draws from on one phase: the line a single-phase installation is
    # wired to, or the one a 1p/3p charger keeps on one phase (the fuse is watched on it).
    single_phase_line: int = 1
    # The id tag of our own remote starts (accepted whatever the tag list says: see is_id_tag).
    remote_start_id_tag: str = "HomeAssistant"
    # How the charger must connect (see SecurityProfile); checked at every handshake.
    security_profile: SecurityProfile = SecurityProfile.BASIC_AUTH
    # The user allows it to connect in a lower way than its profile (e.g. back to plain ws while
    # an upgrade is rolled back); such connections are logged and marked ``downgraded``.
    allow_security_downgrade: bool = False
    measurands: tuple[str, ...] = field(
        default=(
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "Current.Offered",
            "Voltage",
            "SoC",
            "Temperature",
        )
    )


# The longest id tag every version takes (1.6: CiString20, printable ASCII; 2.x: 36).
MAX_ID_TAG_LENGTH = 20


def is_id_tag(value: str, max_length: int = MAX_ID_TAG_LENGTH) -> bool:
    """Whether ``value`` can be sent as an id tag of at most ``max_length`` characters (printable
    ASCII, not empty; by default: in every OCPP version)."""
    return 0 < len(value) <= max_length and value.isascii() and value.isprintable()


# OCPP id tags are case-insensitive (1.6 CiString20Type; 2.x idToken): ASCII letters only, so a
# non-ASCII tag never matches an ASCII one (as ``casefold`` or ``lower`` of e.g. "\u212a" would).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def id_tag_key(id_tag: str) -> str:
    """The one rule for comparing id tags: equal keys, the same tag (surrounding blanks and
    the case of ASCII letters do not count)."""
    return id_tag.strip().translate(_ASCII_LOWER)
