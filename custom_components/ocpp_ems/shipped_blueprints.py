"""Blueprints shipped with the integration. Custom integrations cannot register blueprints, so the
YAML files under ``blueprints/automation`` are copied into ``<config>/blueprints/automation/
ocpp_ems/`` at setup, where the blueprint editor finds them.

A user may edit a copy: a file is only (re)written when it is missing or still exactly what we
wrote last time (its hash is kept in a marker file beside the copies), so an update of a blueprint
reaches users who never touched it and never overwrites one who did.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from homeassistant.core import HomeAssistant

from .const import DOMAIN, LOGGER

SHIPPED = Path(__file__).parent / "blueprints" / "automation"
MARKER = ".shipped_by_ocpp_ems.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def copy_blueprints(target: Path) -> list[str]:
    """Copy the shipped blueprints into ``target``; returns the names written."""
    target.mkdir(parents=True, exist_ok=True)
    marker = target / MARKER
    try:
        written: dict[str, str] = json.loads(marker.read_text())
    except (OSError, ValueError):
        written = {}
    changed = []
    for source in sorted(SHIPPED.glob("*.yaml")):
        text = source.read_text()
        copy = target / source.name
        if copy.exists():
            current = _digest(copy.read_text())
            if current == _digest(text):
                written[source.name] = current
                continue
            if written.get(source.name) != current:
                LOGGER.debug("Blueprint %s was edited by the user: kept", copy)
                continue
        copy.write_text(text)
        written[source.name] = _digest(text)
        changed.append(source.name)
    marker.write_text(json.dumps(written, indent=2, sort_keys=True))
    return changed


async def async_install_blueprints(hass: HomeAssistant) -> None:
    target = Path(hass.config.path("blueprints", "automation", DOMAIN))
    try:
        changed = await hass.async_add_executor_job(copy_blueprints, target)
    except OSError as err:  # a read-only config dir must not stop the integration
        LOGGER.warning("Could not copy the OCPP EMS blueprints to %s: %s", target, err)
        return
    if changed:
        LOGGER.info("Blueprints installed or updated in %s: %s", target, ", ".join(changed))
