"""Migration assessment: per legacy node, a strategy with reasons from preflight rules kept as data.

Strategies: rehost (same guest, converted image, x86_64 target), replatform (new node with a
domestic OS on aarch64, application and data moved), retain, retire. The rules live in
preflight_rules.yaml so that the migration office can change policy without code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from providers.errors import ConfigError

RULES_FILE = Path(__file__).with_name("preflight_rules.yaml")
EFFECTS = (
    "retire",
    "retain",
    "no_rehost",
    "no_replatform",
    "prefer_rehost",
    "prefer_replatform",
    "warn",
    "info",
)
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is")
TARGET_ARCH = {"rehost": "x86_64", "replatform": "aarch64"}
# Set on a source at cutover (metadata), so that a later plan does not move it twice.
MIGRATED_TAG = "ganyun_migrated_to"
_PINNING_SPECS = ("hw:cpu_policy",)
_PASSTHROUGH_KEYS = ("pci_passthrough:alias", "pci_passthrough", "gpu", "passthrough")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Mapping[str, Mapping[str, Any]]
    effect: str
    message: Mapping[str, str]

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(_test(facts.get(name), cond) for name, cond in self.when.items())

    def text(self, facts: Mapping[str, Any], lang: str) -> str:
        template = self.message.get("en" if lang.startswith("en") else "zh", self.id)
        try:
            return template.format(**facts)
        except (KeyError, IndexError, ValueError):
            return template


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    os_support: Mapping[str, tuple[str, ...]]
    replatform_os: Mapping[str, str]


def _test(value: Any, cond: Mapping[str, Any]) -> bool:
    for op, expected in cond.items():
        if op == "eq" and value != expected:
            return False
        if op == "ne" and value == expected:
            return False
        if op == "in" and value not in expected:
            return False
        if op == "not_in" and value in expected:
            return False
        if op in ("gt", "gte", "lt", "lte"):
            if value is None:
                return False
            if op == "gt" and not value > expected:
                return False
            if op == "gte" and not value >= expected:
                return False
            if op == "lt" and not value < expected:
                return False
            if op == "lte" and not value <= expected:
                return False
        if op == "is" and bool(value) is not bool(expected):
            return False
    return True


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    """Validate the rules file: a typo in policy must fail loudly, not silently match nothing."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'rules' list")
    rules = []
    seen: set[str] = set()
    for n, raw in enumerate(data["rules"]):
        where = f"{source}: rules[{n}]"
        if not isinstance(raw, dict) or not raw.get("id"):
            raise ConfigError(f"{where}: needs an id")
        rid = str(raw["id"])
        if rid in seen:
            raise ConfigError(f"{where}: duplicate id '{rid}'")
        seen.add(rid)
        effect = raw.get("effect")
        if effect not in EFFECTS:
            raise ConfigError(f"{where} ({rid}): effect must be one of {', '.join(EFFECTS)}")
        when = raw.get("when") or {}
        if not isinstance(when, dict) or not all(isinstance(c, dict) for c in when.values()):
            raise ConfigError(f"{where} ({rid}): 'when' maps facts to {{operator: value}}")
        bad = sorted({str(op) for c in when.values() for op in c} - set(OPERATORS))
        if bad:
            raise ConfigError(f"{where} ({rid}): unknown operator(s) {', '.join(bad)}")
        message = raw.get("message") or {}
        if not isinstance(message, dict) or not {"zh", "en"} <= set(message):
            raise ConfigError(f"{where} ({rid}): message needs zh and en")
        rules.append(Rule(rid, when, str(effect), {k: str(v) for k, v in message.items()}))
    support = {str(a): tuple(str(o) for o in oses) for a, oses in (data.get("os_support") or {}).items()}
    mapping = {str(k): str(v) for k, v in (data.get("replatform_os") or {}).items()}
    return RuleSet(tuple(rules), support, mapping)


@cache
def default_rules() -> RuleSet:
    return load_rules(RULES_FILE)


def load_rules(path: Path) -> RuleSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"preflight rules {path}: unreadable: {exc}") from None
    return parse_rules(data, str(path))


# --------------------------------------------------------------------------- facts


@dataclass(slots=True)
class Related:
    """What a node's facts need besides the node: its volumes, snapshots and image formats."""

    volumes_by_node: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    snapshots_by_volume: dict[tuple[str, str], int] = field(default_factory=dict)
    image_format: dict[tuple[str, str], str] = field(default_factory=dict)
    group_of_system: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        volumes: Iterable[Mapping[str, Any]],
        snapshots: Iterable[Mapping[str, Any]],
        images: Iterable[Mapping[str, Any]],
        groups: Mapping[str, tuple[str, int]] | None = None,
    ) -> Related:
        out = cls(group_of_system=dict(groups or {}))
        for v in volumes:
            for node_id in v.get("attached_to") or ():
                out.volumes_by_node.setdefault((str(v["provider"]), str(node_id)), []).append(dict(v))
        for s in snapshots:
            key = (str(s["provider"]), str(s.get("volume_id", "")))
            out.snapshots_by_volume[key] = out.snapshots_by_volume.get(key, 0) + 1
        for i in images:
            out.image_format[(str(i["provider"]), str(i["id"]))] = str(i.get("disk_format") or "")
        return out


def is_encrypted(volume: Mapping[str, Any]) -> bool:
    vtype = str(volume.get("volume_type", "")).lower()
    return bool(volume.get("encrypted")) or "luks" in vtype or "sm4" in vtype


def node_facts(node: Mapping[str, Any], related: Related, target_arch: str = "") -> dict[str, Any]:
    provider = str(node["provider"])
    volumes = related.volumes_by_node.get((provider, str(node["id"])), [])
    snaps = sum(related.snapshots_by_volume.get((provider, str(v["id"])), 0) for v in volumes)
    extra: Mapping[str, Any] = node.get("extra") or {}
    specs: Mapping[str, Any] = extra.get("flavor_extra_specs") or extra.get("extra_specs") or {}
    pinned = any(str(specs.get(k, "")).lower() == "dedicated" for k in _PINNING_SPECS) or bool(extra.get("pinned"))
    passthrough = any(k in specs or k in extra for k in _PASSTHROUGH_KEYS)
    os_family = str(node.get("os_family") or "")
    system = str(node.get("system") or "")
    group, group_size = related.group_of_system.get(system, (system, 1))
    ips = list(node.get("ips") or [])
    tags: Mapping[str, Any] = node.get("tags") or {}
    return {
        "arch": str(node.get("arch") or ""),
        "os_family": os_family,
        "state": str(node.get("state") or "unknown"),
        "disk_format": related.image_format.get((provider, str(node.get("image") or "")), ""),
        "volumes": len(volumes),
        "encrypted_volumes": sum(1 for v in volumes if is_encrypted(v)),
        "snapshots": snaps,
        "nics": len(ips),
        "static_ip": bool(ips),
        "pinned": pinned,
        "passthrough": passthrough,
        "mlps_level": node.get("mlps_level"),
        "group": group,
        "group_size": group_size,
        "windows": os_family.lower().startswith("windows"),
        "target_arch": target_arch,
        "migrated": bool(tags.get(MIGRATED_TAG)),
        "migrated_to": str(tags.get(MIGRATED_TAG, "")),
    }


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    effect: str
    message: str


@dataclass(frozen=True, slots=True)
class Assessment:
    provider: str
    id: str
    name: str
    department: str
    system: str
    mlps_level: int | None
    strategy: str
    target_arch: str
    target_os_family: str
    findings: tuple[Finding, ...]
    facts: Mapping[str, Any]

    @property
    def moves(self) -> bool:
        return self.strategy in TARGET_ARCH

    @property
    def reasons(self) -> list[str]:
        return [f.message for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "id": self.id,
            "name": self.name,
            "department": self.department,
            "system": self.system,
            "mlps_level": self.mlps_level,
            "strategy": self.strategy,
            "target_arch": self.target_arch,
            "target_os_family": self.target_os_family,
            "reasons": [{"rule": f.rule, "effect": f.effect, "message": f.message} for f in self.findings],
        }


def _support_findings(facts: Mapping[str, Any], rules: RuleSet, lang: str) -> list[Finding]:
    """OS support in the target pool is table data, not a rule per OS: derive the blocks here."""
    out = []
    os_family = facts["os_family"]
    x86 = rules.os_support.get("x86_64", ())
    if os_family and os_family not in x86:
        en = f"{os_family} is not supported on the x86_64 Xinchuang pool"
        zh = f"{os_family} 不在 x86_64 信创池支持列表"
        out.append(Finding("os-support-x86_64", "no_rehost", en if lang.startswith("en") else zh))
    if os_family and os_family not in rules.replatform_os and not facts["windows"]:
        en = f"no domestic OS mapped for {os_family}"
        zh = f"{os_family} 没有对应的国产操作系统映射"
        out.append(Finding("os-support-aarch64", "no_replatform", en if lang.startswith("en") else zh))
    return out


def assess_node(
    node: Mapping[str, Any],
    related: Related,
    rules: RuleSet | None = None,
    *,
    force: str = "",
    lang: str = "zh-CN",
) -> Assessment:
    """Decide a strategy. `force` ("rehost"/"replatform") is the target's architecture speaking:
    a plan onto xc-kunpeng can only replatform, so a rehost-only node is retained there."""
    rules = rules or default_rules()
    facts = node_facts(node, related, TARGET_ARCH.get(force, ""))
    findings = [Finding(r.id, r.effect, r.text(facts, lang)) for r in rules.rules if r.matches(facts)]
    findings += _support_findings(facts, rules, lang)
    effects = {f.effect for f in findings}
    possible = [s for s in ("replatform", "rehost") if f"no_{s}" not in effects]
    if "retire" in effects:
        strategy = "retire"
    elif "retain" in effects or not possible:
        strategy = "retain"
    elif force:
        strategy = force if force in possible else "retain"
    elif "prefer_replatform" in effects and "replatform" in possible:
        strategy = "replatform"
    elif "rehost" in possible:
        strategy = "rehost"
    else:
        strategy = possible[0]
    if force and strategy == "retain" and "retain" not in effects and force not in possible:
        blocked = [f for f in findings if f.effect == f"no_{force}"]
        findings = blocked + [f for f in findings if f not in blocked]
    target_os = ""
    if strategy == "replatform":
        target_os = rules.replatform_os.get(facts["os_family"], "")
    elif strategy == "rehost":
        target_os = facts["os_family"]
    # Show what decided first: blocks, then warnings, then notes.
    order = {e: n for n, e in enumerate(EFFECTS)}
    findings.sort(key=lambda f: order[f.effect])
    return Assessment(
        provider=str(node["provider"]),
        id=str(node["id"]),
        name=str(node.get("name") or node["id"]),
        department=str(node.get("department") or ""),
        system=str(node.get("system") or ""),
        mlps_level=node.get("mlps_level"),
        strategy=strategy,
        target_arch=TARGET_ARCH.get(strategy, ""),
        target_os_family=target_os,
        findings=tuple(findings),
        facts=facts,
    )


def system_groups(systems: Sequence[Any], present: Iterable[str]) -> dict[str, tuple[str, int]]:
    """Union of systems that must move together (config systems[].move_with): system -> (group, size)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name in present:
        find(name)
    for system in systems:
        for other in getattr(system, "move_with", ()) or ():
            a, b = find(system.name), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for name in list(parent):
        members.setdefault(find(name), []).append(name)
    out: dict[str, tuple[str, int]] = {}
    for root, names in members.items():
        for name in names:
            out[name] = (root, len(names))
    return out
