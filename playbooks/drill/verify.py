"""After a drill: do the live centers hold the same rows and the same application files?"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from lab import dr as lab
from playbooks.drill import appfiles

# Ordered, whole-row digests: equal digests mean equal content, not just equal counts.
DIGESTS = {
    "heartbeat": "SELECT count(*), md5(coalesce(string_agg(run_id || ':' || id::text, ',' ORDER BY run_id, id), ''))"
    " FROM heartbeat",
    "service_tickets": "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))"
    " FROM service_tickets t",
}


def _conn(cluster: Mapping[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(lab.conninfo(cluster), autocommit=True)


def present_ids(cluster: Mapping[str, Any], run_id: str) -> set[int]:
    with _conn(cluster) as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM heartbeat WHERE run_id = %s", (run_id,))}


def wait_replayed(section: Mapping[str, Any], primary: str, timeout_s: float = 30.0) -> list[str]:
    """Wait until every running standby has replayed the primary's current LSN; laggards."""
    clusters = section["clusters"]
    with _conn(clusters[primary]) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = str(row[0])
    pending = [c for c in clusters if c != primary and lab.cluster_status(clusters[c])["role"] == "standby"]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        still = []
        for center in pending:
            try:
                with _conn(clusters[center]) as conn:
                    done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()
            except psycopg.Error:
                done = None
            if not (done and done[0]):
                still.append(center)
        pending = still
        if pending:
            time.sleep(0.05)
    return pending


def verify(section: Mapping[str, Any], primary: str) -> dict[str, Any]:
    """Row digests and app-file digests per center; equal when every live center agrees."""
    laggards = wait_replayed(section, primary)
    centers: dict[str, Any] = {}
    for center, cluster in section["clusters"].items():
        status = lab.cluster_status(cluster)
        entry: dict[str, Any] = {"role": status["role"]}
        if status["role"] in ("primary", "standby"):
            with _conn(cluster) as conn:
                for table, sql in DIGESTS.items():
                    row = conn.execute(sql).fetchone()
                    assert row is not None
                    entry[table] = {"rows": int(row[0]), "md5": str(row[1])}
            entry["appdata_sm3"] = appfiles.digest(Path(section["appdata"][center]))
        centers[center] = entry
    live = {c: e for c, e in centers.items() if "heartbeat" in e}
    signatures = {(e["heartbeat"]["md5"], e["service_tickets"]["md5"]) for e in live.values()}
    files = {e["appdata_sm3"] for e in live.values()}
    return {
        "centers": centers,
        "compared": sorted(live),
        "not_compared": sorted(set(centers) - set(live)),
        "rows_equal": len(signatures) == 1 and not laggards,
        "files_equal": len(files) == 1,
        "equal": len(signatures) == 1 and len(files) == 1 and not laggards,
        "lagging": laggards,
    }
