"""Import a capacity history file (the lab's D/history.json) into capacity_samples, once.

The file is recorded by its SHA-256 in capacity_history_imports, so importing it again (every
report, every sync) is a no-op; a different file (a rebuilt lab) is imported as new samples.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from inventory.capacity import daily_rollups
from inventory.capacity.models import HistoryImport
from inventory.config import GanyunConfig
from inventory.models import CapacitySample
from providers.errors import ConfigError

FORMAT = "ganyun-capacity-history/1"
_INT_FIELDS = ("nodes", "vcpus", "ram_mb", "disk_gb")
_BATCH = 5000


class Store(Protocol):
    """What the import needs of inventory.store.Store (which itself installs this package's
    rollup guard, so it cannot be imported here)."""

    write_lock: AbstractContextManager[Any]

    def session(self) -> AbstractContextManager[Session]: ...


def _parse_at(value: Any) -> datetime:
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _rows(data: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"capacity.history_file {source}: not a {FORMAT} file")
    columns = data.get("columns")
    rows = data.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise ConfigError(f"capacity.history_file {source}: missing columns or rows")
    out = []
    for n, raw in enumerate(rows):
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ConfigError(f"capacity.history_file {source}: row {n} has the wrong length")
        rec = dict(zip(columns, raw, strict=True))
        try:
            out.append(
                {
                    "at": _parse_at(rec["at"]),
                    "provider": str(rec["provider"]),
                    "center": str(rec.get("center", "")),
                    "pool": str(rec.get("pool", "legacy")),
                    "department": str(rec.get("department", "")),
                    **{k: int(rec.get(k, 0)) for k in _INT_FIELDS},
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"capacity.history_file {source}: row {n}: {exc}") from None
    return out


def import_history(store: Store, path: Path) -> int:
    """Import `path` unless this exact file was imported before; returns rows inserted."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"capacity.history_file: {path} not found") from None
    digest = hashlib.sha256(blob).hexdigest()
    with store.session() as session:
        if session.scalar(select(HistoryImport.digest).where(HistoryImport.digest == digest)):
            return 0
    try:
        data = json.loads(blob)
    except ValueError:
        raise ConfigError(f"capacity.history_file {path}: not valid JSON") from None
    rows = _rows(data, str(path))
    with store.write_lock, store.session() as session:
        # Checked again under the write lock: two callers racing must not import twice.
        if session.scalar(select(HistoryImport.digest).where(HistoryImport.digest == digest)):
            return 0
        with daily_rollups.writing(session):
            for start in range(0, len(rows), _BATCH):
                session.execute(insert(CapacitySample), rows[start : start + _BATCH])
        session.add(
            HistoryImport(
                digest=digest,
                source=str(path),
                rows=len(rows),
                first_at=min((r["at"] for r in rows), default=None),
                last_at=max((r["at"] for r in rows), default=None),
                imported_at=datetime.now(UTC),
            )
        )
    return len(rows)


def ensure_history(config: GanyunConfig, store: Store) -> int:
    """Import the configured history file if there is one and it is new; rows inserted."""
    if not config.capacity.history_file:
        return 0
    return import_history(store, config.resolve_path(config.capacity.history_file))
