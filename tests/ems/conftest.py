"""EMS controller tests: plain Python, no Home Assistant instance."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The controller is HA-free (overrides the autouse hass fixture of tests/conftest.py)."""
