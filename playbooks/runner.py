"""The one ansible-runner wrapper: run a playbook, turn its events into progress and a result.

Used by the DR drills and by migration. Callers get a RunResult (rc, status, per-host stats,
events) and may follow progress through `on_event`. Secrets: extra variables go to a 0600
file in a private directory removed after the run (never on the command line), results of
`no_log` tasks are dropped, and the values of `secret_vars` are masked in every event.

Data, not code: every string in the extra variables and in the host and group variables of
an inventory given as a dict reaches Ansible marked unsafe, so nothing a cloud or a tenant
wrote (a VM name, a tag) is ever templated. Playbooks take their templates from their own
files only. Rendered files run values through the `ganyun_escape` filter (filter_plugins/).

Task names may start with a stage tag, `[preflight] check replication`: the tag becomes
RunEvent.stage so a progress bar can advance per stage without knowing the playbook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inventory.tenant_text import ansible_unsafe, plain_host_name, unsafe_inventory
from providers.errors import PlaybookError

PLAYBOOK_DIR = Path(__file__).resolve().parent
MASK = "********"
_STAGE = re.compile(r"^\[(?P<stage>[A-Za-z0-9_.-]+)\]\s*")
# Events worth a callback; the verbose/debug ones only cost time.
_TASK_EVENTS = {
    "playbook_on_play_start",
    "playbook_on_task_start",
    "runner_on_ok",
    "runner_on_failed",
    "runner_on_skipped",
    "runner_on_unreachable",
    "runner_item_on_ok",
    "runner_item_on_failed",
    "playbook_on_stats",
}
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One Ansible event, reduced to what progress displays and run records need."""

    event: str
    created: float
    host: str = ""
    task: str = ""
    stage: str = ""
    role: str = ""
    action: str = ""
    changed: bool = False
    failed: bool = False
    msg: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "created": self.created,
            "host": self.host,
            "task": self.task,
            "stage": self.stage,
            "role": self.role,
            "action": self.action,
            "changed": self.changed,
            "failed": self.failed,
            "msg": self.msg,
            "result": dict(self.result),
        }


@dataclass(slots=True)
class RunResult:
    playbook: str
    rc: int
    status: str  # successful | failed | canceled | timeout
    stats: dict[str, dict[str, int]]
    events: list[RunEvent]
    started_at: float
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.rc == 0 and self.status == "successful"

    def results(self, key: str) -> list[dict[str, Any]]:
        """The `key` entry of every successful task result that has one, in order."""
        out = []
        for ev in self.events:
            if ev.event == "runner_on_ok" and isinstance(ev.result.get(key), Mapping):
                out.append(dict(ev.result[key]))
        return out

    def failure(self) -> str:
        """The message of the first failed task that was not rescued, else of the first one."""
        failed = [e for e in self.events if e.failed]
        if not failed:
            return ""
        first = failed[-1] if self.status == "failed" else failed[0]
        return f"{first.task}: {first.msg}" if first.task else first.msg

    def to_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "rc": self.rc,
            "status": self.status,
            "stats": self.stats,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "events": [e.to_dict() for e in self.events],
        }


def local_inventory(hosts: Iterable[str] = ("localhost",)) -> dict[str, Any]:
    """An inventory of local hosts run by this interpreter (so modules can import ganyun)."""
    return {
        "all": {
            "hosts": {h: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable} for h in hosts}
        }
    }


def _environment(envvars: Mapping[str, str] | None) -> dict[str, str]:
    # ansible-runner starts `ansible-playbook` by name: without the venv's bin on PATH it
    # fails with rc 127.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {
        "PATH": bindir + os.pathsep + path if bindir not in path.split(os.pathsep) else path,
        "ANSIBLE_LIBRARY": str(PLAYBOOK_DIR / "library"),
        "ANSIBLE_ROLES_PATH": str(PLAYBOOK_DIR / "roles"),
        "ANSIBLE_FILTER_PLUGINS": str(PLAYBOOK_DIR / "filter_plugins"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    }
    env.update(envvars or {})
    return env


def _host_names(inventory: Mapping[str, Any]) -> Iterable[str]:
    for body in inventory.values():
        if isinstance(body, Mapping):
            hosts = body.get("hosts")
            if isinstance(hosts, Mapping):
                yield from (str(h) for h in hosts)
            children = body.get("children")
            if isinstance(children, Mapping):
                yield from _host_names(children)


def _inventory_input(inventory: Mapping[str, Any] | str | None) -> Mapping[str, Any] | str:
    """The inventory as ansible-runner takes it, with every variable marked unsafe; host names
    are also paths and patterns, so anything but plain names is refused."""
    if inventory is None:
        inventory = local_inventory()
    if isinstance(inventory, str):
        return inventory
    for host in _host_names(inventory):
        if not plain_host_name(host):
            raise PlaybookError(f"inventory host name {host!r} is not plain letters, digits, '_', '.' or '-'")
    return unsafe_inventory(inventory)


def _mask(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, Mapping):
        return {k: _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, secrets) for v in value]
    return value


def to_event(raw: Mapping[str, Any], secrets: list[str]) -> RunEvent:
    """Reduce a raw ansible-runner event; results of no_log tasks never leave this function."""
    data: Mapping[str, Any] = raw.get("event_data") or {}
    res = data.get("res") if isinstance(data.get("res"), Mapping) else {}
    assert isinstance(res, Mapping)
    censored = bool(res.get("_ansible_no_log")) or "censored" in res
    result = {} if censored else {k: v for k, v in res.items() if not str(k).startswith("_ansible")}
    task = str(data.get("task") or data.get("name") or "")
    match = _STAGE.match(task)
    msg = "" if censored else str(res.get("msg") or res.get("stderr") or "")
    if not msg and raw.get("event") == "runner_on_failed" and censored:
        msg = "(output hidden: no_log)"
    created = _created(raw)
    return RunEvent(
        event=str(raw.get("event", "")),
        created=created,
        host=str(data.get("host") or ""),
        task=_STAGE.sub("", task) if match else task,
        stage=match.group("stage") if match else "",
        role=str(data.get("role") or ""),
        action=str(data.get("task_action") or ""),
        changed=bool(res.get("changed")),
        failed=raw.get("event") in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"),
        msg=_mask(msg, secrets),
        result=_mask(result, secrets),
    )


def _created(raw: Mapping[str, Any]) -> float:
    from datetime import datetime

    stamp = raw.get("created")
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            pass
    return time.time()


def _stats(events: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per-host counters from the playbook_on_stats event (ok, changed, failures, ...)."""
    stats: dict[str, dict[str, int]] = {}
    for raw in events:
        if raw.get("event") != "playbook_on_stats":
            continue
        data = raw.get("event_data") or {}
        for key in STAT_KEYS:
            for host, count in (data.get(key) or {}).items():
                stats.setdefault(host, dict.fromkeys(STAT_KEYS, 0))[key] = int(count)
    return stats


def run(
    playbook: str | os.PathLike[str],
    extravars: Mapping[str, Any] | None = None,
    inventory: Mapping[str, Any] | str | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    *,
    cancel: threading.Event | None = None,
    secret_vars: Iterable[str] = (),
    timeout_s: int | None = None,
    envvars: Mapping[str, str] | None = None,
    limit: str | None = None,
    artifact_dir: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Run one playbook (a name in playbooks/ or a path) and wait for it.

    `inventory` is a dict (YAML inventory structure), an inventory path/script, or None for
    localhost run locally. `cancel` set by another thread stops the run (status canceled).
    `artifact_dir` keeps ansible-runner's artifacts there (secrets masked by Ansible only);
    by default they live in a private temporary directory that is removed.
    """
    import ansible_runner

    path = Path(playbook)
    if not path.is_absolute():
        path = PLAYBOOK_DIR / path
    if not path.is_file():
        raise PlaybookError(f"playbook not found: {path}")
    variables = dict(extravars or {})
    secrets = [str(variables[k]) for k in secret_vars if variables.get(k) not in (None, "")]
    hosts = _inventory_input(inventory)
    private = Path(tempfile.mkdtemp(prefix="ganyun-run-"))
    raw_events: list[Mapping[str, Any]] = []
    events: list[RunEvent] = []

    def handle(raw: Mapping[str, Any]) -> bool:
        raw_events.append(raw)
        if raw.get("event") in _TASK_EVENTS:
            event = to_event(raw, secrets)
            events.append(event)
            if on_event is not None:
                on_event(event)
        # False: do not keep the event on disk, it may hold what we just masked.
        return False

    started = time.time()
    try:
        env_dir = private / "env"
        env_dir.mkdir(mode=0o700)
        extravars_file = env_dir / "extravars"
        fd = os.open(extravars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle_file:
            json.dump(ansible_unsafe(variables), handle_file, ensure_ascii=False)
        runner = ansible_runner.run(
            private_data_dir=str(private),
            playbook=str(path),
            project_dir=str(path.parent),
            inventory=hosts,
            envvars=_environment(envvars),
            event_handler=handle,
            cancel_callback=(lambda: cancel.is_set()) if cancel is not None else None,
            quiet=True,
            limit=limit,
            timeout=timeout_s,
            artifact_dir=str(artifact_dir) if artifact_dir else None,
            rotate_artifacts=0,
            settings={"suppress_ansible_output": True},
        )
        rc = int(runner.rc if runner.rc is not None else -1)
        status = str(runner.status)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if rc == 127:
        raise PlaybookError("ansible-playbook was not found on PATH (rc 127): is the virtualenv's bin on PATH?")
    return RunResult(
        playbook=path.name,
        rc=rc,
        status=status,
        stats=_stats(raw_events),
        events=events,
        started_at=started,
        duration_s=round(time.time() - started, 3),
    )
