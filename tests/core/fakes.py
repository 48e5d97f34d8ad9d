"""Test doubles of the HOST APPLICATION (what Home Assistant gives the core), never of the core.

:class:`MemoryDirectory` plays the user's decisions (admission, passwords, id tags) and records the
callbacks; :class:`MemoryStore` keeps the persisted document in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import ChargerInfo
from custom_components.ocpp_ems.core.settings import ChargerSettings, SecurityProfile


@dataclass
class MemoryDirectory:
    """In-memory ChargerDirectory: every charger id unknown (PENDING) unless set otherwise."""

    admissions: dict[str, Admission] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    charger_settings: dict[str, ChargerSettings] = field(default_factory=dict)
    id_tags: set[str] = field(default_factory=set)
    accept_any_tag: bool = False
    local_list_version: int = 1
    pending: list[tuple[str, ChargerInfo]] = field(default_factory=list)
    auth_failures: list[tuple[str, str]] = field(default_factory=list)
    auth_successes: list[str] = field(default_factory=list)
    passwords_ignored: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    # Ids connected and alive on another of the host's servers.
    alive_elsewhere: set[str] = field(default_factory=set)

    def admission(self, charger_id: str) -> Admission:
        return self.admissions.get(charger_id, Admission.PENDING)

    async def answers_elsewhere(self, charger_id: str) -> bool:
        return charger_id in self.alive_elsewhere

    def password(self, charger_id: str) -> str | None:
        return self.passwords.get(charger_id)

    def settings(self, charger_id: str) -> ChargerSettings:
        return self.charger_settings.setdefault(charger_id, ChargerSettings())

    def authorize_id_tag(self, charger_id: str, id_tag: str) -> bool:
        return self.accept_any_tag or id_tag in self.id_tags

    def local_list(self) -> tuple[int, list[str]]:
        return self.local_list_version, sorted(self.id_tags)

    def on_pending_charger(self, charger_id: str, info: ChargerInfo) -> None:
        self.pending.append((charger_id, info))

    def on_auth_failure(self, charger_id: str, remote: str) -> None:
        self.auth_failures.append((charger_id, remote))

    def on_auth_success(self, charger_id: str) -> None:
        self.auth_successes.append(charger_id)

    def on_password_ignored(self, charger_id: str) -> None:
        self.passwords_ignored.append(charger_id)

    def on_pending_forgotten(self, charger_id: str) -> None:
        self.forgotten.append(charger_id)

    def accept(self, charger_id: str, password: str | None = None) -> None:
        """What the HA layer does when the user accepts a charger."""
        self.admissions[charger_id] = Admission.ACCEPTED
        if password is not None:
            self.passwords[charger_id] = password

    def set_security(self, charger_id: str, profile: int, *, allow_downgrade: bool = False) -> None:
        """What the HA layer does when the user moves a charger to another security profile."""
        settings = self.settings(charger_id)
        settings.security_profile = SecurityProfile(profile)
        settings.allow_security_downgrade = allow_downgrade


@dataclass
class MemoryStore:
    """In-memory StateStore. ``schedule_save`` only remembers the callback; ``flush()`` runs it."""

    data: dict[str, Any] | None = None
    pending: Callable[[], dict[str, Any]] | None = None
    save_count: int = 0

    async def async_load(self) -> dict[str, Any] | None:
        return self.data

    def schedule_save(self, data_fn: Any) -> None:
        self.pending = data_fn

    async def async_save(self, data: dict[str, Any]) -> None:
        self.pending = None
        self.data = data
        self.save_count += 1

    def flush(self) -> None:
        if self.pending is not None:
            self.data = self.pending()
            self.pending = None
            self.save_count += 1
