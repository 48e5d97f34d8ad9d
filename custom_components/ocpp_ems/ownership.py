"""Who sets a charger's current limit, and the one path every manual change takes.

A charger's limit is set by one of (``core.model.ControlledBy``, recorded by the core's current
control and kept across restarts):

* ``energy_manager``: its server's energy manager, in one of its modes (Off, Fast, Min + solar,
  Solar, Plan);
* ``manual``: the user, who took it over from the energy manager (its mode is then Manual);
* ``none``: no energy manager is enabled; the user and automations set it.

The rule: a manual change (the current-limit number, the charging switch, the actions
``set_current_limit``, ``pause_charging`` and ``resume_charging``) of a charger the energy manager
controls takes it over. Its mode becomes Manual before the change is written, the manual value
stays, and the energy manager writes nothing to it until another mode is picked (charge-mode select
or ``set_charge_mode`` / ``plan_charge``), which hands it back; a limit given with a duration
(``set_current_limit``) hands it back by itself when it ends, in the mode it had
(:func:`async_follow_limit_expiry`). A change the charger refuses (or that times out) raises an error and leaves
the energy manager in control, in its mode. A change needs the charger online:
an offline charger raises the translated ``charger_not_connected`` error (nothing is remembered for
later).

The charger's *Controlled by* sensor shows the state, with the energy manager's mode as an
attribute while the energy manager controls it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.current_control import CurrentController
from .core.ems import Mode
from .core.model import ChargerEvent, ControlledBy, EventKind
from .ems_entity import ems_of
from .energy_manager import EnergyManagerRuntime
from .entity import OcppEntity, charger_errors, require_session

ATTR_MODE = "mode"


async def async_manual_change(
    entry: ChargerConfigEntry, change: Callable[[CurrentController], Awaitable[None]]
) -> None:
    """Make a manual change of the charger's limit (``change`` gets its current control): online
    only, taken over from the energy manager first (switched off, it still calls off a
    hand-back that would override the change); core errors become translated ones."""
    runtime = entry.runtime_data
    charger_id = runtime.charger_id
    with charger_errors(charger_id):
        require_session(runtime.central, charger_id)
        undo_take_over = runtime.server_entry.runtime_data.ems.async_take_over(charger_id)
        try:
            await change(runtime.central.current_control(charger_id))
        except BaseException:
            # Refused by the charger (or timed out): nothing changed, so the manager keeps it.
            undo_take_over()
            raise


def energy_manager_mode(entry: ChargerConfigEntry) -> Mode | None:
    """The energy manager's mode while it controls the charger (None: it does not)."""
    ems = ems_of(entry)
    charger_id = entry.runtime_data.charger_id
    if ems is None or ems.controlled_by(charger_id) is not ControlledBy.ENERGY_MANAGER:
        return None
    return ems.charger_view(charger_id).mode


@callback
def async_follow_limit_expiry(entry: ChargerConfigEntry) -> CALLBACK_TYPE:
    """Hand the charger back to the energy manager, in the mode it was taken over from, when a
    limit given with a duration ends (unless the user picked a mode meanwhile)."""
    charger_id = entry.runtime_data.charger_id

    @callback
    def _on_event(event: ChargerEvent) -> None:
        hand_back_to = event.data.get("hand_back_to")
        if event.kind is not EventKind.LIMIT_EXPIRED or hand_back_to is None:
            return
        ems = ems_of(entry)
        if ems is not None and ems.controlled_by(charger_id) is ControlledBy.MANUAL:
            ems.async_update_charger(charger_id, mode=Mode(hand_back_to))

    return entry.runtime_data.coordinator.async_add_event_callback(_on_event)


CONTROLLED_BY = SensorEntityDescription(
    key="controlled_by",
    translation_key="controlled_by",
    device_class=SensorDeviceClass.ENUM,
    options=[str(controlled_by) for controlled_by in ControlledBy],
)


class OcppControlledBySensor(OcppEntity, SensorEntity):
    """Who sets the charger's limit now (with the energy manager's mode while it does)."""

    def __init__(self, coordinator: ChargerCoordinator, ems: EnergyManagerRuntime | None) -> None:
        super().__init__(coordinator, CONTROLLED_BY)
        self._ems = ems

    @property
    def native_value(self) -> str:
        return str(self.charger.limit.controlled_by)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        if self._ems is None or self.charger.limit.controlled_by is not ControlledBy.ENERGY_MANAGER:
            return None
        return {ATTR_MODE: str(self._ems.charger_view(self.coordinator.charger_id).mode)}

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if self._ems is not None:
            # A change between two of the energy manager's modes changes only the attribute.
            self.async_on_remove(
                async_dispatcher_connect(
                    self.hass, self._ems.signal, self.async_write_ha_state_if_changed
                )
            )
