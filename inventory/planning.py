"""Migration planning: assessment over the inventory, size/network/storage mapping, placement, waves.

`assess()` answers "what could move and how"; `build_plan()` turns the movable nodes into a
Plan (inventory/plan_schema.py) for one target pool or provider, with proof that it fits:
the lower bound on hosts and the plan's gap to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from inventory import query
from inventory.assessment import (
    Assessment,
    Related,
    RuleSet,
    assess_node,
    default_rules,
    is_encrypted,
    system_groups,
)
from inventory.config import GanyunConfig, ResourceRatio
from inventory.placement import Demand, HostSlot, PlacementResult, place, ratio_for
from inventory.plan_schema import (
    DimensionFit,
    NetworkMapping,
    Plan,
    PlanItem,
    PlanSummary,
    SizeRef,
    SkippedItem,
    VolumeMapping,
    Wave,
)
from providers.errors import ConfigError

XINCHUANG = "xinchuang"
_UNUSABLE_HOST_STATES = ("error", "stopped", "terminated")
_ARCH_STRATEGY = {"x86_64": "rehost", "aarch64": "replatform"}


def _records(session: Session, kind: str, providers: Sequence[str]) -> list[dict[str, Any]]:
    wanted = set(providers)
    return [r for r in query.iter_records(session, kind) if r["provider"] in wanted]


def source_nodes(
    session: Session, filters: Mapping[str, str], where: Sequence[ColumnElement[bool]] = ()
) -> list[dict[str, Any]]:
    """Nodes of the legacy pool matching the filters and `where` (the service layer's scope);
    the Xinchuang pool is a target, never a source."""
    nodes = query.iter_records(session, "nodes", dict(filters), where=where)
    return [n for n in nodes if n.get("pool") != XINCHUANG]


def _related(config: GanyunConfig, session: Session, nodes: Sequence[Mapping[str, Any]]) -> Related:
    providers = sorted({str(n["provider"]) for n in nodes})
    groups = system_groups(config.systems, {str(n.get("system") or "") for n in nodes})
    return Related.build(
        _records(session, "volumes", providers),
        _records(session, "snapshots", providers),
        _records(session, "images", providers),
        groups,
    )


def assess(
    config: GanyunConfig,
    session: Session,
    filters: Mapping[str, str] | None = None,
    *,
    rules: RuleSet | None = None,
    lang: str = "zh-CN",
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Assessment]:
    nodes = source_nodes(session, filters or {}, where)
    related = _related(config, session, nodes)
    rules = rules or default_rules()
    return [assess_node(n, related, rules, lang=lang) for n in nodes]


# --------------------------------------------------------------------------- targets


@dataclass(slots=True)
class Target:
    provider: str
    pool: str
    arch: str
    hosts: list[HostSlot]
    sizes: list[dict[str, Any]]
    images: list[dict[str, Any]]
    networks: list[dict[str, Any]]
    volume_types: list[str]
    ratio: ResourceRatio
    zones: dict[str, str]  # host name -> availability zone, where the cloud says


def _target_arch(hosts: Sequence[Mapping[str, Any]], sizes: Sequence[Mapping[str, Any]]) -> str:
    for rec in (*hosts, *sizes):
        if rec.get("arch"):
            return str(rec["arch"])
    return ""


def load_targets(config: GanyunConfig, session: Session, target: str) -> list[Target]:
    """A provider name, or a pool name (every provider of that pool)."""
    names = [p.name for p in config.providers if p.name == target]
    if not names:
        names = [p.name for p in config.providers if p.pool == target]
    if not names:
        raise ConfigError(f"--target: '{target}' is neither a provider nor a pool in the configuration")
    out = []
    for name in names:
        pc = config.provider(name)
        host_rows = [h for h in _records(session, "hosts", [name]) if h.get("state") not in _UNUSABLE_HOST_STATES]
        sizes = _records(session, "sizes", [name])
        arch = _target_arch(host_rows, sizes)
        if not host_rows:
            raise ConfigError(f"--target: no hosts of '{name}' in the inventory (run `ganyun sync` first)")
        hosts = [
            HostSlot(
                provider=name,
                name=str(h["name"]),
                vcpus=h["vcpus"],
                ram_mb=h["ram_mb"],
                disk_gb=h["disk_gb"],
                vcpus_used=h["vcpus_used"],
                ram_mb_used=h["ram_mb_used"],
                disk_gb_used=h["disk_gb_used"],
                pool=pc.pool,
            )
            for h in host_rows
        ]
        volume_types = sorted({str(v.get("volume_type")) for v in _records(session, "volumes", [name])} - {"", "None"})
        out.append(
            Target(
                provider=name,
                pool=pc.pool,
                arch=arch,
                hosts=hosts,
                sizes=sizes,
                images=_records(session, "images", [name]),
                networks=_records(session, "networks", [name]),
                volume_types=volume_types,
                ratio=ratio_for(config.capacity, name, pc.pool),
                zones={
                    str(h["name"]): str((h.get("extra") or {}).get("availability_zone") or "")
                    for h in host_rows
                    if (h.get("extra") or {}).get("availability_zone")
                },
            )
        )
    return out


# --------------------------------------------------------------------------- mappings


def map_size(sizes: Sequence[Mapping[str, Any]], vcpus: int, ram_mb: int, disk_gb: int) -> SizeRef | None:
    """The smallest target size that fits: fewest vCPUs, then least memory, then least disk."""
    fitting = [
        s
        for s in sizes
        if int(s.get("vcpus") or 0) >= vcpus
        and int(s.get("ram_mb") or 0) >= ram_mb
        and int(s.get("disk_gb") or 0) >= disk_gb
    ]
    if not fitting:
        return None
    best = min(fitting, key=lambda s: (int(s["vcpus"]), int(s["ram_mb"]), int(s["disk_gb"]), str(s["id"])))
    return SizeRef(
        id=str(best["id"]),
        name=str(best.get("name", "")),
        vcpus=int(best["vcpus"]),
        ram_mb=int(best["ram_mb"]),
        disk_gb=int(best["disk_gb"]),
    )


def _cidrs(net: Mapping[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for cidr in net.get("cidrs") or ():
        try:
            out.append(ipaddress.ip_network(str(cidr), strict=False))
        except ValueError:
            continue
    return out


def _contains(net: Mapping[str, Any], ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == c.version and addr in c for c in _cidrs(net))


def map_network(
    source_networks: Sequence[Mapping[str, Any]], target_networks: Sequence[Mapping[str, Any]], ip: str
) -> NetworkMapping:
    """Same-named internal network on the target if any, else the first internal one; the
    address is kept (fixed-ip port) only when it lies inside the target network."""
    internal = sorted((n for n in target_networks if not n.get("external")), key=lambda n: str(n.get("name")))
    if not internal:
        return NetworkMapping(source_ip=ip)
    source = next((n for n in source_networks if ip and _contains(n, ip)), None)
    chosen = next((n for n in internal if ip and _contains(n, ip)), None)
    if chosen is None and source is not None:
        chosen = next((n for n in internal if n.get("name") == source.get("name")), None)
    chosen = chosen or internal[0]
    keep = bool(ip) and _contains(chosen, ip)
    return NetworkMapping(
        source_ip=ip,
        target_network_id=str(chosen["id"]),
        target_network_name=str(chosen.get("name", "")),
        keep_ip=keep,
        fixed_ip=ip if keep else "",
    )


def map_volume_type(source_type: str, encrypted: bool, target_types: Sequence[str]) -> str:
    """Encrypted data stays encrypted, with SM4 where the target offers it (GB/T 39786)."""
    if not target_types:
        return source_type
    if encrypted:
        for wanted in ("sm4", "luks"):
            match = next((t for t in target_types if wanted in t.lower()), None)
            if match:
                return match
    if source_type in target_types:
        return source_type
    plain = [t for t in target_types if not any(w in t.lower() for w in ("sm4", "luks"))]
    return (plain or list(target_types))[0]


def pick_image(images: Sequence[Mapping[str, Any]], os_family: str, arch: str) -> Mapping[str, Any] | None:
    """The newest domestic OS image of the wanted family and architecture on the target."""
    fitting = [
        i
        for i in images
        if str(i.get("os_family", "")).lower() == os_family.lower()
        and (not arch or not i.get("arch") or i.get("arch") == arch)
        and str(i.get("state", "")) not in ("error", "terminated")
        and not str(i.get("name", "")).startswith("ganyun-")
    ]
    return max(fitting, key=lambda i: (str(i.get("name", "")), str(i["id"]))) if fitting else None


# --------------------------------------------------------------------------- waves


def make_waves(items: Sequence[tuple[str, int | None, str]], cap: int) -> tuple[dict[str, int], list[Wave]]:
    """(key, mlps level, group) -> wave per key. Groups never split; lower MLPS levels go first
    (less risk to learn on), a group larger than the cap gets a wave of its own."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for key, level, group in items:
        groups.setdefault(group, []).append((key, level or 0))
    order = sorted(groups, key=lambda g: (max(lv for _, lv in groups[g]), len(groups[g]), g))
    wave_of: dict[str, int] = {}
    waves: list[Wave] = []
    for g in order:
        size = len(groups[g])
        if not waves or waves[-1].items + size > cap:
            waves.append(Wave(number=len(waves) + 1, groups=[], items=0))
        wave = waves[-1]
        wave.groups.append(g)
        wave.items += size
        for key, _ in groups[g]:
            wave_of[key] = wave.number
    return wave_of, waves


# --------------------------------------------------------------------------- plan


@dataclass(slots=True)
class PlanOutcome:
    plan: Plan
    placements: dict[str, PlacementResult]
    assessments: list[Assessment]

    @property
    def fits(self) -> bool:
        return all(p.fits for p in self.placements.values()) and not self.unmapped

    @property
    def unmapped(self) -> list[SkippedItem]:
        """Movable nodes the target cannot take (no size or image): part of what is short."""
        return [s for s in self.plan.skipped if s.strategy in ("rehost", "replatform")]


def build_plan(
    config: GanyunConfig,
    session: Session,
    target: str,
    filters: Mapping[str, str] | None = None,
    *,
    wave_size: int = 20,
    rules: RuleSet | None = None,
    lang: str = "zh-CN",
    algorithm: str = "dot-product",
    where: Sequence[ColumnElement[bool]] = (),
) -> PlanOutcome:
    if wave_size < 1:
        raise ConfigError("--wave-size must be at least 1")
    filters = dict(filters or {})
    targets = load_targets(config, session, target)
    by_strategy: dict[str, list[Target]] = {}
    for t in targets:
        strategy = _ARCH_STRATEGY.get(t.arch)
        if strategy:
            by_strategy.setdefault(strategy, []).append(t)
    force = ""
    if len(targets) == 1:
        force = _ARCH_STRATEGY.get(targets[0].arch, "")
        if not force:
            raise ConfigError(f"--target: architecture of '{targets[0].provider}' is unknown (no hosts or sizes)")
    nodes = source_nodes(session, filters, where)
    related = _related(config, session, nodes)
    rules = rules or default_rules()
    source_providers = sorted({str(n["provider"]) for n in nodes})
    source_networks = _records(session, "networks", source_providers)
    nets_by_provider: dict[str, list[dict[str, Any]]] = {}
    for net in source_networks:
        nets_by_provider.setdefault(str(net["provider"]), []).append(net)

    assessments: list[Assessment] = []
    skipped: list[SkippedItem] = []
    drafts: list[tuple[Assessment, dict[str, Any], Target, SizeRef, Mapping[str, Any] | None]] = []
    for node in nodes:
        a = assess_node(node, related, rules, force=force, lang=lang)
        assessments.append(a)
        candidates = by_strategy.get(a.strategy, []) if a.moves else []
        if not a.moves or not candidates:
            reasons = a.reasons if not a.moves else [_no_target_text(a.strategy, lang), *a.reasons]
            strategy = a.strategy if not a.moves else "retain"
            skipped.append(_skip(a, strategy, reasons))
            continue
        tgt = candidates[0] if len(candidates) == 1 else _roomiest(candidates)
        size = map_size(
            tgt.sizes, int(node.get("vcpus") or 0), int(node.get("ram_mb") or 0), int(node.get("disk_gb") or 0)
        )
        if size is None:
            skipped.append(_skip(a, a.strategy, [_text(lang, "no_size", provider=tgt.provider), *a.reasons]))
            continue
        image = None
        if a.strategy == "replatform":
            image = pick_image(tgt.images, a.target_os_family, tgt.arch)
            if image is None:
                msg = _text(lang, "no_image", provider=tgt.provider, os=a.target_os_family or "?")
                skipped.append(_skip(a, a.strategy, [msg, *a.reasons]))
                continue
        drafts.append((a, node, tgt, size, image))

    # Placement per target provider, on the mapped sizes (what the target will really allocate).
    placements: dict[str, PlacementResult] = {}
    host_of: dict[str, str] = {}
    for t in targets:
        mine = [d for d in drafts if d[2].provider == t.provider]
        demands = [
            Demand(f"{d[0].provider}/{d[0].id}", affinity_group(d[1]), d[3].vcpus, d[3].ram_mb, d[3].disk_gb)
            for d in mine
        ]
        result = place(t.hosts, demands, {t.provider: t.ratio}, algorithm=algorithm)
        placements[t.provider] = result
        for demand, idx in zip(demands, result.assignment, strict=True):
            if idx >= 0:
                host_of[demand.key] = t.hosts[idx].name

    wave_of, waves = make_waves(
        [(f"{a.provider}/{a.id}", a.mlps_level, str(a.facts["group"] or a.system or a.id)) for a, *_ in drafts],
        wave_size,
    )
    items = []
    for a, node, tgt, size, image in drafts:
        key = f"{a.provider}/{a.id}"
        ips = [str(ip) for ip in node.get("ips") or []]
        volumes = related.volumes_by_node.get((a.provider, a.id), [])
        items.append(
            PlanItem(
                source_provider=a.provider,
                source_id=a.id,
                name=a.name,
                department=a.department,
                system=a.system,
                mlps_level=a.mlps_level,
                group=str(a.facts["group"]),
                arch=str(a.facts["arch"]),
                os_family=str(a.facts["os_family"]),
                source_ips=ips,
                strategy=a.strategy,  # type: ignore[arg-type]
                transfer="disks" if a.strategy == "rehost" and datastore_disks(node) else "image",
                target_provider=tgt.provider,
                target_host=host_of.get(key, ""),
                target_zone=tgt.zones.get(host_of.get(key, ""), ""),
                target_size=size,
                target_image_id=str(image["id"]) if image else "",
                target_image_name=str(image.get("name", "")) if image else "",
                target_os_family=a.target_os_family,
                network=map_network(nets_by_provider.get(a.provider, []), tgt.networks, ips[0] if ips else ""),
                volumes=[
                    VolumeMapping(
                        source_id=str(v["id"]),
                        name=str(v.get("name", "")),
                        size_gb=int(v.get("size_gb") or 0),
                        source_type=str(v.get("volume_type", "")),
                        target_type=map_volume_type(str(v.get("volume_type", "")), is_encrypted(v), tgt.volume_types),
                    )
                    for v in volumes
                ],
                wave=wave_of[key],
                warnings=[f.message for f in a.findings if f.effect == "warn"]
                + _spread_warning(placements[tgt.provider], affinity_group(node), lang),
            )
        )
    plan = Plan(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        target=target,
        filters=filters,
        wave_size=wave_size,
        items=items,
        skipped=skipped,
        waves=waves,
        summary=_summary(targets, placements, len(items)),
    )
    return PlanOutcome(plan=plan, placements=placements, assessments=assessments)


def datastore_disks(node: Mapping[str, Any]) -> bool:
    """A node whose disks are datastore files (vSphere): a rehost downloads them instead of
    asking the cloud for a snapshot image."""
    disks = (node.get("extra") or {}).get("disks")
    if not isinstance(disks, list) or not disks:
        return False
    return all(isinstance(d, Mapping) and d.get("datastore") and d.get("path") for d in disks)


def affinity_group(node: Mapping[str, Any]) -> str:
    """Nodes of one role inside one system are replicas: they must not share a host."""
    tags: Mapping[str, Any] = node.get("tags") or {}
    system = str(node.get("system") or node["id"])
    role = str(tags.get("role") or "")
    return f"{system}/{role}" if role else system


def _spread_warning(result: PlacementResult, group: str, lang: str) -> list[str]:
    limit = result.group_limits.get(group)
    if not limit:
        return []
    if lang.startswith("en"):
        return [f"more replicas of {group} than hosts: at most {limit} per host (soft anti-affinity)"]
    return [f"{group} 副本数多于宿主机：每台最多 {limit} 个（软反亲和）"]


def _roomiest(targets: Sequence[Target]) -> Target:
    """Several providers of one architecture in the pool: the one with most free memory."""

    def free_ram(t: Target) -> float:
        return sum(h.ram_mb * t.ratio.ram - h.ram_mb_used for h in t.hosts)

    return max(targets, key=lambda t: (free_ram(t), t.provider))


def _summary(targets: Sequence[Target], placements: Mapping[str, PlacementResult], vms: int) -> PlanSummary:
    dims: dict[str, DimensionFit] = {}
    for name in ("vcpus", "ram_mb", "disk_gb"):
        dims[name] = DimensionFit(
            demand=sum(p.demand[name] for p in placements.values()),
            capacity=sum(p.capacity[name] for p in placements.values()),
            lower_bound_hosts=sum(p.dimension_bounds.get(name, 0) for p in placements.values()),
        )
    used = sum(p.hosts_used for p in placements.values())
    bound = sum(p.lower_bound for p in placements.values())
    return PlanSummary(
        vms=vms,
        hosts_available=sum(len(t.hosts) for t in targets),
        hosts_used=used,
        lower_bound_hosts=bound,
        gap_hosts=max(0, used - bound),
        dimensions=dims,
    )


def _skip(a: Assessment, strategy: str, reasons: list[str]) -> SkippedItem:
    return SkippedItem(
        source_provider=a.provider,
        source_id=a.id,
        name=a.name,
        system=a.system,
        strategy=strategy,  # type: ignore[arg-type]
        reasons=reasons,
    )


_TEXTS = {
    "no_target": {"zh": "目标中没有可{strategy}的资源池", "en": "no target provider can take a {strategy}"},
    "no_size": {"zh": "{provider} 没有能容纳该虚拟机的规格", "en": "no size on {provider} fits this VM"},
    "no_image": {"zh": "{provider} 没有 {os} 镜像", "en": "no {os} image on {provider}"},
}


def _text(lang: str, key: str, **params: str) -> str:
    return _TEXTS[key]["en" if lang.startswith("en") else "zh"].format(**params)


def _no_target_text(strategy: str, lang: str) -> str:
    return _text(lang, "no_target", strategy=strategy)


def shortfall_text(outcome: PlanOutcome, lang: str = "zh-CN") -> str:
    """One line naming what is short, per target provider."""
    en = lang.startswith("en")
    parts = []
    units = {
        "vcpus": ("vCPU", 1.0),
        "ram_mb": ("GB RAM" if en else "GB 内存", 1024.0),
        "disk_gb": ("GB disk" if en else "GB 磁盘", 1.0),
    }
    for provider, p in outcome.placements.items():
        if p.fits:
            continue
        missing = ", ".join(
            f"{p.shortfall[d] / units[d][1]:.0f} {units[d][0]}" for d in p.shortfall if p.shortfall[d] > 0
        )
        head = (
            f"{provider}: {len(p.unplaced)} VM(s) do not fit" if en else f"{provider}：{len(p.unplaced)} 台虚拟机放不下"
        )
        tail = f" (short {missing})" if en else f"（缺 {missing}）"
        parts.append(head + (tail if missing else ""))
        for group, (n, hosts) in p.anti_affinity_short.items():
            parts.append(
                f"{group}: {n} VMs need {n} hosts for anti-affinity, {hosts} available"
                if en
                else f"{group}：反亲和需要 {n} 台宿主机，仅有 {hosts} 台"
            )
    if outcome.unmapped:
        names = ", ".join(s.name for s in outcome.unmapped[:5])
        parts.append(
            f"{len(outcome.unmapped)} VM(s) without a target size or image: {names}"
            if en
            else f"{len(outcome.unmapped)} 台虚拟机在目标上无可用规格或镜像：{names}"
        )
    return "; ".join(parts)
