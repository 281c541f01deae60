from __future__ import annotations

import pytest

from console import auth
from tests.console.estate import Estate, build_estate


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch):
    # The cost is stored in each hash, so a lower cost in tests changes speed, not behaviour.
    monkeypatch.setattr(auth, "_SCRYPT_N", 2**10)


@pytest.fixture()
def estate(tmp_path) -> Estate:
    return build_estate(tmp_path)


@pytest.fixture()
def dr_estate(tmp_path) -> Estate:
    return build_estate(tmp_path, dr=True)
