"""ChargerState hands some methods to its parts (``charger_state._HandedTo``): read on an
instance, such a method applies the part's; read on the class, as documentation tools read it
(help(), inspect, Sphinx), it carries the part's docstring, written once where the rules are."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from custom_components.ocpp_ems.core import transaction_lookup
from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.connector_status import ConnectorStatuses
from custom_components.ocpp_ems.core.id_tags import IdTagAuthorizations
from custom_components.ocpp_ems.core.transaction_book import TransactionBook

# One handed method of each part, and of the lookups on the charger model.
HANDED: dict[str, Callable[..., Any]] = {
    "record_status": ConnectorStatuses.record_status,
    "authorize": IdTagAuthorizations.authorize,
    "start_transaction": TransactionBook.start_transaction,
    "find_open": transaction_lookup.find_open,
}


@pytest.mark.parametrize("name", HANDED)
def test_a_handed_method_read_on_the_class_carries_the_parts_docstring(name: str) -> None:
    documented = inspect.getdoc(getattr(ChargerState, name))
    assert documented is not None
    assert documented == inspect.getdoc(HANDED[name])
