"""What must survive a lab server restart: changed records and faults, in D/state.json.

The seeded estate is rebuilt from (scale, seed, now) at start; this overlay then replaces,
adds or removes records by id. Mutations are rare (a migration run, a drill), so the whole
file is rewritten atomically on each one: simple and never half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


class StateStore:
    def __init__(self, lab_dir: Path) -> None:
        self.path = lab_dir / STATE_FILE
        self._lock = threading.Lock()
        self.data: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"lab state file {self.path} is unreadable: {exc}") from None
        data.setdefault("clouds", {})
        data.setdefault("faults", {})
        return data if isinstance(data, dict) else {"clouds": {}, "faults": {}}

    def overlay(self, cloud: str, kind: str) -> dict[str, Any]:
        """{id: record dict, or None when deleted} for one cloud and kind."""
        result: dict[str, Any] = self.data["clouds"].get(cloud, {}).get(kind, {})
        return result

    def put(self, cloud: str, kind: str, record_id: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            self.data["clouds"].setdefault(cloud, {}).setdefault(kind, {})[record_id] = record
            self._save()

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self.data["faults"]
        return result

    def set_faults(self, cloud: str, faults: dict[str, Any]) -> None:
        with self._lock:
            self.data["faults"][cloud] = faults
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
