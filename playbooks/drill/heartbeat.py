"""The heartbeat writer: numbered rows committed throughout a drill, by a client that connects
the way an application does (as CloudNativePG's tests do).

It connects through the VIP or DNS name when the config names one, else a libpq multi-host
conninfo with target_session_attrs=read-write, so it always writes to whichever member accepts
writes, and records each acknowledged commit: (id, wall-clock time, the server's host:port).
A vanished server is noticed by tcp_user_timeout, never by statement_timeout: a cancelled
wait for the synchronous standby still reports success, so it would count an unreplicated row
as acknowledged. An id whose commit was not acknowledged is never reused nor counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from playbooks.drill.cluster import Member, conninfo_value


@dataclass(frozen=True, slots=True)
class Ack:
    id: int
    at: float
    server: str  # host:port that acknowledged it


def application_conninfo(members: Mapping[str, Member]) -> str:
    """What an application would use: the VIP or DNS name, else every member, read-write only."""
    first = next(iter(members.values()))
    vips = {m.vip for m in members.values() if m.vip}
    if vips:
        hosts, ports = sorted(vips)[0], str(first.port)
    else:
        hosts = ",".join(m.host for m in members.values())
        ports = ",".join(str(m.port) for m in members.values())
    parts = {
        "host": hosts,
        "port": ports,
        "dbname": first.dbname,
        "user": first.user,
        "connect_timeout": "2",
        "tcp_user_timeout": "2000",
        "keepalives_idle": "1",
        "keepalives_interval": "1",
        "keepalives_count": "2",
        "target_session_attrs": "read-write",
        "application_name": "ganyun_heartbeat",
    }
    if first.password:
        parts["password"] = first.password
    elif first.passfile:
        parts["passfile"] = first.passfile
    return " ".join(f"{k}={conninfo_value(v)}" for k, v in parts.items())


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

    def start(self, wait_first_s: float = 5.0) -> None:
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
                self.acks.append(Ack(row_id, time.time(), f"{conn.info.host}:{conn.info.port}"))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()
