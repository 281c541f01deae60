"""The target node: booted from the imported image (or a domestic OS image) with the mapped
size and network, placed where the plan put it when the cloud lets the account ask, booted
again when the cloud fails a build (up to `boot_attempts`); its health; the source stopping.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from playbooks.migration_steps.context import FROM_TAG, RUN_TAG, StepContext
from playbooks.migration_steps.data import CONFIG_FILE, data_dir, source_data
from playbooks.migration_steps.images import ignore_missing
from providers import capabilities
from providers.base import Node, Placement, State
from providers.errors import AuthError

COPIED_TAGS = ("department", "system", "mlps_level", "owner", "role")
PLANNED_HOST_TAG = "ganyun_planned_host"


def _metadata(ctx: StepContext) -> dict[str, str]:
    source = ctx.call("boot", lambda: ctx.source.get_node(str(ctx.item["source_id"])))
    meta = {k: str(source.tags[k]) for k in COPIED_TAGS if source.tags.get(k)}
    meta.update({FROM_TAG: ctx.key, RUN_TAG: str(ctx.run_id)})
    if ctx.item.get("target_host"):
        meta[PLANNED_HOST_TAG] = str(ctx.item["target_host"])
    return meta


def _mine(ctx: StepContext, nodes: list[Node]) -> Node | None:
    """The node this run booted for this VM, if a killed run left one."""
    run = str(ctx.run_id)
    return next((n for n in nodes if n.tags.get(FROM_TAG) == ctx.key and n.tags.get(RUN_TAG) == run), None)


def _apart(ctx: StepContext, meta: dict[str, str], nodes: list[Node]) -> tuple[str, ...]:
    """Replicas (same system and role) this run booted for other hosts of the plan."""
    if not meta.get("role"):
        return ()
    run, planned = str(ctx.run_id), str(ctx.item.get("target_host") or "")
    return tuple(
        n.id
        for n in nodes
        if n.tags.get(RUN_TAG) == run
        and n.tags.get(FROM_TAG) != ctx.key
        and (n.tags.get("system"), n.tags.get("role")) == (meta.get("system"), meta.get("role"))
        and (not planned or n.tags.get(PLANNED_HOST_TAG) != planned)
    )


def _placement(ctx: StepContext, meta: dict[str, str], nodes: list[Node], pick_host: bool = True) -> Placement | None:
    """The plan's zone and host. Where the host may not be asked for, a scheduler hint keeps
    the plan's intent instead: apart from the replicas it put on other hosts."""
    zone, host = str(ctx.item.get("target_zone") or ""), str(ctx.item.get("target_host") or "")
    if not pick_host:
        host = ""
    apart = () if host else _apart(ctx, meta, nodes)
    if not (zone or host or apart):
        return None
    return Placement(zone=zone, host=host, different_host=apart)


def _create(ctx: StepContext) -> Node:
    target = ctx.target
    nodes = list(ctx.call("boot", target.list_nodes))
    meta = _metadata(ctx)
    placement = _placement(ctx, meta, nodes)
    image_id = str(ctx.state.get("image_id") or ctx.item.get("target_image_id") or "")
    network = ctx.item.get("network") or {}
    nets = [str(network["target_network_id"])] if network.get("target_network_id") else []
    fixed = [str(network["fixed_ip"])] if network.get("keep_ip") and network.get("fixed_ip") else []

    def boot(where: Placement | None) -> Node:
        extra: dict[str, Any] = {"placement": where} if where is not None else {}
        return ctx.create_once(
            "boot",
            lambda: _mine(ctx, list(target.list_nodes())),
            lambda: capabilities.CREATE_NODE.require(target, "create_node").create_node(
                str(ctx.item["name"]), str(ctx.item["target_size"]["id"]), image_id,
                network_ids=nets, metadata=meta, fixed_ips=fixed, **extra,
            ),
        )  # fmt: skip

    try:
        return boot(placement)
    except AuthError as exc:
        if placement is None or not placement.host:
            raise
        # Nova's policy keeps the choice of host to some accounts: the zone and hints still count.
        ctx.remark(f"host {placement.host} may not be requested here ({exc.detail}): asked for the zone and hints")
        return boot(_placement(ctx, meta, nodes, pick_host=False))


def step_boot(ctx: StepContext) -> dict[str, Any]:
    target = ctx.target
    target_id = str(ctx.state.get("target_id") or "")
    if not target_id:
        found = _mine(ctx, list(ctx.call("boot", target.list_nodes)))
        target_id = found.id if found is not None else ""
    attempts = int(ctx.state.get("boot_attempts") or 0)
    if target_id:
        attempts = max(attempts, 1)
    while True:
        if not target_id:
            attempts += 1
            ctx.note(f"booting (attempt {attempts})", force=True)
            target_id = _create(ctx).id
        # Recorded before waiting, so that a failed boot is still cleaned up by the rescue.
        ctx.save(target_id=target_id, boot_attempts=max(attempts, 1))
        node = ctx.wait(
            "boot",
            partial(target.get_node, target_id),
            lambda n: n.state in (State.RUNNING, State.ERROR),
            timeout_s=ctx.setting("boot_timeout_s"),
            describe=lambda n: n.state.value,
        )
        if node.state == State.RUNNING:
            break
        fault = node.extra.get("fault")
        detail = str(fault.get("message", "") if isinstance(fault, dict) else fault or "")
        if attempts >= int(ctx.setting("boot_attempts")):
            raise ctx.fail("boot", f"node {target_id} went to ERROR {detail}".strip())
        ctx.remark(f"build {attempts} failed ({detail or 'ERROR'}): booted again")
        failed = target_id
        ignore_missing(
            ctx, "boot", partial(capabilities.DESTROY_NODE.require(target, "destroy_node").destroy_node, failed)
        )
        target_id = ""
        ctx.save(target_id="")
    planned = str(ctx.item.get("target_host") or "")
    if planned and node.host and node.host != planned:
        ctx.remark(f"the cloud placed it on {node.host}, the plan said {planned}")
    out: dict[str, Any] = {"target_id": target_id, "target_ips": list(node.ips), "target_host": node.host}
    if ctx.item.get("strategy") == "replatform":
        out["source_data_dir"] = str(source_data(ctx))
        tdir = data_dir(ctx.config, str(ctx.item["target_provider"]), target_id)
        tdir.mkdir(parents=True, exist_ok=True)
        out["target_data_dir"] = str(tdir)
    return out


def step_health(ctx: StepContext) -> dict[str, Any]:
    node = ctx.call("health", lambda: ctx.target.get_node(str(ctx.state["target_id"])))
    if node.state != State.RUNNING:
        raise ctx.fail("health", f"target is {node.state.value}, not running")
    if not node.ips:
        raise ctx.fail("health", "target has no address")
    if ctx.item.get("strategy") == "replatform":
        conf = Path(str(ctx.state["target_data_dir"])) / CONFIG_FILE
        if not conf.is_file():
            raise ctx.fail("health", "application configuration missing on the target")
    return {"healthy": True}


def step_stop_source(ctx: StepContext) -> dict[str, Any]:
    source, source_id = ctx.source, str(ctx.item["source_id"])
    if ctx.call("stop_source", lambda: source.get_node(source_id)).state != State.STOPPED:
        ctx.call("stop_source", partial(capabilities.POWER.require(source, "stop_node").stop_node, source_id))
        ctx.wait_node(source, source_id, State.STOPPED, "stop source", "power_timeout_s")
    return {"source_stopped": True}
