"""A VM's migration state on disk, written as each step goes: what a killed run resumes from.

Ansible hands a step the state recorded when the previous step finished. A step that creates
something (a snapshot, an image, a node) or moves something (a floating IP) records it here the
moment it exists, so a run killed in the middle of the step continues with that thing instead
of making a second one. The file also holds the step's latest progress note, which the engine
reads while the playbook runs. One module process works on a VM at a time: the flock held for
the length of a step makes a resumed run wait for a module that a killed run left behind.

Layout: <workdir>/run-<id>/state/<provider>/<node id>.json (and .lock), names from validated ids.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inventory.tenant_text import path_component
from providers.errors import PlaybookError


@dataclass(frozen=True, slots=True)
class Progress:
    step: str
    note: str
    at: float  # time.time() of the note


class Checkpoint:
    def __init__(self, workdir: str | os.PathLike[str], run_id: int, provider: str, node_id: str) -> None:
        folder = Path(workdir) / f"run-{int(run_id)}" / "state" / path_component(provider, "provider name")
        name = path_component(node_id, "node id")
        self.path = folder / f"{name}.json"
        self.lock_path = folder / f"{name}.lock"
        self._made: list[Path] = []

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def state(self) -> dict[str, Any]:
        saved = self._load().get("state")
        return dict(saved) if isinstance(saved, dict) else {}

    def progress(self) -> Progress | None:
        data = self._load()
        if not data.get("step"):
            return None
        return Progress(str(data["step"]), str(data.get("note") or ""), float(data.get("at") or 0.0))

    def save(self, state: Mapping[str, Any], step: str, note: str = "") -> None:
        """Replace the file atomically: a reader (or a kill) never meets half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"state": dict(state), "step": step, "note": note, "at": time.time()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def hold(self, timeout_s: float) -> Iterator[None]:
        """The VM to this process for the length of a step (released when the process dies)."""
        # What `discard` may take away again, deepest first (never above the work directory).
        self._made = [p for p in (self.lock_path, *self.lock_path.parents[:3]) if not p.exists()]
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as handle:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise PlaybookError(
                            f"another ganyun process is still working on this VM ({self.lock_path.name})"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def discard(self) -> None:
        """Take away the lock file and folders `hold` made, for a step that failed before it
        recorded anything: such a step leaves nothing behind. Called while holding the lock."""
        if self.path.exists():
            return
        for path in self._made:
            with contextlib.suppress(OSError):  # a folder someone else has written into stays
                path.unlink() if path == self.lock_path else path.rmdir()
