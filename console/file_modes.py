"""The mode of every file ganyun and its children create: 0640 at most, set by the umask.

Setting the umask once where a command starts covers every writer at once: our own files
(the database's WAL, exports, plans, logs, the lab's files) and those of the programs we run
(ansible, qemu-img, the lab servers, the Streamlit server that `ganyun console` becomes).
Secrets are still written 0600 explicitly where they are created.

Directories come out 0751: others may pass through (PostgreSQL runs as its own OS user and
must reach the lab's data directories) but cannot list them, and every file inside is 0640.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

PRIVATE_UMASK = 0o026


@contextmanager
def private_umask() -> Iterator[None]:
    """Restrict the umask for the duration of a command; the caller's umask comes back after."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
