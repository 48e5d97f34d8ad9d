"""Import the integration's core without Home Assistant, to measure the core alone.

Python runs a package's ``__init__`` before any of its submodules, and
``custom_components/ocpp_ems/__init__.py`` is the Home Assistant layer: importing
``custom_components.ocpp_ems.core.server`` would load Home Assistant (about 130 MiB of modules)
although the core imports none of it (``tests/core/test_core_alone.py`` checks that). A script that
measures the core calls :func:`isolate_core` before it imports the core: the package is then a bare
module with the same path, so only the core's own imports run. Never in a process that also runs
the integration (its package would have no setup functions).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

PACKAGE = "custom_components.ocpp_ems"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "ocpp_ems"


def isolate_core() -> None:
    """Make ``custom_components.ocpp_ems`` a bare package (nothing if it is imported already)."""
    if PACKAGE in sys.modules:
        return
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(PACKAGE_DIR)]
    sys.modules[PACKAGE] = package
