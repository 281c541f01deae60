"""Numbered kill points in multi-file updates, so tests can crash a real process at each one.

With `GANYUN_CRASH_AT=N` in its environment the process prints the label of the N-th point it
reaches to stderr and SIGKILLs itself there: no cleanup, no `finally`, as a power cut or the
OOM killer would. Unset (always, outside the crash tests), a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
import sys

CRASH_ENV = "GANYUN_CRASH_AT"
_reached = 0


def crash_point(label: str) -> None:
    target = os.environ.get(CRASH_ENV)
    if not target:
        return
    global _reached
    _reached += 1
    if target.strip() == str(_reached):
        sys.stderr.write(f"crash point {_reached}: {label}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
