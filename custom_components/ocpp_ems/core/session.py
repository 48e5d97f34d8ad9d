"""Version-agnostic command interface of a connected charger.

Each protocol adapter (``protocol/v16/`` ...) subclasses :class:`ChargerSession`. The HA layer and the
current-control code only ever call these methods, never an OCPP action by name, so they work for every
version. Every method raises :class:`~.errors.CommandRejectedError`, :class:`~.errors.CommandTimeoutError`
or :class:`~.errors.CommandNotSupportedError` rather than returning a status the caller could ignore.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .directory import Admission, ChargerDirectory
from .model import Charger, ChargingRateUnit
from .pacing import SetupGate
from .settings import ChargerSettings, ServerSettings


@dataclass(kw_only=True)
class SessionContext:
    """What the server hands an adapter when a charger connects."""

    directory: ChargerDirectory
    server_settings: ServerSettings
    # Admission can change while connected (the user accepts a pending charger): always ask.
    admission: Callable[[], Admission]
    charger_settings: Callable[[], ChargerSettings]
    # Ask the server to persist the model soon (debounced): after transactions, energy, limits.
    request_save: Callable[[], None]
    # Called by the adapter once the charger booted Accepted (the server starts current control).
    on_booted: Callable[[], None]
    # Post-boot setup takes a slot here first; the server shares one gate among all its sessions.
    # The default belongs to this context alone (a session on its own is never held back).
    setup_gate: SetupGate = field(
        default_factory=lambda: SetupGate(ServerSettings().setup_concurrency)
    )


@dataclass(frozen=True, kw_only=True)
class LimitRequest:
    """One charging limit to install as a profile (the current-control module decides which)."""

    profile_id: int
    stack_level: int
    purpose: str  # "charger_max" | "tx_default" | "tx"
    connector_id: int
    limit: float  # in ``unit``; 0 pauses
    unit: ChargingRateUnit
    number_phases: int | None = None
    duration_s: int | None = None
    start: datetime | None = None
    transaction_id: str | None = None


class ChargerSession(ABC):
    """A live connection to one charger, speaking one OCPP version."""

    ocpp_version: str
    charger: Charger

    # --- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    async def run(self) -> None:
        """Read and answer messages until the connection closes."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection and fail pending calls at once."""

    @abstractmethod
    async def on_accepted(self, password: str | None) -> None:
        """The user approved this (pending) charger: provision the Basic-auth password (security
        profile 1) when given, then make it boot again so it gets Accepted (TriggerMessage)."""

    # --- core -------------------------------------------------------------------------------------
    @abstractmethod
    async def reset(self, *, hard: bool = False) -> None: ...

    @abstractmethod
    async def unlock(self, connector_id: int) -> None: ...

    @abstractmethod
    async def remote_start(self, connector_id: int, id_tag: str) -> None: ...

    @abstractmethod
    async def remote_stop(self, transaction_id: str) -> None: ...

    @abstractmethod
    async def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        """Return ``{"configuration": {key: {"value": str|None, "readonly": bool}}, "unknown": [...]}``."""

    @abstractmethod
    async def set_configuration(self, key: str, value: str) -> str:
        """Return the charger's status (Accepted / RebootRequired); raise on Rejected/NotSupported."""

    @abstractmethod
    async def trigger_message(self, message: str, connector_id: int | None = None) -> None: ...

    @abstractmethod
    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> dict[str, Any]:
        """Return ``{"status": ..., "data": ...}``."""

    # --- firmware / diagnostics ------------------------------------------------------------------
    @abstractmethod
    async def update_firmware(
        self, location: str, retrieve_date: datetime, retries: int | None = None
    ) -> None: ...

    @abstractmethod
    async def request_diagnostics(self, location: str) -> str | None:
        """Ask for a diagnostics upload; return the file name the charger announces, if any."""

    # --- local auth list / reservation -----------------------------------------------------------
    @abstractmethod
    async def send_local_list(self, id_tags: list[str], version: int) -> None: ...

    @abstractmethod
    async def get_local_list_version(self) -> int: ...

    @abstractmethod
    async def reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None: ...

    @abstractmethod
    async def cancel_reservation(self, reservation_id: int) -> None: ...

    # --- smart charging --------------------------------------------------------------------------
    @abstractmethod
    async def set_limit_profile(self, request: LimitRequest) -> None: ...

    @abstractmethod
    async def set_raw_profile(self, connector_id: int, profile: dict[str, Any]) -> None: ...

    @abstractmethod
    async def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> None: ...

    @abstractmethod
    async def get_composite_limit(
        self, connector_id: int, duration_s: int = 60, unit: ChargingRateUnit | None = None
    ) -> float | None:
        """The limit in force now according to the charger, in ``unit`` (None: the charger's
        choice, A or W converted by the caller); None when the charger reports no schedule."""
