"""The "limit not applied" repair issue (charger_issues.py): a charger that does not apply the
current limit (its composite schedule shows another), or refuses it, for a while gets a repair
that says what it applies and what the user can do; a moment's disagreement raises none, and the
issue clears when the charger applies a limit again. Before, only the *Limit mismatch* binary
sensor (and a log line) told, without why or what to do. Real hass, real charger simulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from custom_components.ocpp_ems import charger_issues
from custom_components.ocpp_ems.const import DOMAIN, ISSUE_LIMIT_NOT_APPLIED, repair_issue_id

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard
from .helpers.platform import device_id

CURRENT_LIMIT = "number.acme_wallbox_1_current_limit"
MISMATCH = "binary_sensor.acme_wallbox_1_limit_mismatch"


def issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, repair_issue_id(ISSUE_LIMIT_NOT_APPLIED, "CP1")
    )


async def set_limit(hass: HomeAssistant, amps: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": amps}, blocking=True
    )
    await hass.async_block_till_done()


@pytest.fixture
def lasted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mismatch is shown after 1.5 s here (10 min in real life)."""
    monkeypatch.setattr(charger_issues, "LIMIT_NOT_APPLIED_AFTER", timedelta(seconds=1.5))


@pytest.mark.usefixtures("lasted")
async def test_a_limit_not_applied_for_a_while_raises_the_repair(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    async with onboard() as (sim, _entry):
        sim.composite_limit = 20.0  # another profile overrides ours
        await set_limit(hass, 10)
        await wait_for(lambda: hass.states.get(MISMATCH).state == "on", what="the mismatch")
        assert issue(hass) is None  # not yet: a moment's disagreement raises nothing
        await wait_for(lambda: issue(hass) is not None, what="the repair")
        shown = issue(hass)
        assert shown is not None
        assert shown.translation_key == ISSUE_LIMIT_NOT_APPLIED
        assert shown.translation_placeholders == {
            "charger_id": "CP1",
            "expected": "10",
            "applied": "20",
        }
        sim.composite_limit = None  # the user cleared the other profile
        await set_limit(hass, 12)
        await wait_for(lambda: issue(hass) is None, what="the repair cleared")
        assert hass.states.get(MISMATCH).state == "off"


@pytest.mark.usefixtures("lasted")
async def test_a_mismatch_that_ends_soon_raises_nothing(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    async with onboard() as (sim, _entry):
        sim.composite_limit = 20.0
        await set_limit(hass, 10)
        await wait_for(lambda: hass.states.get(MISMATCH).state == "on", what="the mismatch")
        sim.composite_limit = None
        await set_limit(hass, 11)
        await wait_for(lambda: hass.states.get(MISMATCH).state == "off", what="applied")
        assert issue(hass) is None
        await asyncio.sleep(2.0)  # past the 1.5 s the mismatch would have had to last
        await hass.async_block_till_done()
        assert issue(hass) is None


@pytest.mark.usefixtures("lasted")
async def test_a_charger_refusing_the_limit_gets_the_refused_text(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """The live limit it is kept at is refused (here once the user's profile clear made it
    written again; a setting on the charger keeps central systems out)."""
    async with onboard() as (sim, entry):
        sim.statuses["SetChargingProfile"] = "Rejected"
        with pytest.raises(HomeAssistantError):
            await set_limit(hass, 10)  # a change refused is undone: no mismatch of its own
        assert hass.states.get(MISMATCH).state == "off"
        await hass.services.async_call(
            DOMAIN, "clear_charging_profiles", {"device_id": device_id(hass, entry)}, blocking=True
        )
        await wait_for(lambda: issue(hass) is not None, what="the repair")
        shown = issue(hass)
        assert shown is not None
        assert shown.translation_key == f"{ISSUE_LIMIT_NOT_APPLIED}_refused"
        assert shown.translation_placeholders is not None
        assert shown.translation_placeholders["charger_id"] == "CP1"
