"""Secure connection of a server entry (OCPP security profiles 2 and 3): the Home Assistant side.

* :class:`ServerSecurity`: the server's local certificate authority and the credentials of its
  ``wss://`` listener, kept in a private store per server entry (``ocpp_ems.<entry_id>.security``).
  The CA is created on first use (when the user switches TLS on). Our server certificates name
  Home Assistant's host name, its local IP addresses and the names the user adds, and are issued
  again before they expire or when a name is missing (checked at start and daily). The listener
  asks for its TLS context at every handshake, so a renewal needs no restart. A renewal that fails
  raises a repair issue with the steps to take.
* A damaged store: each part is read on its own. Our certificate is issued again; the user's own
  is dropped (a repair; ours is presented meanwhile); a damaged CA keeps TLS off (the server runs
  without it, a repair says what to do) and the store is never written, so a backup of it can be
  restored. The CA's fingerprint is recorded in the entry's data: a CA created while one is
  recorded replaced a lost store, which a repair reports (the TLS chargers must be set up again).
* The user may bring their own server certificate and key instead (checked in the options flow,
  kept in the same store). We cannot renew it: a repair issue reminds the user before it expires.
  Client certificates (profile 3) are always checked against our CA.
* :class:`CaCertificateView`: the CA certificate for download (authenticated), which chargers
  need as their CSMS root certificate.
* Charger certificates (profile 3): a check minutes after the start, then daily, asks chargers
  whose certificate ends within 30 days for a new one (:class:`~.core.security.renewal.ClientRenewals`); one that has not
  taken a new certificate a week before the end gets a repair issue with the steps to take,
  removed once it accepts one (also one raised before the entry was set up again).

Private keys exist only in that store and in memory: never in the options, diagnostics or logs
(the core's certificate classes do not show them in ``repr``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

from aiohttp import hdrs, web
from homeassistant.components import network
from homeassistant.components.http.auth import async_sign_path
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.storage import Store

from .const import (
    CONF_HOST,
    CONF_SERVER_ENTRY_ID,
    CONF_TLS_CERTIFICATE,
    CONF_TLS_ENABLED,
    CONF_TLS_HOSTS,
    CONF_TLS_PORT,
    DEFAULT_HOST,
    DEFAULT_TLS_PORT,
    DOMAIN,
    ISSUE_CLIENT_CERTIFICATE_RENEWAL,
    ISSUE_TLS_CA_DAMAGED,
    ISSUE_TLS_CA_REPLACED,
    ISSUE_TLS_CERTIFICATE_EXPIRING,
    ISSUE_TLS_OWN_CERTIFICATE_LOST,
    ISSUE_TLS_RENEWAL_FAILED,
    LOGGER,
    STORAGE_VERSION,
    TLS_CERTIFICATE_OWN,
    repair_issue_id,
)
from .core.security import (
    SERVER_CERT_RENEW_BEFORE_DAYS,
    CertificateAuthority,
    CertificateError,
    ServerCredentials,
    build_server_context,
    server_renewal_due,
)
from .core.security.renewal import ClientRenewals
from .hub import charger_placeholders

# How often the server certificate is checked, and how long before it expires it is renewed (or,
# the user's own, they are reminded).
RENEWAL_CHECK_INTERVAL = timedelta(days=1)
# The chargers' certificates are first checked this long after the start (their sessions are up
# by then): a Home Assistant restarted more often than daily still asks them to renew.
FIRST_CLIENT_CHECK_DELAY = timedelta(minutes=5)
RENEW_BEFORE_DAYS: float = SERVER_CERT_RENEW_BEFORE_DAYS
# A signed download link of the CA certificate works this long (the UI shows a fresh one).
CA_LINK_VALIDITY = timedelta(minutes=30)
CA_URL = "/api/ocpp_ems/{entry_id}/ca.pem"
CA_FILE_NAME = "ocpp-ems-ca.pem"
# What a failed renewal or a broken store raises (cryptography raises ValueError, OpenSSL
# ssl.SSLError, which is an OSError).
_CERTIFICATE_FAILURES = (CertificateError, ValueError, OSError)
# An automatically found host name we put in the certificate (the user's names are checked by the
# CA, which refuses the whole certificate for one bad name).
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*")
# Where the server entry's data records its CA (the SHA-256 fingerprint): outside the security
# store, so a lost store is told apart from a first start.
DATA_CA_FINGERPRINT = "ca_fingerprint"


@dataclass(frozen=True, kw_only=True)
class TlsOptions:
    """The secure connection options of a server entry."""

    enabled: bool
    port: int
    # Names the user adds to our server certificate (host names or IP addresses).
    hosts: tuple[str, ...]
    # Present the user's own certificate instead of one from our CA.
    own_certificate: bool


def tls_options(options: Mapping[str, Any]) -> TlsOptions:
    return TlsOptions(
        enabled=bool(options.get(CONF_TLS_ENABLED, False)),
        port=int(options.get(CONF_TLS_PORT, DEFAULT_TLS_PORT)),
        hosts=tuple(name.strip() for name in options.get(CONF_TLS_HOSTS, []) if str(name).strip()),
        own_certificate=options.get(CONF_TLS_CERTIFICATE) == TLS_CERTIFICATE_OWN,
    )


class CaStoreDamagedError(HomeAssistantError):
    """The stored CA cannot be read: TLS stays off (the store is kept for a restore)."""


def ca_path(entry_id: str) -> str:
    return CA_URL.format(entry_id=entry_id)


async def async_certificate_hosts(
    hass: HomeAssistant, entry: ConfigEntry, options: TlsOptions
) -> list[str]:
    """The names our server certificate must carry: Home Assistant's host name (and its mDNS
    name), the host of its internal URL, the listen address when it is a specific one, its
    enabled local IP addresses, then the user's names (``options``). In that order, without
    repeats."""
    names: list[str] = []
    hostname = await hass.async_add_executor_job(socket.gethostname)
    if _HOST_NAME.fullmatch(hostname):
        names.append(hostname)
        if "." not in hostname:
            names.append(f"{hostname}.local")
    internal = urlparse(hass.config.internal_url or "").hostname
    if internal and _HOST_NAME.fullmatch(internal):
        names.append(internal)
    listen = str(entry.data.get(CONF_HOST, DEFAULT_HOST))
    if listen not in ("", "0.0.0.0", "::"):
        names.append(listen)
    names.extend(
        str(address)
        for address in await network.async_get_enabled_source_ips(hass)
        if not (address.is_link_local or address.is_loopback)
    )
    names.extend(options.hosts)
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.lower(), name)
    return list(unique.values())


class ServerSecurity:
    """The local CA and the ``wss://`` credentials of one server entry (see the module doc).

    The runtime instance (``ServerRuntimeData.security``) also owns the listener's TLS context
    (:meth:`context`, the core's TLS context source), the daily renewal check and its repairs.
    The options flow of an entry that is not loaded works on an instance of its own.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.security", private=True
        )
        self._loaded = False
        self._ca: CertificateAuthority | None = None
        # Ours (issued by the CA) and the user's own: both kept, the options pick one.
        self._issued: ServerCredentials | None = None
        self._own: ServerCredentials | None = None
        self._active: ServerCredentials | None = None
        # Security upgrades of chargers still being watched (upgrade.py): charger id -> record.
        self._upgrades: dict[str, dict[str, Any]] = {}
        self._context: ssl.SSLContext | None = None
        self._lock = asyncio.Lock()
        # Why the stored CA could not be read: the store is then never written (a backup of it
        # may be restored) and no new CA is created.
        self._ca_damage: Exception | None = None
        self._last_error: Exception | None = None
        self._listeners: list[Callable[[], None]] = []
        # The chargers' certificate renewals (from the first daily check on) and their repairs.
        self._renewals: ClientRenewals | None = None
        self._renewal_issues: set[str] = set()

    # --- what the rest of the integration reads ----------
    @property
    def ca(self) -> CertificateAuthority | None:
        return self._ca

    @property
    def ca_damaged(self) -> bool:
        """The stored CA cannot be read (after :meth:`async_load`): TLS stays off, its repair
        says what to do."""
        return self._ca_damage is not None

    @property
    def own(self) -> ServerCredentials | None:
        """The user's own certificate, if they gave one."""
        return self._own

    @property
    def active(self) -> ServerCredentials | None:
        """The credentials the listener presents (None until :meth:`async_start`)."""
        return self._active

    def credentials_for(self, options: TlsOptions) -> ServerCredentials | None:
        """The credentials ``options`` pick: the user's own when chosen and given, else ours."""
        if options.own_certificate and self._own is not None:
            return self._own
        return self._issued

    def context(self) -> ssl.SSLContext:
        """The listener's current TLS context (the core asks at every handshake)."""
        if self._context is None:
            raise RuntimeError("The TLS listener has not been set up")
        return self._context

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever the CA or the active certificate changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- the store ----------
    async def async_load(self) -> None:
        """Read the store once (parsing the keys takes a moment: off the event loop)."""
        if self._loaded:
            return
        data = await self._store.async_load()
        if data:
            parsed = await self._hass.async_add_executor_job(_parse_store, data)
            self._ca, self._issued, self._own = parsed.ca, parsed.issued, parsed.own
            self._ca_damage = parsed.damage.pop("ca", None)  # reported when the CA is needed
            for part, err in parsed.damage.items():
                # A damaged certificate of ours is issued again; the user's own is reported
                # (the repair of async_check) and ours presented meanwhile.
                LOGGER.error(
                    "The stored %s of %s is damaged: %s", _STORE_PARTS[part], self._entry.title, err
                )
            self._upgrades = dict(data.get("upgrades") or {})
        self._loaded = True

    async def _async_save(self) -> None:
        if self._ca_damage is not None:
            return  # kept as it is for a restore (see async_start)
        await self._store.async_save(
            {
                "ca": None if self._ca is None else self._ca.to_dict(),
                "issued": None if self._issued is None else self._issued.to_dict(),
                "own": None if self._own is None else self._own.to_dict(),
                "upgrades": self._upgrades,
            }
        )

    @property
    def pending_upgrades(self) -> dict[str, dict[str, Any]]:
        """Security upgrades not finished yet (charger id -> what upgrade.py needs to resume)."""
        return dict(self._upgrades)

    async def async_set_pending_upgrade(
        self, charger_id: str, record: dict[str, Any] | None
    ) -> None:
        if record is None:
            if self._upgrades.pop(charger_id, None) is None:
                return
        else:
            self._upgrades[charger_id] = record
        await self._async_save()

    async def async_remove(self) -> None:
        """The server entry is deleted: its CA and keys (and the repairs about them) go with it."""
        entry_id = self._entry.entry_id
        for issue_id in (
            repair_issue_id(ISSUE_TLS_CA_DAMAGED, entry_id),
            repair_issue_id(ISSUE_TLS_CA_REPLACED, entry_id),
            repair_issue_id(ISSUE_TLS_OWN_CERTIFICATE_LOST, entry_id),
        ):
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
        await self._store.async_remove()

    async def _async_ensure_ca(self) -> CertificateAuthority:
        """The CA; created when there is none. Raises CaStoreDamagedError (with its repair)."""
        if self._ca_damage is not None:
            self._ca_damaged(self._ca_damage)
        if self._ca is None:
            self._ca = await self._hass.async_add_executor_job(CertificateAuthority.create)
            await self._async_save()
            LOGGER.info(
                "Created the local certificate authority of %s (SHA-256 fingerprint %s)",
                self._entry.title,
                self._ca.fingerprint,
            )
        self._record_ca(self._ca)
        return self._ca

    def _ca_damaged(self, err: Exception) -> None:
        LOGGER.error(
            "The certificate authority of %s cannot be read (%s): its TLS listener stays off. "
            "Restore a backup of Home Assistant, or remove and add the server for a new one",
            self._entry.title,
            err,
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            repair_issue_id(ISSUE_TLS_CA_DAMAGED, self._entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_TLS_CA_DAMAGED,
            translation_placeholders={"server": self._entry.title, "error": str(err)},
        )
        raise CaStoreDamagedError(str(err)) from err

    def _record_ca(self, ca: CertificateAuthority) -> None:
        """Record the CA in the entry's data. Another CA than the recorded one replaced it (the
        store was lost): the chargers that trust the old one must be set up again. A new CA is
        still made: the old key is gone, so TLS can only work again with a new one (a restored
        backup brings its own record)."""
        recorded = self._entry.data.get(DATA_CA_FINGERPRINT)
        if recorded == ca.fingerprint:
            return
        if recorded is not None:
            LOGGER.warning(
                "The certificate authority of %s was lost (its store is missing) and replaced: "
                "chargers using TLS (security profile 2 or 3) must be set up again with the new "
                "CA certificate (SHA-256 fingerprint %s, was %s)",
                self._entry.title,
                ca.fingerprint,
                recorded,
            )
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                repair_issue_id(ISSUE_TLS_CA_REPLACED, self._entry.entry_id),
                is_fixable=False,
                # Nothing at the next start can tell it again.
                is_persistent=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_TLS_CA_REPLACED,
                translation_placeholders={
                    "server": self._entry.title,
                    "fingerprint": ca.fingerprint,
                    "old_fingerprint": str(recorded),
                },
            )
        self._hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, DATA_CA_FINGERPRINT: ca.fingerprint}
        )

    async def _async_issue_if_due(self, ca: CertificateAuthority, options: TlsOptions) -> bool:
        """Issue our server certificates when :func:`server_renewal_due` says so; True if it did.
        Raises CertificateError (a bad name) and what key generation may raise."""
        hosts = await async_certificate_hosts(self._hass, self._entry, options)
        if not server_renewal_due(self._issued, ca, hosts, renew_before_days=RENEW_BEFORE_DAYS):
            return False
        self._issued = await self._hass.async_add_executor_job(ca.issue_server_certificates, hosts)
        await self._async_save()
        LOGGER.info(
            "Issued the TLS server certificate of %s for %s, valid until %s",
            self._entry.title,
            ", ".join(self._issued.names),
            self._issued.not_valid_after.isoformat(),
        )
        return True

    # --- the options flow ----------
    async def async_prepare(
        self, options: TlsOptions, own: ServerCredentials | None = None
    ) -> CertificateAuthority:
        """What switching TLS on (or changing its names or certificate) needs, stored before the
        options are: the CA, and our certificates for the names (unless the user's own is used;
        ``own`` replaces the stored one). Raises CertificateError for a bad name."""
        async with self._lock:
            await self.async_load()
            ca = await self._async_ensure_ca()
            if own is not None:
                self._own = own
                await self._async_save()
            if not options.own_certificate:
                await self._async_issue_if_due(ca, options)
            return ca

    # --- the running server ----------
    async def async_start(self) -> Callable[[], ssl.SSLContext]:
        """Load (or create) the CA and credentials, renew what is due, build the TLS context and
        check again daily; returns the TLS context source for the listener.

        Raises CaStoreDamagedError (the server runs without TLS), CertificateError (and OSError,
        ValueError) when there is nothing to present."""
        await self.async_load()
        await self._async_ensure_ca()
        ir.async_delete_issue(
            self._hass, DOMAIN, repair_issue_id(ISSUE_TLS_CA_DAMAGED, self._entry.entry_id)
        )
        await self.async_check()
        if self._active is None:
            # The first issue failed (the repair says why): retried when the entry is set up again.
            assert self._last_error is not None
            raise self._last_error
        self._entry.async_on_unload(
            async_track_time_interval(
                self._hass,
                self._async_periodic_check,
                RENEWAL_CHECK_INTERVAL,
                name=f"{DOMAIN} certificate check {self._entry.entry_id}",
            )
        )
        self._entry.async_on_unload(
            async_call_later(self._hass, FIRST_CLIENT_CHECK_DELAY, self._async_first_client_check)
        )
        return self.context

    async def _async_first_client_check(self, _now: datetime) -> None:
        await self.async_check_clients()

    async def _async_periodic_check(self, _now: datetime) -> None:
        await self.async_check()
        await self.async_check_clients()

    async def async_check_clients(self) -> None:
        """Ask the chargers whose certificate ends soon for a new one; update their repairs."""
        if self._renewals is None:
            # Its first ask comes from here: following the outcomes from now on is enough.
            self._renewals = ClientRenewals(
                self._entry.runtime_data.central, on_change=self._update_renewal_issues
            )
            self._entry.async_on_unload(self._renewals.close)
            self._renewal_issues = self._raised_renewal_issues()
        await self._renewals.check()
        self._update_renewal_issues()

    def _raised_renewal_issues(self) -> set[str]:
        """The chargers of this server with a renewal repair raised before (by the instance of
        an earlier setup of the entry): removed too once they renew."""
        prefix = repair_issue_id(ISSUE_CLIENT_CERTIFICATE_RENEWAL, "")
        directory = self._entry.runtime_data.directory
        return {
            issue_id.removeprefix(prefix)
            for domain, issue_id in ir.async_get(self._hass).issues
            if domain == DOMAIN
            and issue_id.startswith(prefix)
            and _belongs_to(directory.charger_entry(issue_id.removeprefix(prefix)), self._entry)
        }

    @callback
    def _update_renewal_issues(self) -> None:
        """A repair per charger whose certificate renewal is overdue; removed once renewed."""
        assert self._renewals is not None
        directory = self._entry.runtime_data.directory
        raised: set[str] = set()
        for overdue in self._renewals.overdue():
            charger_id = overdue.charger_id
            charger_entry = directory.charger_entry(charger_id)
            raised.add(charger_id)
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                repair_issue_id(ISSUE_CLIENT_CERTIFICATE_RENEWAL, charger_id),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_CLIENT_CERTIFICATE_RENEWAL,
                translation_placeholders={
                    **charger_placeholders(charger_id, charger_entry),
                    "expires": overdue.expires.date().isoformat(),
                    "asked": str(overdue.asked),
                    "refused": overdue.refused or "-",
                },
            )
            if charger_id not in self._renewal_issues:
                LOGGER.warning(
                    "Charger %s has not renewed its client certificate, which expires %s "
                    "(asked %d times; its last request refused: %s)",
                    charger_id,
                    overdue.expires.isoformat(),
                    overdue.asked,
                    overdue.refused or "-",
                )
        for charger_id in self._renewal_issues - raised:
            ir.async_delete_issue(
                self._hass, DOMAIN, repair_issue_id(ISSUE_CLIENT_CERTIFICATE_RENEWAL, charger_id)
            )
        self._renewal_issues = raised

    async def async_check(self) -> None:
        """Renew our certificate when due (or switch to the certificate the options pick), with
        repair issues for a renewal that fails and a user certificate that expires soon."""
        async with self._lock:
            ca = self._ca
            assert ca is not None
            options = tls_options(self._entry.options)
            wanted = self.credentials_for(options)
            use_own = wanted is not None and wanted is self._own
            changed = failed = False
            if not use_own:
                try:
                    changed = await self._async_issue_if_due(ca, options)
                except _CERTIFICATE_FAILURES as err:
                    failed = True
                    self._last_error = err
                    self._renewal_failed(err)
                    if self._issued is None:
                        return
            if not failed:
                ir.async_delete_issue(
                    self._hass,
                    DOMAIN,
                    repair_issue_id(ISSUE_TLS_RENEWAL_FAILED, self._entry.entry_id),
                )
            self._check_own_expiry(use_own)
            self._check_own_lost(options)
            wanted = self._own if use_own else self._issued
            if changed or wanted is not self._active:
                assert wanted is not None
                self._context = await self._hass.async_add_executor_job(
                    partial(build_server_context, wanted, client_ca_pem=ca.certificate_pem)
                )
                self._active = wanted
                for listener in list(self._listeners):
                    listener()

    def _renewal_failed(self, err: Exception) -> None:
        expires = "-" if self._issued is None else self._issued.not_valid_after.isoformat()
        LOGGER.error(
            "Could not renew the TLS server certificate of %s (it expires %s): %s",
            self._entry.title,
            expires,
            err,
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            repair_issue_id(ISSUE_TLS_RENEWAL_FAILED, self._entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_TLS_RENEWAL_FAILED,
            translation_placeholders={
                "server": self._entry.title,
                "expires": expires,
                "error": str(err),
            },
        )

    def _check_own_lost(self, options: TlsOptions) -> None:
        """The options pick the user's own certificate but there is none (it was damaged in the
        store): ours is presented, which chargers set up for theirs may not trust."""
        issue_id = repair_issue_id(ISSUE_TLS_OWN_CERTIFICATE_LOST, self._entry.entry_id)
        if not options.own_certificate or self._own is not None:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_TLS_OWN_CERTIFICATE_LOST,
            translation_placeholders={"server": self._entry.title},
        )

    def _check_own_expiry(self, use_own: bool) -> None:
        issue_id = repair_issue_id(ISSUE_TLS_CERTIFICATE_EXPIRING, self._entry.entry_id)
        own = self._own
        if not use_own or own is None:
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        expires = own.not_valid_after
        if expires - datetime.now(expires.tzinfo) > timedelta(days=RENEW_BEFORE_DAYS):
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_TLS_CERTIFICATE_EXPIRING,
            translation_placeholders={"server": self._entry.title, "expires": expires.isoformat()},
        )


def _belongs_to(charger_entry: ConfigEntry | None, server_entry: ConfigEntry) -> bool:
    return (
        charger_entry is not None
        and charger_entry.data.get(CONF_SERVER_ENTRY_ID) == server_entry.entry_id
    )


# The parts of the security store, as the log names them.
_STORE_PARTS = {
    "issued": "server certificate",
    "own": "own server certificate",
}


@dataclass(frozen=True, kw_only=True)
class _StoredSecurity:
    ca: CertificateAuthority | None
    issued: ServerCredentials | None
    own: ServerCredentials | None
    # The parts that could not be read (each None above), and why.
    damage: dict[str, Exception]


def _parse_store(data: Mapping[str, Any]) -> _StoredSecurity:
    """Each part on its own: a damaged one does not take the others with it."""
    damage: dict[str, Exception] = {}

    def parse[T](part: str, load: Callable[[Mapping[str, Any]], T]) -> T | None:
        stored = data.get(part)
        if not stored:
            return None
        try:
            return load(stored)
        except (*_CERTIFICATE_FAILURES, TypeError, AttributeError) as err:
            damage[part] = err
            return None

    return _StoredSecurity(
        ca=parse("ca", CertificateAuthority.from_dict),
        issued=parse("issued", ServerCredentials.from_dict),
        own=parse("own", ServerCredentials.from_dict),
        damage=damage,
    )


def loaded_security(hass: HomeAssistant, entry_id: str) -> ServerSecurity | None:
    """The running security of a loaded server entry."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if (
        entry is None
        or entry.domain != DOMAIN
        or entry.state is not ConfigEntryState.LOADED
        or not hasattr(entry.runtime_data, "security")
    ):
        return None
    security: ServerSecurity = entry.runtime_data.security
    return security


async def async_tls_url_host(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """The address chargers reach the server at: its listen address when it is a specific one,
    else Home Assistant's own local IP address."""
    listen = str(entry.data.get(CONF_HOST, DEFAULT_HOST))
    if listen not in ("", "0.0.0.0", "::"):
        return listen
    try:
        return await network.async_get_source_ip(hass)
    except HomeAssistantError:  # pragma: no cover - a machine without any IPv4 address
        return "homeassistant.local"


def security_placeholders(
    hass: HomeAssistant,
    entry: ConfigEntry,
    security: ServerSecurity,
    options: TlsOptions,
    host: str,
) -> dict[str, str]:
    """What the user needs to set a charger up for TLS with ``options`` (the options flow shows
    it): the URL to enter in the charger, the CA's fingerprint to compare, where to download the
    CA (a signed link, and the API path), and the server certificate's names and expiry."""
    port = options.port
    if port == 0 and loaded_security(hass, entry.entry_id) is security:
        # Port 0 (tests): whatever the system picked.
        port = entry.runtime_data.central.tls_port or 0
    ca = security.ca
    credentials = security.credentials_for(options)
    path = ca_path(entry.entry_id)
    return {
        "tls_url": f"wss://{host}:{port}/",
        "fingerprint": "-" if ca is None else ca.fingerprint,
        "ca_path": path,
        # A link that works without a login header (a browser's download has none). HTTP, which
        # signs it, is a dependency: set up before any of our flows or entries.
        "ca_url": async_sign_path(hass, path, CA_LINK_VALIDITY),
        "names": "-" if credentials is None else ", ".join(credentials.names),
        "expires": "-" if credentials is None else credentials.not_valid_after.date().isoformat(),
    }


class CaCertificateView(HomeAssistantView):
    """``GET /api/ocpp_ems/<server entry id>/ca.pem``: the CA certificate of a server whose TLS
    listener runs (Home Assistant login or a signed link required)."""

    url = CA_URL
    name = "api:ocpp_ems:ca"
    requires_auth = True

    async def get(self, request: web.Request, entry_id: str) -> web.Response:
        security = loaded_security(request.app[KEY_HASS], entry_id)
        ca = None if security is None else security.ca
        if ca is None:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        return web.Response(
            text=ca.certificate_pem,
            content_type="application/x-pem-file",
            headers={hdrs.CONTENT_DISPOSITION: f'attachment; filename="{CA_FILE_NAME}"'},
        )
