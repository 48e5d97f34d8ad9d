"""The limit rules of one charger: the single place that knows them.

What a charger may be limited to (bounds), in which steps, in which unit and how amps become watts,
what limit is in force, and how a pause is done. Every user of a limit asks here (through
:attr:`CurrentController.rules <.current_control.CurrentController.rules>`): the current-limit
number and the active-limit sensor, the actions, and the energy manager's settings of the charger
(``ems/charger_config.py``); nothing derives these rules again.

The rules depend on the charger's settings (its options) and on what the charger reported it can
do (:class:`~.model.Capabilities`), so they are built from both, cheaply, whenever asked.

**One voltage.** Amps become watts with ``ChargerSettings.nominal_voltage_v`` and nothing else.
Chargers have no voltage setting of their own: the host fills it in from its site voltage (in Home
Assistant the energy manager's *nominal voltage* option of the charger's server, 230 V by default,
whether the energy manager is enabled or not), so a W limit and the energy manager's power
arithmetic use the same volts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Capabilities, ChargingRateUnit, LimitState
from .settings import ChargerSettings, PauseStrategy, RateUnitPreference, SmartChargingMode

# The resolution of a current limit: an OCPP profile in A takes multiples of 0.1 A.
LIMIT_RESOLUTION_A = 0.1
# The step a user (or the energy manager) moves a limit in when the charger takes limits in W.
WHOLE_AMP_STEP_A = 1.0
# The unit each preference asks for (automatic: none).
_PREFERRED_UNIT = {
    RateUnitPreference.AMPERE: ChargingRateUnit.AMPERE,
    RateUnitPreference.WATT: ChargingRateUnit.WATT,
}


@dataclass(frozen=True, slots=True)
class LimitRules:
    """The limit rules of a charger with these settings and capabilities."""

    settings: ChargerSettings
    capabilities: Capabilities

    # --- bounds ----------------------------------------------------------------------------------
    @property
    def max_a(self) -> float:
        """The installation maximum: no limit is ever above it."""
        return self.settings.installation_max_a

    @property
    def min_a(self) -> float:
        """The lowest current a charging car is given (IEC 61851 cannot signal less), never above
        the installation maximum."""
        return min(self.settings.min_current_a, self.max_a)

    @property
    def bounds(self) -> tuple[float, float]:
        """(minimum, maximum) of a limit that lets the car charge."""
        return self.min_a, self.max_a

    @property
    def safe_a(self) -> float:
        """The safe current of the base profile (what the charger falls back to), raised like any
        limit (:meth:`raised_to_minimum`): a base of 3 A cannot be signalled."""
        return self.raised_to_minimum(self.settings.safe_current_a)

    def accepts(self, amps: float) -> bool:
        """Whether a user may ask for ``amps``: 0 (pause) or a value within the bounds."""
        return amps == 0 or self.min_a <= amps <= self.max_a

    def clamp(self, amps: float) -> float:
        """What a requested limit becomes: at the limit resolution, at most the maximum, and
        :meth:`raised_to_minimum`."""
        return self.raised_to_minimum(round(min(amps, self.max_a), 1))

    def raised_to_minimum(self, amps: float) -> float:
        """A current between 0 and the minimum becomes the minimum (IEC 61851 cannot signal
        less); 0 stays 0 (no flow)."""
        return self.min_a if 0 < amps < self.min_a else amps

    # --- unit, step, conversion --------------------------------------------------------------------
    @property
    def unit(self) -> ChargingRateUnit:
        """The unit limits are written in: the user's preference where the charger takes it (or
        does not say), else A where it takes A, else W. Never one the charger says it does not
        take: the one A <-> W conversion is this charger's, over the phases the car draws on (a
        station converting a refused unit itself could only assume its supply phases)."""
        preferred = _PREFERRED_UNIT.get(self.settings.rate_unit)
        if preferred is not None and self._takes(preferred):
            return preferred
        return (
            ChargingRateUnit.AMPERE
            if self._takes(ChargingRateUnit.AMPERE)
            else ChargingRateUnit.WATT
        )

    def _takes(self, unit: ChargingRateUnit) -> bool:
        rate_units = self.capabilities.rate_units
        return not rate_units or unit in rate_units

    @property
    def step_a(self) -> float:
        """0.1 A where limits are written in A, else whole amps."""
        if self.unit is ChargingRateUnit.AMPERE:
            return LIMIT_RESOLUTION_A
        return WHOLE_AMP_STEP_A

    @property
    def voltage_v(self) -> float:
        """The one voltage of every A <-> W conversion of this charger."""
        return self.settings.nominal_voltage_v

    def to_unit(self, amps: float, unit: ChargingRateUnit, phases: int) -> float:
        """A limit per phase in ``unit``: A at the limit resolution, or whole watts."""
        if unit is ChargingRateUnit.AMPERE:
            return round(amps, 1)
        return float(round(amps * self.voltage_v * phases))

    def to_amps(self, value: float, unit: ChargingRateUnit, phases: int) -> float:
        """A limit in ``unit`` as amps per phase (the inverse of :meth:`to_unit`)."""
        if unit is ChargingRateUnit.AMPERE:
            return value
        return value / (self.voltage_v * phases)

    # --- pausing and the limit in force ------------------------------------------------------------
    @property
    def smart_charging(self) -> bool:
        """Whether limits are written as profiles: as the user set it, else as the charger
        reports (one that reported no profiles is assumed to take them)."""
        mode = self.settings.smart_charging
        if mode is not SmartChargingMode.AUTO:
            return mode is SmartChargingMode.ON
        return not self.capabilities.supported_profiles or self.capabilities.smart_charging

    @property
    def pause_strategy(self) -> PauseStrategy:
        """How a pause is done: without smart charging a 0 A profile is impossible, so stopping
        the transaction is the only way."""
        if not self.smart_charging:
            return PauseStrategy.REMOTE_STOP_START
        return self.settings.pause_strategy

    def limit_a(self, limit: LimitState) -> float:
        """The requested limit, capped by the maximum (none requested: the maximum)."""
        return self.max_a if limit.requested_a is None else min(limit.requested_a, self.max_a)

    def effective_a(self, limit: LimitState) -> float:
        """The limit in force: :meth:`limit_a`, or 0 A while paused by a 0 A limit."""
        if limit.paused and self.pause_strategy is PauseStrategy.ZERO_LIMIT:
            return 0.0
        return self.limit_a(limit)
