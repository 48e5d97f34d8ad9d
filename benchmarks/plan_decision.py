"""How long one departure-plan decision takes (``plan_status``), by the resolution of the prices.

Usage: .venv/bin/python benchmarks/plan_decision.py [--repeat N]

The plan runs in Home Assistant's event loop for every charger in Plan mode on every decision of
the energy manager (each input change, at least once a minute), so it must stay short whatever a
price integration publishes: hourly or 15-minute day-ahead prices, but also 5-minute (AEMO-style)
or 1-minute prices for days ahead. Each case gives the plan prices and feed-in prices at that
resolution, a half-hourly solar forecast (a sine day, 8 kW peak), a 40 kWh target and a departure
on the last day, 07:00. Prints the median time per decision (ms) over ``--repeat`` calls.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.core_alone import isolate_core

isolate_core()

from custom_components.ocpp_ems.core.ems import (  # noqa: E402
    EnergySlot,
    PlanSettings,
    PriceSlot,
)
from custom_components.ocpp_ems.core.ems.plan import plan_status, surplus_outlook  # noqa: E402

H = 3600.0
NOW0 = 1_000_000_000.0 - 1_000_000_000.0 % 86400.0  # a midnight (UTC)
# (price resolution s, days of prices): what day-ahead and real-time markets publish.
CASES = ((3600.0, 2), (900.0, 2), (300.0, 7), (60.0, 3))


def sun(step: float, days: float) -> list[EnergySlot]:
    slots = []
    for i in range(int(days * 86400 / step)):
        t = i * step
        hour = (t % 86400) / 3600
        wh = max(0.0, math.sin((hour - 6) / 12 * math.pi)) * 8000 * step / 3600
        slots.append(EnergySlot(NOW0 + t, NOW0 + t + step, wh))
    return slots


def prices(step: float, days: float, base: float) -> tuple[PriceSlot, ...]:
    return tuple(
        PriceSlot(NOW0 + i * step, NOW0 + (i + 1) * step, base + 0.1 * math.sin(i * step / H / 3))
        for i in range(int(days * 86400 / step))
    )


def decision_ms(step: float, days: int, repeat: int) -> float:
    counted, likely = surplus_outlook(sun(1800.0, days), PlanSettings(), 4140.0)
    grid, feed_in = prices(step, days, 0.20), prices(step, days, 0.05)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        plan_status(
            now=NOW0 + 5 * H,
            departure=NOW0 + ((days - 1) * 24 + 7) * H,
            remaining_wh=40000.0,
            max_power_w=11040.0,
            efficiency=0.9,
            prices=grid,
            solar=counted,
            likely_solar=likely,
            min_power_w=4140.0,
            feed_in_prices=feed_in,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("price resolution | days | price slots | ms per decision (median)")
    for step, days in CASES:
        ms = decision_ms(step, days, args.repeat)
        print(f"{step / 60:>13.0f} min | {days:>4} | {int(days * 86400 / step):>11} | {ms:8.1f}")


if __name__ == "__main__":
    main()
