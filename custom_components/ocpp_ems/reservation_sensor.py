"""The "Reserved until" sensor of each outlet: its reservations in force and the charger-wide ones
(when each ends: the core's :mod:`.core.reservations`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from .coordinator import ChargerCoordinator
from .core.reservations import Reservation
from .entity import OcppEntity

RESERVED_UNTIL = SensorEntityDescription(
    key="reserved_until",
    translation_key="reserved_until",
    device_class=SensorDeviceClass.TIMESTAMP,
)


class OcppReservedUntilSensor(OcppEntity, SensorEntity):
    """When the soonest reservation in force of the outlet ends, its own or a charger-wide one
    (which may take any outlet; unknown: none); all of them as the ``reservations`` attribute,
    for automations and ``cancel_reservation``. Written again at that expiry: a 1.6 charger
    reports none, and a 2.x one may report it late."""

    def __init__(
        self, coordinator: ChargerCoordinator, description: SensorEntityDescription, outlet: int
    ) -> None:
        super().__init__(coordinator, description, outlet)
        self._unsub_expiry: CALLBACK_TYPE | None = None

    def _in_force(self) -> list[Reservation]:
        return self.charger.reservations.for_outlet(self.connector_id, dt_util.utcnow())

    @property
    def native_value(self) -> datetime | None:
        in_force = self._in_force()
        return in_force[0].expires_at if in_force else None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {
            "reservations": [
                {
                    "reservation_id": reservation.reservation_id,
                    "connector_id": reservation.connector_id,
                    "id_tag": reservation.id_tag,
                    "expires_at": reservation.expires_at.isoformat(),
                }
                for reservation in self._in_force()
            ]
        }

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._cancel_expiry_timer)
        self._wake_at_expiry()

    @callback
    def _handle_coordinator_update(self) -> None:
        super()._handle_coordinator_update()
        self._wake_at_expiry()

    @callback
    def _wake_at_expiry(self) -> None:
        """Write the state again when the soonest reservation ends (the next one is shown)."""
        self._cancel_expiry_timer()
        if (ends := self.native_value) is not None:
            self._unsub_expiry = async_track_point_in_utc_time(self.hass, self._expired, ends)

    @callback
    def _expired(self, _now: datetime) -> None:
        self._unsub_expiry = None
        self.async_write_ha_state_if_changed()
        self._wake_at_expiry()

    @callback
    def _cancel_expiry_timer(self) -> None:
        if self._unsub_expiry is not None:
            self._unsub_expiry()
            self._unsub_expiry = None
