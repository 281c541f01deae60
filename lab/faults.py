"""Fault injection per lab cloud: what a misbehaving government cloud does to a collector, and
how slowly and unreliably a real OpenStack does what a migration asks of it.

Faults come from the lab config at start (`lab up --faults FILE`, `--image-seconds`,
`--boot-seconds`, `--flaky`) and from `POST /_lab/faults` at run time
(`ganyun lab fault --set KIND[=VALUE]`). The lab server persists them with its state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Kinds that `forbidden` / `missing` accept; a request belongs to one or more of them.
RESOURCE_KINDS = (
    "servers",
    "flavors",
    "hypervisors",
    "aggregates",
    "images",
    "volumes",
    "snapshots",
    "volume_types",
    "networks",
    "subnets",
    "ports",
    "security_groups",
    "floating_ips",
)
FAULT_KINDS = (
    "latency_ms",
    "http500",
    "timeout",
    "garbage",
    "unauthorized",
    "truncated",
    "forbidden",
    "missing",
    "boot_error",
    "image_seconds",
    "boot_seconds",
    "image_failures",
    "boot_failures",
    "no_forced_host",
    "rename_during",
)
# Kinds whose value is a fraction of calls (0..1) and kinds whose value is a duration.
_FRACTIONS = ("http500", "image_failures", "boot_failures")
_SECONDS = ("timeout", "image_seconds", "boot_seconds")
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_SLOW_S = 30.0
RENAME_HOLD_S = 1.5


class FaultError(ValueError):
    """A fault specification that cannot be applied."""


@dataclass(slots=True)
class Faults:
    latency_ms: int = 0  # added to every request, identity included
    http500: float = 0.0  # fraction of service calls answered 500 (1.0 = every call)
    timeout: float = 0.0  # seconds a service call sleeps before answering (past the client timeout)
    garbage: bool = False  # 200 with malformed JSON
    unauthorized: bool = False  # 401, identity included
    truncated: bool = False  # list pages after the first are cut mid-body
    forbidden: list[str] = field(default_factory=list)  # 403 on these kinds (non-admin tenant)
    missing: list[str] = field(default_factory=list)  # 404 on these kinds (service not offered)
    boot_error: bool = False  # new servers end in ERROR
    # Real OpenStack's timing: a snapshot or an uploaded image goes queued -> saving -> active over
    # image_seconds; a new server is BUILD for boot_seconds (0: the lab's own short default).
    image_seconds: float = 0.0
    boot_seconds: float = 0.0
    # Fractions of new images that end `killed` and of new servers that end in ERROR: transient,
    # the next attempt may well succeed (1 in 1/fraction fails, deterministically).
    image_failures: float = 0.0
    boot_failures: float = 0.0
    no_forced_host: bool = False  # the account may not pick a host (Nova policy): 403 on `zone:host`
    # A tenant acting while a collector reads: the first request for this kind renames the first
    # server ("<name>-renamed") and is answered RENAME_HOLD_S later (the listing goes on past
    # the change). Fires once, then clears itself.
    rename_during: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        out = cls()
        for key, value in data.items():
            out.set(key, value)
        return out

    def active(self) -> dict[str, Any]:
        """Only the faults that are switched on."""
        default = Faults()
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)
        }

    def set(self, kind: str, value: Any = None) -> None:
        """Set one fault; `value` None means the natural "on" value of that kind."""
        kind = kind.strip().replace("-", "_")
        if kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault '{kind}' (one of {', '.join(FAULT_KINDS)})")
        try:
            if kind == "latency_ms":
                self.latency_ms = max(0, int(value if value is not None else 50))
            elif kind in _FRACTIONS:
                rate = (1.0 if kind == "http500" else 0.5) if value is None else float(value)
                if not 0.0 <= rate <= 1.0:
                    raise FaultError(f"{kind} takes a fraction between 0 and 1")
                setattr(self, kind, rate)
            elif kind in _SECONDS:
                default = DEFAULT_TIMEOUT_S if kind == "timeout" else DEFAULT_SLOW_S
                seconds = float(value if value is not None else default)
                if not math.isfinite(seconds):
                    raise FaultError(f"{kind} takes a number of seconds")
                setattr(self, kind, max(0.0, seconds))
            elif kind == "rename_during" and value == "":
                self.rename_during = ""
            elif kind == "rename_during":
                chosen = _kinds(value if value is not None else "volumes")
                if len(chosen) != 1:
                    raise FaultError("rename_during takes one kind, e.g. rename_during=volumes")
                self.rename_during = chosen[0]
            elif kind in ("forbidden", "missing"):
                setattr(self, kind, _kinds(value))
            else:
                setattr(self, kind, _flag(value))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad value for fault '{kind}': {value!r}") from None


def _flag(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _kinds(value: Any) -> list[str]:
    if value is None:
        raise FaultError("forbidden/missing need kinds, e.g. forbidden=hypervisors,volumes")
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    kinds = sorted({str(k).strip().replace("-", "_") for k in items if str(k).strip()})
    unknown = [k for k in kinds if k not in RESOURCE_KINDS]
    if unknown:
        raise FaultError(f"unknown kind(s) {', '.join(unknown)} (one of {', '.join(RESOURCE_KINDS)})")
    return kinds


def parse_assignment(text: str) -> tuple[str, str | None]:
    """`KIND[=VALUE]` from the command line."""
    kind, sep, value = text.partition("=")
    return kind.strip(), (value.strip() if sep else None)


class FailureCounter:
    """Deterministic fraction: call n fails when floor(n*rate) steps, so 0.25 fails exactly 1 in 4."""

    def __init__(self) -> None:
        self.calls = 0

    def should_fail(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        self.calls += 1
        return int(self.calls * rate) != int((self.calls - 1) * rate)
