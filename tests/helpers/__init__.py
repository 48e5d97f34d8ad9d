"""Helpers for the Home Assistant tests: a simulated OCPP charger and entry fixtures."""
