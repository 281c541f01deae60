"""The newcomer's tour behind `make demo`: start the lab and give every console page content.

Each step is the `ganyun` command a user would type, run as its own process, timed, its
output kept in D/logs/demo-NN-<step>.log; one line per step says what ran and how long it
took. Only the lab itself is required: when a later step fails the tour goes on (the console
still has the rest to show) and ends with exit 1 naming the log to read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from console.i18n import t
from lab.catalog import SCALES
from providers.errors import ConfigError, GanyunError

PLAN_FILE = "migration-plan.json"
# The planted migration candidates of the lab (legacy x86 clouds) and the Kunpeng pool.
PLAN_TARGET = "xc-kunpeng"
PLAN_WHERE = "department=市人社局"


@dataclass(frozen=True)
class Step:
    key: str  # console/locales/lab.yaml: demo_<key>
    argv: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True)
class Outcome:
    step: Step
    returncode: int
    seconds: float
    log: Path


def steps(lab_dir: Path, scale: str) -> list[Step]:
    return [
        Step(
            "lab_up",
            ("lab", "up", "--dir", str(lab_dir), "--scale", scale, "--tls", "--dr", "--prometheus"),
            required=True,
        ),
        Step("sync", ("sync",)),
        Step("certs_scan", ("certs", "scan", "--from-inventory")),
        Step("comply_audit", ("comply", "audit", "--level", "3")),
        Step("switchover", ("drill", "run", "--scenario", "switchover", "--yes")),
        # Back home after the planned switchover: failback re-points every standby at gz-prod.
        Step("switch_back", ("drill", "run", "--scenario", "failback", "--yes")),
        Step("migrate_plan", ("migrate", "plan", "--target", PLAN_TARGET, "--where", PLAN_WHERE,
                              "--output", str(lab_dir / PLAN_FILE))),
    ]  # fmt: skip


def ganyun_command() -> list[str]:
    """The `ganyun` script of this installation (beside this Python), else the module."""
    script = Path(sys.executable).with_name("ganyun")
    if script.is_file():
        return [str(script)]
    found = shutil.which("ganyun")
    return [found] if found else [sys.executable, "-m", "console"]


class DemoFailed(GanyunError):
    """A step of the tour failed; its log says why."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run(lab_dir: Path, scale: str) -> None:
    """Run the tour; DemoFailed names the first failed step (the lab's own code when it cannot start)."""
    if scale not in SCALES:
        raise ConfigError(f"unknown lab scale '{scale}' (one of {', '.join(SCALES)})")
    started = time.monotonic()
    todo = steps(lab_dir, scale)  # as given: the commands shown are the ones a user would type
    outcomes: list[Outcome] = []
    env = {**os.environ, "GANYUN_CONFIG": str(lab_dir.resolve() / "ganyun.yaml")}
    for number, step in enumerate(todo, start=1):
        command = "ganyun " + " ".join(step.argv)
        label = t(f"lab.demo_{step.key}")
        typer.echo(t("lab.demo_step", n=number, total=len(todo), label=label, command=command), nl=False)
        outcome = _run_step(step, number, lab_dir, env)
        outcomes.append(outcome)
        result = "lab.demo_done" if outcome.returncode == 0 else "lab.demo_step_failed"
        typer.echo(t(result, seconds=f"{outcome.seconds:.1f}", code=outcome.returncode, log=outcome.log))
        if outcome.returncode != 0 and step.required:
            break
    typer.echo(t("lab.demo_total", seconds=f"{time.monotonic() - started:.1f}"))
    typer.echo(t("lab.demo_next", config=lab_dir / "ganyun.yaml", accounts=lab_dir / "accounts.txt", dir=lab_dir))
    failed = [o for o in outcomes if o.returncode != 0]
    if failed:
        first = failed[0]
        code = first.returncode if first.step.required and first.returncode in (1, 2) else 1
        label = t(f"lab.demo_{first.step.key}")
        raise DemoFailed(t("lab.demo_failed", n=len(failed), label=label, log=first.log), code)


def _run_step(step: Step, number: int, lab_dir: Path, env: dict[str, str]) -> Outcome:
    log_dir = lab_dir / "logs"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{log_dir}: {exc.strerror}") from None
    log = log_dir / f"demo-{number:02d}-{step.key}.log"
    begin = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.run(
            [*ganyun_command(), *step.argv], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            check=False,
        ).returncode  # fmt: skip
    return Outcome(step, code, time.monotonic() - begin, log)
