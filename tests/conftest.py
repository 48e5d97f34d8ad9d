"""Shared fixtures. The integration package is imported first: the test plugin's own config dir has a
``custom_components`` package that would otherwise shadow ours."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest
from hypothesis import settings
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

import custom_components.ocpp_ems  # noqa: F401

# Fixtures of the Home Assistant layer tests (server entry, simulated chargers, onboarding).
from tests.helpers.fixtures import (  # noqa: F401
    central,
    connect,
    onboard,
    server_entry,
    server_options,
    target,
)

# The same charger in any OCPP version (1.6, 2.0.1, 2.1), onboarded like ``onboard``.
from tests.helpers.snapshots import real_time_states
from tests.helpers.versions import onboard_any  # noqa: F401

# CI replays the same examples every run (a red CI must mean a regression, not a lucky draw);
# local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # (before xdist reads the groups)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist's ``loadgroup`` (``scripts/test``: two workers) the core's tests (real servers
    on loopback, subprocesses, waits on the clock) run one after another on one worker and the
    Home Assistant tests one after another on a worker, each group as in a serial run; the energy
    manager's plain-Python tests (``tests/ems``) fill in around them. No two tests of a group
    run side by side; the core's share no state with Home Assistant's (ports are the system's,
    files each test's own)."""
    for item in items:
        if TESTS / "ems" in item.path.parents:
            continue
        core = TESTS / "core" in item.path.parents
        item.add_marker(pytest.mark.xdist_group("core" if core else "home-assistant"))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    return


@pytest.fixture
def hass_config_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each test's own config dir, not the test plugin's (inside the installed package): what the
    integration writes there (blueprints at every setup, exported sessions) would outlive the run
    and let a later test pass on an earlier one's files."""
    return str(tmp_path_factory.mktemp("config"))


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    # Session start / end / duration states are times of the test run (helpers/snapshots.py).
    return snapshot.use_extension(HomeAssistantSnapshotExtension).with_defaults(
        matcher=real_time_states
    )


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    from unittest.mock import patch

    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default", return_value=True
    ):
        yield


@pytest.fixture
def fast_ems_debounce(monkeypatch: pytest.MonkeyPatch) -> None:
    """Energy-manager debounce 50 ms instead of a second: the same behaviour, quicker tests."""
    from custom_components.ocpp_ems import energy_manager

    monkeypatch.setattr(energy_manager, "EMS_DEBOUNCE_S", 0.05)
