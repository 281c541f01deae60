"""The DR operations the playbooks' ganyun_pg module performs, one function per step.

Every step is idempotent (a re-run after an interruption finds the work done and says so)
and keeps the invariant the drills are judged on: an old primary is stopped or fenced
BEFORE anything is promoted, so at most one cluster ever accepts writes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from lab import dr as lab
from playbooks.drill import appfiles


class DrillStepError(RuntimeError):
    """A DR step could not be done; the message says which and why."""


Section = Mapping[str, Any]


def load(lab_dir: str | Path) -> dict[str, Any]:
    """The DR section recorded by the lab (D/dr/state.json) from its directory."""
    path = Path(lab_dir) / lab.STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DrillStepError(f"DR lab state {path} unreadable: {exc}") from None
    return data


def _bindir(section: Section) -> Path:
    return Path(str(section["bindir"]))


def _cluster(section: Section, center: str) -> Mapping[str, Any]:
    try:
        cluster: Mapping[str, Any] = section["clusters"][center]
    except KeyError:
        raise DrillStepError(f"unknown center '{center}'") from None
    return cluster


def _connect(cluster: Mapping[str, Any], dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(lab.conninfo(cluster, dbname=dbname), autocommit=True)


def statuses(section: Section) -> dict[str, dict[str, Any]]:
    return {center: lab.cluster_status(cluster) for center, cluster in section["clusters"].items()}


def writable(section: Section) -> list[str]:
    """Centers whose cluster accepts writes right now."""
    return [c for c, st in statuses(section).items() if st["role"] == "primary"]


# --------------------------------------------------------------------------- preflight


def preflight(section: Section, primary: str, require_sync: bool, require: list[str]) -> dict[str, Any]:
    """Refuse to start unless `primary` is the one writable cluster and replication is healthy.

    With require_sync a failover is refused when no synchronous standby is connected: the
    promoted standby could then miss acknowledged writes (Patroni's synchronous_mode_strict).
    """
    st = statuses(section)
    primaries = [c for c, s in st.items() if s["role"] == "primary"]
    if primaries != [primary]:
        raise DrillStepError(f"expected exactly one primary '{primary}', found {primaries or 'none'}")
    replicas = {r["application_name"]: r for r in st[primary].get("replicas", [])}
    by_app = {str(c["application_name"]): center for center, c in section["clusters"].items()}
    streaming = sorted(by_app[a] for a, r in replicas.items() if r["state"] == "streaming" and a in by_app)
    sync = sorted(by_app[a] for a, r in replicas.items() if r["sync_state"] == "sync" and a in by_app)
    missing = [c for c in require if c not in streaming]
    if missing:
        raise DrillStepError(f"standby not streaming from {primary}: {', '.join(missing)}")
    if require_sync and not sync:
        raise DrillStepError(
            f"no synchronous standby is connected to {primary}: a failover now could lose acknowledged writes; refused"
        )
    lags = {
        by_app[a]: {"bytes": r["replay_lag_bytes"], "s": r["replay_lag_s"]} for a, r in replicas.items() if a in by_app
    }
    return {"primary": primary, "streaming": streaming, "sync": sync, "lag": lags}


# --------------------------------------------------------------------------- faults


def fence(section: Section, center: str, run_id: str, reason: str) -> dict[str, Any]:
    """Kill the center's cluster (if running) and fence it so it can never start as a primary.

    Fencing = PGDATA moved to data.fenced/ (a plain `pg_ctl start` finds nothing), a
    standby.signal put inside (if it is ever moved back it comes up read-only), and a FENCED
    marker that lab.start_cluster refuses to start past. Only failback's rejoin lifts it.
    """
    cluster = _cluster(section, center)
    data, fenced = Path(str(cluster["data_dir"])), lab.fenced_dir(cluster)
    fault_at = time.time()
    killed = lab.kill_cluster(data)
    # The center's WAN link goes down with it: WAL still in flight to another city is lost.
    lab.kill_wan(cluster)
    if lab.postmaster_pid(fenced) is not None:
        killed = lab.kill_cluster(fenced) or killed
    changed = killed
    marker = lab.center_dir(cluster) / lab.FENCE_MARKER
    if not marker.exists():
        marker.write_text(
            json.dumps({"run_id": run_id, "reason": reason, "at": fault_at}, ensure_ascii=False), encoding="utf-8"
        )
        changed = True
    if data.exists():
        if fenced.exists():
            raise DrillStepError(f"{center}: both {data} and {fenced} exist; resolve by hand")
        data.rename(fenced)
        changed = True
    if fenced.exists() and not (fenced / "standby.signal").exists():
        (fenced / "standby.signal").touch()
        lab.chown_pg(fenced / "standby.signal")
    return {"changed": changed, "center": center, "killed": killed, "fault_at": fault_at if killed else None}


def stop_primary(section: Section, center: str) -> dict[str, Any]:
    """Planned switchover: stop writes by a clean shutdown; walsenders ship every WAL record first."""
    cluster = _cluster(section, center)
    data = Path(str(cluster["data_dir"]))
    fault_at = time.time()
    stopped = lab.stop_cluster(_bindir(section), data, mode="fast")
    return {
        "changed": stopped,
        "center": center,
        "fault_at": fault_at if stopped else None,
        "end_lsn": _checkpoint_lsn(section, data),
    }


def _checkpoint_lsn(section: Section, data: Path) -> str:
    out = lab.run_pg(_bindir(section), "pg_controldata", str(data))
    for line in out.splitlines():
        if line.startswith("Latest checkpoint location:"):
            return line.split(":", 1)[1].strip()
    raise DrillStepError(f"pg_controldata gave no checkpoint location for {data}")


def wait_caught_up(section: Section, center: str, lsn: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Wait until the standby has received and replayed WAL up to `lsn` (zero lag)."""
    cluster = _cluster(section, center)
    deadline = time.monotonic() + timeout_s
    got = ""
    while time.monotonic() < deadline:
        try:
            with _connect(cluster) as conn:
                row = conn.execute(
                    "SELECT pg_last_wal_replay_lsn()::text, pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)
                ).fetchone()
            if row is not None and row[1]:
                return {"changed": False, "center": center, "replayed": row[0]}
            got = str(row[0]) if row else ""
        except psycopg.Error as exc:
            got = str(exc).strip()
        time.sleep(0.05)
    raise DrillStepError(f"{center} did not replay up to {lsn} within {timeout_s:.0f} s (at {got})")


# --------------------------------------------------------------------------- promotion


def promote(section: Section, center: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Promote the center's standby; writes are accepted right away (no sync standby yet)."""
    others = [c for c in writable(section) if c != center]
    if others:
        raise DrillStepError(f"refusing to promote {center}: {', '.join(others)} still accepts writes")
    cluster = _cluster(section, center)
    status = lab.cluster_status(cluster)
    if status["role"] == "primary":
        return {"changed": False, "center": center}
    if status["role"] != "standby":
        raise DrillStepError(f"{center} cannot be promoted: it is {status['role']}")
    # Until a standby follows the new primary, waiting for one would block every write.
    lab.write_node_conf(cluster)
    lab.reload_cluster(_bindir(section), cluster)
    lab.run_pg(_bindir(section), "pg_ctl", "-D", str(cluster["data_dir"]), "-w", "-t", str(int(timeout_s)), "promote")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lab.cluster_status(cluster)["role"] == "primary":
            with _connect(cluster) as conn:
                # pg_rewind reads the timeline from the control file: make it current now.
                conn.execute("CHECKPOINT")
            return {"changed": True, "center": center, "promoted_at": time.time()}
        time.sleep(0.02)
    raise DrillStepError(f"{center} did not leave recovery within {timeout_s:.0f} s")


def set_sync(section: Section, primary: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Require a same-site standby's acknowledgement when one streams, else run degraded.

    Degraded (no synchronous standby) is reported, never hidden: after a failover the fenced
    center cannot acknowledge, and blocking every write until failback would be an outage.
    """
    cluster = _cluster(section, primary)
    status = lab.cluster_status(cluster)
    streaming = {r["application_name"] for r in status.get("replicas", []) if r["state"] == "streaming"}
    peers = [
        str(c["application_name"])
        for center, c in section["clusters"].items()
        if center != primary and c.get("site") == cluster.get("site") and str(c["application_name"]) in streaming
    ]
    names = f"FIRST 1 ({', '.join(peers)})" if peers else ""
    changed = status.get("synchronous_standby_names") != names
    if changed:
        lab.write_node_conf(cluster, sync_names=names)
        lab.reload_cluster(_bindir(section), cluster)
    if peers:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reps = lab.cluster_status(cluster).get("replicas", [])
            if any(r["sync_state"] == "sync" for r in reps):
                break
            time.sleep(0.05)
        else:
            raise DrillStepError(f"{primary}: no standby became synchronous within {timeout_s:.0f} s")
    return {"changed": changed, "center": primary, "synchronous_standby_names": names, "degraded": not peers}


# --------------------------------------------------------------------------- standbys


def follow(section: Section, center: str, upstream: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Make `center` a streaming standby of `upstream`: re-point, rewind or re-clone as needed.

    A fenced center is unfenced here (the only place that does it) and comes back as a
    standby: standby.signal is written before it ever starts.
    """
    cluster, source = _cluster(section, center), _cluster(section, upstream)
    if lab.cluster_status(source)["role"] != "primary":
        raise DrillStepError(f"{upstream} is not a primary; {center} cannot follow it")
    status = lab.cluster_status(cluster)
    following = status.get("upstream_port") == lab.upstream_port(cluster, source)
    if status["role"] == "standby" and following and _streaming(source, cluster):
        return {"changed": False, "center": center, "upstream": upstream, "method": "none"}
    bindir = _bindir(section)
    data, fenced = Path(str(cluster["data_dir"])), lab.fenced_dir(cluster)
    if status["role"] == "primary":
        raise DrillStepError(f"{center} is a writable primary; stop or fence it before it follows {upstream}")
    lab.stop_cluster(bindir, data, mode="fast")
    if fenced.exists() and not data.exists():
        fenced.rename(data)
    with _connect(source) as conn:
        conn.execute("CHECKPOINT")
    method = _rewind(section, cluster, source)
    (data / "standby.signal").touch()
    lab.chown_pg(data / "standby.signal")
    lab.write_node_conf(cluster, upstream=source)
    (lab.center_dir(cluster) / lab.FENCE_MARKER).unlink(missing_ok=True)
    lab.start_cluster(bindir, cluster)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _streaming(source, cluster):
            return {"changed": True, "center": center, "upstream": upstream, "method": method}
        time.sleep(0.05)
    raise DrillStepError(f"{center} does not stream from {upstream} after {method} ({timeout_s:.0f} s)")


def _streaming(source: Mapping[str, Any], cluster: Mapping[str, Any]) -> bool:
    try:
        with _connect(source) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s AND state = 'streaming'",
                (str(cluster["application_name"]),),
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _rewind(section: Section, cluster: Mapping[str, Any], source: Mapping[str, Any]) -> str:
    """pg_rewind onto the source's timeline; a fresh pg_basebackup when rewinding cannot work."""
    bindir, data = _bindir(section), Path(str(cluster["data_dir"]))
    # pg_rewind runs single-user crash recovery on a killed primary; that refuses standby mode.
    (data / "standby.signal").unlink(missing_ok=True)
    try:
        out = lab.run_pg(
            bindir,
            "pg_rewind",
            "-D",
            str(data),
            "--source-server",
            lab.conninfo(source, dbname="postgres"),
            timeout=300,
        )
        return "none" if "no rewind required" in out else "pg_rewind"
    except lab.DrLabError:
        # e.g. the WAL needed to rewind is gone: copying the whole cluster is always possible.
        shutil.rmtree(data)
        lab.run_pg(
            bindir,
            "pg_basebackup",
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(source["port"]),
            "-U",
            lab.DB_USER,
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            timeout=600,
        )
        return "pg_basebackup"


def expect_primary(section: Section, center: str) -> dict[str, Any]:
    """Verification: `center` is the one writable primary and every other live node streams."""
    st = statuses(section)
    primaries = [c for c, s in st.items() if s["role"] == "primary"]
    if primaries != [center]:
        raise DrillStepError(f"expected {center} as the only primary, found {primaries or 'none'}")
    bad = [c for c, s in st.items() if c != center and s["role"] not in ("standby", "fenced")]
    if bad:
        raise DrillStepError(f"not a standby nor fenced after the drill: {', '.join(bad)}")
    return {"changed": False, "clusters": st}


# --------------------------------------------------------------------------- safe state


def safe_state(section: Section, preferred: str | None = None) -> dict[str, Any]:
    """Leave at most one writable primary: fence the others (the newest timeline wins)."""
    st = statuses(section)
    primaries = [c for c, s in st.items() if s["role"] == "primary"]
    fenced: list[str] = []
    if len(primaries) > 1:
        keep = preferred if preferred in primaries else max(primaries, key=lambda c: st[c].get("timeline", 0))
        for center in primaries:
            if center != keep:
                fence(section, center, "safe-state", "two primaries after an interrupted drill")
                fenced.append(center)
    final = writable(section)
    return {"changed": bool(fenced), "fenced": fenced, "primaries": final}


# --------------------------------------------------------------------------- app files


def appsync(section: Section, source: str) -> dict[str, Any]:
    """Mirror the source center's app data to every other center that is not fenced or down."""
    roots = {c: Path(p) for c, p in section["appdata"].items()}
    targets = [c for c in roots if c != source and not lab.is_fenced(_cluster(section, c))]
    changed = False
    for center in targets:
        changed = appfiles.mirror(roots[source], roots[center]) or changed
    return {
        "changed": changed,
        "source": source,
        "targets": targets,
        "manifests": {c: appfiles.digest(roots[c]) for c in [source, *targets]},
    }
