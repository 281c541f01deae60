"""After a drill: do the live centers hold the same rows and the same application files?"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from playbooks.drill import appfiles
from playbooks.drill.cluster import ClusterOps, Member

# Ordered, whole-row digests: equal digests mean equal content, not just equal counts.
DIGESTS = {
    "heartbeat": "SELECT count(*), md5(coalesce(string_agg(run_id || ':' || id::text, ',' ORDER BY run_id, id), ''))"
    " FROM heartbeat",
    "service_tickets": "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))"
    " FROM service_tickets t",
}


def present_ids(member: Member, run_id: str) -> set[int]:
    with member.connect() as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM heartbeat WHERE run_id = %s", (run_id,))}


def wait_replayed(ops: ClusterOps, primary: str, timeout_s: float = 30.0) -> list[str]:
    """Wait until every running standby has replayed the primary's current LSN; laggards."""
    with ops.members[primary].connect() as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = str(row[0])
    pending = [c for c, s in ops.status().items() if c != primary and s.role == "standby"]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for center in pending:
            try:
                with ops.members[center].connect() as conn:
                    done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
            except psycopg.Error:
                done = None
            if not (done and done[0]):
                still.append(center)
        pending = still
        if pending:
            time.sleep(0.05)
    return pending


def verify(ops: ClusterOps, primary: str, appdata: dict[str, Path]) -> dict[str, Any]:
    """Row digests and app-file digests per center; equal when every live center agrees."""
    laggards = wait_replayed(ops, primary)
    centers: dict[str, Any] = {}
    for center, status in ops.status().items():
        entry: dict[str, Any] = {"role": status.role}
        if status.role in ("primary", "standby"):
            with ops.members[center].connect() as conn:
                for table, sql in DIGESTS.items():
                    row = conn.execute(sql).fetchone()
                    assert row is not None
                    entry[table] = {"rows": int(row[0]), "md5": str(row[1])}
            if center in appdata:
                entry["appdata_sm3"] = appfiles.digest(appdata[center])
        centers[center] = entry
    live = {c: e for c, e in centers.items() if "heartbeat" in e}
    signatures = {(e["heartbeat"]["md5"], e["service_tickets"]["md5"]) for e in live.values()}
    files = {e["appdata_sm3"] for e in live.values() if "appdata_sm3" in e}
    return {
        "centers": centers,
        "compared": sorted(live),
        "not_compared": sorted(set(centers) - set(live)),
        "rows_equal": len(signatures) == 1 and not laggards,
        "files_equal": len(files) <= 1,
        "equal": len(signatures) == 1 and len(files) <= 1 and not laggards,
        "lagging": laggards,
    }
