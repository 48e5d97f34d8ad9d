#!/usr/bin/env python3
"""A simulated OCPP wallbox for development (``scripts/develop`` starts it): 1.6J, 2.0.1 or 2.1.

It connects to ``ws://127.0.0.1:9000/SIM-CHARGER-1`` (``--url``) with the subprotocol of
``--ocpp`` (1.6 by default), boots (waiting while Pending until the user accepts it in Home
Assistant), takes the Basic-auth password Home Assistant provisions (1.6: AuthorizationKey +
SecurityProfile; 2.x: SetVariables SecurityCtrlr.BasicAuthPassword) and reconnects with it, plugs a
car in, authorizes, charges at whatever limit the server's charging profiles allow (A or W, stack
levels and durations honoured), reports meter values every few seconds (2.x: TransactionEvent
Updated) and answers the server's requests of every feature profile (2.x: functional block).

The car follows the limit like a real one: within a second of a new profile it draws the offered
current (up to 16 A per phase, three phases, power = current x 230 V x 3) and a meter reading
shows it; below 6 A (e.g. the energy manager's 0 A pause) it stops drawing and the connector goes
SuspendedEVSE, from 6 A up it resumes (Charging). Home Assistant's simulated grid power includes
this power (config/configuration.yaml), so the energy manager sees the effect of its own limits.

The 2.x station reports a device model (GetBaseReport / GetReport -> NotifyReport pages,
GetVariables / SetVariables) with one EVSE and one type 2 connector, SmartChargingCtrlr RateUnit
"A,W", and boots only after a power-up or reset (a plain reconnect does not boot, as real 2.x
firmware; ``--boot-on-reconnect`` boots every time).

1.6 security profiles 2 and 3 (the server's "Upgrade security"): it installs the server's root
certificate (InstallCertificate), makes an EC P-256 key and a CSR on ExtendedTriggerMessage
SignChargePointCertificate (SignCertificate), keeps the certificate of CertificateSigned, and on
ChangeConfiguration SecurityProfile 2 or 3 reconnects to ``--tls-url`` over TLS, trusting only the
installed root (host name not checked), with its password (2) or its client certificate (3). If it
cannot connect on the new profile three times in a row, it falls back to the previous one.
2.x the same with its own messages (TriggerMessage SignChargingStationCertificate), and instead of a
setting: SetNetworkProfile (kept by configuration slot, slot 0 being ``--url``),
OCPPCommCtrlr.NetworkConfigurationPriority, and after a reset the first slot of that order
(``--tls-url`` when given, else the network profile's URL), falling back to the previous one.

Its energy register, password, security profile and certificates (and a 2.x transaction still
open) are kept in a small JSON state file, so a restart continues where it left off (a real
charger does not forget its password or reset its meter); switching ``--ocpp`` keeps them.

The code is the package ``scripts/charger_sim`` (see its ``__init__``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from charger_sim import VERSIONS, make_station


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000/SIM-CHARGER-1")
    parser.add_argument(
        "--tls-url",
        help="wss:// URL for security profiles 2 and 3 (default: --url's host and path, port 9443)",
    )
    parser.add_argument(
        "--ocpp", choices=VERSIONS, default="1.6", help="OCPP version (default 1.6)"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="meter value period (s)")
    parser.add_argument("--id-tag", default="SIM-TAG-1")
    parser.add_argument("--plug-in-after", type=float, default=10.0, help="seconds")
    parser.add_argument("--reconnect-delay", type=float, default=5.0, help="seconds")
    parser.add_argument("--state-file", default="config/.sim_charger.json")
    parser.add_argument(
        "--boot-on-reconnect",
        action="store_true",
        help="2.x: send a BootNotification on every connection, not only after a (re)boot",
    )
    parser.add_argument(
        "--iso15118",
        action="store_true",
        help="2.x: the car tells its charging needs (NotifyEVChargingNeeds) after it starts",
    )
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s [sim %(name)s] %(message)s",
    )
    logging.getLogger("ocpp").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    station = make_station(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(station.run_forever())


if __name__ == "__main__":
    main()
