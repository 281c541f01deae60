"""A DR drill from plan to report: heartbeat writer, playbook run, measurement, verification.

RTO is the gap between the fault (kill -9, or the clean stop of a switchover) and the first
acknowledged write on the new primary; RPO is the acknowledged rows missing on the new
primary (CloudNativePG's and pg_auto_failover's definitions). An interrupted or failed drill
still ends in a safe state (at most one writable primary) and is reported and recorded.
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

from playbooks import runner
from playbooks.drill import pgops, verify
from playbooks.drill.heartbeat import HeartbeatWriter, multihost_conninfo
from providers.errors import GanyunError

PLAYBOOKS = {
    "switchover": "dr_switchover.yml",
    "failover": "dr_failover.yml",
    "failback": "dr_failback.yml",
    "remote-failover": "dr_remote_failover.yml",
}
# The stage tags of each playbook's tasks, in order (progress bars count them).
STAGES = {
    "switchover": ["guard", "preflight", "appsync", "stop_writes", "follow", "appsync", "verify"],
    "failover": ["guard", "preflight", "appsync", "fault", "follow", "appsync", "verify"],
    "failback": ["guard", "follow", "preflight", "appsync", "stop_writes", "follow", "appsync", "verify"],
    "remote-failover": ["guard", "preflight", "appsync", "fault", "follow", "verify"],
}


class DrillRefused(GanyunError):
    """The drill cannot start from the current state; nothing was changed."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class DrillTargets:
    rto_s: float
    rpo_rows: int | None
    rpo_s: float | None
    systems: Sequence[Mapping[str, Any]] = ()


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


def _site(section: Mapping[str, Any], center: str) -> str:
    return str(section["clusters"][center].get("site", ""))


def make_plan(section: Mapping[str, Any], scenario: str) -> DrillPlan:
    """Who is primary now, what the scenario promotes, what it fences or re-points."""
    if scenario not in PLAYBOOKS:
        raise DrillRefused(f"unknown scenario '{scenario}' (one of {', '.join(PLAYBOOKS)})")
    centers = list(section["clusters"])
    primaries = pgops.writable(section)
    if len(primaries) != 1:
        raise DrillRefused(f"the drill needs exactly one writable primary, found {primaries or 'none'}")
    primary = primaries[0]
    site = _site(section, primary)
    peers = [c for c in centers if c != primary and _site(section, c) == site]
    if scenario in ("switchover", "failover"):
        if not peers:
            raise DrillRefused(f"{scenario} needs a same-city standby of {primary}; there is none")
        target = peers[0]
        rest = [c for c in centers if c not in (primary, target)]
        lost = [primary] if scenario == "failover" else []
        return DrillPlan(scenario, PLAYBOOKS[scenario], primary, target, rest, lost)
    if scenario == "remote-failover":
        remote = [c for c in centers if _site(section, c) != site]
        if not remote:
            raise DrillRefused(f"no center outside {site} to take over")
        preferred = str(section.get("remote_center", ""))
        target = preferred if preferred in remote else remote[0]
        lost = [primary, *peers]
        rest = [c for c in centers if c not in (*lost, target)]
        return DrillPlan(scenario, PLAYBOOKS[scenario], primary, target, rest, lost)
    home = str(section.get("home_center") or centers[0])
    rest = [c for c in centers if c not in (primary, home)]
    return DrillPlan(scenario, PLAYBOOKS[scenario], primary, home, rest, [], bool(peers))


@contextlib.contextmanager
def _drill_lock(lab_dir: Path) -> Iterator[None]:
    """One drill at a time per lab: two would fence each other's primaries."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    with (lab_dir / "drill.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DrillRefused("another drill is running on this DR lab") from None
        yield


def new_run_id(scenario: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{scenario}-{secrets.token_hex(3)}"


def run_drill(
    section: Mapping[str, Any],
    scenario: str,
    targets: DrillTargets,
    *,
    on_event: Callable[[runner.RunEvent], None] | None = None,
    cancel: threading.Event | None = None,
    run_id: str | None = None,
    plan: DrillPlan | None = None,
) -> dict[str, Any]:
    """Run one drill end to end and return its report (also when it fails or is interrupted)."""
    run_id = run_id or new_run_id(scenario)
    lab_dir = Path(str(section["lab_dir"]))
    with _drill_lock(lab_dir):
        plan = plan or make_plan(section, scenario)
        started = time.time()
        clusters = list(section["clusters"].values())
        writer = HeartbeatWriter(multihost_conninfo(clusters, section["database"], section["user"]), run_id)
        writer.start()
        result: runner.RunResult | None = None
        interrupted = False
        events: list[runner.RunEvent] = []

        def collect(event: runner.RunEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        try:
            result = runner.run(
                plan.playbook,
                {
                    "dr_control_hosts": "localhost",
                    "dr_lab_dir": str(lab_dir),
                    "drill_run_id": run_id,
                    "dr_primary": plan.primary,
                    "dr_target": plan.target,
                    "dr_followers": plan.followers,
                    "dr_lost": plan.lost,
                    "dr_primary_has_peer": plan.primary_has_peer,
                    "dr_confirmed": True,
                },
                on_event=collect,
                cancel=cancel,
            )
            interrupted = result.status == "canceled"
        except KeyboardInterrupt:
            interrupted = True
        finally:
            writer.stop()
        safe = pgops.safe_state(section, plan.target)
        return _report(section, plan, targets, run_id, started, writer, result, events, interrupted, safe)


def _first(results: list[dict[str, Any]], action: str, key: str) -> Any:
    for res in results:
        if res.get("action") == action and res.get(key) is not None:
            return res[key]
    return None


def _measure(
    section: Mapping[str, Any],
    plan: DrillPlan,
    run_id: str,
    writer: HeartbeatWriter,
    results: list[dict[str, Any]],
    new_primary: str | None,
) -> dict[str, Any]:
    fault_at = _first(results, "fence", "fault_at") or _first(results, "stop_primary", "fault_at")
    preflight_lag = _first(results, "preflight", "lag") or {}
    remote = str(section.get("remote_center", ""))
    remote_lag = preflight_lag.get(remote, {})
    acks = list(writer.acks)
    m: dict[str, Any] = {
        "fault_at": fault_at,
        "promoted_at": _first(results, "fence", "promoted_at") or _first(results, "stop_primary", "promoted_at"),
        "rows_acknowledged": len(acks),
        "heartbeat_errors": writer.errors,
        "remote_lag_bytes": remote_lag.get("bytes"),
        "remote_lag_s": remote_lag.get("s"),
        "rto_s": None,
        "write_gap_s": None,
        "rows_lost": None,
        "lost_ids": [],
        "data_loss_window_s": None,
        "synchronous_standby_names": None,
    }
    if new_primary is None:
        return m
    cluster = section["clusters"][new_primary]
    present = verify.present_ids(cluster, run_id)
    lost = sorted(a.id for a in acks if a.id not in present)
    m["rows_lost"] = len(lost)
    m["lost_ids"] = lost[:50]
    lost_set = set(lost)
    lost_times = [a.at for a in acks if a.id in lost_set]
    m["data_loss_window_s"] = round(max(lost_times) - min(lost_times) + writer.interval_s, 3) if lost_times else 0.0
    m["synchronous_standby_names"] = pgops.statuses(section)[new_primary].get("synchronous_standby_names")
    if fault_at is not None:
        before = [a for a in acks if a.at <= fault_at]
        after = [a for a in acks if a.at > fault_at and a.port == int(cluster["port"])]
        if after:
            m["rto_s"] = round(after[0].at - fault_at, 3)
            m["write_gap_s"] = round(after[0].at - before[-1].at, 3) if before else None
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
    section: Mapping[str, Any],
    plan: DrillPlan,
    targets: DrillTargets,
    run_id: str,
    started: float,
    writer: HeartbeatWriter,
    result: runner.RunResult | None,
    events: list[runner.RunEvent],
    interrupted: bool,
    safe: dict[str, Any],
) -> dict[str, Any]:
    results = result.results("ganyun_drill") if result is not None else []
    primaries = list(safe["primaries"])
    new_primary = primaries[0] if len(primaries) == 1 else None
    measurements = _measure(section, plan, run_id, writer, results, new_primary)
    verification = verify.verify(section, new_primary) if new_primary else {"equal": False, "centers": {}}
    steps = _steps(events)
    failed_stages = [s["stage"] for s in steps if s["status"] == "failed"]
    ran_ok = result is not None and result.ok and not interrupted
    checks = _checks(plan, targets, measurements, verification, ran_ok)
    if interrupted:
        status = "interrupted"
    elif not ran_ok and failed_stages and failed_stages[0] in ("guard", "preflight"):
        status = "refused"
    elif ran_ok and all(c["met"] for c in checks):
        status = "passed"
    else:
        status = "failed"
    message = result.failure() if result is not None and not result.ok else ""
    roles = {c: s["role"] for c, s in pgops.statuses(section).items()}
    return {
        "run_id": run_id,
        "scenario": plan.scenario,
        "status": status,
        "passed": status == "passed",
        "started_at": started,
        "finished_at": time.time(),
        "duration_s": round(time.time() - started, 3),
        "plan": plan.to_dict(),
        "primary_before": plan.primary,
        "primary_after": new_primary or "",
        "targets": {"rto_s": targets.rto_s, "rpo_rows": targets.rpo_rows, "rpo_s": targets.rpo_s},
        "measurements": measurements,
        "verification": verification,
        "checks": checks,
        "systems": _systems(targets, measurements),
        "steps": steps,
        "safe_state": safe,
        "final_roles": roles,
        "writable_primaries": primaries,
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
