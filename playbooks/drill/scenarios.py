"""Drill scenarios: one folder each, `playbooks/drills/<name>/` with `playbook.yml` and
`scenario.yaml` (titles, how the plan is made, default targets). The stages are read from the
playbook's task names (`[stage] ...`, roles included), so a new scenario is one new folder.

Folders on $GANYUN_DRILL_PATH (os.pathsep-separated) are searched after the built-in ones
and may add scenarios; a name already taken is refused, never silently replaced.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.errors import ConfigError

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "drills"
ROLES_DIR = Path(__file__).resolve().parents[1] / "roles"
PATH_ENV = "GANYUN_DRILL_PATH"
SPEC_FILE = "scenario.yaml"
PLAYBOOK_FILE = "playbook.yml"
_STAGE = re.compile(r"^\[(?P<stage>[A-Za-z0-9_.-]+)\]")

# How a scenario chooses its target and the centers it loses (engine.make_plan); `in-place`:
# the primary suffers the fault and must stay the primary.
PlanKind = Literal["same-city", "failback", "remote", "in-place"]


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rto_s: float = Field(gt=0)
    rpo_rows: int | None = Field(default=None, ge=0)
    # Remote scenarios: the data-loss window allowed is the link's delay plus this margin.
    rpo_s_over_link_delay: float | None = Field(default=None, ge=0)


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: dict[Literal["zh-CN", "en"], str]
    plan: PlanKind
    order: int = 100
    # The primary center goes down (a fault): RTO is measured from it.
    unplanned: bool = True
    # Same-city scenarios need a synchronous standby connected before they start.
    require_sync: bool = True
    targets: TargetSpec
    # Cuts links or partitions hosts: never on a member reached locally (that would cut the
    # control node itself).
    network_faults: bool = False
    # A fault that ends by itself: how long it lasts (dr.targets.<name>.heal_after_s overrides).
    heal_after_s: float | None = Field(default=None, gt=0, le=600)
    # Managers the scenario can drive (a Patroni cluster cannot be promoted behind its back).
    managers: list[Literal["streaming", "patroni"]] = Field(default_factory=lambda: ["streaming", "patroni"])  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    folder: Path
    spec: ScenarioSpec
    stages: tuple[str, ...]

    @property
    def playbook(self) -> Path:
        return self.folder / PLAYBOOK_FILE

    def title(self, lang: str) -> str:
        return self.spec.title.get("en" if lang == "en" else "zh-CN") or self.name


def search_path() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    return [BUILTIN_DIR, *extra]


def all() -> dict[str, Scenario]:
    """Every scenario, in display order."""
    return dict(_load(tuple(str(p) for p in search_path())))


def names() -> list[str]:
    return list(all())


def get(name: str) -> Scenario:
    found = all().get(name)
    if found is None:
        raise ConfigError(f"unknown scenario '{name}' (one of {', '.join(all())})")
    return found


@cache
def _load(path: tuple[str, ...]) -> tuple[tuple[str, Scenario], ...]:
    found: dict[str, Scenario] = {}
    for root in map(Path, path):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / SPEC_FILE).is_file()):
            if folder.name in found:
                raise ConfigError(f"drill scenario '{folder.name}' is defined twice ({found[folder.name].folder})")
            found[folder.name] = _scenario(folder)
    return tuple(sorted(found.items(), key=lambda kv: (kv[1].spec.order, kv[0])))


def _scenario(folder: Path) -> Scenario:
    try:
        raw = yaml.safe_load((folder / SPEC_FILE).read_text(encoding="utf-8"))
        spec = ScenarioSpec.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"drill scenario {folder.name}: bad {SPEC_FILE}: {str(exc).splitlines()[0]}") from None
    if not (folder / PLAYBOOK_FILE).is_file():
        raise ConfigError(f"drill scenario {folder.name}: {PLAYBOOK_FILE} is missing")
    return Scenario(folder.name, folder, spec, tuple(stages_of(folder / PLAYBOOK_FILE)))


def stages_of(playbook: Path) -> list[str]:
    """The `[stage]` tags of the playbook's tasks in order, roles expanded; rescue tasks left out
    (they run only when a step failed)."""
    plays = yaml.safe_load(playbook.read_text(encoding="utf-8")) or []
    out: list[str] = []
    for play in plays:
        _walk(play.get("tasks") or [], out)
    return out


def _walk(tasks: list[Any], out: list[str]) -> None:
    for task in tasks:
        if not isinstance(task, dict):
            continue
        match = _STAGE.match(str(task.get("name", "")))
        if match:
            out.append(match.group("stage"))
        if "block" in task:
            _walk(task["block"], out)
        role = task.get("ansible.builtin.include_role") or task.get("include_role")
        if isinstance(role, dict) and "name" in role:
            main = ROLES_DIR / str(role["name"]) / "tasks" / "main.yml"
            if main.is_file():
                _walk(yaml.safe_load(main.read_text(encoding="utf-8")) or [], out)


def targets(
    name: str, overrides: dict[str, Any] | None, remote_delay_s: float
) -> tuple[float, int | None, float | None]:
    """(rto_s, rpo_rows, rpo_s) of a scenario: the config's targets over the folder's defaults."""
    spec = get(name).spec.targets
    rpo_s = None if spec.rpo_s_over_link_delay is None else round(remote_delay_s + spec.rpo_s_over_link_delay, 3)
    out: dict[str, Any] = {"rto_s": spec.rto_s, "rpo_rows": spec.rpo_rows, "rpo_s": rpo_s}
    for key, value in (overrides or {}).items():
        if value is not None:
            out[key] = value
    return float(out["rto_s"]), out["rpo_rows"], out["rpo_s"]
