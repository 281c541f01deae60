"""Migration 0013_console_accounts on a database with accounts from before it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text

from console import accounts, auth, passwords
from console.settings import ThrottleSettings
from inventory.scope import Scope
from inventory.store import Store, alembic_config, make_engine
from tests.pg import pg_bindir, throwaway_cluster


@contextmanager
def _database(kind: str, tmp_path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if pg_bindir() is None:
        pytest.skip("PostgreSQL binaries missing (make test installs them)")
    with throwaway_cluster() as url:
        yield url


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_old_accounts_keep_their_password_and_get_no_scope(kind, tmp_path):
    with _database(kind, tmp_path) as url:
        store = Store(make_engine(url))
        with store.engine.begin() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0007_console")
            connection.execute(
                text("INSERT INTO users (username, display_name, role, password_hash, source, active, "
                     "failed_attempts, created_at) VALUES ('old.ops', 'Old', 'operator', :h, 'local', :a, 4, :t)"),
                {"h": passwords.hash_password("old-password-1"), "a": True, "t": datetime.now(UTC)},
            )
        store.upgrade()
        columns = {c["name"] for c in inspect(store.engine).get_columns("users")}
        assert {"city_wide", "departments", "session_epoch"} <= columns
        assert not {"failed_attempts", "locked_until"} & columns
        old = accounts.get_account(store, "old.ops")
        assert old is not None and old.scope == Scope() and old.scope.empty and old.active
        identity = auth.authenticate(store, "old.ops", "old-password-1", "192.0.2.9", ThrottleSettings())
        assert identity.role == "operator" and identity.scope.empty
        # The throttle table works on this backend, including a second failure on the same keys.
        for _ in range(2):
            with pytest.raises(auth.LoginError):
                auth.authenticate(store, "old.ops", "wrong-password", "192.0.2.9", ThrottleSettings(free_failures=1))
        with store.session() as session:
            counts = dict(session.execute(text("SELECT key, failures FROM login_throttle")).all())
        assert sorted(counts.values()) == [2, 2]
        accounts.set_scope(store, "old.ops", Scope.of(["定南县"]))
        assert accounts.get_account(store, "old.ops").scope == Scope.of(["定南县"])
        store.dispose()
