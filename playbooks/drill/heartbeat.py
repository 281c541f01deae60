"""The heartbeat writer: numbered rows committed throughout a drill (as CloudNativePG tests do).

It connects through a libpq multi-host conninfo with target_session_attrs=read-write, so it
always writes to whichever cluster accepts writes, and records each acknowledged commit:
(id, wall-clock time, port of the server). An id whose commit was not acknowledged (the
server died mid-commit) is never reused and never counted as acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class Ack:
    id: int
    at: float
    port: int


def multihost_conninfo(clusters: Sequence[Mapping[str, Any]], dbname: str, user: str) -> str:
    hosts = ",".join("127.0.0.1" for _ in clusters)
    ports = ",".join(str(c["port"]) for c in clusters)
    return (
        f"host={hosts} port={ports} dbname={dbname} user={user} connect_timeout=1"
        " target_session_attrs=read-write application_name=ganyun_heartbeat"
    )


class HeartbeatWriter:
    """A background thread inserting one numbered row per interval until stopped."""

    def __init__(self, conninfo: str, run_id: str, interval_s: float = 0.02) -> None:
        self.conninfo = conninfo
        self.run_id = run_id
        self.interval_s = interval_s
        self.acks: list[Ack] = []
        self.attempts = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ganyun-heartbeat", daemon=True)

    def start(self, wait_first_s: float = 3.0) -> None:
        """Start writing; wait until the first row is acknowledged so a baseline exists."""
        self._thread.start()
        deadline = time.monotonic() + wait_first_s
        while not self.acks and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.01)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        next_id = 1
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                row_id = next_id
                next_id += 1
                self.attempts += 1
                conn.execute("INSERT INTO heartbeat (id, run_id) VALUES (%s, %s)", (row_id, self.run_id))
                # Autocommit: returning from execute means COMMIT was acknowledged, which with
                # synchronous_standby_names means the sync standby has flushed it too.
                self.acks.append(Ack(row_id, time.time(), int(conn.info.port)))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()
