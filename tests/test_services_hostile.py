"""The actions as a stranger's automation or a hostile caller uses them: values past their
bounds, fractions where a whole number belongs, and configuration keys Home Assistant manages.
Bad input is refused before anything reaches the charger."""

from __future__ import annotations

from typing import Any

import probatio
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_ems.const import DOMAIN

from .helpers.fixtures import Target
from .helpers.versions import VERSIONS_2X, OnboardAny, Side2x


async def call(
    hass: HomeAssistant, service: str, device_id: str, response: bool = False, **data: Any
) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, {"device_id": device_id, **data}, blocking=True, return_response=response
    )


@pytest.mark.parametrize("duration", [{"days": 1e10}, 1e20, "inf", {"seconds": "1e400"}])
async def test_a_boost_too_long_for_a_timedelta_is_bad_input(
    hass: HomeAssistant, target: Target, duration: Any
) -> None:
    """A boost of 1e10 days raised a bare OverflowError (a traceback, no message of ours)."""
    with pytest.raises(probatio.Invalid):
        await call(hass, "boost_now", target.device_id, duration=duration)


# A fraction where a whole number belongs was cut off: reservation 1.9 cancelled reservation 1,
# security profile 2.5 upgraded to 2, profile 1.5 cleared our installation maximum (profile 1).
FRACTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("cancel_reservation", {"reservation_id": 1.9}, "CancelReservation"),
    ("upgrade_security", {"security_profile": 2.5}, "ChangeConfiguration"),
    ("clear_charging_profiles", {"profile_id": 1.5}, "ClearChargingProfile"),
    ("set_current_limit", {"current": 10, "duration": 1.9}, "SetChargingProfile"),
    ("update_firmware", {"url": "https://example.com/fw", "retries": 1.5}, "UpdateFirmware"),
    ("export_sessions", {"count": 2.5}, ""),
]
# OCPP's integer has 32 bits: bigger ones went on the wire, for the charger to overflow on.
BEYOND_OCPP_INTEGER: list[tuple[str, dict[str, Any], str]] = [
    ("cancel_reservation", {"reservation_id": 2**31}, "CancelReservation"),
    ("clear_charging_profiles", {"stack_level": 10**20}, "ClearChargingProfile"),
    ("clear_charging_profiles", {"profile_id": -1}, "ClearChargingProfile"),
    ("update_firmware", {"url": "https://example.com/fw", "retries": 10**12}, "UpdateFirmware"),
    ("unlock", {"connector_id": 10**400}, "UnlockConnector"),
]


@pytest.mark.parametrize(("service", "data", "action"), FRACTIONS + BEYOND_OCPP_INTEGER)
async def test_whole_numbers_are_whole_and_32_bit(
    hass: HomeAssistant, target: Target, service: str, data: dict[str, Any], action: str
) -> None:
    sent = len(target.sim.commands(action)) if action else 0
    with pytest.raises(probatio.Invalid):
        await call(hass, service, target.device_id, **data)
    assert (len(target.sim.commands(action)) if action else 0) == sent


@pytest.mark.parametrize(
    "key", ["AuthorizationKey", "authorizationkey", " SecurityProfile", "SECURITYPROFILE"]
)
async def test_set_configuration_refuses_the_keys_home_assistant_manages(
    hass: HomeAssistant, target: Target, key: str
) -> None:
    """set_configuration wrote the charger's AuthorizationKey (its password) or SecurityProfile
    behind Home Assistant's back: at its next connection the charger was locked out."""
    sent = len(target.sim.commands("ChangeConfiguration"))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_configuration", target.device_id, response=True, key=key, value="00")
    assert err.value.translation_key == "server_managed_key"
    assert err.value.translation_placeholders == {"key": key, "charger": target.entry.title}
    assert len(target.sim.commands("ChangeConfiguration")) == sent


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_set_configuration_refuses_the_variables_home_assistant_manages_2x(
    hass: HomeAssistant, onboard_any: OnboardAny, device_registry: dr.DeviceRegistry, version: str
) -> None:
    async with onboard_any(version) as (charger, entry):
        assert isinstance(charger, Side2x)
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        sent = len(charger.station.actions("SetVariables"))
        for key in (
            "SecurityCtrlr.BasicAuthPassword",
            "securityctrlr.basicauthpassword",
            "SecurityCtrlr.SecurityProfile",
            "OCPPCommCtrlr.NetworkConfigurationPriority",
        ):
            with pytest.raises(ServiceValidationError) as err:
                await call(hass, "set_configuration", device.id, key=key, value="1")
            assert err.value.translation_key == "server_managed_key", key
        assert len(charger.station.actions("SetVariables")) == sent
        # Any other variable still goes through.
        result = await call(
            hass,
            "set_configuration",
            device.id,
            response=True,
            key="OCPPCommCtrlr.HeartbeatInterval",
            value="120",
        )
        assert result == {"status": "Accepted"}


def raw_profile(schedule: dict[str, Any], purpose: str = "ChargePointMaxProfile") -> dict[str, Any]:
    return {
        "chargingProfileId": 77,
        "stackLevel": 9,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }


def schedule(unit: str, *periods: dict[str, Any]) -> dict[str, Any]:
    return {"chargingRateUnit": unit, "chargingSchedulePeriod": list(periods)}


@pytest.mark.parametrize(
    "profile",
    [
        # A higher stack level of ChargePointMaxProfile replaced the installation maximum (32 A).
        raw_profile(schedule("A", {"startPeriod": 0, "limit": 80})),
        raw_profile(
            schedule("A", {"startPeriod": 0, "limit": 16}, {"startPeriod": 60, "limit": 33})
        ),
        raw_profile(schedule("A", {"startPeriod": 0, "limit": float("nan")})),
        # 3 x 230 V x 40 A; and one phase at 40 A.
        raw_profile(schedule("W", {"startPeriod": 0, "limit": 27600})),
        raw_profile(schedule("W", {"startPeriod": 0, "limit": 9200, "numberPhases": 1})),
        raw_profile(schedule("A", {"startPeriod": 0, "limit": 40}), purpose="TxDefaultProfile"),
    ],
)
async def test_a_raw_profile_cannot_lift_the_installation_maximum(
    hass: HomeAssistant, target: Target, profile: dict[str, Any]
) -> None:
    """set_charging_profile wrote any limit: a ChargePointMaxProfile of 80 A at a higher stack
    level lifted the installation maximum (the circuit's fuse) of 32 A."""
    sent = len(target.sim.commands("SetChargingProfile"))
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_charging_profile", target.device_id, profile=profile)
    assert err.value.translation_key == "profile_above_maximum"
    assert err.value.translation_placeholders == {"charger": target.entry.title, "max": "32.0"}
    assert len(target.sim.commands("SetChargingProfile")) == sent
    assert 77 not in target.sim.profiles


async def test_a_raw_profile_up_to_the_installation_maximum_is_sent(
    hass: HomeAssistant, target: Target
) -> None:
    for profile in (
        raw_profile(schedule("A", {"startPeriod": 0, "limit": 32})),
        raw_profile(schedule("W", {"startPeriod": 0, "limit": 22080})),  # 3 x 230 V x 32 A
    ):
        await call(hass, "set_charging_profile", target.device_id, profile=profile)
        assert 77 in target.sim.profiles


@pytest.mark.parametrize(
    ("key", "value"),
    [("stackLevel", 10**30), ("chargingProfileId", 2**31), ("stackLevel", -(2**31) - 1)],
)
async def test_a_raw_profile_with_a_number_beyond_32_bits_is_bad_input(
    hass: HomeAssistant, target: Target, key: str, value: int
) -> None:
    """OCPP's JSON schemas bound no integer: a stack level of 10**30 passed them and went out."""
    profile = {**raw_profile(schedule("A", {"startPeriod": 0, "limit": 16})), key: value}
    sent = len(target.sim.commands("SetChargingProfile"))
    with pytest.raises(probatio.Invalid):
        await call(hass, "set_charging_profile", target.device_id, profile=profile)
    assert len(target.sim.commands("SetChargingProfile")) == sent


def _asked(target: Target) -> int:
    """GetCompositeSchedules sent but the limit check's (one minute), which may come any time."""
    return sum(1 for c in target.sim.commands("GetCompositeSchedule") if c["duration"] != 60)


@pytest.mark.parametrize(
    "data",
    [
        {"duration": 60.5},
        {"duration": 0},
        {"duration": 2**31},
        {"connector_id": -1},
        {"connector_id": 1.5},
        {"unit": "kW"},
    ],
)
async def test_composite_schedule_bad_input_is_not_sent(
    hass: HomeAssistant, target: Target, data: dict[str, Any]
) -> None:
    """A window that is no whole number of seconds, or none at all, a connector no charger has,
    a unit OCPP lacks: refused before the charger is asked."""
    sent = _asked(target)
    with pytest.raises(probatio.Invalid):
        await call(hass, "get_composite_schedule", target.device_id, response=True, **data)
    assert _asked(target) == sent


async def test_composite_schedule_of_a_connector_the_charger_lacks(
    hass: HomeAssistant, target: Target
) -> None:
    sent = _asked(target)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_composite_schedule", target.device_id, response=True, connector_id=2)
    assert err.value.translation_key == "unknown_connector"
    assert _asked(target) == sent
