"""What the central system does to a 1.6 charger on its own initiative, around boot.

- after an accepted BootNotification: read the configuration (capabilities), configure meter
  values within the charger's limits, sync the local id-tag list; then the charger counts as set
  up (``ChargerState.record_setup_done``: current control starts). Setups are paced server-wide
  (:class:`~...pacing.SetupGate`): the boot is answered at once, the setup waits for a slot;
- the boot watchdog: a known charger that reconnects without booting is asked to boot
  (TriggerMessage), and set up anyway if it still does not;
- on acceptance by the user: the Basic-auth password (security profile 1), then a new boot.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.auth import password_to_authorization_key
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.pacing import phase

from .capabilities import capabilities_from_configuration, csv, int_or_none

if TYPE_CHECKING:
    from .session import V16Session

_LOGGER = logging.getLogger(__name__)

# The boot watchdog of each charger waits boot_trigger_after_s plus up to this fraction more (fixed
# per charger id): chargers that reconnected together (a restart) are not triggered together.
WATCHDOG_SPREAD = 0.5


class Provisioning:
    """Boot bookkeeping and post-boot setup of one session."""

    def __init__(self, session: V16Session) -> None:
        self._session = session
        self._charger_id = session.charger.charger_id
        self.boot_seen = False
        self._boot_accepted = False
        self._setup_task: asyncio.Task[None] | None = None

    # --- boot ------------------------------------------------------------------------------------
    def on_boot(self, *, accepted: bool) -> None:
        """A BootNotification was answered (Accepted or not)."""
        self.boot_seen = True
        self._boot_accepted = accepted

    def after_boot(self) -> None:
        """The boot answer was sent: now we may send CALLs of our own."""
        if self._boot_accepted:
            self._start_setup()

    def _start_setup(self) -> None:
        if self._setup_task is not None:
            self._setup_task.cancel()  # the charger rebooted while we were still setting it up
        self._setup_task = self._session.tasks.spawn(self.setup(), "setup")

    async def setup(self) -> None:
        """After an accepted boot: learn the charger, set up meter values, sync the local list.

        Runs in a slot of the server's setup gate, held through ``record_setup_done``: the
        current-control start that it triggers shares the slot (see ``CentralSystem._on_booted``),
        so a boot storm is paced through both.

        Work already in place is skipped: a ChangeConfiguration only for a value that differs from
        what the charger reported at this boot, a SendLocalList only for a list version it does not
        hold, a capabilities update only when they changed. The reads themselves are not skipped:
        a boot may follow a firmware update or a factory reset, which changes or clears what we
        knew from before (the configuration, the local list), and nothing tells us which boot did.
        """
        async with self._session.context.setup_gate.slot(self._charger_id):
            steps = (self._read_configuration, self._configure_meter_values, self._sync_local_list)
            for step in steps:
                try:
                    await step()
                except ChargerNotConnectedError:
                    return
                except OcppEmsError as err:
                    _LOGGER.warning("%s: %s failed: %s", self._charger_id, step.__name__, err)
            self._session.state.record_setup_done()

    async def boot_watchdog(self) -> None:
        """A known charger that reconnects without booting: ask for a boot, else go on without."""
        session = self._session
        delay = session.context.server_settings.boot_trigger_after_s * (
            1 + WATCHDOG_SPREAD * phase(self._charger_id)
        )
        await asyncio.sleep(delay)
        if self.boot_seen or session.context.admission() is not Admission.ACCEPTED:
            return
        _LOGGER.info("%s: no BootNotification after reconnect; triggering one", self._charger_id)
        try:
            await session.trigger_message("BootNotification")
        except ChargerNotConnectedError:
            return
        except OcppEmsError as err:
            _LOGGER.info("%s: TriggerMessage(BootNotification): %s", self._charger_id, err)
        await asyncio.sleep(delay)
        if not self.boot_seen:
            # It is running and known: control it anyway rather than leave it unmanaged.
            _LOGGER.warning(
                "%s: still no BootNotification; setting it up without one", self._charger_id
            )
            self._start_setup()

    # --- acceptance ------------------------------------------------------------------------------
    async def on_accepted(self, password: str | None) -> None:
        """The user accepted the charger: Basic auth (when a password is given), then a boot."""
        if password:
            try:
                await self._provision_password(password)
            except OcppEmsError as err:
                _LOGGER.warning(
                    "%s: could not provision Basic authentication: %s", self._charger_id, err
                )
        try:
            await self._session.trigger_message("BootNotification")
        except OcppEmsError as err:
            # Not fatal: a Pending charger boots again by itself after PENDING_RETRY_S.
            _LOGGER.info("%s: TriggerMessage(BootNotification): %s", self._charger_id, err)

    async def _provision_password(self, password: str) -> None:
        """Security profile 1 (1.6 security whitepaper): AuthorizationKey (hex), then profile."""
        session = self._session
        await session.set_configuration("AuthorizationKey", password_to_authorization_key(password))
        await session.set_configuration("SecurityProfile", "1")
        session.state.record_password_provisioned()
        _LOGGER.info("%s: moved to Basic authentication (security profile 1)", self._charger_id)

    # --- setup steps -----------------------------------------------------------------------------
    async def _read_configuration(self) -> None:
        result = await self._session.get_configuration()
        values = {key: entry["value"] for key, entry in result["configuration"].items()}
        capabilities = capabilities_from_configuration(values)
        if capabilities != self._session.charger.capabilities:  # unchanged: nothing to tell
            self._session.state.record_capabilities(capabilities)

    async def _configure_meter_values(self) -> None:
        settings = self._session.context.charger_settings()
        config = self._session.charger.configuration
        interval = str(settings.meter_interval_s)
        if (
            "MeterValueSampleInterval" in config
            and config["MeterValueSampleInterval"] != interval
            and not await self._try_configure("MeterValueSampleInterval", interval)
        ):
            _LOGGER.info(
                "%s: keeps its meter interval %ss (rejected %ss)",
                self._charger_id,
                config.get("MeterValueSampleInterval"),
                interval,
            )
        if "MeterValuesSampledData" in config:
            await self._configure_measurands(list(dict.fromkeys(settings.measurands)))

    async def _configure_measurands(self, wanted: list[str]) -> None:
        key = "MeterValuesSampledData"
        config = self._session.charger.configuration
        current = csv(config.get(key))
        max_length = int_or_none(config.get(f"{key}MaxLength"))
        unsupported = self._session.charger.rejected_measurands
        wanted = [m for m in wanted if m not in unsupported]
        target = wanted[:max_length] if max_length else wanted
        if set(target) == set(current):
            return
        if await self._try_configure(key, ",".join(target)):
            return
        # Rejected as a whole: find out which measurands it supports (what it samples now is known
        # good), then set those. Probing changes the key, so always finish with a final value.
        supported = [m for m in wanted if m in current or await self._try_configure(key, m)]
        self._session.charger.rejected_measurands = unsupported | (set(wanted) - set(supported))
        if max_length:
            supported = supported[:max_length]
        final = ",".join(supported or current)
        if not final or not await self._try_configure(key, final):
            await self._try_configure(key, ",".join(current))
        _LOGGER.info("%s: samples %s", self._charger_id, config.get(key))

    async def _try_configure(self, key: str, value: str) -> bool:
        try:
            await self._session.set_configuration(key, value)
        except CommandRejectedError:
            return False
        return True

    async def _sync_local_list(self) -> None:
        session = self._session
        if not session.charger.capabilities.local_auth_list:
            return
        version, id_tags = session.context.directory.local_list()
        current = await session.get_local_list_version()
        if current == version or current < 0:  # -1: the charger has the list disabled
            return
        await session.send_local_list(id_tags, version)
