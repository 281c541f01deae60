"""Logging for the CLI: every record masked (providers/masking.py); with $GANYUN_LOG_FILE set,
INFO and above also go to that file (created 0600), for runs nobody watches (cron syncs)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from providers.errors import ConfigError
from providers.masking import install_log_masking

LOG_FILE_ENV = "GANYUN_LOG_FILE"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_open: set[Path] = set()  # the CLI app may be called more than once in one process


def configure() -> None:
    install_log_masking()
    target = os.environ.get(LOG_FILE_ENV)
    if not target:
        return
    path = Path(target).expanduser().resolve()
    if path in _open:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"${LOG_FILE_ENV}: cannot write {path}: {exc.strerror}") from None
    handler.setFormatter(logging.Formatter(_FORMAT))
    _open.add(path)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per migration on every start
