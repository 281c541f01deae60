"""The audit log's witness: every signed head is also written somewhere the database cannot reach.

A witness is a file (appended line by line, 0600) or a syslog receiver (RFC 3164 over UDP, or a
local datagram socket such as /dev/log). Each head is one line carrying a marker and a JSON object:

    ganyun-audit-head {"seq": 42, "hash": "...", "public_key": "...", "signature": "..."}

so the same reader understands the file ganyun appends to and the file a syslog daemon writes
(whatever it puts before the marker). `audit verify` reads that file back: a witnessed head the
database no longer matches is a forgery, whoever signed it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from inventory.config import GanyunConfig
from providers.errors import ConfigError

MARKER = "ganyun-audit-head "
SYSLOG_TAG = "ganyun-audit"
# facility authpriv (10), severity info (6): where syslog daemons keep security records.
_PRIORITY = 10 * 8 + 6


@dataclass(frozen=True)
class Witness:
    kind: Literal["file", "syslog", "unix"]
    address: str  # the file path, HOST:PORT or the socket path
    readback: Path | None  # the file `audit verify` reads, when there is one

    @property
    def label(self) -> str:
        return {"file": "", "syslog": "syslog://", "unix": "unix://"}[self.kind] + self.address


def witness_of(config: GanyunConfig) -> Witness | None:
    value = config.audit.witness
    if not value:
        return None
    readback = config.resolve_path(config.audit.witness_file) if config.audit.witness_file else None
    if value.startswith("syslog://"):
        return Witness("syslog", value.removeprefix("syslog://"), readback)
    if value.startswith("unix://"):
        return Witness("unix", value.removeprefix("unix://"), readback)
    path = config.resolve_path(value)
    return Witness("file", str(path), path)


def head_line(head: Mapping[str, Any]) -> str:
    fields = {k: head[k] for k in ("seq", "hash", "public_key", "signature")}
    return MARKER + json.dumps(fields, separators=(",", ":"))


def publish(witness: Witness, head: Mapping[str, Any]) -> None:
    """Write one signed head to the witness; a witness that cannot be written is a config error."""
    line = head_line(head)
    try:
        if witness.kind == "file":
            _append_line(Path(witness.address), f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")
        else:
            _send_syslog(witness, line)
    except OSError as exc:
        raise ConfigError(f"audit.witness {witness.label} cannot be written: {exc.strerror or exc}") from None


def _append_line(path: Path, line: str) -> None:
    # O_APPEND and one write() per line: concurrent writers never interleave inside a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _send_syslog(witness: Witness, line: str) -> None:
    stamp = datetime.now().strftime("%b %d %H:%M:%S")  # RFC 3164 wants local time
    message = f"<{_PRIORITY}>{stamp} {socket.gethostname()} {SYSLOG_TAG}: {line}".encode()
    if witness.kind == "unix":
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message, witness.address)
        return
    host, _, port = witness.address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(message, (host, int(port)))


@dataclass(frozen=True)
class WitnessedHead:
    seq: int
    hash: str
    public_key: str
    signature: str


def read_heads(path: Path) -> Iterator[WitnessedHead]:
    """Every well-formed head line in `path`; other lines (other programs' syslog) are skipped."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            _before, marker, rest = line.partition(MARKER)
            if not marker:
                continue
            try:
                data = json.loads(rest.strip().rstrip("\x00"))
                yield WitnessedHead(int(data["seq"]), str(data["hash"]), str(data["public_key"]),
                                    str(data["signature"]))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue
