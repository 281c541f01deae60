"""The shared pools' figures: physical against allocated per provider, summed per center and
pool type, per host, per rack. Pure functions over the rows of queries.py."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from inventory.capacity.queries import LEGACY, RESOURCES, AllocationRow, HostTuple
from inventory.config import GanyunConfig, ProviderConfig, ResourceRatio

# Overcommit ratio field of each resource.
RATIO_FIELD = {"vcpus": "cpu", "ram_mb": "ram", "disk_gb": "disk"}


def overcommit_for(config: GanyunConfig, provider: str, pool: str) -> ResourceRatio:
    """The most specific policy wins: provider name, then pool name, then "default"."""
    policies = config.capacity.overcommit
    for key in (provider, pool, "default"):
        if key in policies:
            return policies[key]
    return ResourceRatio()


def _zero() -> dict[str, int]:
    return dict.fromkeys(RESOURCES, 0)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def free_units(free: Mapping[str, float], config: GanyunConfig) -> int:
    """How many standard VMs (capacity.vm_unit) still fit: the scarcest resource decides."""
    unit = config.capacity.vm_unit
    sizes = {"vcpus": unit.vcpus, "ram_mb": unit.ram_mb, "disk_gb": unit.disk_gb}
    return max(0, min(math.floor(max(0.0, free[r]) / sizes[r]) for r in RESOURCES))


def host_totals(hosts: Iterable[HostTuple]) -> dict[str, dict[str, int]]:
    """Per provider: host count, physical resources and what the hypervisors report as used."""
    fields = ("hosts", "vcpus", "ram_mb", "disk_gb", "vcpus_used", "ram_mb_used", "disk_gb_used")
    sums: dict[str, list[int]] = {}
    for provider, _name, _rack, v, r, d, vu, ru, du, _kw in hosts:
        t = sums.get(provider)
        if t is None:
            t = sums[provider] = [0] * len(fields)
        t[0] += 1
        t[1] += v
        t[2] += r
        t[3] += d
        t[4] += vu
        t[5] += ru
        t[6] += du
    return {provider: dict(zip(fields, t, strict=True)) for provider, t in sums.items()}


def pool_figures(
    config: GanyunConfig,
    hosts: Mapping[str, Mapping[str, int]],
    allocation: Iterable[AllocationRow],
    states: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One entry per provider (a cloud is a pool of one type, legacy or xinchuang)."""
    allocated: dict[str, dict[str, int]] = defaultdict(lambda: {"nodes": 0, **_zero()})
    for provider, _dept, _system, n, v, r, d in allocation:
        a = allocated[provider]
        a["nodes"] += n
        a["vcpus"] += v
        a["ram_mb"] += r
        a["disk_gb"] += d
    return [_pool_entry(config, pc, hosts.get(pc.name, {}), allocated[pc.name], states.get(pc.name, {}))
            for pc in config.providers]  # fmt: skip


def _pool_entry(
    config: GanyunConfig,
    pc: ProviderConfig,
    host: Mapping[str, int],
    alloc: Mapping[str, int],
    state: Mapping[str, Any],
) -> dict[str, Any]:
    ratio = overcommit_for(config, pc.name, pc.pool)
    physical = {r: int(host.get(r, 0)) for r in RESOURCES}
    capacity = {r: round(physical[r] * getattr(ratio, RATIO_FIELD[r]), 1) for r in RESOURCES}
    allocated = {r: int(alloc.get(r, 0)) for r in RESOURCES}
    free = {r: round(capacity[r] - allocated[r], 1) for r in RESOURCES}
    used_pct = {r: _pct(allocated[r], capacity[r]) for r in RESOURCES}
    # The resource closest to full limits what still fits.
    binding = max(RESOURCES, key=lambda r: (used_pct[r] or 0.0) if capacity[r] else -1.0)
    return {
        "name": pc.name,
        "center": pc.center,
        "pool": pc.pool,
        "status": state.get("status", "never"),
        "stale": bool(state.get("stale", True)),
        "hosts": int(host.get("hosts", 0)),
        "nodes": int(alloc.get("nodes", 0)),
        "overcommit": {"cpu": ratio.cpu, "ram": ratio.ram, "disk": ratio.disk},
        "physical": physical,
        "capacity": capacity,
        "allocated": allocated,
        "free": free,
        "used_pct": used_pct,
        "free_vm_units": free_units(free, config) if physical["vcpus"] else 0,
        "binding": binding,
        # What the hypervisors themselves report as used: a cross-check of `allocated`.
        "hypervisor_used": {r: int(host.get(f"{r}_used", 0)) for r in RESOURCES},
    }


def rollup(pools: Iterable[Mapping[str, Any]], key: str, config: GanyunConfig) -> list[dict[str, Any]]:
    """Pools summed by `center` or `pool`; free units recomputed from the summed free figures."""
    groups: dict[str, dict[str, Any]] = {}
    for p in pools:
        g = groups.setdefault(
            str(p[key]),
            {key: p[key], "providers": 0, "hosts": 0, "nodes": 0,
             **{s: _zero() for s in ("physical", "allocated")}, "capacity": dict.fromkeys(RESOURCES, 0.0)},
        )  # fmt: skip
        g["providers"] += 1
        g["hosts"] += p["hosts"]
        g["nodes"] += p["nodes"]
        for section in ("physical", "capacity", "allocated"):
            for r in RESOURCES:
                g[section][r] += p[section][r]
    for g in groups.values():
        g["capacity"] = {r: round(v, 1) for r, v in g["capacity"].items()}
        g["free"] = {r: round(g["capacity"][r] - g["allocated"][r], 1) for r in RESOURCES}
        g["used_pct"] = {r: _pct(g["allocated"][r], g["capacity"][r]) for r in RESOURCES}
        g["free_vm_units"] = free_units(g["free"], config)
    return [groups[k] for k in sorted(groups)]


def hosts_section(
    config: GanyunConfig,
    hosts: Iterable[HostTuple],
    usage: Mapping[tuple[str, str], tuple[int, int, int]],
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The per-host figures from `host_rows` and `host_usage`, fullest first."""
    pools = {pc.name: pc for pc in config.providers}
    ratios: dict[str, tuple[float, float]] = {}
    unused = (0, 0, 0)
    # Score every host, but build the report entry only for those that make the cut (500 of
    # ~4,700 hosts on the large lab). The index breaks ties in reading order, as the stable
    # sort over all entries did.
    scored: list[tuple[float, int, float | None, float | None, int, int, int]] = []
    rows = hosts if isinstance(hosts, list) else list(hosts)
    for i, h in enumerate(rows):
        provider = h[0]
        ratio = ratios.get(provider)
        if ratio is None:
            pc = pools.get(provider)
            policy = overcommit_for(config, provider, pc.pool if pc else LEGACY)
            ratio = ratios[provider] = (policy.cpu, policy.ram)
        nodes, v_used, r_used = usage.get((provider, h[1]), unused)
        cpu_pct = _pct(v_used, h[3] * ratio[0])
        ram_pct = _pct(r_used, h[4] * ratio[1])
        scored.append((-max(cpu_pct or 0.0, ram_pct or 0.0), i, cpu_pct, ram_pct, nodes, v_used, r_used))
    # nsmallest equals sorted()[:limit] here (the index makes every key unique), without the full sort.
    top = heapq.nsmallest(limit, scored) if limit and limit > 0 else sorted(scored)[: limit or None]
    out = []
    for _score, i, cpu_pct, ram_pct, nodes, v_used, r_used in top:
        provider, name, rack, vcpus, ram, disk, *_rest = rows[i]
        pc = pools.get(provider)
        out.append(
            {
                "provider": provider,
                "host": name,
                "center": pc.center if pc else "",
                "pool": pc.pool if pc else "",
                "rack": rack or "",
                "physical": {"vcpus": vcpus, "ram_mb": ram, "disk_gb": disk},
                "nodes": nodes,
                "allocated": {"vcpus": v_used, "ram_mb": r_used},
                "used_pct": {"vcpus": cpu_pct, "ram_mb": ram_pct},
            }
        )
    return out


def racks_section(config: GanyunConfig, hosts: Iterable[HostTuple]) -> list[dict[str, Any]]:
    """Rack fill from `host_rows`."""
    design = config.capacity.rack
    centers = {pc.name: pc.center for pc in config.providers}
    # (provider, rack) -> [hosts, measured kW, hosts with a measured kW]
    per_rack: dict[tuple[str, str], list[Any]] = {}
    for provider, _name, rack_label, *_sizes, power in hosts:
        g = per_rack.get((provider, rack_label))
        if g is None:
            g = per_rack[(provider, rack_label)] = [0, None, 0]
        g[0] += 1
        if power is not None:
            # As SQL's SUM: NULL until the first measured host, then a running float sum.
            g[1] = power if g[1] is None else g[1] + power
            g[2] += 1
    racks: dict[tuple[str, str], dict[str, Any]] = {}
    # In (provider, rack) order, as the GROUP BY returned them: it fixes each rack's providers list.
    for (provider, rack), (n, kw, with_kw) in sorted(per_rack.items()):
        center = centers.get(provider, "")
        # Rack labels are per data center; hosts without one are grouped as "(unracked)".
        key = (center, rack or "")
        r = racks.setdefault(key, {"center": center, "rack": rack or "", "providers": [], "hosts": 0, "kw": 0.0})
        r["providers"].append(provider)
        r["hosts"] += int(n)
        measured = float(kw or 0.0)
        estimated = (int(n) - int(with_kw)) * (design.kw_per_host or 0.0)
        r["kw"] += measured + estimated
    out = []
    for (_center, rack), r in sorted(racks.items()):
        kw = round(r["kw"], 2) if (design.kw_per_host or r["kw"]) else None
        out.append(
            {
                **r,
                "kw": kw,
                "design_hosts": design.hosts_per_rack,
                "fill_pct": _pct(r["hosts"], design.hosts_per_rack),
                "design_kw": design.kw_per_rack,
                "kw_fill_pct": _pct(kw, design.kw_per_rack) if kw is not None and design.kw_per_rack else None,
                "free_slots": max(0, design.hosts_per_rack - r["hosts"]) if rack else None,
            }
        )
    return out


def rack_summary(racks: list[dict[str, Any]], config: GanyunConfig) -> dict[str, Any]:
    racked = [r for r in racks if r["rack"]]
    hosts = sum(r["hosts"] for r in racked)
    slots = len(racked) * config.capacity.rack.hosts_per_rack
    return {
        "racks": len(racked),
        "hosts": hosts,
        "unracked_hosts": sum(r["hosts"] for r in racks if not r["rack"]),
        "design_slots": slots,
        "fill_pct": _pct(hosts, slots),
        "free_slots": max(0, slots - hosts),
    }
