"""The core imports no Home Assistant (docs/architecture.md): every core module is imported in a
fresh interpreter whose integration package is bare (``benchmarks/core_alone.py``), and no
``homeassistant`` module may be loaded at the end, nor any of the ``ocpp`` library's modules
(only its schema files are used)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, {root!r})
from benchmarks.core_alone import isolate_core
isolate_core()
import custom_components.ocpp_ems.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, core.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({{
    "core": names,
    "homeassistant": sorted(m for m in sys.modules if m.split(".")[0] == "homeassistant"),
    "integration": sorted(
        m for m in sys.modules
        if m.startswith("custom_components.ocpp_ems.") and not m.startswith(core.__name__)
    ),
    "ocpp": sorted(m for m in sys.modules if m.split(".")[0] == "ocpp"),
}}))
"""


def _probe() -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    return loaded


def test_every_core_module_imports_without_home_assistant() -> None:
    loaded = _probe()
    # All of it: the server, the protocol adapters of every version, security, the energy manager.
    assert len(loaded["core"]) > 60
    for part in ("server", "protocol.v16.session", "protocol.v201.session", "ems.driver"):
        assert f"custom_components.ocpp_ems.core.{part}" in loaded["core"]
    assert loaded["homeassistant"] == []
    # Nor the integration's own Home Assistant layer (const, coordinator, entities).
    assert loaded["integration"] == []
    # Of the ocpp package only its (empty) top: the schemas are files beside it, and its version
    # modules (the library's own charge point, 16 MiB) are never imported.
    assert loaded["ocpp"] == ["ocpp"]
