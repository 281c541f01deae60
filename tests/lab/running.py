"""A small lab estate running for the length of a block, for fixtures that need one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab import control


@contextmanager
def small_lab(lab_dir: Path) -> Iterator[Path]:
    """`lab up --scale small` in `lab_dir` until the block ends; yields its ganyun.yaml."""
    path = control.up(lab_dir, "small")
    try:
        yield Path(path)
    finally:
        control.down(lab_dir)


def read_accounts(path: Path) -> dict[str, str]:
    """username -> password from the lab's accounts.txt (`user password role` per line)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            out[parts[0]] = parts[1]
    return out
