"""The DR lab's WAN relay: what the far center sends arrives `delay` later, replies at once,
and what the relay still holds when it is killed never arrives."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab import wan

DELAY_S = 0.4


class Upstream:
    """A TCP server standing for a center: it records when it hears from the client, and
    sends whatever `send` asks."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.heard_at: float | None = None
        self.conn: socket.socket | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.ready.set()
        # A relay killed with data in flight resets the connection: that is heard as nothing.
        with contextlib.suppress(OSError):
            if self.conn.recv(16):
                self.heard_at = time.monotonic()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()

    def send(self, data: bytes) -> None:
        assert self.ready.wait(5)
        assert self.conn is not None
        self.conn.sendall(data)


@pytest.fixture(params=[DELAY_S])
def link(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, Any], Upstream]]:
    upstream = Upstream()
    (tmp_path / "far").mkdir()
    probe = socket.create_server(("127.0.0.1", 0))
    wan_port = int(probe.getsockname()[1])
    probe.close()
    pid = wan.start(wan_port, upstream.port, request.param, tmp_path / "wan.log")
    cluster = {"wan_port": wan_port, "pid": pid}
    try:
        yield cluster, upstream
    finally:
        _kill(pid)
        upstream.close()


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    os.waitpid(pid, 0)
    return True


def test_the_far_side_arrives_late_and_replies_at_once(link: tuple[dict[str, Any], Upstream]) -> None:
    cluster, upstream = link
    with socket.create_connection(("127.0.0.1", cluster["wan_port"]), timeout=5) as client:
        sent = time.monotonic()
        client.sendall(b"status")
        assert upstream.ready.wait(5)
        upstream.send(b"wal")
        data = client.recv(16)
        arrived = time.monotonic()
    assert data == b"wal"
    assert arrived - sent >= DELAY_S
    assert upstream.heard_at is not None and upstream.heard_at - sent < DELAY_S


# A long delay, so that even a loaded machine kills the relay before it would deliver.
@pytest.mark.parametrize("link", [10.0], indirect=True)
def test_what_is_in_flight_when_the_relay_dies_is_lost(link: tuple[dict[str, Any], Upstream]) -> None:
    cluster, upstream = link
    with socket.create_connection(("127.0.0.1", cluster["wan_port"]), timeout=5) as client:
        client.sendall(b"hello")
        upstream.send(b"in flight")
        assert _kill(cluster["pid"])
        # The link is gone, closed or reset by the dying relay; the bytes never came.
        try:
            received = client.recv(16)
        except ConnectionResetError:
            received = b""
        assert received == b"", received
    assert _kill(cluster["pid"]) is False
