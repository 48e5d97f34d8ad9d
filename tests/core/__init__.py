"""Tests of the HA-free core (real websockets on 127.0.0.1, no Home Assistant instance)."""
