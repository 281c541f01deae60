"""Normalization of what clouds report: architecture, CPU vendor, OS family, state, tags.

Clouds spell the same fact many ways (libvirt's `GenuineIntel`, a flavor's `Intel`, an image
named `Kylin-V10-SP2-arm64`); the inventory, capacity planning and the Xinchuang (信创) ratio
need one spelling each. Pure functions only: no SDK imports here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from providers.base import State

_ARCH_ALIASES: dict[str, str] = {
    "x86_64": "x86_64",
    "x86-64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "em64t": "x86_64",
    "intel64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "loongarch64": "loongarch64",
    "loong64": "loongarch64",
    "la64": "loongarch64",
    "mips64el": "mips64el",
    "mips64": "mips64el",
    "sw_64": "sw_64",
    "sw64": "sw_64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "i386": "i686",
    "i686": "i686",
    "x86": "i686",
}

# Longest aliases first so that "x86_64" wins over "x86" when scanning free text.
_ARCH_IN_TEXT = re.compile(
    r"(?<![a-z0-9])(" + "|".join(re.escape(a) for a in sorted(_ARCH_ALIASES, key=len, reverse=True)) + r")(?![a-z0-9])"
)


def normalize_arch(value: object) -> str:
    """`amd64` -> `x86_64`, `arm64` -> `aarch64`, ...; unknown spellings pass through lowercased."""
    if not isinstance(value, str) or not value.strip():
        return ""
    key = value.strip().lower()
    return _ARCH_ALIASES.get(key, key)


def arch_from_text(text: object) -> str:
    """The architecture named inside a free-form name (`openEuler-22.03-aarch64`), or ''."""
    if not isinstance(text, str):
        return ""
    match = _ARCH_IN_TEXT.search(text.lower())
    return _ARCH_ALIASES[match.group(1)] if match else ""


@dataclass(frozen=True, slots=True)
class CpuRule:
    vendor: str
    arch: str
    pattern: re.Pattern[str]
    domestic: bool = False


@cache
def cpu_rules() -> tuple[CpuRule, ...]:
    """providers/cpu_models.yaml, compiled once: vendor strings and CPU model strings."""
    raw = yaml.safe_load(files("providers").joinpath("cpu_models.yaml").read_text(encoding="utf-8"))
    return tuple(
        CpuRule(
            str(rule["vendor"]),
            str(rule["arch"]),
            re.compile("|".join(f"(?:{p})" for p in rule["patterns"])),
            bool(rule.get("domestic", False)),
        )
        for rule in raw
    )


def domestic_cpu_vendors() -> frozenset[str]:
    """The CPU vendors cpu_models.yaml marks domestic (Hygon, Kunpeng, Phytium, Loongson, ...)."""
    return frozenset(rule.vendor for rule in cpu_rules() if rule.domestic and rule.vendor)


def cpu_platform(*texts: object) -> tuple[str, str]:
    """(vendor, arch) from the first text that names a known processor (model string, CPUID
    vendor, vendor field), e.g. "Phytium FT-2000+/64" -> ("Phytium", "aarch64"); ("", "") if none."""
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        low = text.strip().lower()
        for rule in cpu_rules():
            if rule.pattern.search(low):
                return rule.vendor, rule.arch
    return "", ""


def normalize_vendor(value: object) -> str:
    """Map CPUID / libvirt / marketing vendor strings to one name (GenuineIntel -> Intel, ...)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return cpu_platform(value)[0] or value.strip()


# Only architectures that a single vendor makes: guessing Intel for every x86_64 would be
# wrong for Hygon and Zhaoxin hosts, which is exactly what the Xinchuang ratio counts.
_VENDOR_BY_ARCH = {"loongarch64": "Loongson", "mips64el": "Loongson", "sw_64": "Sunway"}


def vendor_from_arch(arch: str) -> str:
    return _VENDOR_BY_ARCH.get(arch, "")


# (needle, family) checked in order: more specific names before the ones they contain.
_OS_NEEDLES: tuple[tuple[str, str], ...] = (
    ("neokylin", "NeoKylin"),
    ("中标麒麟", "NeoKylin"),
    ("kylin", "Kylin"),
    ("麒麟", "Kylin"),
    ("uniontech", "UOS"),
    ("统信", "UOS"),
    ("uos", "UOS"),
    ("openeuler", "openEuler"),
    ("euleros", "EulerOS"),
    ("anolis", "Anolis"),
    ("龙蜥", "Anolis"),
    ("opencloudos", "OpenCloudOS"),
    ("tencentos", "TencentOS"),
    ("deepin", "Deepin"),
    ("centos", "CentOS"),
    ("rocky", "Rocky"),
    ("almalinux", "AlmaLinux"),
    ("oracle", "Oracle Linux"),
    ("rhel", "RHEL"),
    ("red hat", "RHEL"),
    ("redhat", "RHEL"),
    ("fedora", "Fedora"),
    ("windows", "Windows"),
    ("win2k", "Windows"),
    ("ubuntu", "Ubuntu"),
    ("debian", "Debian"),
    ("sles", "SUSE"),
    ("suse", "SUSE"),
    ("cirros", "CirrOS"),
    ("freebsd", "FreeBSD"),
    ("coreos", "CoreOS"),
    ("esxi", "ESXi"),
)

# The OS families above that the 信创 policy counts as domestic operating systems.
DOMESTIC_OS_FAMILIES = frozenset(
    {"NeoKylin", "Kylin", "UOS", "openEuler", "EulerOS", "Anolis", "OpenCloudOS", "TencentOS", "Deepin"}
)

# Exact distro codes that are too short to search inside longer names.
_OS_EXACT = {"win": "Windows", "el": "RHEL", "ol": "Oracle Linux", "sle": "SUSE"}


def normalize_os(*candidates: object) -> str:
    """OS family from the first candidate that names one (os_distro, then image name, ...)."""
    for value in candidates:
        if not isinstance(value, str) or not value.strip():
            continue
        low = value.strip().lower()
        if low in _OS_EXACT:
            return _OS_EXACT[low]
        for needle, family in _OS_NEEDLES:
            if needle in low:
                return family
    return ""


_STATE_WORDS: dict[str, State] = {
    # libcloud NodeState values
    "running": State.RUNNING,
    "stopped": State.STOPPED,
    "pending": State.PENDING,
    "suspended": State.SUSPENDED,
    "terminated": State.TERMINATED,
    "error": State.ERROR,
    "unknown": State.UNKNOWN,
    "rebooting": State.PENDING,
    "starting": State.PENDING,
    "stopping": State.PENDING,
    "migrating": State.PENDING,
    "reconfiguring": State.PENDING,
    "updating": State.PENDING,
    "paused": State.SUSPENDED,
    # cloud / kubernetes / storage words
    "active": State.RUNNING,
    "available": State.RUNNING,
    "in-use": State.RUNNING,
    "inuse": State.RUNNING,
    "bound": State.RUNNING,
    "ready": State.RUNNING,
    "up": State.RUNNING,
    "succeeded": State.STOPPED,
    "shutoff": State.STOPPED,
    "down": State.STOPPED,
    "halted": State.STOPPED,
    "deactivated": State.STOPPED,
    "build": State.PENDING,
    "building": State.PENDING,
    "creating": State.PENDING,
    "queued": State.PENDING,
    "saving": State.PENDING,
    "uploading": State.PENDING,
    "importing": State.PENDING,
    "attaching": State.PENDING,
    "detaching": State.PENDING,
    "extending": State.PENDING,
    "backing-up": State.PENDING,
    "restoring-backup": State.PENDING,
    "provisioning": State.PENDING,
    "scheduling": State.PENDING,
    "scheduled": State.PENDING,
    "waitingforvolumebinding": State.PENDING,
    "resize": State.PENDING,
    "verify_resize": State.PENDING,
    "reboot": State.PENDING,
    "hard_reboot": State.PENDING,
    "rescue": State.SUSPENDED,
    "shelved": State.STOPPED,
    "shelved_offloaded": State.STOPPED,
    "killed": State.ERROR,
    "failed": State.ERROR,
    "crashloopbackoff": State.ERROR,
    "error_deleting": State.ERROR,
    "error_restoring": State.ERROR,
    "error_extending": State.ERROR,
    "lost": State.ERROR,
    "deleted": State.TERMINATED,
    "deleting": State.TERMINATED,
    "pending_delete": State.TERMINATED,
    "soft_deleted": State.TERMINATED,
    "released": State.TERMINATED,
}


def normalize_state(value: object) -> State:
    """Any provider's status word -> a State with libcloud's NodeState names."""
    if isinstance(value, State):
        return value
    word = getattr(value, "value", value)  # libcloud's NodeState is a str-valued Type
    if not isinstance(word, str):
        return State.UNKNOWN
    return _STATE_WORDS.get(word.strip().lower(), State.UNKNOWN)


def parse_cpu_info(raw: object) -> dict[str, Any]:
    """Nova's hypervisor `cpu_info` is a JSON string (older: a dict); bad input -> {}."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def parse_time(value: object) -> datetime | None:
    """ISO 8601 (with Z or offset, or naive = UTC) -> aware datetime; anything else -> None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def string_tags(raw: object) -> dict[str, str]:
    """Tags/metadata in any of the usual shapes -> {str: str}.

    Accepts a mapping, or a list of {Key, Value} / {key, value} / {TagKey, TagValue} pairs
    (EC2, Aliyun), so every driver's tags land the same way.
    """
    out: dict[str, str] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if v is not None and not isinstance(v, Mapping | list):
                out[str(k)] = str(v)
        return out
    if isinstance(raw, Iterable) and not isinstance(raw, str | bytes):
        for item in raw:
            if not isinstance(item, Mapping):
                continue
            key = item.get("Key", item.get("key", item.get("TagKey")))
            value = item.get("Value", item.get("value", item.get("TagValue")))
            if key is not None and value is not None:
                out[str(key)] = str(value)
    return out


def as_int(value: object, default: int = 0) -> int:
    """Counts as APIs send them (int, float, numeric string, None)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def plain_data(value: Any, depth: int = 0) -> Any:
    """Keep only JSON-ready data from a driver's `extra` (it may hold SDK objects)."""
    if depth > 4:
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        out = {str(k): plain_data(v, depth + 1) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and k not in ("password", "adminPass")}
    if isinstance(value, list | tuple):
        return [plain_data(v, depth + 1) for v in value]
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return None
