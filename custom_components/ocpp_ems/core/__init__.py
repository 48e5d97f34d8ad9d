"""HA-free core of OCPP EMS: OCPP server, protocol adapters, charger model, current control.

Nothing under this package imports ``homeassistant``: it is plain asyncio and can be tested and
benchmarked on its own. The Home Assistant layer (one level up) only wires it to entities and actions.
"""
