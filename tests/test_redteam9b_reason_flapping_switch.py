"""Red team 9b on 552a435, real hass and a real 1.6 charger that leaves SetChargingProfile
unanswered: the energy manager switched off and on again quickly several times (each switch
reloads the chargers' entries, and switched on it takes them afresh: ``_take_afresh``). Once the
charger answers again, the manager's 20 A goes out and its reason is its own again, with no
``until``. Pin (passes on 552a435 and a04ba98: the entries' reload starts each charger afresh)."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from .helpers.charger import wait_for
from .helpers.ems import REASON
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_ems_pause import switch_manager
from .test_ems_reason_until import (  # noqa: F401
    NOT_ANSWERING,
    _changes,
    first_try_of_20_a_failed,
    server_options,
)
from .test_redteam7_signals import charging_fast_at_16_a, retries_watched

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

SWITCHES = 3


async def test_switched_off_and_on_quickly_while_silent(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await retries_watched(hass, monkeypatch, caplog)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        answering = await first_try_of_20_a_failed(hass, sim, caplog)
        reason = _changes(hass, REASON)
        for _ in range(SWITCHES):
            await switch_manager(hass, server_entry, on=False)
            await switch_manager(hass, server_entry, on=True)
        answering.set()
        await wait_for(lambda: sim.live_limit() == 20.0, 10.0, what="20 A written again")
        await wait_for(lambda: state_of(hass, REASON).state == "fast", what="the reason back")
        assert state_of(hass, REASON).attributes["until"] is None
        # Each switch: unavailable while the entries reload, then the manager's own reason; no
        # "not answering" left over from the run before the switches.
        assert NOT_ANSWERING not in {state for state, _ in reason}, reason
