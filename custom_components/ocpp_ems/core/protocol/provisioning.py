"""What the central system does to a charger on its own initiative around boot (every version).

- after an accepted boot: the version's setup steps (read what the charger can do, configure its
  meter values within its limits, sync the local id-tag list); then the charger counts as set up
  (``ChargerState.record_setup_done``: current control starts). Setups are paced server-wide
  (:class:`~..pacing.SetupGate`): the boot is answered at once, the setup waits for a slot;
- the boot watchdog: a known charger that reconnects without booting is set up once a boot on
  its way had :attr:`~BaseProvisioning.reconnect_grace_s` to arrive (a reconnect without a boot
  is normal, also in 1.6: current control must not wait for a boot that may never come); a 1.6
  charger is also asked to boot (TriggerMessage), for the facts its BootNotification refreshes;
- on acceptance by the user: the Basic-auth password (the version's way), then a new boot.

A version subclasses :class:`BaseProvisioning` with its :meth:`~BaseProvisioning.steps` and its
:meth:`~BaseProvisioning.provision_password`.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, Protocol

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.pacing import phase
from custom_components.ocpp_ems.core.session import SessionContext

from .rpc import SessionTasks

_LOGGER = logging.getLogger(__name__)

# The boot watchdog of each charger waits boot_trigger_after_s plus up to this fraction more (fixed
# per charger id): chargers that reconnected together (a restart) are not triggered together.
WATCHDOG_SPREAD = 0.5

type SetupStep = Callable[[], Awaitable[None]]


async def accepted(command: Awaitable[object]) -> bool:
    """Whether the charger accepted a write (a rejection is an answer here, not a failure)."""
    try:
        await command
    except CommandRejectedError:
        return False
    return True


class ProvisionedSession(Protocol):
    """What provisioning needs of a session."""

    charger: Charger
    context: SessionContext
    state: ChargerState
    tasks: SessionTasks

    async def trigger_message(self, message: str, connector_id: int | None = None) -> None: ...

    async def get_local_list_version(self) -> int: ...

    async def send_local_list(self, id_tags: list[str], version: int) -> None: ...


class BaseProvisioning(ABC):
    """Boot bookkeeping and post-boot setup of one session (a version narrows ``_session``)."""

    _session: ProvisionedSession

    # Whether the version boots on every connection (1.6 firmware mostly does: one that did not
    # is asked to; a 2.x station boots only after a restart, B01). Either way a charger that
    # reconnects without a boot is set up once a boot that was on its way had this long.
    boots_on_reconnect: ClassVar[bool] = True
    reconnect_grace_s: ClassVar[float] = 2.0

    def __init__(self, session: ProvisionedSession) -> None:
        self._session = session
        self._charger_id = session.charger.charger_id
        self.boot_seen = False
        self._boot_accepted = False
        self._setup_task: asyncio.Task[None] | None = None

    # --- the version's part ----------------------------------------------------------------------
    @abstractmethod
    def steps(self) -> Sequence[SetupStep]:
        """The setup steps, in order (a failing step is logged and the next one runs)."""

    @abstractmethod
    async def provision_password(self, password: str) -> None:
        """Give the charger its Basic-auth password and record it as offered
        (``ChargerState.record_password_provisioned``) once the charger took it."""

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
        """After an accepted boot: the version's steps, then the charger counts as set up.

        Runs in a slot of the server's setup gate, held through ``record_setup_done``: the
        current-control start that it triggers shares the slot (see ``CentralSystem._on_booted``),
        so a boot storm is paced through both.

        Steps skip work already in place (a write only for a value that differs from what the
        charger reported at this boot, a local list only for a version it does not hold), but
        never the reads: a boot may follow a firmware update or a factory reset, which changes or
        clears what we knew from before, and nothing tells us which boot did.
        """
        async with self._session.context.setup_gate.slot(self._charger_id):
            for step in self.steps():
                try:
                    await step()
                except ChargerNotConnectedError:
                    return
                except OcppEmsError as err:
                    _LOGGER.warning("%s: %s failed: %s", self._charger_id, step.__name__, err)
            self._session.state.record_setup_done()

    async def boot_watchdog(self) -> None:
        """A known charger that reconnects without booting: set it up after the grace, and
        (1.6) ask it for the boot it skipped, at a delay spread per charger id (chargers that
        reconnected together, after a restart, are not triggered together)."""
        steps: list[tuple[float, Callable[[], Awaitable[bool]]]] = [
            (self.reconnect_grace_s, self._set_up_without_boot)
        ]
        if self.boots_on_reconnect:
            delay = self._session.context.server_settings.boot_trigger_after_s * (
                1 + WATCHDOG_SPREAD * phase(self._charger_id)
            )
            steps.append((delay, self._trigger_boot))
        waited = 0.0
        for at, step in sorted(steps, key=lambda timed: timed[0]):
            await asyncio.sleep(at - waited)
            waited = at
            if self.boot_seen or self._session.context.admission() is not Admission.ACCEPTED:
                return
            if not await step():
                return

    async def _set_up_without_boot(self) -> bool:
        _LOGGER.info("%s: reconnected without a boot; setting it up", self._charger_id)
        self._start_setup()
        return True

    async def _trigger_boot(self) -> bool:
        """Ask for a BootNotification; False when the charger is gone."""
        _LOGGER.info("%s: no BootNotification after reconnect; triggering one", self._charger_id)
        try:
            await self._session.trigger_message("BootNotification")
        except ChargerNotConnectedError:
            return False
        except OcppEmsError as err:
            _LOGGER.info("%s: TriggerMessage(BootNotification): %s", self._charger_id, err)
        return True

    async def sync_local_list(self) -> None:
        """A setup step: the directory's id tags as the charger's local list, unless it holds
        that version already (or has the list disabled: version -1 in 1.6)."""
        session = self._session
        if not session.charger.capabilities.local_auth_list:
            return
        version, id_tags = session.context.directory.local_list()
        current = await session.get_local_list_version()
        if current == version or current < 0:
            return
        await session.send_local_list(id_tags, version)

    # --- acceptance ------------------------------------------------------------------------------
    async def on_accepted(self, password: str | None) -> None:
        """The user accepted the charger: Basic auth (when a password is given and it does not
        log in with it yet: a reload of an accepted charger's entry must not hand it out again,
        which makes a 2.x station reconnect, A01), then a boot."""
        if password and not self._session.charger.auth_committed:
            try:
                await self.provision_password(password)
            except OcppEmsError as err:
                _LOGGER.warning(
                    "%s: could not provision Basic authentication: %s", self._charger_id, err
                )
        try:
            await self._session.trigger_message("BootNotification")
        except OcppEmsError as err:
            # Not fatal: a Pending charger boots again by itself after its retry interval.
            _LOGGER.info("%s: TriggerMessage(BootNotification): %s", self._charger_id, err)
