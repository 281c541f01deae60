"""The steps around the move: prepare (note what the source is, change nothing), cutover (the
service address and the inventory marks), cleanup, rollback, revert and finalize (the only
step that deletes the source, when the operator says so)."""

from __future__ import annotations

import shutil
from functools import partial
from typing import Any

from inventory.assessment import MIGRATED_TAG
from inventory.tenant_text import path_component
from playbooks.migration_steps.addresses import (
    addresses_of,
    move_floating_ips,
    move_floating_ips_back,
    service_address,
)
from playbooks.migration_steps.context import FROM_TAG, StepContext
from playbooks.migration_steps.images import ignore_missing
from providers import capabilities
from providers.base import State

SERVICE_TAG = "service_address"


def step_prepare(ctx: StepContext) -> dict[str, Any]:
    """The work directory, and what the source is before anything changes: whether it runs
    (rollback leaves a stopped source stopped) and its addresses (the report's "before")."""
    work = ctx.workdir / f"run-{ctx.run_id}" / path_component(ctx.item["source_id"], "source node id")
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"work": str(work), "source_ip": (ctx.item.get("source_ips") or [""])[0]}
    if "source_was_running" not in ctx.state:
        source_id = str(ctx.item["source_id"])
        node = ctx.call("prepare", lambda: ctx.source.get_node(source_id))
        out["source_was_running"] = node.state == State.RUNNING
        out["addresses_before"] = addresses_of(ctx, ctx.source, node)
    return out


def step_cutover(ctx: StepContext) -> dict[str, Any]:
    """The service address and the inventory move: the target carries the address, the source
    is marked as moved (the next sync and the next plan both see it)."""
    before = ctx.state.get("addresses_before") or {"fixed": [ctx.state.get("source_ip") or ""], "floating": []}
    moved = move_floating_ips(ctx)
    target_id = str(ctx.state["target_id"])
    node = ctx.call("cutover", lambda: ctx.target.get_node(target_id))
    after = addresses_of(ctx, ctx.target, node)
    address = service_address(before)
    if address and address not in after["fixed"] + after["floating"]:
        ctx.remark(f"the service address changes: {address} -> {service_address(after) or '?'}")
    target_ref = f"{ctx.item['target_provider']}/{target_id}"
    ctx.call(
        "cutover",
        partial(
            capabilities.NODE_METADATA.require(ctx.target, "set_node_metadata").set_node_metadata,
            target_id,
            {SERVICE_TAG: address, FROM_TAG: ctx.key},
        ),
    )
    source_id = str(ctx.item["source_id"])
    ctx.call(
        "cutover",
        partial(
            capabilities.NODE_METADATA.require(ctx.source, "set_node_metadata").set_node_metadata,
            source_id,
            {MIGRATED_TAG: target_ref},
        ),
    )
    return {"cut_over": True, "service_address": address, "floating_moved": moved, "addresses_after": after}


def _remove_work(ctx: StepContext) -> None:
    if ctx.state.get("work"):
        shutil.rmtree(str(ctx.state["work"]), ignore_errors=True)


_FILES_RESET = {"export_path": "", "converted_path": "", "downloaded": {}, "converted": {}}


def step_cleanup(ctx: StepContext) -> dict[str, Any]:
    """No leftover snapshot (ours, on the source's cloud) or work files after a successful move."""
    snapshot = str(ctx.state.get("snapshot_id") or "")
    if snapshot:
        ignore_missing(
            ctx,
            "cleanup",
            partial(capabilities.NODE_SNAPSHOT.require(ctx.source, "delete_image").delete_image, snapshot),
        )
    _remove_work(ctx)
    return {"snapshot_id": "", **_FILES_RESET}


def step_rollback(ctx: StepContext) -> dict[str, Any]:
    """Undo a partial move: the addresses go back, partial targets and temporary images are
    removed, the source runs again if it ran before. Safe to run twice."""
    source_id = str(ctx.item["source_id"])
    move_floating_ips_back(ctx)
    target_id = str(ctx.state.get("target_id") or "")
    if target_id:
        ignore_missing(
            ctx,
            "rollback",
            partial(capabilities.DESTROY_NODE.require(ctx.target, "destroy_node").destroy_node, target_id),
        )
    images = {str(i) for i in (ctx.state.get("imported") or {}).values() if i} | {str(ctx.state.get("image_id") or "")}
    for image_id in sorted(images - {""}):
        ignore_missing(
            ctx,
            "rollback",
            partial(capabilities.IMPORT_IMAGE.require(ctx.target, "delete_image").delete_image, image_id),
        )
    snapshot = str(ctx.state.get("snapshot_id") or "")
    if snapshot:
        ignore_missing(
            ctx,
            "rollback",
            partial(capabilities.NODE_SNAPSHOT.require(ctx.source, "delete_image").delete_image, snapshot),
        )
    if ctx.state.get("target_data_dir"):
        shutil.rmtree(str(ctx.state["target_data_dir"]), ignore_errors=True)
    _remove_work(ctx)
    if ctx.state.get("cut_over"):
        ctx.call(
            "rollback",
            partial(
                capabilities.NODE_METADATA.require(ctx.source, "set_node_metadata").set_node_metadata,
                source_id,
                {MIGRATED_TAG: ""},
            ),
        )
    node = ctx.call("rollback", lambda: ctx.source.get_node(source_id))
    if node.state == State.STOPPED and ctx.state.get("source_was_running", True):
        ctx.call("rollback", partial(capabilities.POWER.require(ctx.source, "start_node").start_node, source_id))
        ctx.wait_node(ctx.source, source_id, State.RUNNING, "power on the source", "power_timeout_s")
    return {
        "target_id": "",
        "image_id": "",
        "imported": {},
        "snapshot_id": "",
        "cut_over": False,
        "source_stopped": False,
        "floating_moves": {},
        "addresses_after": {},
        "boot_attempts": 0,
        "snapshot_attempts": 0,
        "rolled_back": True,
        **_FILES_RESET,
    }


def step_revert(ctx: StepContext) -> dict[str, Any]:
    """`migrate rollback RUN` after cutover: the same as a rollback, the target is removed."""
    return step_rollback(ctx)


def step_finalize(ctx: StepContext) -> dict[str, Any]:
    """The operator said so: delete the (stopped) source; the target stays."""
    source_id = str(ctx.item["source_id"])
    ignore_missing(
        ctx, "finalize", partial(capabilities.DESTROY_NODE.require(ctx.source, "destroy_node").destroy_node, source_id)
    )
    return {"finalized": True}
