"""What the server asks its host application about chargers and id tags (HA implements this)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from .model import ChargerInfo
from .settings import ChargerSettings


class Admission(StrEnum):
    """Whether a charger id may connect, and how far it gets."""

    ACCEPTED = "accepted"  # known and approved by the user: full control
    PENDING = "pending"  # unknown / awaiting approval: BootNotification Pending, no control
    REJECTED = "rejected"  # ignored or deleted by the user: HTTP 404 at the handshake


class ChargerDirectory(Protocol):
    def admission(self, charger_id: str) -> Admission: ...

    async def answers_elsewhere(self, charger_id: str) -> bool:
        """The charger, accepted on another of the host's servers, is connected there and
        answers a ping (False when it is not, or belongs to none)."""

    def password(self, charger_id: str) -> str | None:
        """The charger's Basic-auth password once it was moved to security profile 1, else None."""

    def settings(self, charger_id: str) -> ChargerSettings:
        """The charger's settings (defaults for an unknown one). Asked often (every limit
        decision, and at every handshake for ``security_profile`` / ``allow_security_downgrade``):
        answer from a cache."""

    def authorize_id_tag(self, charger_id: str, id_tag: str) -> bool:
        """True when this id tag may charge (default-deny unless the user chose 'accept any')."""

    def local_list(self) -> tuple[int, list[str]]:
        """(version, id tags) to mirror into chargers that keep a local authorization list."""

    def on_pending_charger(self, charger_id: str, info: ChargerInfo) -> None:
        """An unknown charger booted: ask the user (HA starts a discovery flow)."""

    def on_auth_failure(self, charger_id: str, remote: str) -> None:
        """A charger presented a wrong or missing password (HA raises a repair after repeats)."""

    def on_auth_success(self, charger_id: str) -> None:
        """A charger logged in with its password (which is now mandatory for it)."""

    def on_password_ignored(self, charger_id: str) -> None:
        """The charger accepted its password but keeps connecting without it (HA: repair)."""

    def on_pending_forgotten(self, charger_id: str) -> None:
        """A pending charger id was forgotten (expired or evicted): drop the question to the user."""


class StateStore(Protocol):
    """Persistence for the charger model (HA backs it with a ``Store``)."""

    async def async_load(self) -> dict[str, Any] | None: ...

    def schedule_save(self, data_fn: Any) -> None:
        """Save ``data_fn()`` soon (debounced)."""

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save ``data`` now (the final write when the server stops; cancels a pending delayed save)."""
