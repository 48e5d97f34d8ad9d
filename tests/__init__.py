"""Tests for OCPP EMS."""
