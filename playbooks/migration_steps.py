"""The migration steps themselves: what the ganyun_migrate Ansible module does on each task.

Each step takes the plan item and the VM's state so far and returns the new state; every
step is idempotent (a resumed run may repeat the step that was interrupted). Providers are
reached through providers.registry only; credentials are resolved here, inside the module
process, from the vault or environment, and never travel through Ansible variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inventory.assessment import MIGRATED_TAG
from inventory.config import GanyunConfig, load_config
from inventory.tenant_text import path_component
from providers.base import Provider, State
from providers.errors import GanyunError, NotFound, PlaybookError

REHOST_STEPS = ("snapshot", "export", "convert", "import", "boot", "health", "cutover", "stop_source", "cleanup")
REPLATFORM_STEPS = ("boot", "configure", "copy_data", "verify", "health", "cutover", "stop_source", "cleanup")
STEPS = {"rehost": REHOST_STEPS, "replatform": REPLATFORM_STEPS}
# "configure" is the application role's task list in the playbook, not a module step.
MODULE_STEPS = frozenset(REHOST_STEPS + REPLATFORM_STEPS) - {"configure"} | {
    "prepare",
    "rollback",
    "revert",
    "finalize",
}
FROM_TAG = "ganyun_migrated_from"
RUN_TAG = "ganyun_run"
SERVICE_TAG = "service_address"
COPIED_TAGS = ("department", "system", "mlps_level", "owner", "role")
CONFIG_FILE = "app.conf"  # written by the application role on the target, never copied
BOOT_TIMEOUT_S = 120.0
# Disk formats qemu-img reads that a snapshot may come in; the format also names a file.
DISK_FORMATS = frozenset({"qcow2", "raw", "vmdk", "vdi", "vhdx", "qed"})


class StepError(PlaybookError):
    """A step failed; the message names the VM and the step. `state` is what the step had
    done before failing (a half-booted node id), so that the rescue can clean it up."""

    state: dict[str, Any] | None = None


@dataclass(slots=True)
class StepContext:
    config: GanyunConfig
    item: Mapping[str, Any]
    state: dict[str, Any]
    run_id: int
    workdir: Path
    faults: frozenset[str] = frozenset()
    factory: Callable[[str], Provider] | None = None
    _providers: dict[str, Provider] = field(default_factory=dict)

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            if self.factory is not None:
                self._providers[name] = self.factory(name)
            else:
                from inventory.credentials import provider_spec
                from providers.registry import create_provider

                self._providers[name] = create_provider(provider_spec(self.config, self.config.provider(name)))
        return self._providers[name]

    @property
    def source(self) -> Provider:
        return self.provider(str(self.item["source_provider"]))

    @property
    def target(self) -> Provider:
        return self.provider(str(self.item["target_provider"]))

    @property
    def key(self) -> str:
        return f"{self.item['source_provider']}/{self.item['source_id']}"

    def fail(self, step: str, message: str) -> StepError:
        return StepError(f"{self.item.get('name', self.key)}: {step}: {message}")


# --------------------------------------------------------------------------- data paths


def data_dir(config: GanyunConfig, provider: str, node_id: str) -> Path:
    """Where a VM's application data lives: `migration.appdata_dir`, a path with {provider} and {id}."""
    provider = path_component(provider, "provider name")
    node_id = path_component(node_id, "node id")
    template = str(config.migration.get("appdata_dir") or "")
    if not template:
        raise GanyunError("migration.appdata_dir is not configured: cannot locate application data")
    return config.resolve_path(template.format(provider=provider, id=node_id))


def _source_data(ctx: StepContext) -> Path:
    path = data_dir(ctx.config, str(ctx.item["source_provider"]), str(ctx.item["source_id"]))
    if not path.exists():
        raise ctx.fail("copy_data", f"source data directory {path} does not exist")
    return path


def sm3_digest(data: bytes) -> str:
    try:
        from security.sm import sm3
    except ImportError:
        return hashlib.new("sm3", data).hexdigest()
    return sm3(data).hex()


def manifest(root: Path) -> dict[str, str]:
    """SM3 of every data file under root (the role-managed config excluded)."""
    out: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != CONFIG_FILE:
            out[rel] = sm3_digest(path.read_bytes())
    return out


def manifest_digest(files: Mapping[str, str]) -> str:
    return sm3_digest("\n".join(f"{k} {v}" for k, v in sorted(files.items())).encode())


# --------------------------------------------------------------------------- helpers


def _wait(ctx: StepContext, provider: Provider, node_id: str, wanted: State, step: str) -> Any:
    deadline = time.monotonic() + float(ctx.config.migration.get("boot_timeout_s", BOOT_TIMEOUT_S))
    delay = 0.2
    while True:
        node = provider.get_node(node_id)
        if node.state == wanted:
            return node
        if node.state == State.ERROR:
            fault = node.extra.get("fault") if isinstance(node.extra, Mapping) else None
            detail = str(fault.get("message", "") if isinstance(fault, Mapping) else fault or "")
            raise ctx.fail(step, f"node {node_id} went to ERROR {detail}".strip())
        if time.monotonic() > deadline:
            raise ctx.fail(step, f"node {node_id} still {node.state.value} after the timeout")
        time.sleep(delay)
        delay = min(2.0, delay * 1.5)


def _ignore_missing(call: Callable[[], Any]) -> None:
    """Cleanup must be re-runnable: something already gone is fine."""
    with contextlib.suppress(NotFound):
        call()


def _qemu_img() -> str:
    exe = shutil.which("qemu-img")
    if exe is None:
        raise GanyunError("qemu-img is not installed (Debian package qemu-utils)")
    return exe


def _run_qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    """qemu-img with its output kept: the caller words the failure for the step record."""
    return subprocess.run(
        [_qemu_img(), *args],
        capture_output=True,
        text=True,
        timeout=600,  # a whole disk image: bounded, but generously
        check=False,
    )


# --------------------------------------------------------------------------- steps


def step_prepare(ctx: StepContext) -> dict[str, Any]:
    """Record where things are: the work directory and the data directories."""
    work = ctx.workdir / f"run-{ctx.run_id}" / path_component(ctx.item["source_id"], "source node id")
    work.mkdir(parents=True, exist_ok=True)
    return {"work": str(work), "source_ip": (ctx.item.get("source_ips") or [""])[0]}


def step_snapshot(ctx: StepContext) -> dict[str, Any]:
    if ctx.state.get("snapshot_id"):
        return {}
    image = ctx.source.create_snapshot(str(ctx.item["source_id"]), f"ganyun-mig-{ctx.run_id}-{ctx.item['name']}")
    return {"snapshot_id": image.id, "snapshot_format": image.disk_format or "qcow2"}


def _disk_format(ctx: StepContext, step: str) -> str:
    fmt = str(ctx.state.get("snapshot_format") or "qcow2")
    if fmt not in DISK_FORMATS:
        raise ctx.fail(step, f"snapshot disk format {fmt!r} is not one of {', '.join(sorted(DISK_FORMATS))}")
    return fmt


def step_export(ctx: StepContext) -> dict[str, Any]:
    fmt = _disk_format(ctx, "export")
    dest = Path(str(ctx.state["work"])) / f"source.{fmt}"
    ctx.source.export_image(str(ctx.state["snapshot_id"]), str(dest))
    return {"export_path": str(dest)}


def step_convert(ctx: StepContext) -> dict[str, Any]:
    src = Path(str(ctx.state["export_path"]))
    fmt = _disk_format(ctx, "convert")
    dest = src.with_name("target.qcow2")
    proc = _run_qemu_img("convert", "-f", fmt, "-O", "qcow2", str(src), str(dest))
    if proc.returncode != 0:
        raise ctx.fail("convert", f"qemu-img convert: {proc.stderr.strip()[:200]}")
    # Same guest bytes after conversion, or the rehost would boot a different disk.
    check = _run_qemu_img("compare", "-f", fmt, "-F", "qcow2", str(src), str(dest))
    if check.returncode != 0:
        raise ctx.fail("convert", f"qemu-img compare: images differ ({check.stdout.strip()[:120]})")
    return {"converted_path": str(dest), "converted_sm3": sm3_digest(dest.read_bytes())}


def step_import(ctx: StepContext) -> dict[str, Any]:
    if ctx.state.get("image_id"):
        return {}
    props = {
        "architecture": str(ctx.item.get("arch") or "x86_64"),
        "os_distro": str(ctx.item.get("os_family") or "").lower(),
        "ganyun_run": str(ctx.run_id),
        FROM_TAG: ctx.key,
    }
    image = ctx.target.import_image(
        f"ganyun-{ctx.item['name']}", str(ctx.state["converted_path"]), "qcow2", properties=props
    )
    return {"image_id": image.id}


def _metadata(ctx: StepContext) -> dict[str, str]:
    source = ctx.source.get_node(str(ctx.item["source_id"]))
    meta = {k: str(source.tags[k]) for k in COPIED_TAGS if source.tags.get(k)}
    meta.update({FROM_TAG: ctx.key, RUN_TAG: str(ctx.run_id)})
    return meta


def step_boot(ctx: StepContext) -> dict[str, Any]:
    target = ctx.target
    target_id = str(ctx.state.get("target_id") or "")
    if not target_id:
        # A run killed during boot may have left a node: find it by our tags, never twice.
        for node in target.list_nodes():
            if node.tags.get(FROM_TAG) == ctx.key and node.tags.get(RUN_TAG) == str(ctx.run_id):
                target_id = node.id
                break
    if not target_id:
        image_id = str(ctx.state.get("image_id") or ctx.item.get("target_image_id") or "")
        network = ctx.item.get("network") or {}
        nets = [str(network["target_network_id"])] if network.get("target_network_id") else []
        fixed = [str(network["fixed_ip"])] if network.get("keep_ip") and network.get("fixed_ip") else []
        node = target.create_node(
            str(ctx.item["name"]),
            str(ctx.item["target_size"]["id"]),
            image_id,
            network_ids=nets,
            metadata=_metadata(ctx),
            fixed_ips=fixed,
        )
        target_id = node.id
    # Recorded before waiting, so that a failed boot is still cleaned up by the rescue.
    ctx.state["target_id"] = target_id
    node = _wait(ctx, target, target_id, State.RUNNING, "boot")
    out: dict[str, Any] = {"target_id": target_id, "target_ips": list(node.ips)}
    if ctx.item.get("strategy") == "replatform":
        out["source_data_dir"] = str(_source_data(ctx))
        tdir = data_dir(ctx.config, str(ctx.item["target_provider"]), target_id)
        tdir.mkdir(parents=True, exist_ok=True)
        out["target_data_dir"] = str(tdir)
    return out


def step_copy_data(ctx: StepContext) -> dict[str, Any]:
    src = Path(str(ctx.state["source_data_dir"]))
    dest = Path(str(ctx.state["target_data_dir"]))
    before = manifest(src)
    for rel in before:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out)
    if "corrupt_copy" in ctx.faults and ctx.config.lab:
        # Lab fault injection: flip a byte in the copy, as a bad network or disk would.
        first = dest / sorted(before)[0]
        data = bytearray(first.read_bytes())
        data[-1] ^= 0xFF
        first.write_bytes(bytes(data))
    return {"source_sm3": manifest_digest(before), "files": len(before)}


def step_verify(ctx: StepContext) -> dict[str, Any]:
    src_digest = manifest_digest(manifest(Path(str(ctx.state["source_data_dir"]))))
    dest_digest = manifest_digest(manifest(Path(str(ctx.state["target_data_dir"]))))
    if src_digest != ctx.state.get("source_sm3") or dest_digest != src_digest:
        raise ctx.fail("verify", f"SM3 checksum mismatch: source {src_digest[:16]}..., target {dest_digest[:16]}...")
    return {"target_sm3": dest_digest}


def step_health(ctx: StepContext) -> dict[str, Any]:
    node = ctx.target.get_node(str(ctx.state["target_id"]))
    if node.state != State.RUNNING:
        raise ctx.fail("health", f"target is {node.state.value}, not running")
    if not node.ips:
        raise ctx.fail("health", "target has no address")
    if ctx.item.get("strategy") == "replatform":
        conf = Path(str(ctx.state["target_data_dir"])) / CONFIG_FILE
        if not conf.is_file():
            raise ctx.fail("health", "application configuration missing on the target")
    return {"healthy": True}


def step_cutover(ctx: StepContext) -> dict[str, Any]:
    """The service address and the inventory move: the target carries the address, the source
    is marked as moved (the next sync and the next plan both see it)."""
    address = str(ctx.state.get("source_ip") or "")
    target_ref = f"{ctx.item['target_provider']}/{ctx.state['target_id']}"
    ctx.target.set_node_metadata(str(ctx.state["target_id"]), {SERVICE_TAG: address, FROM_TAG: ctx.key})
    ctx.source.set_node_metadata(str(ctx.item["source_id"]), {MIGRATED_TAG: target_ref})
    return {"cut_over": True, "service_address": address}


def step_stop_source(ctx: StepContext) -> dict[str, Any]:
    source_id = str(ctx.item["source_id"])
    if ctx.source.get_node(source_id).state != State.STOPPED:
        ctx.source.stop_node(source_id)
        _wait(ctx, ctx.source, source_id, State.STOPPED, "stop_source")
    return {"source_stopped": True}


def step_cleanup(ctx: StepContext) -> dict[str, Any]:
    """No leftover snapshots or work files after a successful move."""
    if ctx.state.get("snapshot_id"):
        _ignore_missing(lambda: ctx.source.delete_image(str(ctx.state["snapshot_id"])))
    if ctx.state.get("work"):
        shutil.rmtree(str(ctx.state["work"]), ignore_errors=True)
    return {"snapshot_id": "", "export_path": "", "converted_path": ""}


def step_rollback(ctx: StepContext) -> dict[str, Any]:
    """Undo a partial move: the source keeps (or resumes) running, partial targets and
    temporary images are removed. Safe to run twice."""
    source_id = str(ctx.item["source_id"])
    if ctx.state.get("target_id"):
        _ignore_missing(lambda: ctx.target.destroy_node(str(ctx.state["target_id"])))
    if ctx.state.get("image_id"):
        _ignore_missing(lambda: ctx.target.delete_image(str(ctx.state["image_id"])))
    if ctx.state.get("snapshot_id"):
        _ignore_missing(lambda: ctx.source.delete_image(str(ctx.state["snapshot_id"])))
    if ctx.state.get("target_data_dir"):
        shutil.rmtree(str(ctx.state["target_data_dir"]), ignore_errors=True)
    if ctx.state.get("work"):
        shutil.rmtree(str(ctx.state["work"]), ignore_errors=True)
    if ctx.state.get("cut_over"):
        ctx.source.set_node_metadata(source_id, {MIGRATED_TAG: ""})
    node = ctx.source.get_node(source_id)
    if node.state == State.STOPPED:
        ctx.source.start_node(source_id)
        _wait(ctx, ctx.source, source_id, State.RUNNING, "rollback")
    return {
        "target_id": "",
        "image_id": "",
        "snapshot_id": "",
        "cut_over": False,
        "source_stopped": False,
        "rolled_back": True,
    }


def step_revert(ctx: StepContext) -> dict[str, Any]:
    """`migrate rollback RUN` after cutover: the same as a rollback, the target is removed."""
    return step_rollback(ctx)


def step_finalize(ctx: StepContext) -> dict[str, Any]:
    """The operator said so: delete the (stopped) source; the target stays."""
    _ignore_missing(lambda: ctx.source.destroy_node(str(ctx.item["source_id"])))
    return {"finalized": True}


STEP_FUNCTIONS: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "prepare": step_prepare,
    "snapshot": step_snapshot,
    "export": step_export,
    "convert": step_convert,
    "import": step_import,
    "boot": step_boot,
    "copy_data": step_copy_data,
    "verify": step_verify,
    "health": step_health,
    "cutover": step_cutover,
    "stop_source": step_stop_source,
    "cleanup": step_cleanup,
    "rollback": step_rollback,
    "revert": step_revert,
    "finalize": step_finalize,
}


def run_step(
    step: str,
    config: GanyunConfig | str,
    item: Mapping[str, Any],
    state: Mapping[str, Any],
    run_id: int,
    workdir: str | Path,
    faults: frozenset[str] = frozenset(),
    factory: Callable[[str], Provider] | None = None,
) -> dict[str, Any]:
    """Run one step; returns the VM's whole new state (old state updated with the step's output)."""
    if step not in STEP_FUNCTIONS:
        raise PlaybookError(f"unknown migration step '{step}'")
    cfg = load_config(config) if isinstance(config, str) else config
    ctx = StepContext(cfg, item, dict(state), run_id, Path(workdir), faults, factory)
    try:
        ctx.state.update(STEP_FUNCTIONS[step](ctx))
    except StepError as exc:
        exc.state = ctx.state
        raise
    except GanyunError as exc:
        error = ctx.fail(step, str(exc))
        error.state = ctx.state
        raise error from None
    return ctx.state
