"""The control-node steps of the DR playbooks (module ganyun_pg), each through ClusterOps.

Every step is idempotent (a re-run after an interruption finds the work done and says so)
and keeps the invariant the drills are judged on: an old primary is stopped or fenced BEFORE
anything is promoted, so at most one member ever accepts writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, load_config
from playbooks.drill import appfiles
from playbooks.drill.cluster import ClusterOps, DrillStepError, ops_for
from playbooks.drill.streaming import StreamingOps


def _ops(config_file: str) -> tuple[GanyunConfig, StreamingOps]:
    config = load_config(config_file)
    ops = ops_for(config, Path(config_file))
    assert isinstance(ops, StreamingOps)
    return config, ops


def preflight(ops: ClusterOps, primary: str, require_sync: bool, require: list[str]) -> dict[str, Any]:
    """Refuse to start unless `primary` is the one writable member and replication is healthy.

    With require_sync a failover is refused when no synchronous standby is connected: the
    promoted standby could then miss acknowledged writes (Patroni's synchronous_mode_strict).
    """
    st = ops.status()
    primaries = [c for c, s in st.items() if s.role == "primary"]
    if primaries != [primary]:
        raise DrillStepError(f"expected exactly one primary '{primary}', found {primaries or 'none'}")
    by_app = {m.application_name: center for center, m in ops.members.items()}
    replicas = {r["application_name"]: r for r in st[primary].replicas if r["application_name"] in by_app}
    streaming = sorted(by_app[a] for a, r in replicas.items() if r["state"] == "streaming")
    sync = sorted(by_app[a] for a, r in replicas.items() if r["sync_state"] in ("sync", "quorum"))
    missing = [c for c in require if c not in streaming]
    if missing:
        raise DrillStepError(f"standby not streaming from {primary}: {', '.join(missing)}")
    if require_sync and not sync:
        raise DrillStepError(
            f"no synchronous standby is connected to {primary}: a failover now could lose acknowledged writes; refused"
        )
    lags = {by_app[a]: {"bytes": r["replay_lag_bytes"], "s": r["replay_lag_s"]} for a, r in replicas.items()}
    return {"primary": primary, "streaming": streaming, "sync": sync, "lag": lags}


def expect_primary(ops: ClusterOps, center: str) -> dict[str, Any]:
    """Verification: `center` is the one writable primary and every other member streams or is fenced."""
    st = ops.status()
    primaries = [c for c, s in st.items() if s.role == "primary"]
    if primaries != [center]:
        raise DrillStepError(f"expected {center} as the only primary, found {primaries or 'none'}")
    bad = [c for c, s in st.items() if c != center and s.role not in ("standby", "fenced")]
    if bad:
        raise DrillStepError(f"not a standby nor fenced after the drill: {', '.join(bad)}")
    return {"roles": {c: s.role for c, s in st.items()}}


def follow_plan(ops: StreamingOps, centers: list[str], upstream: str) -> dict[str, Any]:
    """Who must (re)join `upstream`, and how each reaches it; those already streaming from it
    are left alone, so a re-run changes nothing."""
    st = ops.status()
    if st[upstream].role != "primary":
        raise DrillStepError(f"{upstream} is not a primary; nothing can follow it")
    writable = [c for c in centers if st[c].role == "primary"]
    if writable:
        raise DrillStepError(f"{', '.join(writable)} accepts writes; stop or fence it before it follows {upstream}")
    if ops.manager == "streaming":
        todo = [c for c in centers if not ops.streams_from(c, upstream)]
        if todo:
            ops.checkpoint(upstream)
    else:
        todo = list(centers)
    return {"todo": todo, "upstreams": {c: ops.upstream_for(c, upstream) for c in centers}}


def to_fence(ops: ClusterOps, preferred: str | None = None) -> dict[str, Any]:
    """Which members must be fenced so that at most one accepts writes. The HA manager's own
    leader wins (its replicas follow it, whatever the drill preferred), else `preferred`,
    else the newest timeline."""
    st = ops.status()
    primaries = [c for c, s in st.items() if s.role == "primary"]
    if len(primaries) <= 1:
        return {"keep": primaries[0] if primaries else None, "fence": []}
    elected = ops.elected()
    keep = next((c for c in (elected, preferred) if c in primaries), None)
    keep = keep or max(primaries, key=lambda c: st[c].timeline or 0)
    return {"keep": keep, "fence": [c for c in primaries if c != keep]}


def appsync(config: GanyunConfig, ops: StreamingOps, source: str) -> dict[str, Any]:
    """Mirror the serving center's application files to every other center not fenced."""
    roots = {c: config.resolve_path(cl.appdata) for c, cl in config.dr.clusters.items() if cl.appdata}
    if source not in roots:
        return {"changed": False, "source": source, "targets": []}
    fenced = ops.fenced()
    targets = [c for c in roots if c != source and c not in fenced]
    changed = False
    for center in targets:
        changed = appfiles.mirror(roots[source], roots[center]) or changed
    return {"changed": changed, "source": source, "targets": targets,
            "manifests": {c: appfiles.digest(roots[c]) for c in [source, *targets]}}  # fmt: skip


def dispatch(p: dict[str, Any]) -> dict[str, Any]:
    config, ops = _ops(p["config_file"])
    try:
        return _dispatch(config, ops, p)
    finally:
        ops.close()


def _dispatch(config: GanyunConfig, ops: StreamingOps, p: dict[str, Any]) -> dict[str, Any]:
    action, center = p["action"], p["center"]
    if action == "status":
        return {"members": {c: s.to_dict() for c, s in ops.status().items()}}
    if action == "preflight":
        return preflight(ops, center, p["require_sync"], p["require"])
    if action == "wait_caught_up":
        return ops.wait_caught_up(center, p["lsn"])
    if action == "wait_leader":
        return ops.wait_leader(p["centers"], prefer=center or "")
    if action == "wait_streaming":
        return ops.wait_streaming(p["centers"], p["upstream"])
    if action == "checkpoint":
        ops.checkpoint(center)
        return {}
    if action == "follow_plan":
        return follow_plan(ops, p["centers"], p["upstream"])
    if action == "sync_names":
        return {"names": ops.sync_names(center)}
    if action == "wait_sync":
        return ops.wait_sync(center)
    if action == "switchover":
        return {"changed": True, **ops.switchover(center, p["upstream"])}
    if action == "failover":
        return {"changed": True, **ops.failover(center)}
    if action in ("record_fenced", "clear_fenced"):
        ops.record_fenced(p["centers"], action == "record_fenced")
        return {"changed": bool(p["centers"])}
    if action == "verify":
        return expect_primary(ops, center)
    if action == "verify_manager":
        return ops.verify_manager(center, float(p["since"]))
    if action == "safe_state":
        return to_fence(ops, center)
    return appsync(config, ops, center)
