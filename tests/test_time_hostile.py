"""Time going wrong, in a real Home Assistant with a real charger: wall-clock times on the nights
the clock changes (Europe/Berlin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (  # type: ignore[import-untyped]
    async_wait_recording_done,
)

from custom_components.ocpp_ems.const import (
    CONF_EMS_ENABLED,
    CONF_ID_TAGS,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
)
from custom_components.ocpp_ems.core.protocol.v16.session import _TX_EPOCH, V16Session

from .helpers.fixtures import Onboard, Target
from .helpers.platform import only_platforms
from .helpers.sessions import exported_rows

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_db_url: str, enable_custom_integrations: None) -> None:
    """The recorder's database is prepared before ``hass`` (the sessions log reads history)."""


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {CONF_RESPONSE_TIMEOUT: 3, CONF_EMS_ENABLED: True, CONF_ID_TAGS: ["TAG1"]}


async def test_a_one_off_departure_the_clock_skips_is_the_moment_it_jumps(
    hass: HomeAssistant,
    target: Target,
    server_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The night the clock goes forward (Berlin, 28 March 2027: 02:00 -> 03:00), the user plans
    a charge for departure 02:30 in the action's date-time picker (a local time, no offset). The
    clock never shows 02:30: the user leaves when it shows 03:00, the moment it jumps, as a daily
    departure at 02:30 is planned. The plan must be done by then, not by 03:30 (02:30 read with
    the winter offset)."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    freezer.move_to(datetime(2027, 3, 27, 20, 0, tzinfo=UTC))
    await hass.services.async_call(
        DOMAIN,
        "plan_charge",
        {"device_id": target.device_id, "energy_kwh": 10, "departure": "2027-03-28 02:30:00"},
        blocking=True,
    )
    plan = server_entry.runtime_data.ems.settings("CP1").plan
    assert plan is not None
    jump = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert datetime.fromtimestamp(plan.departure, UTC) == jump


async def test_sessions_that_share_a_transaction_id_are_both_in_the_log(
    recorder_mock: Any,
    hass: HomeAssistant,
    onboard: Onboard,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1.6 transaction ids are the seconds of our clock. Home Assistant restarts with its clock
    an hour behind (a Raspberry Pi without a real-time clock restores the time it last saved,
    before NTP corrects it): the next session can get the id of one that ended an hour ago. Two
    sessions, with their own times and energy: the log must keep both (the older one used to
    disappear from the export, its billing data lost)."""
    media = str(tmp_path)
    hass.config.media_dirs = {"local": media}
    hass.config.allowlist_external_dirs = {media}
    with only_platforms(Platform.SENSOR, Platform.EVENT):
        async with onboard() as (sim, entry):
            first = await sim.start_transaction("TAG1", started_ago_s=600)
            sim.meter_wh += 500
            await sim.stop_transaction()
            await hass.async_block_till_done()
            # The restart forgets the last id; the clock shows the second the first one began.
            monkeypatch.setattr(V16Session, "_last_transaction_id", 0)
            with freeze_time(_TX_EPOCH + timedelta(seconds=first), tick=True):
                second = await sim.start_transaction("TAG1", started_ago_s=0)
                assert second == first
                sim.meter_wh += 200  # within the tolerance: the energy's own rules aside
                await sim.stop_transaction()
                await hass.async_block_till_done()
            await async_wait_recording_done(hass)
            rows = await exported_rows(hass, entry)
    assert sorted(float(row["energy_wh"]) for row in rows) == [200.0, 500.0]
