"""The service address at cutover, and back at rollback.

Before anything changes, `record_before` notes the source's addresses: its fixed IPs and the
floating IPs attached to it. At cutover each floating IP moves: released by the source's cloud,
claimed with the same address on the target's external network that holds it (the city's
extranet is one segment every cloud reaches) and attached to the target. A fixed IP moves by
itself when the plan kept it (a port with that fixed IP on the target network). Anything else
means the service answers at a new address, and the report says so.

Each move goes through stages recorded as they happen (released, claimed, attached), so a run
killed halfway continues it, and rollback undoes exactly the stages that happened.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from functools import partial
from typing import Any

from playbooks.migration_steps.context import StepContext
from providers import capabilities
from providers.base import FloatingIp, Node, Provider
from providers.errors import NotFound

STAGES = ("detached", "released", "claimed", "attached")


def addresses_of(ctx: StepContext, provider: Provider, node: Node) -> dict[str, list[str]]:
    floating: list[str] = []
    if capabilities.FLOATING_IPS.of(provider) is not None:
        floating = [
            f.address
            for f in ctx.call(
                "addresses",
                partial(capabilities.FLOATING_IPS.require(provider, "list_floating_ips").list_floating_ips, node.id),
            )
        ]
    return {"fixed": [ip for ip in node.ips if ip not in floating], "floating": floating}


def service_address(addresses: Mapping[str, Any]) -> str:
    """What clients use: the first floating IP, else the first fixed one."""
    for kind in ("floating", "fixed"):
        found = list(addresses.get(kind) or [])
        if found:
            return str(found[0])
    return ""


def _holding(ctx: StepContext, provider: Provider, address: str) -> FloatingIp | None:
    return next(
        (
            f
            for f in ctx.call(
                "addresses", capabilities.FLOATING_IPS.require(provider, "list_floating_ips").list_floating_ips
            )
            if f.address == address
        ),
        None,
    )


def _network_for(ctx: StepContext, provider: Provider, address: str) -> str:
    """The external network of `provider` whose range holds `address`."""
    ip = ipaddress.ip_address(address)
    for net in ctx.call("addresses", capabilities.NETWORKS.require(provider, "list_networks").list_networks):
        if net.external and any(ip in ipaddress.ip_network(c, strict=False) for c in net.cidrs if c):
            return net.id
    raise ctx.fail(ctx.step, f"floating IP {address} cannot move: no external network of {provider.name} holds it")


def _stage(ctx: StepContext, address: str, **values: str) -> dict[str, str]:
    moves = {k: dict(v) for k, v in (ctx.state.get("floating_moves") or {}).items()}
    moves[address] = {**moves.get(address, {}), **values}
    ctx.save(floating_moves=moves)
    return moves[address]


def move_floating_ips(ctx: StepContext) -> list[str]:
    """Every floating IP of the source onto the target; the addresses moved."""
    wanted = [str(a) for a in (ctx.state.get("addresses_before") or {}).get("floating") or []]
    if not wanted:
        return []
    source, target = ctx.source, ctx.target
    if capabilities.FLOATING_IPS.of(source) is None or capabilities.FLOATING_IPS.of(target) is None:
        raise ctx.fail("cutover", f"floating IPs {', '.join(wanted)} cannot move to {target.name}")
    target_id = str(ctx.state["target_id"])
    for address in wanted:
        stage = str(((ctx.state.get("floating_moves") or {}).get(address) or {}).get("stage", ""))
        if stage == "":
            held = _holding(ctx, source, address)
            if held is not None:
                released = held.id
                _stage(ctx, address, source_network=held.network_id)
                ctx.note(f"releasing {address} on {source.name}", force=True)
                ctx.call(
                    "cutover",
                    partial(
                        capabilities.FLOATING_IPS.require(source, "detach_floating_ip").detach_floating_ip, released
                    ),
                )
                _stage(ctx, address, stage="detached")
                ctx.call(
                    "cutover",
                    partial(
                        capabilities.FLOATING_IPS.require(source, "delete_floating_ip").delete_floating_ip, released
                    ),
                )
            stage = _stage(ctx, address, stage="released")["stage"]
        if stage == "released":
            network = _network_for(ctx, target, address)
            ctx.note(f"claiming {address} on {target.name}", force=True)
            claimed = ctx.create_once(
                "cutover",
                partial(_holding, ctx, target, address),
                partial(
                    capabilities.FLOATING_IPS.require(target, "create_floating_ip").create_floating_ip, network, address
                ),
            )
            stage = _stage(ctx, address, stage="claimed", target_fip=claimed.id)["stage"]
        if stage == "claimed":
            fip = str(ctx.state["floating_moves"][address]["target_fip"])
            ctx.call(
                "cutover",
                partial(
                    capabilities.FLOATING_IPS.require(target, "attach_floating_ip").attach_floating_ip, fip, target_id
                ),
            )
            _stage(ctx, address, stage="attached")
    return wanted


def move_floating_ips_back(ctx: StepContext) -> None:
    """Undo whatever stages of the moves happened: the target lets go, the source gets its
    addresses back (claimed again where its cloud had released them)."""
    moves = {k: dict(v) for k, v in (ctx.state.get("floating_moves") or {}).items()}
    if not moves:
        return
    source, target = ctx.source, ctx.target
    source_id = str(ctx.item["source_id"])
    for address, move in list(moves.items()):
        stage = move.get("stage", "")
        if stage in ("claimed", "attached") and capabilities.FLOATING_IPS.of(target) is not None:
            taken = _holding(ctx, target, address)
            if taken is not None:
                taken_id = taken.id
                ctx.call(
                    "rollback",
                    partial(
                        capabilities.FLOATING_IPS.require(target, "detach_floating_ip").detach_floating_ip, taken_id
                    ),
                )
                with contextlib.suppress(NotFound):
                    ctx.call(
                        "rollback",
                        partial(
                            capabilities.FLOATING_IPS.require(target, "delete_floating_ip").delete_floating_ip, taken_id
                        ),
                    )
        if stage in STAGES and capabilities.FLOATING_IPS.of(source) is not None:
            held = _holding(ctx, source, address)
            if held is None:
                network = move.get("source_network") or _network_for(ctx, source, address)
                held = ctx.call(
                    "rollback",
                    partial(
                        capabilities.FLOATING_IPS.require(source, "create_floating_ip").create_floating_ip,
                        network,
                        address,
                    ),
                )
            back = held.id
            ctx.call(
                "rollback",
                partial(
                    capabilities.FLOATING_IPS.require(source, "attach_floating_ip").attach_floating_ip, back, source_id
                ),
            )
        moves.pop(address)
        ctx.save(floating_moves=moves)
