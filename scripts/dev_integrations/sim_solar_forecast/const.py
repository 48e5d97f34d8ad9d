"""The simulated roof's curve: the same as config/configuration.yaml's ``pv`` template."""

from typing import Final

DOMAIN: Final = "sim_solar_forecast"
TITLE: Final = "Simulated roof"
# The sun is up from SUNRISE_H to SUNRISE_H + DAY_H (local time) on a half sine.
SUNRISE_H: Final = 7.0
DAY_H: Final = 13.0
# Cloud cover takes up to this share of the PV (at 100 %).
CLOUD_LOSS: Final = 0.8
# The input_numbers' defaults, as the template reads them while they have no state.
DEFAULT_PEAK_W: Final = 6000.0
DEFAULT_CLOUD_PCT: Final = 20.0
