"""The migration run engine: plan -> Ansible runs -> per-VM, per-step records in the inventory.

One run is one plan (optionally one wave). Running the same plan again resumes its open run:
steps already done are passed to the playbook as `mig_done` and skipped, with the state they
produced (snapshot ids, target node id, checksums). A failed VM is rolled back by the
playbook's rescue and starts from the beginning next time; a VM whose run was killed
continues from its last completed step.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from inventory.config import GanyunConfig
from inventory.migration_models import MigrationRun, MigrationStep, MigrationVm
from inventory.plan_schema import Plan, PlanItem, parse_plan
from inventory.store import Store
from playbooks import runner
from playbooks.migration_steps import STEPS, checkpoint_for, flow_of
from providers.errors import ConfigError, PlaybookError

PLAYBOOK_DIR = Path(__file__).resolve().parent
# One playbook per flow (playbooks/migration_steps: STEPS), and the two single-step ones.
PLAYBOOKS = {
    "rehost": "migrate_rehost.yml",
    "rehost-disks": "migrate_rehost_disks.yml",
    "replatform": "migrate_replatform.yml",
    "revert": "migrate_rollback.yml",
    "finalize": "migrate_finalize.yml",
}
PROGRESS_EVERY_S = 1.0
OPEN_RUN_STATES = ("open", "running", "partial", "failed")
FAIL_TASK = "ganyun migration failed"
STEP_TASK = "ganyun step "  # roles/migrate_vm names each module task so
CONFIGURE_DONE_TASK = "configure: done"

ProgressCallback = Callable[["VmProgress"], None]


@dataclass(frozen=True, slots=True)
class VmProgress:
    key: str
    name: str
    strategy: str
    status: str
    step: str
    message: str = ""
    flow: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def plan_digest(plan: Plan) -> str:
    """Identity of a plan's content (not its creation time): the same plan resumes the same run."""
    body = plan.model_dump(mode="json", exclude={"created_at"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def host_name(item_key: str) -> str:
    """An Ansible-safe inventory name for a VM key (provider/id)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", item_key)


# --------------------------------------------------------------------------- runs


def open_run(store: Store, plan: Plan, wave: int | None, actor: str = "") -> tuple[int, bool]:
    """(run id, resumed): the open run of this plan and wave, else a new one with its steps."""
    items = plan.wave_items(wave)
    if wave is not None and not items:
        raise ConfigError(f"--wave {wave}: the plan has no VMs in that wave")
    digest = plan_digest(plan)
    now = _now()
    with store.write_lock, store.session() as session:
        existing = session.scalars(
            select(MigrationRun)
            .where(MigrationRun.plan_digest == digest, MigrationRun.status.in_(OPEN_RUN_STATES))
            .where(MigrationRun.wave.is_(None) if wave is None else MigrationRun.wave == wave)
            .order_by(MigrationRun.id.desc())
        ).first()
        if existing is not None:
            return existing.id, True
        run = MigrationRun(
            created_at=now,
            updated_at=now,
            target=plan.target,
            wave=wave,
            plan_digest=digest,
            plan=plan.model_dump(mode="json"),
            status="open",
            actor=actor,
            summary={},
        )
        session.add(run)
        session.flush()
        for item in items:
            session.add(
                MigrationVm(
                    run_id=run.id,
                    item_key=item.key,
                    name=item.name,
                    system=item.system,
                    strategy=item.strategy,
                    wave=item.wave,
                    source_provider=item.source_provider,
                    source_id=item.source_id,
                    target_provider=item.target_provider,
                    status="pending",
                    state={},
                    updated_at=now,
                )
            )
            for seq, step in enumerate(STEPS[flow_of(item.model_dump(mode="json"))]):
                session.add(MigrationStep(run_id=run.id, item_key=item.key, seq=seq, step=step, status="pending"))
        return run.id, False


def load_run_plan(store: Store, run_id: int) -> tuple[MigrationRun, Plan]:
    with store.session() as session:
        run = session.get(MigrationRun, run_id)
        if run is None:
            raise ConfigError(f"no migration run {run_id}")
        session.expunge(run)
    return run, parse_plan(run.plan, f"run {run_id}")


# --------------------------------------------------------------------------- recording


class _Recorder:
    """Turns ansible-runner events into step and VM records (called from the runner's thread)."""

    def __init__(self, store: Store, run_id: int, keys: Mapping[str, PlanItem], on_progress: ProgressCallback | None):
        self.store = store
        self.run_id = run_id
        self.items = {host_name(k): item for k, item in keys.items()}
        self.flows = {k: flow_of(item.model_dump(mode="json")) for k, item in keys.items()}
        self.on_progress = on_progress

    def __call__(self, event: Any) -> None:
        kind, host, task, res = _event_parts(event)
        item = self.items.get(host)
        if item is None or kind not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
            return
        step = str(res.get("step") or ("configure" if task.startswith("configure:") else ""))
        if not step and task.startswith(STEP_TASK):
            step = task.removeprefix(STEP_TASK)  # a module that crashed returns no `step`
        if kind == "runner_on_ok":
            if step == "configure" and task != CONFIGURE_DONE_TASK:
                return
            if step:
                self._ok(item, step, res.get("state"))
        elif task == FAIL_TASK:
            self._vm(item, status="failed", message=_clean(res.get("msg")))
        else:
            self._failed(item, step or task, _clean(res.get("msg")), res.get("state"))

    def _vm(self, item: PlanItem, **fields: Any) -> MigrationVm | None:
        with self.store.write_lock, self.store.session() as session:
            vm = self._vm_row(session, item)
            if vm is None:
                return None
            for name, value in fields.items():
                setattr(vm, name, value)
            vm.updated_at = _now()
            session.flush()
            session.expunge(vm)
        self._emit(vm)
        return vm

    def _emit(self, vm: MigrationVm) -> None:
        if self.on_progress is not None:
            flow = self.flows.get(vm.item_key, vm.strategy)
            progress = VmProgress(vm.item_key, vm.name, vm.strategy, vm.status, vm.current_step, vm.message, flow)
            self.on_progress(progress)

    def note(self, item: PlanItem, step: str, note: str) -> None:
        """A running step's latest progress (from its checkpoint) as the VM's message."""
        with self.store.write_lock, self.store.session() as session:
            vm = self._vm_row(session, item)
            if vm is None or vm.status != "running" or vm.current_step != step:
                return
            vm.message = _clean(note)
            vm.updated_at = _now()
            session.flush()
            session.expunge(vm)
        self._emit(vm)

    def _vm_row(self, session: Any, item: PlanItem) -> MigrationVm | None:
        row: MigrationVm | None = session.scalars(
            select(MigrationVm).where(MigrationVm.run_id == self.run_id, MigrationVm.item_key == item.key)
        ).first()
        return row

    def _steps(self, session: Any, item: PlanItem) -> list[MigrationStep]:
        return list(
            session.scalars(
                select(MigrationStep)
                .where(MigrationStep.run_id == self.run_id, MigrationStep.item_key == item.key)
                .order_by(MigrationStep.seq)
            )
        )

    def _ok(self, item: PlanItem, step: str, state: Any) -> None:
        now = _now()
        new_state = dict(state) if isinstance(state, Mapping) else None
        with self.store.write_lock, self.store.session() as session:
            vm = self._vm_row(session, item)
            if vm is None:
                return
            if new_state is not None:
                vm.state = new_state
                vm.target_id = str(new_state.get("target_id") or "")
            steps = self._steps(session, item)
            if step in ("rollback", "revert"):
                for s in steps:
                    # A failed step stays "failed": it shows where the move broke.
                    if s.status in ("ok", "running"):
                        s.status = "rolled_back"
                vm.status, vm.current_step = "rolled_back", ""
            elif step == "finalize":
                vm.status, vm.current_step = "finalized", ""
            elif step != "prepare":
                remarks = (new_state or {}).get("remarks") or {}
                for s in steps:
                    if s.step == step:
                        s.status, s.finished_at, s.message = "ok", now, _clean(remarks.get(step))
                        s.started_at = s.started_at or now
                        s.data = _public(new_state or {})
                pending = [s for s in steps if s.status != "ok"]
                if pending:
                    pending[0].status, pending[0].started_at = "running", now
                    vm.status, vm.current_step = "running", pending[0].step
                else:
                    vm.status, vm.current_step = "cut_over", ""
            else:
                vm.status = "running"
                first = next((s for s in steps if s.status != "ok"), None)
                if first is not None:
                    first.status, first.started_at = "running", now
                    vm.current_step = first.step
            # What the operator should know once it is done (placed elsewhere, address changed).
            remarks = (vm.state or {}).get("remarks") or {}
            vm.message = _clean("; ".join(f"{k}: {v}" for k, v in remarks.items())) if vm.status == "cut_over" else ""
            vm.updated_at = now
            session.flush()
            session.expunge(vm)
        self._emit(vm)

    def _failed(self, item: PlanItem, step: str, message: str, state: Any) -> None:
        now = _now()
        with self.store.write_lock, self.store.session() as session:
            vm = self._vm_row(session, item)
            if vm is None:
                return
            if isinstance(state, Mapping):
                vm.state = {**vm.state, **dict(state)}
            for s in self._steps(session, item):
                if s.step == step:
                    s.status, s.finished_at, s.message = "failed", now, message
            vm.status = "failed" if step not in ("rollback", "revert") else "rollback_failed"
            vm.current_step, vm.message, vm.updated_at = step, message, now
            session.flush()
            session.expunge(vm)
        self._emit(vm)


def _event_parts(event: Any) -> tuple[str, str, str, Mapping[str, Any]]:
    """(event, host, task, result) from a playbooks.runner RunEvent or a raw ansible-runner event."""
    if hasattr(event, "result"):
        res = dict(event.result)
        res.setdefault("msg", event.msg)
        return str(event.event), str(event.host), str(event.task), res
    data: Mapping[str, Any] = event.get("event_data") or {}
    raw = data.get("res")
    return (
        str(event.get("event", "")),
        str(data.get("host", "")),
        str(data.get("task", "")),
        raw if isinstance(raw, Mapping) else {},
    )


def _clean(message: Any) -> str:
    """One line, bounded; module messages never carry secrets but may carry long HTTP bodies."""
    return " ".join(str(message or "").split())[:500]


def _public(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.endswith("_path") and k != "work"}


# --------------------------------------------------------------------------- running


def _workdir(config: GanyunConfig) -> Path:
    raw = str(config.migration.get("workdir") or ".ganyun/migration")
    path = config.resolve_path(raw).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run_playbook(
    playbook: str, extravars: dict[str, Any], inventory: dict[str, Any], on_event: Callable[[Any], Any]
) -> str:
    """Through playbooks/runner.py, the one runner: it marks every variable unsafe for Ansible."""
    forks = max(1, min(20, len(inventory["all"]["children"]["migrate_vms"]["hosts"])))
    result = runner.run(PLAYBOOK_DIR / playbook, extravars, inventory, on_event, envvars={"ANSIBLE_FORKS": str(forks)})
    return result.status


@contextmanager
def _watching(recorder: _Recorder, items: Sequence[PlanItem], workdir: Path, run_id: int) -> Iterator[None]:
    """While a playbook runs: each second, the progress notes its steps write to their
    checkpoints become the VMs' messages (`migrate status`, the progress bars)."""
    stop = threading.Event()
    seen: dict[str, tuple[str, str]] = {}

    def watch() -> None:
        while not stop.wait(PROGRESS_EVERY_S):
            for item in items:
                progress = checkpoint_for(workdir, run_id, item.model_dump(mode="json")).progress()
                if progress is None or not progress.note or seen.get(item.key) == (progress.step, progress.note):
                    continue
                seen[item.key] = (progress.step, progress.note)
                recorder.note(item, progress.step, progress.note)

    thread = threading.Thread(target=watch, name="migration-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _inventory(
    items: Sequence[PlanItem], vms: Mapping[str, MigrationVm], done: Mapping[str, list[str]]
) -> dict[str, Any]:
    hosts = {}
    for item in items:
        vm = vms[item.key]
        hosts[host_name(item.key)] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "mig_item": item.model_dump(mode="json"),
            "mig_state": dict(vm.state),
            "mig_done": done.get(item.key, []),
        }
    return {"all": {"children": {"migrate_vms": {"hosts": hosts}}}}


def _vms(store: Store, run_id: int) -> tuple[dict[str, MigrationVm], dict[str, list[str]]]:
    with store.session() as session:
        vms = {vm.item_key: vm for vm in session.scalars(select(MigrationVm).where(MigrationVm.run_id == run_id))}
        for vm in vms.values():
            session.expunge(vm)
        done: dict[str, list[str]] = {}
        for s in session.scalars(
            select(MigrationStep).where(MigrationStep.run_id == run_id, MigrationStep.status == "ok")
        ):
            done.setdefault(s.item_key, []).append(s.step)
    return vms, done


def _set_run(store: Store, run_id: int, status: str, summary: dict[str, Any] | None = None) -> None:
    with store.write_lock, store.session() as session:
        run = session.get(MigrationRun, run_id)
        if run is not None:
            run.status = status
            run.updated_at = _now()
            if summary is not None:
                run.summary = summary


def _extravars(config: GanyunConfig, config_file: Path, run_id: int) -> dict[str, Any]:
    """What every migration playbook (move, revert, finalize) needs to find the run and its files."""
    return {
        "ganyun_config": str(config_file.resolve()),
        "ganyun_run_id": run_id,
        "ganyun_workdir": str(_workdir(config)),
        "ganyun_hosts": "migrate_vms",
    }


def execute(
    config: GanyunConfig,
    config_file: Path,
    store: Store,
    run_id: int,
    *,
    on_progress: ProgressCallback | None = None,
    faults: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) every VM of the run that is not cut over yet; returns the run summary."""
    _, plan = load_run_plan(store, run_id)
    vms, done = _vms(store, run_id)
    items = [i for i in plan.items if i.key in vms and vms[i.key].status not in ("cut_over", "finalized")]
    _set_run(store, run_id, "running")
    recorder = _Recorder(store, run_id, {i.key: i for i in items}, on_progress)
    extravars = {
        **_extravars(config, config_file, run_id),
        "ganyun_faults": [f for f in faults if config.lab],  # fault injection is a lab feature only
    }
    workdir = Path(extravars["ganyun_workdir"])
    for flow in STEPS:
        batch = [i for i in items if flow_of(i.model_dump(mode="json")) == flow]
        if batch:
            with _watching(recorder, batch, workdir, run_id):
                _run_playbook(PLAYBOOKS[flow], extravars, _inventory(batch, vms, done), recorder)
    return _finish(store, run_id)


def _finish(store: Store, run_id: int) -> dict[str, Any]:
    vms, _ = _vms(store, run_id)
    counts: dict[str, int] = {}
    for vm in vms.values():
        counts[vm.status] = counts.get(vm.status, 0) + 1
    total = len(vms)
    if counts.get("finalized", 0) == total:
        status = "finalized"
    elif counts.get("cut_over", 0) + counts.get("finalized", 0) == total:
        status = "completed"
    elif counts.get("rolled_back", 0) == total:
        status = "rolled_back"
    elif counts.get("cut_over", 0):
        status = "partial"
    else:
        status = "failed"
    summary = {"vms": total, "by_status": counts}
    _set_run(store, run_id, status, summary)
    return {"run_id": run_id, "status": status, **summary}


def _single(
    config: GanyunConfig,
    config_file: Path,
    store: Store,
    run_id: int,
    action: str,
    wanted: Sequence[str],
    on_progress: ProgressCallback | None,
) -> dict[str, Any]:
    _, plan = load_run_plan(store, run_id)
    vms, done = _vms(store, run_id)
    items = [i for i in plan.items if i.key in vms and vms[i.key].status in wanted]
    if not items:
        raise ConfigError(f"run {run_id}: no VM in state {' or '.join(wanted)} to {action}")
    recorder = _Recorder(store, run_id, {i.key: i for i in items}, on_progress)
    _run_playbook(PLAYBOOKS[action], _extravars(config, config_file, run_id), _inventory(items, vms, done), recorder)
    summary = _finish(store, run_id)
    if action == "revert" and any(v.status == "rollback_failed" for v in _vms(store, run_id)[0].values()):
        raise PlaybookError(f"run {run_id}: rollback failed for some VMs (see `ganyun migrate status`)")
    return summary


def rollback_run(
    config: GanyunConfig, config_file: Path, store: Store, run_id: int, on_progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Bring the sources back: for VMs cut over, failed or interrupted in this run."""
    return _single(config, config_file, store, run_id, "revert", ("cut_over", "failed", "running"), on_progress)


def finalize_run(
    config: GanyunConfig, config_file: Path, store: Store, run_id: int, on_progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Delete the sources of VMs that are cut over (only after the operator said so)."""
    return _single(config, config_file, store, run_id, "finalize", ("cut_over",), on_progress)


# --------------------------------------------------------------------------- status


def list_runs(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    with store.session() as session:
        runs = session.scalars(select(MigrationRun).order_by(MigrationRun.id.desc()).limit(limit))
        return [
            {
                "run_id": r.id,
                "created_at": r.created_at.isoformat() if r.created_at else "",
                "target": r.target,
                "wave": r.wave,
                "status": r.status,
                "actor": r.actor,
                "summary": r.summary,
            }
            for r in runs
        ]


def run_status(store: Store, run_id: int | None = None) -> dict[str, Any]:
    """One run (the latest when not given): its VMs with their current step and step records."""
    with store.session() as session:
        if run_id is None:
            run = session.scalars(select(MigrationRun).order_by(MigrationRun.id.desc())).first()
            if run is None:
                return {"run_id": None, "vms": []}
        else:
            run = session.get(MigrationRun, run_id)
            if run is None:
                raise ConfigError(f"no migration run {run_id}")
        steps: dict[str, list[dict[str, Any]]] = {}
        for s in session.scalars(
            select(MigrationStep)
            .where(MigrationStep.run_id == run.id)
            .order_by(MigrationStep.item_key, MigrationStep.seq)
        ):
            steps.setdefault(s.item_key, []).append(
                {"step": s.step, "status": s.status, "message": s.message, "finished_at": _iso(s.finished_at)}
            )
        vms = [
            {
                "key": vm.item_key,
                "name": vm.name,
                "system": vm.system,
                "strategy": vm.strategy,
                "wave": vm.wave,
                "source": f"{vm.source_provider}/{vm.source_id}",
                "target": f"{vm.target_provider}/{vm.target_id}" if vm.target_id else vm.target_provider,
                "status": vm.status,
                "step": vm.current_step,
                "done": sum(1 for s in steps.get(vm.item_key, []) if s["status"] == "ok"),
                "total": len(steps.get(vm.item_key, [])),
                "message": vm.message,
                "addresses": _addresses(vm.state),
                "steps": steps.get(vm.item_key, []),
            }
            for vm in session.scalars(select(MigrationVm).where(MigrationVm.run_id == run.id).order_by(MigrationVm.id))
        ]
        return {
            "run_id": run.id,
            "created_at": _iso(run.created_at),
            "target": run.target,
            "wave": run.wave,
            "status": run.status,
            "summary": run.summary,
            "vms": vms,
        }


def _addresses(state: Mapping[str, Any]) -> dict[str, Any]:
    """Where the VM answered before the move and where it answers after: fixed and floating IPs."""
    empty: dict[str, list[str]] = {"fixed": [], "floating": []}
    before = state.get("addresses_before") or {}
    after = state.get("addresses_after") or {}
    return {
        "service": str(state.get("service_address") or ""),
        "before": {**empty, **before} if isinstance(before, Mapping) else empty,
        "after": {**empty, **after} if isinstance(after, Mapping) else empty,
    }


def addresses_text(addresses: Mapping[str, Any]) -> str:
    """before -> after, floating IPs starred: "10.10.0.12 100.64.0.16* -> 10.14.0.20 100.64.0.16*"."""

    def side(found: Mapping[str, Any]) -> str:
        return " ".join([*found.get("fixed", []), *(f"{a}*" for a in found.get("floating", []))])

    before, after = side(addresses.get("before") or {}), side(addresses.get("after") or {})
    return f"{before} -> {after}" if after else before


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def involved_providers(store: Store, run_id: int) -> list[str]:
    vms, _ = _vms(store, run_id)
    return sorted({v.source_provider for v in vms.values()} | {v.target_provider for v in vms.values()})
