"""The reason sensor's ``controller_reason`` attribute (the manager's own reason while the
driver's stands in its place) carries a raw ``Reason`` key; the frontend translates it through
``entity.sensor.<key>.state_attributes.controller_reason.state.<value>``. Every reason has that
text in every language we ship, worded as the sensor's state of the same reason (one wording
per reason). Read through Home Assistant's own translation loader, as the frontend gets them."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations

from custom_components.ocpp_ems.const import DOMAIN
from custom_components.ocpp_ems.core.ems.types import Reason
from custom_components.ocpp_ems.sensor import EMS_SENSORS

from .test_hassfest import OTHER_LANGUAGES

ATTRIBUTE = "controller_reason"
REASON_KEY = next(d.translation_key for d in EMS_SENSORS if d.key == "ems_reason")
ENTRY = f"component.{DOMAIN}.entity.sensor.{REASON_KEY}"


async def test_every_controller_reason_value_is_translated_as_its_state(
    hass: HomeAssistant,
) -> None:
    for language in ("en", *OTHER_LANGUAGES):
        texts = await async_get_translations(hass, language, "entity", [DOMAIN])
        shown = {
            reason: texts.get(f"{ENTRY}.state_attributes.{ATTRIBUTE}.state.{reason}")
            for reason in Reason
        }
        untranslated = sorted(str(reason) for reason, text in shown.items() if text is None)
        assert not untranslated, f"{language}: {ATTRIBUTE} values without a text: {untranslated}"
        worded_otherwise = {
            str(reason): (text, texts[f"{ENTRY}.state.{reason}"])
            for reason, text in shown.items()
            if text != texts[f"{ENTRY}.state.{reason}"]
        }
        assert not worded_otherwise, f"{language}: (attribute, state) differ: {worded_otherwise}"


async def test_only_reasons_have_an_attribute_text(hass: HomeAssistant) -> None:
    """No stale value (a reason renamed or removed) keeps a text the attribute never shows."""
    prefix = f"{ENTRY}.state_attributes.{ATTRIBUTE}.state."
    for language in ("en", *OTHER_LANGUAGES):
        texts = await async_get_translations(hass, language, "entity", [DOMAIN])
        values = {key.removeprefix(prefix) for key in texts if key.startswith(prefix)}
        assert values == {str(reason) for reason in Reason}, language
