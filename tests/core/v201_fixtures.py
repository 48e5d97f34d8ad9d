"""Small helpers shared by the 2.x command and provisioning tests (the station is
:mod:`.v201_harness`'s)."""

from __future__ import annotations

from typing import Any

from .v201_harness import SimStation


def actual(component: str, variable: str, *, evse: int | None = None) -> Any:
    """The simulated station's device-model key of an Actual value."""
    return (component, evse, None, variable, "Actual")


def ids(item: dict[str, Any]) -> dict[str, Any]:
    """The component and variable of a GetVariables / SetVariables item (to echo them)."""
    return {"component": item["component"], "variable": item["variable"]}


def written(sim: SimStation) -> list[str]:
    """The variables the station was sent SetVariables for, in order."""
    return [p["setVariableData"][0]["variable"]["name"] for p in sim.actions("SetVariables")]
