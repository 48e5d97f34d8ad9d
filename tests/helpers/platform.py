"""Set up chargers with only some platforms (snapshot tests look at one platform at a time)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

from homeassistant.const import Platform


@contextmanager
def only_platforms(*platforms: Platform) -> Iterator[None]:
    with patch("custom_components.ocpp_ems.PLATFORMS", list(platforms)):
        yield
