"""Long commands the console starts in the background: `python -m console ...` as a child process.

A page must never block on Ansible or a drill, but it must see how the command ended. The
child's stdout goes to a log file the page shows; its stderr goes to a file of its own, whose
last line is the CLI's one-line error. `outcome()` reads the exit code from the process
handle: 0 is success, anything else a failure with that line.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_ERROR_CHARS = 300


@dataclass
class Job:
    label: str
    log: Path
    errors: Path
    process: subprocess.Popen[bytes]


@dataclass(frozen=True)
class Outcome:
    running: bool
    code: int | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        return not self.running and self.code != 0


def start(label: str, config_file: str, args: Sequence[str], log: Path) -> Job:
    """`python -m console --config F <args>` detached, stdout to `log`, stderr to `log`.err."""
    log.parent.mkdir(parents=True, exist_ok=True)
    errors = log.with_name(log.name + ".err")
    with log.open("wb") as out, errors.open("wb") as err:
        # Fixed argv: callers pass only values they checked against their own lists.
        process = subprocess.Popen(
            [sys.executable, "-m", "console", "--config", config_file, *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Job(label, log, errors, process)


def outcome(job: Job) -> Outcome:
    code = job.process.poll()
    if code is None:
        return Outcome(running=True)
    return Outcome(running=False, code=code, error=last_error_line(job.errors) if code else "")


def last_error_line(path: Path) -> str:
    """The last non-empty line of a stderr file: the CLI's one-line error (never a whole traceback)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:MAX_ERROR_CHARS] if lines else ""
