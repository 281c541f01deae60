"""The migration steps: what the ganyun_migrate Ansible module does on each task.

Each step takes the plan item and the VM's state so far and returns the new state; every step
is idempotent (a resumed run repeats the step it was in, continuing from what the step had
recorded in its checkpoint). Providers are reached through providers.registry only;
credentials are resolved inside the module process, from the vault or environment, and never
travel through Ansible variables.

Flows (the steps of one VM, in order):
  rehost        a cloud snapshot: snapshot, export, convert, import, boot, health, cutover,
                stop the source, cleanup
  rehost-disks  datastore files (vSphere): power the source off, download its VMDKs, convert,
                import, boot, health, cutover, cleanup
  replatform    a new node from a domestic OS image, the application role, data copied and
                SM3-verified on both sides, cutover
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig, load_config
from playbooks.migration_steps.checkpoint import Checkpoint, Progress
from playbooks.migration_steps.context import StepContext, StepError
from playbooks.migration_steps.data import data_dir, manifest, step_copy_data, step_verify
from playbooks.migration_steps.images import (
    step_convert,
    step_download,
    step_export,
    step_import,
    step_power_off,
    step_snapshot,
)
from playbooks.migration_steps.lifecycle import (
    step_cleanup,
    step_cutover,
    step_finalize,
    step_prepare,
    step_revert,
    step_rollback,
)
from playbooks.migration_steps.nodes import step_boot, step_health, step_stop_source
from providers.base import Provider
from providers.errors import GanyunError, PlaybookError

STEPS: dict[str, tuple[str, ...]] = {
    "rehost": ("snapshot", "export", "convert", "import", "boot", "health", "cutover", "stop_source", "cleanup"),
    "rehost-disks": ("power_off", "download", "convert", "import", "boot", "health", "cutover", "cleanup"),
    "replatform": ("boot", "configure", "copy_data", "verify", "health", "cutover", "stop_source", "cleanup"),
}
STEP_FUNCTIONS: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "prepare": step_prepare,
    "snapshot": step_snapshot,
    "export": step_export,
    "power_off": step_power_off,
    "download": step_download,
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


def flow_of(item: Mapping[str, Any]) -> str:
    """Which steps a plan item goes through (a key of STEPS)."""
    strategy = str(item.get("strategy") or "")
    if strategy == "rehost" and item.get("transfer") == "disks":
        return "rehost-disks"
    return strategy


def checkpoint_for(workdir: str | Path, run_id: int, item: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(workdir, run_id, str(item["source_provider"]), str(item["source_id"]))


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
    """Run one step; returns the VM's whole new state (old state updated with the step's output).

    What the step records as it goes lands in the VM's checkpoint; a step started again after
    a kill begins from there."""
    if step not in STEP_FUNCTIONS:
        raise PlaybookError(f"unknown migration step '{step}'")
    cfg = load_config(config) if isinstance(config, str) else config
    ctx = StepContext(cfg, item, dict(state), run_id, Path(workdir), faults, factory, step)
    try:
        checkpoint = ctx.checkpoint = checkpoint_for(workdir, run_id, item)
    except GanyunError as exc:  # ids that cannot name a file: nothing is made of them
        error = ctx.fail(step, str(exc))
        error.state = ctx.state
        raise error from None
    with checkpoint.hold(ctx.setting("lock_timeout_s")):
        ctx.state.update(checkpoint.state())
        try:
            ctx.state.update(STEP_FUNCTIONS[step](ctx))
        except GanyunError as exc:
            error = exc if isinstance(exc, StepError) else ctx.fail(step, str(exc))
            error.state = ctx.state
            if checkpoint.path.exists():
                checkpoint.save(ctx.state, step, str(error))
            else:
                checkpoint.discard()  # failed before it recorded anything: it leaves nothing behind
            if error is exc:
                raise
            raise error from None
        checkpoint.save(ctx.state, step, "")
    return ctx.state


__all__ = [
    "STEPS",
    "Progress",
    "StepError",
    "checkpoint_for",
    "data_dir",
    "flow_of",
    "manifest",
    "run_step",
]
