"""The inventory database: SQLite (WAL) by default, PostgreSQL by URL, schema by Alembic."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from inventory.capacity import upkeep
from providers.errors import ConfigError
from providers.masking import SECRETS

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _json_dumps(value: Any) -> str:
    # Adapter extras may hold datetimes; keep CJK readable in the database.
    return json.dumps(value, default=str, ensure_ascii=False)


def alembic_config() -> AlembicConfig:
    """The Alembic configuration of the inventory's migrations (each area a branch)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while a sync writes; busy_timeout waits out short write locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """An engine, a session factory, and a lock that serializes writers on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        upkeep.guard_sessions(self._sessions)
        self.is_sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time; serializing in-process writers avoids busy retries.
        self.write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Bring the schema to every head (each area owns a branch)."""
        with self.engine.begin() as connection:
            context = MigrationContext.configure(connection)
            heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
            if set(context.get_current_heads()) == heads:
                return
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")

    def dispose(self) -> None:
        self.engine.dispose()


def _create_private(path: Path) -> None:
    """Create a new SQLite database file 0600 before SQLite does: left to itself SQLite makes
    it 0644, and its -wal and -shm files copy the database file's mode."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_engine(url: str) -> Engine:
    with contextlib.suppress(ArgumentError, ValueError):
        # A driver's error may quote the connection string: its password joins the secret mask.
        SECRETS.remember(make_url(url).password)
    try:
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                _create_private(Path(path))
            engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json_dumps
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=_json_dumps)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database: cannot use '{_redact(url)}': {exc}") from None


def open_store(url: str, *, upgrade: bool = True) -> Store:
    store = Store(make_engine(url))
    if upgrade:
        try:
            store.upgrade()
        except OperationalError as exc:
            raise ConfigError(f"database: cannot open '{_redact(url)}': {exc.orig}") from None
        except SQLAlchemyError as exc:
            raise ConfigError(f"database: schema upgrade failed on '{_redact(url)}': {exc}") from None
    return store


def _redact(url: str) -> str:
    """Database URLs may carry a password: never print it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
