"""An inverter asleep is no stale PV sensor: its missing readings count as 0 W.

String inverters sleep from dusk to dawn, and their sensors go unavailable or stop reporting: a
stale-input repair every night for nothing. A PV reading (``pv_w``, ``pv_available_w``) that is
not usable (:func:`~.measure.usable`) reads 0 W now:

* while the sun is below :data:`PV_ASLEEP_BELOW_DEG` at the site, whatever it read before;
* while the sun is below :data:`PV_LOW_SUN_DEG`, where the sensor fell silent producing little
  (its last usable reading at most :data:`PV_DOZING_W`) within :data:`PV_NIGHT_S`: an inverter
  that wakes late on a dark winter morning, or goes to sleep early on a dark evening. One that
  fails while producing, or stays missing longer than a night, is named.

Applied once, at the top of ``EmsDriver.step``: every use (the surplus, the energy mix of a
session, the house load plans learn) sees the night's 0 W. The last usable readings are stored
with the manager's state (:meth:`PvSleep.to_dict`): a restart at dusk, with the sensor
unavailable since, still knows the inverter fell asleep producing little.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from custom_components.ocpp_ems.core.numbers import finite_number

from .config import SiteSettings
from .measure import usable
from .types import Reading, SiteInputs

# Below this sun elevation (degrees) a missing PV reading is an inverter asleep.
PV_ASLEEP_BELOW_DEG = 5.0
# ... and below this one, if it fell silent producing no more than PV_DOZING_W (W) within
# PV_NIGHT_S (s): the longest a winter night keeps an inverter asleep at mid latitudes (dusk to
# a late, dark dawn: 16-17 h at 52 degrees north in December), with a margin.
PV_LOW_SUN_DEG = 15.0
PV_DOZING_W = 150.0
PV_NIGHT_S = 20 * 3600.0
# The PV inputs of SiteInputs this applies to.
_PV_INPUTS = ("pv_w", "pv_available_w")


@dataclass(slots=True)
class PvSleep:
    """The last usable reading of each PV input (by its ``SiteInputs`` field)."""

    _last: dict[str, Reading] = field(default_factory=dict)

    def to_dict(self) -> dict[str, list[float]]:
        """The last usable readings, stored: ``{input: [watts, at]}``."""
        return {
            name: [reading.value, reading.at]
            for name, reading in self._last.items()
            if reading.value is not None
        }

    def load(self, data: object) -> None:
        """:meth:`to_dict`'s form back; an unreadable entry is skipped."""
        if not isinstance(data, Mapping):
            return
        for name in _PV_INPUTS:
            stored = data.get(name)
            if isinstance(stored, list) and len(stored) == 2:
                watts, at = (finite_number(number) for number in stored)
                if watts is not None and at is not None:
                    self._last[name] = Reading(watts, at)

    def apply(self, inputs: SiteInputs, site: SiteSettings, now: float) -> SiteInputs:
        """``inputs`` with the PV readings of an inverter asleep read as 0 W now."""
        sun = inputs.sun_elevation_deg
        pv_w = self._reading("pv_w", inputs.pv_w, sun, site, now)
        pv_available_w = self._reading("pv_available_w", inputs.pv_available_w, sun, site, now)
        if pv_w is inputs.pv_w and pv_available_w is inputs.pv_available_w:
            return inputs
        return replace(inputs, pv_w=pv_w, pv_available_w=pv_available_w)

    def _reading(
        self, name: str, reading: Reading | None, sun: float | None, site: SiteSettings, now: float
    ) -> Reading | None:
        if reading is None:
            self._last.pop(name, None)  # not picked (any more)
            return None
        if usable(reading, site.pv_max_age_s, now):
            self._last[name] = reading
            return reading
        if sun is None or not self._asleep(name, reading, sun, now):
            return reading
        return Reading(0.0, now)

    def _asleep(self, name: str, reading: Reading, sun: float, now: float) -> bool:
        if sun < PV_ASLEEP_BELOW_DEG:
            return True
        # A silent sensor's own value is its last report (after a restart, the only one known).
        last = self._last.get(name, reading)
        return (
            sun < PV_LOW_SUN_DEG
            and last.value is not None
            and math.isfinite(last.value)
            and last.value <= PV_DOZING_W
            and now - last.at <= PV_NIGHT_S
        )
