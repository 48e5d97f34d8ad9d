"""Passwords and keys never reach Home Assistant's log or diagnostics, not even at DEBUG and not
when a quirky charger echoes them back; id tags stay out of diagnostics.

Every test logs everything (the integration, its frames logger and websockets' handshake log at
DEBUG) and then looks for the secret in all that was written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v16.enums import Action
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ocpp_ems.const import CONF_REMOTE_START_ID_TAG
from custom_components.ocpp_ems.core.protocol.wire_log import WIRE_LOGGER, log_frame, redact
from tests.core import v201_harness

from .helpers.charger import SimCharger, basic_auth_header, now_iso, on, wait_for
from .helpers.fixtures import Onboard
from .helpers.versions import VERSIONS_2X, OnboardAny


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The root logger at DEBUG: what "Enable debug logging" and a ``logger: default: debug``
    write (the frames logger and websockets' handshake log included)."""
    caplog.set_level(logging.DEBUG)


@contextmanager
def _frames_logger_at(level: int) -> Iterator[None]:
    previous = WIRE_LOGGER.level
    WIRE_LOGGER.setLevel(level)
    try:
        yield
    finally:
        WIRE_LOGGER.setLevel(previous)


# The simulated chargers' own client libraries: their side of the wire, not Home Assistant's log.
_CHARGER_SIDE = ("websockets.client", "ocpp")


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """All that Home Assistant's side wrote (messages and tracebacks)."""
    return "\n".join(
        caplog.handler.format(record)
        for record in caplog.records
        if not record.name.startswith(_CHARGER_SIDE)
    )


def assert_logged_without(caplog: pytest.LogCaptureFixture, named: str, *secrets: str) -> None:
    """What carried the secrets was logged (``named`` shows in Home Assistant's log), none of
    ``secrets`` was."""
    text = logged(caplog)
    assert named in text
    for secret in secrets:
        assert secret not in text


class EchoingCharger(SimCharger):
    """Refuses the AuthorizationKey with a CALLERROR whose description quotes it (firmware that
    puts its exception text there)."""

    refused_key: str | None = None

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        if key == "AuthorizationKey":
            self.refused_key = value
            raise PropertyConstraintViolationError(description=f"AuthorizationKey {value} refused")
        return await super().on_change_configuration(key=key, value=value, **kwargs)


async def test_password_echoed_in_a_call_error_is_not_logged(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """1.6: the AuthorizationKey refused with a CALLERROR that quotes it (frames log at DEBUG)."""
    async with onboard(factory=EchoingCharger) as (sim, _entry):
        assert isinstance(sim, EchoingCharger)
        await wait_for(lambda: sim.refused_key, what="the key offered")
        await hass.async_block_till_done()
        assert sim.refused_key is not None
        assert_logged_without(caplog, "refused", sim.refused_key)  # the CALLERROR, not the key


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_password_echoed_in_a_refused_set_variables_is_not_logged(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    """2.x: SetVariables of BasicAuthPassword Rejected, its statusInfo quoting the value."""
    offered: list[str] = []

    def refuse_quoting(_station: Any, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["setVariableData"]:
            value = item["attributeValue"]
            if item["variable"]["name"] == "BasicAuthPassword":
                offered.append(value)
            results.append(
                {
                    "attributeStatus": "Rejected",
                    "component": item["component"],
                    "variable": item["variable"],
                    "attributeStatusInfo": {
                        "reasonCode": "InvalidValue",
                        "additionalInfo": f"bad {value}",
                    },
                }
            )
        return {"setVariableResult": results}

    monkeypatch.setattr(v201_harness._Station, "_answer_SetVariables", refuse_quoting)
    async with onboard_any(version):
        await hass.async_block_till_done()
    assert offered
    assert_logged_without(caplog, "BasicAuthPassword", offered[0])


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_station_that_reports_its_password_is_not_logged(
    onboard_any: OnboardAny,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    """A station that reports the value of its write-only BasicAuthPassword in NotifyReport (or
    GetVariables): neither the frames log nor the charger's configuration shows it."""
    monkeypatch.setattr(v201_harness, "WRITE_ONLY", frozenset())
    async with onboard_any(version) as (charger, entry):
        password = charger.provisioned_password()
        assert password is not None
        assert_logged_without(caplog, "NotifyReport", password.decode())
        model = entry.runtime_data.coordinator.charger
        assert password.decode() not in json.dumps(model.configuration)


async def test_remote_start_id_tag_is_redacted_in_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, onboard: Onboard
) -> None:
    """The id tag remote starts use (often the user's own card) is an id tag like any other."""
    async with onboard() as (_sim, charger_entry):
        hass.config_entries.async_update_entry(
            charger_entry,
            options={**charger_entry.options, CONF_REMOTE_START_ID_TAG: "CARD-04A2B3C4"},
        )
        await hass.async_block_till_done()
        result = await get_diagnostics_for_config_entry(hass, hass_client, charger_entry)
    assert "CARD-04A2B3C4" not in json.dumps(result)
    assert result["entry"]["options"][CONF_REMOTE_START_ID_TAG] == "**REDACTED**"


async def test_unknown_charger_with_credentials_is_not_logged(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unknown charger that logs in at once with Basic auth: the handshake log keeps the header
    name but not its value."""
    async with connect("NEW1", password=b"factory-secret-pw") as sim:
        await sim.boot()
        await hass.async_block_till_done()
    assert_logged_without(
        caplog,
        "Authorization",
        "factory-secret-pw",
        basic_auth_header("NEW1", b"factory-secret-pw"),  # nor its base64
    )


async def test_vendor_password_in_the_configuration_is_hidden(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    onboard: Onboard,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1.6 charger that lists its Wi-Fi password among its configuration keys: the frames log
    and diagnostics name the key but not its value (never stored, like AuthorizationKey)."""
    async with onboard(configuration={"WifiPassword": "home-wifi-secret"}) as (_sim, entry):
        result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert_logged_without(caplog, "WifiPassword", "home-wifi-secret")
    assert "WifiPassword" in result["charger"]["configuration"]
    assert result["charger"]["configuration"]["WifiPassword"] is None


def test_password_sent_while_frames_are_not_logged_is_still_hidden_later() -> None:
    """With the frames log off, the AuthorizationKey we send is still learnt: a late answer that
    quotes it (logged as a stray answer at WARNING whatever the frames log says) hides it; quoted
    decoded (the Basic-auth password itself) too."""
    key = b"never-logged-secret-7".hex()
    with _frames_logger_at(logging.WARNING):
        log_frame(
            "CP9",
            "send",
            f'[2,"9","ChangeConfiguration",{{"key":"AuthorizationKey","value":"{key}"}}]',
        )
    stray = f'[4,"9","PropertyConstraintViolation","{key} or never-logged-secret-7 refused",{{}}]'
    assert redact(stray) == '[4,"9","PropertyConstraintViolation","*** or *** refused",{}]'


async def test_id_tag_stays_out_of_warnings(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """A StopTransaction whose transactionData needed repair is logged at WARNING (once per kind)
    with its payload: the card number is no part of that warning (the frames log, the sessions log
    and the events name it where the user asks for it)."""
    async with onboard() as (sim, _entry):
        await sim.start_transaction("SECRET-CARD-0815")
        stop = {
            "idTag": "SECRET-CARD-0815",
            "meterStop": 2000,
            "timestamp": now_iso(),
            "transactionId": sim.transaction_id,
            "transactionData": [{"timestamp": now_iso(), "sampledValue": [{"value": 2000}]}],
        }
        await sim._connection.send(json.dumps([2, "stop-1", "StopTransaction", stop]))
        await wait_for(lambda: "repaired" in logged(caplog), what="the repair warning")
        await hass.async_block_till_done()
    warnings = [
        caplog.handler.format(record)
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name.startswith("custom_components")
    ]
    assert any("repaired" in text for text in warnings)
    assert not [text for text in warnings if "SECRET-CARD-0815" in text]
