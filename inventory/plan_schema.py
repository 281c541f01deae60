"""The migration plan as JSON: a pydantic schema that people read and `migrate run` trusts.

A plan is user-editable input (an operator may drop a VM or move it to another wave), so
it is validated before anything runs, with one clear message per bad field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from providers.errors import ConfigError

PLAN_VERSION: Literal[1] = 1
Strategy = Literal["rehost", "replatform", "retain", "retire"]
MovingStrategy = Literal["rehost", "replatform"]
# How a rehost gets the disk: a snapshot image of the cloud, or the VM's datastore files (vSphere).
Transfer = Literal["image", "disks"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SizeRef(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    vcpus: int = Field(ge=0)
    ram_mb: int = Field(ge=0)
    disk_gb: int = Field(ge=0)


class NetworkMapping(_Strict):
    source_ip: str = ""
    target_network_id: str = ""
    target_network_name: str = ""
    # True when the source address lies in the target network: a fixed-ip port keeps it.
    keep_ip: bool = False
    fixed_ip: str = ""


class VolumeMapping(_Strict):
    source_id: str
    name: str = ""
    size_gb: int = Field(ge=0)
    source_type: str = ""
    target_type: str = ""


class PlanItem(_Strict):
    source_provider: str = Field(min_length=1)
    source_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    department: str = ""
    system: str = ""
    mlps_level: int | None = None
    group: str = ""
    arch: str = ""
    os_family: str = ""
    source_ips: list[str] = Field(default_factory=list)
    strategy: MovingStrategy
    transfer: Transfer = "image"
    target_provider: str = Field(min_length=1)
    target_host: str = ""
    # The availability zone of target_host: what a boot asks for when the host may not be.
    target_zone: str = ""
    target_size: SizeRef
    # rehost boots from the converted source image; replatform from a domestic OS image.
    target_image_id: str = ""
    target_image_name: str = ""
    target_os_family: str = ""
    network: NetworkMapping = Field(default_factory=NetworkMapping)
    volumes: list[VolumeMapping] = Field(default_factory=list)
    wave: int = Field(ge=1)
    warnings: list[str] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.source_provider}/{self.source_id}"

    @model_validator(mode="after")
    def _replatform_needs_image(self) -> PlanItem:
        if self.strategy == "replatform" and not self.target_image_id:
            raise ValueError("replatform items need target_image_id (a domestic OS image of the target)")
        return self


class SkippedItem(_Strict):
    source_provider: str
    source_id: str
    name: str
    system: str = ""
    strategy: Strategy
    reasons: list[str] = Field(default_factory=list)


class Wave(_Strict):
    number: int = Field(ge=1)
    groups: list[str] = Field(default_factory=list)
    items: int = Field(ge=0)


class DimensionFit(_Strict):
    demand: float = Field(ge=0)
    capacity: float = Field(ge=0)
    lower_bound_hosts: int = Field(ge=0)


class PlanSummary(_Strict):
    vms: int = Field(ge=0)
    hosts_available: int = Field(ge=0)
    hosts_used: int = Field(ge=0)
    lower_bound_hosts: int = Field(ge=0)
    gap_hosts: int = Field(ge=0)
    dimensions: dict[str, DimensionFit] = Field(default_factory=dict)


class Plan(_Strict):
    version: Literal[1] = 1
    created_at: str
    target: str = Field(min_length=1)
    filters: dict[str, str] = Field(default_factory=dict)
    wave_size: int = Field(ge=1)
    items: list[PlanItem]
    skipped: list[SkippedItem] = Field(default_factory=list)
    waves: list[Wave] = Field(default_factory=list)
    summary: PlanSummary

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        keys = [i.key for i in self.items]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"items: duplicate source VM(s) {', '.join(dupes[:5])}")
        numbers = {w.number for w in self.waves}
        stray = sorted({i.wave for i in self.items} - numbers) if self.waves else []
        if stray:
            raise ValueError(f"items: wave(s) {stray} are not listed under waves")
        return self

    def wave_items(self, wave: int | None) -> list[PlanItem]:
        return [i for i in self.items if wave is None or i.wave == wave]


def _format(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_plan(data: object, source: str = "plan") -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid plan: {_format(exc)}") from None


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"plan file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable JSON plan: {exc}") from None
    return parse_plan(data, str(path))


def dump_plan(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps(plan.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
