"""What the central system does to a 1.6 charger around boot (see :mod:`...provisioning`).

The 1.6 setup steps: read the configuration (capabilities), configure meter values within the
charger's limits, sync the local id-tag list. Basic auth is security profile 1 of the 1.6 security
whitepaper: the password as the hex ``AuthorizationKey``, then ``SecurityProfile`` 1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.auth import password_to_authorization_key
from custom_components.ocpp_ems.core.protocol.measurands import (
    MeasurandRules,
    negotiate_measurands,
)
from custom_components.ocpp_ems.core.protocol.provisioning import (
    WATCHDOG_SPREAD,
    BaseProvisioning,
    SetupStep,
    accepted,
)

from .capabilities import capabilities_from_configuration, csv, int_or_none

if TYPE_CHECKING:
    from .session import V16Session

__all__ = ["AUTHORIZATION_KEY", "SECURITY_PROFILE_KEY", "WATCHDOG_SPREAD", "Provisioning"]

_LOGGER = logging.getLogger(__name__)

_MEASURANDS_KEY = "MeterValuesSampledData"
# The keys Home Assistant keeps in step with the charger (its password, its security profile).
AUTHORIZATION_KEY = "AuthorizationKey"
SECURITY_PROFILE_KEY = "SecurityProfile"


class Provisioning(BaseProvisioning):
    """Boot bookkeeping and post-boot setup of one 1.6 session."""

    _session: V16Session

    def steps(self) -> Sequence[SetupStep]:
        return (self._read_configuration, self._configure_meter_values, self.sync_local_list)

    async def provision_password(self, password: str) -> None:
        """Security profile 1 (1.6 security whitepaper): AuthorizationKey (hex), then profile 1 -
        never lower than the charger is: not over TLS, not when its SecurityProfile is 1 or more."""
        session = self._session
        await session.set_configuration(AUTHORIZATION_KEY, password_to_authorization_key(password))
        security = session.charger.connection_security
        current = int_or_none(session.charger.configuration.get(SECURITY_PROFILE_KEY)) or 0
        if (security is None or security.profile < 2) and current < 1:
            await session.set_configuration(SECURITY_PROFILE_KEY, "1")
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
        if _MEASURANDS_KEY in config:
            await self._configure_measurands(settings.measurands)

    async def _configure_measurands(self, wanted: Sequence[str]) -> None:
        charger = self._session.charger
        config = charger.configuration

        async def write(value: str) -> bool:
            return await self._try_configure(_MEASURANDS_KEY, value)

        charger.rejected_measurands = await negotiate_measurands(
            wanted,
            csv(config.get(_MEASURANDS_KEY)),
            rules=MeasurandRules(max_items=int_or_none(config.get(f"{_MEASURANDS_KEY}MaxLength"))),
            rejected=charger.rejected_measurands,
            write=write,
        )
        _LOGGER.debug("%s: samples %s", self._charger_id, config.get(_MEASURANDS_KEY))

    async def _try_configure(self, key: str, value: str) -> bool:
        return await accepted(self._session.set_configuration(key, value))
