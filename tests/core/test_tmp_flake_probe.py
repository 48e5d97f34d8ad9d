import pytest

from . import test_e2e_ocpp_rpc as e2e
from .test_e2e_ocpp_rpc import test_onboarding_to_basic_auth_against_ocpp_rpc as _t  # noqa: F401


@pytest.fixture(autouse=True)
def _orig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e2e, "CHARGER_JS", e2e.JS_DIR / "charger_orig_tmp.mjs")
