"""A 1.6 charger that reconnects without a BootNotification (normal: many firmwares boot only
after a restart) is set up, and so under current control, within the reconnect grace, not after
the boot watchdog's trigger (30 s and more); it is still asked for the boot it skipped."""

from __future__ import annotations

import asyncio

from custom_components.ocpp_ems.core.protocol.provisioning import BaseProvisioning
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import protocol_harness, wait_for


async def test_a_reconnect_without_boot_is_set_up_promptly(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    settings = ServerSettings(host="127.0.0.1", port=0, boot_trigger_after_s=30.0)
    async with protocol_harness(directory, settings) as h:
        loop = asyncio.get_running_loop()
        started = loop.time()
        sim = await h.charger_client(boot=False)
        await wait_for(lambda: h.booted == 1, seconds=BaseProvisioning.reconnect_grace_s + 3)
        assert loop.time() - started < settings.boot_trigger_after_s / 3
        # Set up: its configuration was read, and nobody asked for a boot yet (that comes later).
        assert sim.actions("GetConfiguration")
        assert not sim.actions("TriggerMessage")


async def test_a_boot_within_the_grace_is_not_doubled(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    settings = ServerSettings(host="127.0.0.1", port=0, boot_trigger_after_s=30.0)
    async with protocol_harness(directory, settings) as h:
        sim = await h.charger_client(boot=False)
        await sim.boot()
        await wait_for(lambda: h.booted == 1)
        await asyncio.sleep(BaseProvisioning.reconnect_grace_s + 0.5)
        assert h.booted == 1
        assert not sim.actions("TriggerMessage")
