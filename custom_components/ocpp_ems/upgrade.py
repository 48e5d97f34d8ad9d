"""Moving a charger to another security profile without locking it out (OCPP 1.6 security
whitepaper; OCPP 2.0.1 use case A05). One :class:`SecurityUpgrades` per server entry runs them:

1. **Provision** what the new profile needs, while nothing has changed yet: our CA as the charger's
   CSMS root certificate (profiles 2 and 3); for profile 3 its client certificate: the charger is
   asked for a certificate signing request, and we wait until it accepted the certificate our CA
   signed (CertificateSigned; :data:`CERTIFICATE_TIMEOUT_S`). A failure here changes nothing. Our
   CA signs only over TLS, so profile 3 is reached from profile 2, never straight from 1.
2. **Server side first:** the charger's profile becomes the new one, and "allow a lower security
   profile" is on until it is back, so the old way still gets in (logged and reported as a
   downgrade) whatever the charger does.
3. **Switch the charger:** 1.6 ``SecurityProfile`` (a soft reset when it asks for a reboot); 2.x a
   network profile with our ``wss://`` URL in a new configuration slot, that slot first in
   ``NetworkConfigurationPriority`` (the old one after it: the station's own fallback), and a reset.
   Refused: the server side goes back at once.
4. **Watch:** once it connects with the new profile, "allow a lower security profile" goes back to
   what the user had, and a ``profile_changed`` security event is reported. If it is not back
   within :data:`UPGRADE_TIMEOUT_S`, the server goes back to the old profile (the charger's old
   way works again) and a repair issue lists what to check.

A downgrade (a lower profile) is refused unless the user allowed one for the charger. A pending
upgrade is kept in the server's security store: after a restart its watch resumes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ALLOW_SECURITY_DOWNGRADE,
    CONF_SECURITY_PROFILE,
    DEFAULT_CHARGER_SETTINGS,
    DOMAIN,
    ISSUE_SECURITY_UPGRADE_FAILED,
    LOGGER,
    repair_issue_id,
)
from .coordinator import SECURITY_PROFILE_CHANGED
from .core.model import Charger, ChargerEvent, EventKind
from .core.protocol.certificates import (
    CERTIFICATE_ISSUED_EVENT,
    CSR_REFUSED_EVENT,
    csr_allowed_over,
)
from .core.server import CentralSystem
from .core.session import ChargerSession
from .core.settings import SecurityProfile
from .entity import charger_errors, require_session
from .hub import charger_placeholders
from .security import ServerSecurity, async_tls_url_host

# How long the charger has to come back on its new profile before the server goes back.
UPGRADE_TIMEOUT_S = 300.0
# How long the certificate signing round of profile 3 may take.
CERTIFICATE_TIMEOUT_S = 120.0
# 2.x: the variable that orders the station's network profiles.
NETWORK_PRIORITY_KEY = "OCPPCommCtrlr.NetworkConfigurationPriority"


def _error(key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def configured_profile(entry: ConfigEntry) -> int:
    return int(entry.options.get(CONF_SECURITY_PROFILE, DEFAULT_CHARGER_SETTINGS.security_profile))


def _came_back(charger: Charger, target: int) -> bool:
    security = charger.connection_security
    return charger.connected and security is not None and security.profile >= target


async def async_switch_v2(session: ChargerSession, target: int, url: str) -> None:
    """OCPP 2.0.1 A05 steps 2-4: a network profile for ``url`` with ``target`` in a new slot,
    that slot first (the current ones after it, as the fallback), then a reset."""
    answer = await session.get_configuration([NETWORK_PRIORITY_KEY])
    current = str((answer["configuration"].get(NETWORK_PRIORITY_KEY) or {}).get("value") or "")
    slots = [int(part) for part in current.split(",") if part.strip().isdigit()]
    slot = max(slots, default=0) + 1
    await session.set_network_profile(slot, url, target)
    await session.set_configuration(NETWORK_PRIORITY_KEY, ",".join(map(str, [slot, *slots])))
    await session.reset(hard=False)


class SecurityUpgrades:
    """The security upgrades of one server's chargers (see the module docstring)."""

    def __init__(
        self,
        hass: HomeAssistant,
        server_entry: ConfigEntry,
        central: CentralSystem,
        security: ServerSecurity,
    ) -> None:
        self._hass = hass
        self._server_entry = server_entry
        self._central = central
        self._security = security
        self._running: set[str] = set()

    # --- starting one ----------
    async def async_upgrade(self, entry: ConfigEntry, target: int) -> None:
        """Provision and switch the charger of ``entry`` to ``target``, then watch it come back
        (in the background). Raises ServiceValidationError when it cannot start, and
        HomeAssistantError when the charger fails a step (nothing is changed then)."""
        charger_id = str(entry.unique_id)
        previous = configured_profile(entry)
        self._check(entry, charger_id, previous, target)
        self._running.add(charger_id)
        try:
            session = require_session(self._central, charger_id)
            charger = self._central.charger(charger_id)
            url = await self._async_url()
            with charger_errors(charger_id):
                if target > SecurityProfile.BASIC_AUTH:
                    await session.install_root_certificate()
                if target == SecurityProfile.TLS_CLIENT_CERTIFICATE:
                    await self._async_client_certificate(charger, session)
            record = {
                "entry_id": entry.entry_id,
                "previous": previous,
                "target": target,
                "allow_downgrade": bool(entry.options.get(CONF_ALLOW_SECURITY_DOWNGRADE, False)),
                "deadline": (dt_util.utcnow() + timedelta(seconds=UPGRADE_TIMEOUT_S)).isoformat(),
            }
            # The server side first: the new profile, the old way still let in meanwhile.
            self._set_profile(entry, target, allow_downgrade=True)
            await self._security.async_set_pending_upgrade(charger_id, record)
            try:
                with charger_errors(charger_id):
                    await self._async_switch(charger, session, target, f"{url}/")
            except HomeAssistantError:
                await self._async_undo(charger_id, record)
                raise
        except BaseException:
            self._running.discard(charger_id)
            raise
        ir.async_delete_issue(
            self._hass, DOMAIN, repair_issue_id(ISSUE_SECURITY_UPGRADE_FAILED, charger_id)
        )
        LOGGER.info(
            "Charger %s accepted security profile %d; waiting up to %d s for it to come back",
            charger_id,
            target,
            UPGRADE_TIMEOUT_S,
        )
        self._watch(charger_id, record)

    def _check(self, entry: ConfigEntry, charger_id: str, previous: int, target: int) -> None:
        if charger_id in self._running:
            raise _invalid("upgrade_running", charger_id=charger_id)
        if target == previous:
            raise _invalid("already_on_profile", charger_id=charger_id, profile=str(target))
        if target < previous and not entry.options.get(CONF_ALLOW_SECURITY_DOWNGRADE, False):
            raise _invalid("downgrade_not_allowed", charger_id=charger_id)
        if target > SecurityProfile.BASIC_AUTH and self._central.tls_port is None:
            raise _invalid("tls_not_enabled", charger_id=charger_id)
        charger = self._central.charger(charger_id)
        security = charger.connection_security
        if self._central.session(charger_id) is None or security is None:
            raise _invalid("charger_not_connected", charger_id=charger_id)
        if not (security.basic_auth or security.profile == SecurityProfile.TLS_CLIENT_CERTIFICATE):
            # Its password (profile 2) must be known to work, and a certificate is only signed
            # for an authenticated connection.
            raise _invalid("not_authenticated", charger_id=charger_id)
        if target == SecurityProfile.TLS_CLIENT_CERTIFICATE and not csr_allowed_over(security):
            # Its CSR round would run over plain ws://, where our CA signs nothing: profile 2 first.
            raise _invalid("certificate_needs_tls", charger_id=charger_id)

    async def _async_url(self) -> str:
        host = await async_tls_url_host(self._hass, self._server_entry)
        return f"wss://{host}:{self._central.tls_port}"

    async def _async_client_certificate(self, charger: Charger, session: ChargerSession) -> None:
        """Profile 3: ask for a CSR and wait for the charger to accept the certificate."""
        done = asyncio.Event()
        refused: list[str] = []

        def on_event(event: ChargerEvent | None) -> None:
            if event is None or event.kind is not EventKind.SECURITY_EVENT:
                return
            if event.data.get("type") == CERTIFICATE_ISSUED_EVENT:
                done.set()
            elif event.data.get("type") == CSR_REFUSED_EVENT:
                refused.append(str(event.data.get("tech_info") or ""))
                done.set()

        stop = charger.add_listener(on_event)
        try:
            await session.request_new_client_certificate()
            async with asyncio.timeout(CERTIFICATE_TIMEOUT_S):
                await done.wait()
        except TimeoutError:
            raise _error("certificate_timeout", charger_id=charger.charger_id) from None
        finally:
            stop()
        if refused:
            raise _error("certificate_refused", charger_id=charger.charger_id, reason=refused[0])

    async def _async_switch(
        self, charger: Charger, session: ChargerSession, target: int, url: str
    ) -> None:
        if charger.ocpp_version == "ocpp1.6":
            if await session.set_security_profile(target) == "RebootRequired":
                await session.reset(hard=False)
            return
        await async_switch_v2(session, target, url)

    # --- watching ----------
    @callback
    def async_resume(self) -> None:
        """Watch again the upgrades a restart interrupted: until their deadline, and at least a
        whole timeout from now (the charger could not come back while Home Assistant was down)."""
        for charger_id, record in self._security.pending_upgrades.items():
            self._running.add(charger_id)
            self._watch(charger_id, record, resumed=True)

    def _watch(self, charger_id: str, record: dict[str, Any], *, resumed: bool = False) -> None:
        self._server_entry.async_create_background_task(
            self._hass,
            self._async_watch(charger_id, record, resumed=resumed),
            f"{DOMAIN} security upgrade {charger_id}",
        )

    async def _async_watch(
        self, charger_id: str, record: dict[str, Any], *, resumed: bool = False
    ) -> None:
        charger = self._central.charger(charger_id)
        target = int(record["target"])
        back = asyncio.Event()

        def check(_event: ChargerEvent | None = None) -> None:
            if _came_back(charger, target):
                back.set()

        stop = charger.add_listener(check)
        check()
        left = (datetime.fromisoformat(record["deadline"]) - dt_util.utcnow()).total_seconds()
        if resumed:
            left = max(left, UPGRADE_TIMEOUT_S)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                await back.wait()
        except TimeoutError:
            await self._async_roll_back(charger_id, record)
        else:
            await self._async_done(charger_id, record)
        finally:
            stop()
            self._running.discard(charger_id)

    async def _async_done(self, charger_id: str, record: dict[str, Any]) -> None:
        target = int(record["target"])
        entry = self._hass.config_entries.async_get_entry(record["entry_id"])
        if entry is not None:
            self._set_profile(entry, target, allow_downgrade=bool(record["allow_downgrade"]))
        await self._security.async_set_pending_upgrade(charger_id, None)
        LOGGER.info("Charger %s is back with security profile %d", charger_id, target)
        self._report(entry, int(record["previous"]), target, "upgraded")

    async def _async_roll_back(self, charger_id: str, record: dict[str, Any]) -> None:
        previous, target = int(record["previous"]), int(record["target"])
        entry = await self._async_undo(charger_id, record)
        if entry is None:
            return  # the charger was deleted meanwhile: nothing to report
        minutes = str(max(1, round(UPGRADE_TIMEOUT_S / 60)))
        LOGGER.warning(
            "Charger %s did not come back with security profile %d within %s minutes: back to "
            "profile %d",
            charger_id,
            target,
            minutes,
            previous,
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            repair_issue_id(ISSUE_SECURITY_UPGRADE_FAILED, charger_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_SECURITY_UPGRADE_FAILED,
            translation_placeholders={
                **charger_placeholders(charger_id, entry),
                "profile": str(target),
                "previous": str(previous),
                "minutes": minutes,
                "url": f"{await self._async_url()}/{charger_id}",
            },
        )
        self._report(entry, previous, target, "rolled_back")

    async def _async_undo(self, charger_id: str, record: dict[str, Any]) -> ConfigEntry | None:
        """The server side as it was before the upgrade."""
        entry = self._hass.config_entries.async_get_entry(record["entry_id"])
        if entry is not None:
            self._set_profile(
                entry, int(record["previous"]), allow_downgrade=bool(record["allow_downgrade"])
            )
        await self._security.async_set_pending_upgrade(charger_id, None)
        return entry

    def _set_profile(self, entry: ConfigEntry, profile: int, *, allow_downgrade: bool) -> None:
        self._hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_SECURITY_PROFILE: profile,
                CONF_ALLOW_SECURITY_DOWNGRADE: allow_downgrade,
            },
        )

    @staticmethod
    def _report(entry: ConfigEntry | None, start: int, target: int, result: str) -> None:
        """The ``profile_changed`` security event on the charger's event entity: the move from
        ``start`` to ``target`` ``upgraded`` or ``rolled_back``."""
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return
        entry.runtime_data.coordinator.async_security_event(
            SECURITY_PROFILE_CHANGED,
            {"from_profile": start, "to_profile": target, "result": result},
        )
