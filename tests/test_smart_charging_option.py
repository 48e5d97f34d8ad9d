"""The per-charger option "smart charging: auto / on / off", against real simulated chargers.

Some 1.6 chargers take charging profiles but leave SmartCharging out of SupportedFeatureProfiles
(a Grizzl-e reports "Core,FirmwareManagement"): "on" writes their limits anyway. Others list it
and refuse every profile: "off" never writes one and pauses by stopping the session. A change
applies to the connected charger at once, without a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_SMART_CHARGING, DOMAIN
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Capabilities
from custom_components.ocpp_ems.core.protocol.common import (
    CORE,
    RESERVATION,
    SMART_CHARGING,
    offers,
)
from custom_components.ocpp_ems.core.settings import (
    ChargerSettings,
    PauseStrategy,
    SmartChargingMode,
)

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import async_set_charger_options
from .helpers.fixtures import ConnectCharger, accept_pending_charger, central_of

# What a Grizzl-e lists, though it takes charging profiles.
UNLISTED = {"SupportedFeatureProfiles": "Core,FirmwareManagement"}
HINT = "set its option 'Smart charging' to 'On'"


@pytest.mark.parametrize(
    ("mode", "listed", "writes"),
    [
        (SmartChargingMode.AUTO, frozenset(), True),  # not known yet: try
        (SmartChargingMode.AUTO, frozenset({"Core", "SmartCharging"}), True),
        (SmartChargingMode.AUTO, frozenset({"Core", "FirmwareManagement"}), False),
        (SmartChargingMode.ON, frozenset({"Core", "FirmwareManagement"}), True),
        (SmartChargingMode.OFF, frozenset({"Core", "SmartCharging"}), False),
        (SmartChargingMode.OFF, frozenset(), False),
    ],
)
def test_the_rule(mode: SmartChargingMode, listed: frozenset[str], writes: bool) -> None:
    """Whether limits are written, and how a pause is done then (a 0 A profile needs them)."""
    rules = LimitRules(
        ChargerSettings(smart_charging=mode), Capabilities(supported_profiles=listed)
    )
    assert rules.smart_charging is writes
    assert rules.pause_strategy is (
        PauseStrategy.ZERO_LIMIT if writes else PauseStrategy.REMOTE_STOP_START
    )


def test_calls_of_every_version_are_gated_by_the_rule() -> None:
    """Both adapters refuse a CALL locally through ``offers``: smart charging as the rule says,
    the other features as the charger lists them, whatever the option."""
    unlisted = Capabilities(supported_profiles=frozenset({CORE}))
    on = ChargerSettings(smart_charging=SmartChargingMode.ON)
    off = ChargerSettings(smart_charging=SmartChargingMode.OFF)
    assert offers(SMART_CHARGING, on, unlisted)
    assert not offers(SMART_CHARGING, ChargerSettings(), unlisted)
    assert not offers(SMART_CHARGING, off, Capabilities())
    assert offers(CORE, off, unlisted)
    assert not offers(RESERVATION, on, unlisted)
    assert offers(RESERVATION, on, Capabilities())  # not known yet: try


Onboarded = Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry, str]]]


@pytest.fixture
def onboard_any(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    device_registry: dr.DeviceRegistry,
) -> Onboarded:
    """Connect and accept a charger, whatever it lists; wait until it is under current control
    (the usual ``onboard`` waits for a live limit, which an unlisted charger never gets)."""

    @asynccontextmanager
    async def _onboard(
        configuration: dict[str, str] | None = None,
    ) -> AsyncIterator[tuple[SimCharger, MockConfigEntry, str]]:
        async with connect("CP1", configuration=configuration or {}) as sim:
            assert await sim.boot() == "Pending"
            entry = await accept_pending_charger(hass, "CP1")
            central = central_of(server_entry)
            await wait_for(
                lambda: central.charger("CP1").booted and central.session("CP1") is not None,
                what="booted",
            )
            await hass.async_block_till_done()
            device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
            assert device is not None
            yield sim, entry, device.id

    return _onboard


async def _action(hass: HomeAssistant, service: str, device_id: str, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, service, {"device_id": device_id, **data}, blocking=True)


async def test_an_unlisting_charger_gets_limits_with_on_and_none_with_auto(
    hass: HomeAssistant, onboard_any: Onboarded, caplog: pytest.LogCaptureFixture
) -> None:
    async with onboard_any(UNLISTED) as (sim, entry, device_id):
        # Automatic: it lists no SmartCharging, so no profile is sent; the log names the way out.
        await _action(hass, "set_current_limit", device_id, current=10)
        await wait_for(lambda: HINT in caplog.text, what="the hint to the option")
        assert sim.commands("SetChargingProfile") == []

        # On: written at once, without a restart, and every later limit too.
        await async_set_charger_options(hass, entry, **{CONF_SMART_CHARGING: "on"})
        await wait_for(lambda: LIVE_PROFILE_ID in sim.profiles, what="live limit")
        await _action(hass, "set_current_limit", device_id, current=12)
        assert sim.live_limit() == 12.0


async def test_off_never_writes_profiles_and_pauses_by_remote_stop(
    hass: HomeAssistant, onboard_any: Onboarded, caplog: pytest.LogCaptureFixture
) -> None:
    async with onboard_any() as (sim, entry, device_id):  # lists SmartCharging
        await wait_for(lambda: LIVE_PROFILE_ID in sim.profiles, what="live limit")
        await async_set_charger_options(hass, entry, **{CONF_SMART_CHARGING: "off"})
        written = len(sim.commands("SetChargingProfile"))
        await sim.status("Preparing")
        transaction_id = await sim.start_transaction()
        await sim.status("Charging")
        await _action(hass, "set_current_limit", device_id, current=10)
        await _action(hass, "pause_charging", device_id)
        assert sim.commands("RemoteStopTransaction") == [{"transaction_id": transaction_id}]
        assert len(sim.commands("SetChargingProfile")) == written
        # The user's own choice: no hint to switch it on.
        assert HINT not in caplog.text
