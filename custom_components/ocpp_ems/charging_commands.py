"""Start and stop charging on one connector (the start / stop buttons): a remote start with the
charger's configured id tag, and a remote stop of the connector's running session. Each is one core
command, the same for every OCPP version (1.6 RemoteStart/StopTransaction, 2.x
RequestStart/StopTransaction)."""

from __future__ import annotations

from homeassistant.exceptions import ServiceValidationError

from .const import DOMAIN
from .coordinator import ChargerCoordinator
from .core.session import ChargerSession


async def async_start_charging(
    session: ChargerSession, coordinator: ChargerCoordinator, connector_id: int | None
) -> None:
    await session.remote_start(connector_id or 1, coordinator.settings.remote_start_id_tag)


async def async_stop_charging(
    session: ChargerSession, coordinator: ChargerCoordinator, connector_id: int | None
) -> None:
    """Stop the connector's session; a connector without one is the user's mistake."""
    connector = coordinator.charger.connectors.get(connector_id or 1)
    if connector is None or connector.transaction is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_transaction",
            translation_placeholders={"charger_id": coordinator.charger_id},
        )
    await session.remote_stop(connector.transaction.transaction_id)
