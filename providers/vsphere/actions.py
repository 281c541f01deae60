"""Changes to VMs (power, snapshots, custom attributes) and datastore file downloads.

vSphere answers a change with a Task; `wait_task` polls its state through the property
collector with a growing pause until it succeeds, fails or the deadline passes. Power changes
are idempotent: asking for the state a VM is already in succeeds.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from pyVmomi import vim, vmodl

from providers.boundary import for_status
from providers.errors import BadResponse, NotFound, ProviderError, Unavailable
from providers.vsphere.errors import vsphere_boundary
from providers.vsphere.session import Session

PC = vmodl.query.PropertyCollector
DOWNLOAD_CHUNK = 1 << 20


def vm_ref(session: Session, moid: str) -> Any:
    return vim.VirtualMachine(moid, session.stub())


def wait_task(session: Session, call: str, start: Callable[[Any], Any], timeout_s: float) -> Any:
    """Start a task (start(content) -> Task) and wait for it; its result, or its fault raised."""
    task = session.call(call, start)
    deadline = time.monotonic() + timeout_s
    pause = 0.05
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=task, skip=False)],
        propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error", "info.result"])],
    )
    while True:
        result = session.call(
            call, lambda content: content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        )
        props = {p.name: p.val for p in (result.objects[0].propSet if result and result.objects else [])}
        state = str(props.get("info.state", ""))
        if state == "success":
            return props.get("info.result")
        if state == "error":
            error = props.get("info.error")
            fault = getattr(error, "fault", None)
            with vsphere_boundary(session.provider, call):
                if isinstance(fault, Exception):
                    raise fault
                raise ProviderError(session.provider, call, str(getattr(error, "localizedMessage", "task failed")))
        if time.monotonic() > deadline:
            raise Unavailable(session.provider, call, f"task still {state or 'unknown'} after {timeout_s:.0f}s")
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def _power_state(session: Session, call: str, moid: str) -> str:
    spec = PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=vm_ref(session, moid), skip=False)],
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["runtime.powerState"])],
    )
    result = session.call(
        call, lambda content: content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
    )
    props = {p.name: p.val for p in (result.objects[0].propSet if result and result.objects else [])}
    return str(props.get("runtime.powerState", ""))


def set_power(session: Session, moid: str, on: bool, timeout_s: float) -> None:
    call = "start_node" if on else "stop_node"
    wanted = "poweredOn" if on else "poweredOff"
    if _power_state(session, call, moid) == wanted:
        return
    try:
        wait_task(session, call, lambda _c: vm_ref(session, moid).PowerOn() if on else vm_ref(session, moid).PowerOff(),
                  timeout_s)  # fmt: skip
    except ProviderError as exc:
        # Someone else got there between the check and the task: the state is what was asked.
        if "InvalidPowerState" not in str(exc) or _power_state(session, call, moid) != wanted:
            raise


def create_snapshot(session: Session, moid: str, name: str, timeout_s: float) -> str:
    """A disk-only snapshot (no memory, no quiescing: the simulator and powered-off VMs
    have no guest to quiesce); the snapshot's moref id."""
    result = wait_task(
        session,
        "create_snapshot",
        lambda _c: vm_ref(session, moid).CreateSnapshot(name=name, description="ganyun", memory=False, quiesce=False),
        timeout_s,
    )
    return str(getattr(result, "_moId", "") or "")


def remove_snapshot(session: Session, snapshot_id: str, timeout_s: float) -> None:
    ref = vim.vm.Snapshot(snapshot_id, session.stub())
    wait_task(session, "delete_image", lambda _c: ref.RemoveSnapshot_Task(removeChildren=False), timeout_s)


def destroy(session: Session, moid: str, timeout_s: float) -> None:
    wait_task(session, "destroy_node", lambda _c: vm_ref(session, moid).Destroy(), timeout_s)


def set_attributes(session: Session, moid: str, values: Mapping[str, str], names: Mapping[str, str]) -> None:
    """Custom attribute values on a VM; `names` maps tag keys to this vCenter's attribute
    names (department -> 单位). An attribute that does not exist yet is created."""

    def run(content: Any) -> None:
        manager = content.customFieldsManager
        defs = {str(f.name): int(f.key) for f in manager.field or []}
        vm = vm_ref(session, moid)
        for key, value in values.items():
            name = names.get(key, key)
            if name not in defs:
                defs[name] = int(manager.AddCustomFieldDef(name=name, moType=vim.VirtualMachine).key)
            manager.SetField(entity=vm, key=defs[name], value=str(value))

    session.call("set_node_metadata", run)


def download(
    session: Session, datacenter_path: str, datastore: str, path: str, dest: str | os.PathLike[str],
    verify: bool | str, timeout_s: float,
) -> int:  # fmt: skip
    """GET /folder/<path>?dcPath=..&dsName=.. with the session cookie, streamed to `dest`
    (written to a temporary name and renamed, so `dest` is never half a file). Bytes written."""
    call = "download_datastore_file"
    e = session.endpoint
    url = f"https://{e.host}:{e.port}/folder/{urllib.parse.quote(path.lstrip('/'))}?" + urllib.parse.urlencode(
        {"dcPath": datacenter_path, "dsName": datastore}
    )
    target = Path(dest)
    tmp = target.with_name(f".{target.name}.part")
    for attempt in (1, 2):
        with vsphere_boundary(session.provider, call):
            response = requests.get(
                url, headers={"Cookie": session.cookie()}, stream=True, verify=verify, timeout=timeout_s
            )
        with response:
            if response.status_code == 401 and attempt == 1:
                session.relogin()  # the session expired: once more with a new one
                continue
            if response.status_code == 404:
                raise NotFound(session.provider, call, f"no file [{datastore}] {path}")
            if response.status_code != 200:
                raise for_status(session.provider, call, response.status_code, response.reason or "")
            written = 0
            with vsphere_boundary(session.provider, call):
                target.parent.mkdir(parents=True, exist_ok=True)
                with tmp.open("wb") as handle:
                    for chunk in response.iter_content(DOWNLOAD_CHUNK):
                        handle.write(chunk)
                        written += len(chunk)
                expected = response.headers.get("Content-Length")
                if expected is not None and int(expected) != written:
                    tmp.unlink(missing_ok=True)
                    raise BadResponse(session.provider, call, f"truncated: {written} of {expected} bytes")
                os.replace(tmp, target)
            return written
    raise ProviderError(session.provider, call, "refused twice")


__all__ = [
    "create_snapshot",
    "destroy",
    "download",
    "remove_snapshot",
    "set_attributes",
    "set_power",
    "wait_task",
]
