from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console import passwords
from inventory.config import parse_config
from inventory.store import open_store
from tests.fakes.estates.city import Estate, build_estate, estate_config


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch):
    # The cost is stored in each hash, so a lower cost in tests changes speed, not behaviour.
    monkeypatch.setattr(passwords, "_SCRYPT_N", 2**10)


@pytest.fixture(scope="session")
def _template(tmp_path_factory) -> Path:
    """Build the estate once per worker; each test gets its own copy of the database."""
    cost = passwords._SCRYPT_N
    passwords._SCRYPT_N = 2**10
    try:
        directory = tmp_path_factory.mktemp("estate")
        built = build_estate(directory)
        built.store.dispose()  # checkpoints the WAL into inv.db
    finally:
        passwords._SCRYPT_N = cost
    return directory


def _copy(template: Path, tmp_path: Path, dr: bool) -> Estate:
    shutil.copy2(template / "inv.db", tmp_path / "inv.db")
    config = parse_config(estate_config(dr), base_dir=str(tmp_path))
    return Estate(config, open_store(config.database_url), {}, tmp_path)


@pytest.fixture()
def estate(_template, tmp_path) -> Estate:
    return _copy(_template, tmp_path, dr=False)


@pytest.fixture()
def dr_estate(_template, tmp_path) -> Estate:
    return _copy(_template, tmp_path, dr=True)
