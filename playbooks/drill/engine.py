"""A DR drill from plan to report: wait until healthy, heartbeat writer and timeline sampler,
the scenario's playbook against the members' hosts, measurement, verification.

RTO is the gap between the fault (the kill, the cut, or the clean stop of a switchover) and the
first acknowledged write on the new primary; RPO is the acknowledged rows missing on the new
primary plus, for a remote takeover, the window of time they span (CloudNativePG's and
pg_auto_failover's definitions). A drill fails if two members ever accepted writes at the
same time. An interrupted or failed drill still ends in a safe state (at most one writable
primary) and is reported and recorded. The engine reaches the clusters only through ClusterOps.
"""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig
from playbooks import runner
from playbooks.drill import hosts, scenarios, verify
from playbooks.drill.cluster import ClusterOps, MemberStatus, ops_for
from playbooks.drill.heartbeat import HeartbeatWriter, application_conninfo
from playbooks.drill.timeline import TimelineSampler, double_primaries
from providers.errors import GanyunError


class DrillRefused(GanyunError):
    """The drill cannot start from the current state; nothing was changed."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class DrillTargets:
    rto_s: float
    rpo_rows: int | None
    rpo_s: float | None
    systems: Sequence[Mapping[str, Any]] = ()
    # A self-healing fault's length (the manager stopped, then started again by its host).
    heal_after_s: float | None = None


@dataclass(slots=True)
class DrillPlan:
    scenario: str
    playbook: str
    primary: str
    target: str
    followers: list[str]
    lost: list[str] = field(default_factory=list)
    primary_has_peer: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def targets_for(config: GanyunConfig, scenario: str) -> DrillTargets:
    """The scenario's targets: the config's over the scenario folder's defaults, tightened by
    any stricter system target for same-city scenarios."""
    override = config.dr.targets.get(scenario)
    rto, rpo_rows, rpo_s = scenarios.targets(
        scenario, override.model_dump() if override else None, config.dr.remote_delay_s
    )
    spec = scenarios.get(scenario).spec
    if spec.plan != "remote":
        rto = min([rto, *[s.rto_s for s in config.systems if s.rto_s < rto]])
    heal_after = override.heal_after_s if override and override.heal_after_s else spec.heal_after_s
    return DrillTargets(rto, rpo_rows, rpo_s, [s.model_dump() for s in config.systems], heal_after)


def make_plan(ops: ClusterOps, config: GanyunConfig, scenario: str) -> DrillPlan:
    """Who is primary now, what the scenario promotes, what it loses or re-points."""
    spec = scenarios.get(scenario)
    if ops.manager not in spec.spec.managers:
        raise DrillRefused(
            f"scenario '{scenario}' cannot drive a {ops.manager} cluster (it needs {' or '.join(spec.spec.managers)})"
        )
    if spec.spec.network_faults:
        local = [c for c, cl in config.dr.clusters.items() if cl.ssh.connection == "local"]
        if local:
            raise DrillRefused(
                f"scenario '{scenario}' cuts network links: not on hosts run locally ({', '.join(local)})"
            )
    members = ops.members
    centers = list(members)
    primaries = ops.writable()
    if len(primaries) != 1:
        raise DrillRefused(f"the drill needs exactly one writable primary, found {primaries or 'none'}")
    primary = primaries[0]
    site = members[primary].site
    peers = [c for c in centers if c != primary and members[c].site == site]
    playbook = str(spec.playbook)
    if spec.spec.plan == "in-place":
        # The fault hits the primary, and it must come through it still the primary.
        return DrillPlan(scenario, playbook, primary, primary, [c for c in centers if c != primary], [primary])
    if spec.spec.plan == "same-city":
        if not peers:
            raise DrillRefused(f"{scenario} needs a same-city standby of {primary}; there is none")
        target = peers[0]
        rest = [c for c in centers if c not in (primary, target)]
        return DrillPlan(scenario, playbook, primary, target, rest, [primary] if spec.spec.unplanned else [])
    if spec.spec.plan == "remote":
        remote = [c for c in centers if members[c].site != site]
        if not remote:
            raise DrillRefused(f"no center outside {site} to take over")
        target = config.dr.remote_center if config.dr.remote_center in remote else remote[0]
        lost = [primary, *peers]
        rest = [c for c in centers if c not in (*lost, target)]
        return DrillPlan(scenario, playbook, primary, target, rest, lost)
    home = config.dr.home_center or centers[0]
    rest = [c for c in centers if c not in (primary, home)]
    return DrillPlan(scenario, playbook, primary, home, rest, [], bool(peers))


def unhealthy(ops: ClusterOps, statuses: Mapping[str, MemberStatus]) -> str:
    """Why the cluster is not ready for a drill ("" when every member is up and streaming)."""
    primaries = [c for c, s in statuses.items() if s.role == "primary"]
    if len(primaries) != 1:
        return f"expected one primary, found {', '.join(primaries) or 'none'}"
    streaming = {r["application_name"] for r in statuses[primaries[0]].replicas if r["state"] == "streaming"}
    for center, st in statuses.items():
        if st.role not in ("primary", "standby"):
            return f"{center} is {st.role}" + (f" ({st.error})" if st.error else "")
        if st.role == "standby" and ops.members[center].application_name not in streaming:
            return f"{center} is not streaming from {primaries[0]}"
    return ""


def wait_healthy(ops: ClusterOps, timeout_s: float) -> None:
    """Between drills: start only when every member is up, streaming, and has replayed all the
    primary had written when we looked (zero lag, also while applications keep writing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = ops.status()
        reason = unhealthy(ops, statuses)
        if not reason:
            primary = next(c for c, s in statuses.items() if s.role == "primary")
            laggards = verify.wait_replayed(ops, primary, max(1.0, deadline - time.monotonic()))
            if not laggards:
                return
            reason = f"{', '.join(laggards)} has not caught up with {primary} (replication lag)"
        if time.monotonic() >= deadline:
            raise DrillRefused(f"not healthy after {timeout_s:.0f} s: {reason}")
        time.sleep(0.5)


@contextlib.contextmanager
def _drill_lock(work_dir: Path) -> Iterator[None]:
    """One drill at a time per cluster: two would fence each other's primaries."""
    with (work_dir / "drill.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DrillRefused("another drill is running on these clusters") from None
        yield


def new_run_id(scenario: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{scenario}-{secrets.token_hex(3)}"


def run_drill(
    config: GanyunConfig,
    config_file: Path,
    scenario: str,
    targets: DrillTargets,
    *,
    on_event: Callable[[runner.RunEvent], None] | None = None,
    cancel: threading.Event | None = None,
    run_id: str | None = None,
    plan: DrillPlan | None = None,
    ops: ClusterOps | None = None,
) -> dict[str, Any]:
    """Run one drill end to end and return its report (also when it fails or is interrupted)."""
    run_id = run_id or new_run_id(scenario)
    ops = ops or ops_for(config, config_file)
    with _drill_lock(hosts.work_dir(config)):
        if scenarios.get(scenario).spec.plan != "failback":
            wait_healthy(ops, config.dr.healthy_wait_s)
        plan = plan or make_plan(ops, config, scenario)
        started = time.time()
        sampler = TimelineSampler(ops.members)
        sampler.start()
        writer = HeartbeatWriter(application_conninfo(ops.members), run_id)
        writer.start()
        result: runner.RunResult | None = None
        interrupted = False
        events: list[runner.RunEvent] = []

        def collect(event: runner.RunEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        variables = {
            **hosts.base_vars(config, config_file, run_id),
            "dr_primary": plan.primary,
            "dr_target": plan.target,
            "dr_followers": plan.followers,
            "dr_lost": plan.lost,
            "dr_primary_has_peer": plan.primary_has_peer,
        }
        if targets.heal_after_s is not None:
            variables["dr_heal_after_s"] = targets.heal_after_s
        try:
            result = hosts.run(config, config_file, Path(plan.playbook), variables, on_event=collect, cancel=cancel)
            interrupted = result.status == "canceled"
        except KeyboardInterrupt:
            interrupted = True
        finally:
            writer.stop()
            # A little more of the timeline: a primary that comes back late must be seen.
            time.sleep(0.5)
            sampler.stop()
        safe = _safe_state(ops, plan.target)
        return _report(config, ops, plan, targets, run_id, started, writer, sampler, result, events, interrupted,
                       safe)  # fmt: skip


def _safe_state(ops: ClusterOps, preferred: str) -> dict[str, Any]:
    """At most one writable primary after the run: fence the others (the newest timeline wins)."""
    from playbooks.drill.steps import to_fence

    decision = to_fence(ops, preferred)
    for center in decision["fence"]:
        ops.fence(center, "two primaries after an interrupted drill")
    return {"changed": bool(decision["fence"]), "fenced": decision["fence"], "primaries": ops.writable()}


def drill_results(result: runner.RunResult | None) -> list[dict[str, Any]]:
    """Every `ganyun_drill` result of the run, looped tasks' items included, in order."""
    if result is None:
        return []
    out: list[dict[str, Any]] = []
    for ev in result.events:
        if ev.event != "runner_on_ok":
            continue
        if isinstance(ev.result.get("ganyun_drill"), Mapping):
            out.append(dict(ev.result["ganyun_drill"]))
        for item in ev.result.get("results") or []:
            if isinstance(item, Mapping) and isinstance(item.get("ganyun_drill"), Mapping):
                out.append(dict(item["ganyun_drill"]))
    return out


def _first(results: list[dict[str, Any]], key: str, actions: Sequence[str] = ()) -> Any:
    for res in results:
        if (not actions or res.get("action") in actions) and res.get(key) is not None:
            return res[key]
    return None


def _measure(
    ops: ClusterOps,
    plan: DrillPlan,
    run_id: str,
    writer: HeartbeatWriter,
    results: list[dict[str, Any]],
    new_primary: str | None,
) -> dict[str, Any]:
    fault_at = _first(results, "fault_at")
    preflight_lag = _first(results, "lag", ("preflight",)) or {}
    remote = next((c for c, m in ops.members.items() if m.site != ops.members[plan.primary].site), "")
    remote_lag = preflight_lag.get(remote, {})
    acks = list(writer.acks)
    m: dict[str, Any] = {
        "fault_at": fault_at,
        "promoted_at": _first(results, "promoted_at"),
        "rows_acknowledged": len(acks),
        "heartbeat_errors": writer.errors,
        "remote_lag_bytes": remote_lag.get("bytes"),
        "remote_lag_s": remote_lag.get("s"),
        "rto_s": None,
        "write_gap_s": None,
        "write_gap": None,
        "rows_lost": None,
        "lost_ids": [],
        "data_loss_window_s": None,
    }
    if new_primary is None:
        return m
    member = ops.members[new_primary]
    present = verify.present_ids(member, run_id)
    lost = sorted(a.id for a in acks if a.id not in present)
    m["rows_lost"] = len(lost)
    m["lost_ids"] = lost[:50]
    lost_set = set(lost)
    lost_times = [a.at for a in acks if a.id in lost_set]
    m["data_loss_window_s"] = round(max(lost_times) - min(lost_times) + writer.interval_s, 3) if lost_times else 0.0
    if fault_at is not None:
        before = [a for a in acks if a.at <= fault_at]
        server = f"{member.host}:{member.port}"
        after = [a for a in acks if a.at > fault_at and (a.server == server or member.vip)]
        if after:
            m["rto_s"] = round(after[0].at - fault_at, 3)
            if before:
                m["write_gap_s"] = round(after[0].at - before[-1].at, 3)
                m["write_gap"] = [before[-1].at, after[0].at]
    return m


def _steps(events: list[runner.RunEvent]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    starts: dict[str, float] = {}
    for ev in events:
        if ev.event == "playbook_on_task_start":
            starts[ev.task] = ev.created
            continue
        if not ev.stage or ev.event not in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            continue
        status = {"runner_on_failed": "failed", "runner_on_skipped": "skipped"}.get(
            ev.event, "changed" if ev.changed else "ok"
        )
        begun = starts.get(ev.task, ev.created)
        steps.append(
            {
                "seq": len(steps) + 1,
                "stage": ev.stage,
                "task": ev.task,
                "status": status,
                "started_at": begun,
                "duration_s": round(max(0.0, ev.created - begun), 3),
                "message": ev.msg if status == "failed" else "",
            }
        )
    return steps


def _report(
    config: GanyunConfig,
    ops: ClusterOps,
    plan: DrillPlan,
    targets: DrillTargets,
    run_id: str,
    started: float,
    writer: HeartbeatWriter,
    sampler: TimelineSampler,
    result: runner.RunResult | None,
    events: list[runner.RunEvent],
    interrupted: bool,
    safe: dict[str, Any],
) -> dict[str, Any]:
    results = drill_results(result)
    primaries = list(safe["primaries"])
    new_primary = primaries[0] if len(primaries) == 1 else None
    measurements = _measure(ops, plan, run_id, writer, results, new_primary)
    appdata = {c: config.resolve_path(cl.appdata) for c, cl in config.dr.clusters.items() if cl.appdata}
    verification = verify.verify(ops, new_primary, appdata) if new_primary else {"equal": False, "centers": {}}
    timeline = sampler.to_list()
    overlaps = double_primaries(timeline)
    steps = _steps(events)
    failed_stages = [s["stage"] for s in steps if s["status"] == "failed"]
    ran_ok = result is not None and result.ok and not interrupted
    checks = _checks(plan, targets, measurements, verification, ran_ok)
    checks.append({"name": "one_primary", "target": "never two writable primaries",
                   "measured": overlaps or "never", "met": not overlaps})  # fmt: skip
    if interrupted:
        status = "interrupted"
    elif not ran_ok and failed_stages and failed_stages[0] in ("guard", "preflight"):
        status = "refused"
    elif ran_ok and all(c["met"] for c in checks):
        status = "passed"
    else:
        status = "failed"
    message = result.failure() if result is not None and not result.ok else ""
    final = ops.status()
    return {
        "run_id": run_id,
        "scenario": plan.scenario,
        "manager": ops.manager,
        "status": status,
        "passed": status == "passed",
        "started_at": started,
        "finished_at": time.time(),
        "duration_s": round(time.time() - started, 3),
        "plan": plan.to_dict(),
        "primary_before": plan.primary,
        "primary_after": new_primary or "",
        "targets": {
            "rto_s": targets.rto_s,
            "rpo_rows": targets.rpo_rows,
            "rpo_s": targets.rpo_s,
            "heal_after_s": targets.heal_after_s,
        },
        "measurements": measurements,
        "verification": verification,
        "checks": checks,
        "systems": _systems(targets, measurements),
        "steps": steps,
        "safe_state": safe,
        "final_roles": {c: s.role for c, s in final.items()},
        "writable_primaries": primaries,
        "timeline": {
            "interval_s": sampler.interval_s,
            "samples": sampler.samples,
            "segments": timeline,
            "double_primaries": overlaps,
        },
        "playbook": {"rc": result.rc, "status": result.status, "stats": result.stats} if result else None,
        "message": message,
    }


def _checks(
    plan: DrillPlan, targets: DrillTargets, m: Mapping[str, Any], verification: Mapping[str, Any], ran_ok: bool
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [{"name": "playbook", "target": "successful", "measured": ran_ok, "met": ran_ok}]
    if m["fault_at"] is not None:
        checks.append(_at_most("rto", targets.rto_s, m["rto_s"]))
    if targets.rpo_rows is not None:
        checks.append(_at_most("rpo_rows", targets.rpo_rows, m["rows_lost"]))
    if targets.rpo_s is not None:
        checks.append(_at_most("rpo_s", targets.rpo_s, m["data_loss_window_s"]))
    systems = _systems(targets, m)
    if systems:
        missed = [s["name"] for s in systems if not s["met"]]
        checks.append({"name": "systems", "target": "all met", "measured": missed or "all met", "met": not missed})
    checks.append(
        {
            "name": "data_equal",
            "target": True,
            "measured": bool(verification.get("equal")),
            "met": bool(verification.get("equal")),
        }
    )
    return checks


def _at_most(name: str, target: float, measured: float | None) -> dict[str, Any]:
    """A limit check; nothing measured (no new primary, no write after the fault) is a miss."""
    return {"name": name, "target": target, "measured": measured, "met": measured is not None and measured <= target}


def _systems(targets: DrillTargets, m: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each system's own RTO/RPO targets against what this drill measured."""
    out = []
    for system in targets.systems:
        rto, lost, window = m["rto_s"], m["rows_lost"], m["data_loss_window_s"]
        rto_met = m["fault_at"] is None or (rto is not None and rto <= float(system["rto_s"]))
        rpo_s = float(system["rpo_s"])
        rpo_met = lost == 0 if rpo_s == 0 else (window is not None and window <= rpo_s)
        out.append(
            {
                "name": system["name"],
                "center": system.get("center", ""),
                "rto_target_s": system["rto_s"],
                "rpo_target_s": rpo_s,
                "rto_met": rto_met,
                "rpo_met": rpo_met,
                "met": rto_met and rpo_met,
            }
        )
    return out
