"""The drill's timeline: every member's role and timeline ID, sampled every 100 ms.

One thread per member keeps its own connection (a member that hangs cannot slow the others'
samples) and records a segment each time what it sees changes. Two members that accept
writes at the same moment (overlapping `primary` segments) are a split brain: the drill fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from playbooks.drill.cluster import Member

INTERVAL_S = 0.1
_SQL = (
    "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only')::bool,"
    " CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)"
    " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
    " (SELECT timeline_id FROM pg_control_checkpoint())"
)


@dataclass(slots=True)
class Segment:
    center: str
    role: str  # primary | standby | unreachable
    timeline: int | None
    start: float
    end: float
    samples: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TimelineSampler:
    def __init__(self, members: Mapping[str, Member], interval_s: float = INTERVAL_S) -> None:
        self.members = dict(members)
        self.interval_s = interval_s
        self.segments: list[Segment] = []
        self.samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(m,), name=f"ganyun-timeline-{c}", daemon=True)
            for c, m in self.members.items()
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _record(self, center: str, role: str, timeline: int | None, at: float, current: Segment | None) -> Segment:
        with self._lock:
            self.samples += 1
            if current is not None and current.role == role and current.timeline == timeline:
                current.end = at
                current.samples += 1
                return current
            # The previous segment ends at its own last sample: what happened between the two
            # samples is unknown, and must not be counted as overlap.
            segment = Segment(center, role, timeline, at, at)
            self.segments.append(segment)
            return segment

    def _watch(self, member: Member) -> None:
        conn: psycopg.Connection[Any] | None = None
        current: Segment | None = None
        while not self._stop.is_set():
            began = time.time()
            try:
                if conn is None:
                    conn = psycopg.connect(member.conninfo("postgres", 2, application_name="ganyun_timeline"),
                                           autocommit=True)  # fmt: skip
                row = conn.execute(_SQL).fetchone()
                assert row is not None
                role = "standby" if row[0] else "primary"
                tli: int | None = int(row[1] or row[2])
            except (psycopg.Error, AssertionError):
                if conn is not None:
                    conn.close()
                conn = None
                role, tli = "unreachable", current.timeline if current else None
            # A sample stands for the moment its answer came back: a primary is writable then.
            current = self._record(member.center, role, tli, time.time(), current)
            self._stop.wait(max(0.0, self.interval_s - (time.time() - began)))
        if conn is not None:
            conn.close()

    def to_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.to_dict() for s in sorted(self.segments, key=lambda s: (s.start, s.center))]


def double_primaries(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every moment two members accepted writes at once: overlapping `primary` segments."""
    primaries = [s for s in segments if s["role"] == "primary"]
    out = []
    for i, a in enumerate(primaries):
        for b in primaries[i + 1 :]:
            if a["center"] != b["center"] and a["start"] <= b["end"] and b["start"] <= a["end"]:
                out.append({"centers": sorted([a["center"], b["center"]]),
                            "from": max(a["start"], b["start"]), "to": min(a["end"], b["end"])})  # fmt: skip
    return out
