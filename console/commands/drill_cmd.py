"""`ganyun drill`: two-site three-center DR drills (run, status, history, report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import language, t
from inventory.config import GanyunConfig, config_path
from providers.errors import ConfigError, GanyunError

app = typer.Typer(no_args_is_help=True)
_err = Console(stderr=True)


def _scenario_help() -> str:
    from playbooks.drill import scenarios

    return " | ".join(scenarios.names())


class DrillNotPassed(GanyunError):
    """A drill ran but missed a target, lost data or was refused: the answer is "no"."""

    exit_code = 1


def _config(ctx: typer.Context) -> tuple[GanyunConfig, Path]:
    """The configuration and its file; refused when it describes no DR clusters."""
    cli = state(ctx)
    cfg = cli.config()
    if not cfg.dr.configured:
        raise ConfigError(t("drill.no_dr"))
    return cfg, config_path(cli.config_path).resolve()


def _title(name: str) -> str:
    from playbooks.drill import scenarios

    return scenarios.get(name).title(language())


def _labels() -> dict[str, str]:
    from playbooks.drill.report import LABEL_KEYS

    return {k: f"{t('drill.' + k, lang='zh-CN')} / {t('drill.' + k, lang='en')}" for k in LABEL_KEYS}


def _show_plan(plan: Any, targets: Any) -> None:
    table = Table(title=t("drill.plan_title", scenario=plan.scenario), show_header=False)
    table.add_row(t("drill.plan_primary"), plan.primary)
    table.add_row(t("drill.plan_target"), plan.target)
    if plan.lost:
        table.add_row(t("drill.plan_lost"), ", ".join(plan.lost))
    table.add_row(t("drill.plan_followers"), ", ".join(plan.followers) or "-")
    rpo = (
        t("drill.rpo_rows", rows=targets.rpo_rows)
        if targets.rpo_rows is not None
        else t("drill.rpo_seconds", seconds=targets.rpo_s)
    )
    table.add_row(t("drill.plan_targets"), t("drill.targets_text", rto=targets.rto_s, rpo=rpo))
    _err.print(table)


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option("--scenario", help=_scenario_help())],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the drill report as JSON.")] = False,
) -> None:
    """Run a DR drill; exit 1 when a target is missed, data was lost or the drill was refused."""
    from inventory.store import open_store
    from playbooks.drill import engine, history, scenarios
    from playbooks.drill.cluster import ops_for

    if scenario not in scenarios.names():
        raise ConfigError(f"--scenario must be one of {', '.join(scenarios.names())}")
    cfg, config_file = _config(ctx)
    targets = engine.targets_for(cfg, scenario)
    ops = ops_for(cfg, config_file)
    if scenarios.get(scenario).spec.plan != "failback":
        engine.wait_healthy(ops, cfg.dr.healthy_wait_s)
    plan = engine.make_plan(ops, cfg, scenario)
    _show_plan(plan, targets)
    if not yes:
        typer.confirm(t("drill.confirm", scenario=_title(scenario)), abort=True)
    store = open_store(cfg.database_url)
    stages = scenarios.get(scenario).stages
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=_err,
        transient=as_json,
    ) as progress:
        bar = progress.add_task(t("drill.running"), total=len(stages))

        def on_event(event: Any) -> None:
            if event.stage and event.event in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
                progress.update(bar, advance=1, description=t("drill.stage", stage=event.stage))

        try:
            report = engine.run_drill(cfg, config_file, scenario, targets, on_event=on_event, plan=plan, ops=ops)
        except GanyunError as exc:
            # The drill may have promoted or fenced clusters before it failed: that is logged too.
            record_action(cfg, "drill.run", {"scenario": scenario, "status": "error", "error": str(exc)})
            raise
    history.save(store, report)
    store.dispose()
    record_action(cfg, "drill.run", {"scenario": scenario, "run_id": report["run_id"], "status": report["status"],
                                     "passed": report["passed"], "rto_s": report["measurements"].get("rto_s"),
                                     "rows_lost": report["measurements"].get("rows_lost")})  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    _summarize(report)


def _summarize(report: dict[str, Any]) -> None:
    m = report["measurements"]
    if report["status"] == "interrupted":
        _err.print(
            t("drill.interrupted", primaries=", ".join(report["writable_primaries"]) or "-", run_id=report["run_id"])
        )
        raise typer.Exit(130)
    if report["passed"]:
        _err.print(
            t(
                "drill.result_passed",
                rto=m["rto_s"] if m["rto_s"] is not None else "-",
                target=report["targets"]["rto_s"],
                lost=m["rows_lost"],
                equal=t("drill.answer_yes") if report["verification"].get("equal") else t("drill.answer_no"),
            )
        )
        return
    missed = [c["name"] for c in report["checks"] if not c["met"]]
    reason = report["message"] or ", ".join(missed)
    raise DrillNotPassed(t("drill.result_failed", status=report["status"], reason=reason))


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """The drill scenarios: name, title, the HA managers each can drive, default targets."""
    from playbooks.drill import scenarios

    found = scenarios.all()
    if as_json:
        rows = [{"name": name, "title": dict(sc.spec.title), "managers": list(sc.spec.managers),
                 "targets": sc.spec.targets.model_dump(), "heal_after_s": sc.spec.heal_after_s}
                for name, sc in found.items()]  # fmt: skip
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    table = Table()
    for key in ("scenario", "scenario_title", "managers", "target"):
        table.add_column(t(f"drill.{key}"))
    for name, sc in found.items():
        spec = sc.spec.targets
        rpo = (
            t("drill.rpo_rows", rows=spec.rpo_rows)
            if spec.rpo_rows is not None
            else t("drill.rpo_over_delay", seconds=spec.rpo_s_over_link_delay)
        )
        table.add_row(
            name, sc.title(language()), ", ".join(sc.spec.managers), t("drill.targets_text", rto=spec.rto_s, rpo=rpo)
        )
    Console().print(table)


@app.command("status")
def status_cmd(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False
) -> None:
    """Each center's role, timeline, LSN and lag behind the primary."""
    from playbooks.drill.cluster import ops_for, with_lag

    cfg, config_file = _config(ctx)
    ops = ops_for(cfg, config_file)
    statuses = ops.status()
    if as_json:
        typer.echo(json.dumps({c: s.to_dict() for c, s in statuses.items()}, ensure_ascii=False, indent=1))
        return
    table = Table()
    for key in ("center", "role"):
        table.add_column(t(f"drill.{key}"))
    for head in ("timeline", "LSN", "lag (bytes)"):
        table.add_column(head)
    for center, st in with_lag(ops.members, statuses).items():
        table.add_row(center, st.role, str(st.timeline or "-"), str(st.lsn or "-"),
                      "-" if st.lag_bytes is None else str(st.lag_bytes))  # fmt: skip
    Console().print(table)


@app.command("history")
def history_cmd(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False
) -> None:
    """Past drills, newest first."""
    from console.services import drills
    from console.services.viewer import Viewer
    from inventory.store import open_store

    store = open_store(state(ctx).config().database_url)
    rows = drills.runs(store, Viewer.operator())
    store.dispose()
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        typer.echo(t("drill.no_history"))
        return
    table = Table()
    for key in ("run_id", "scenario", "status", "started", "primary_before", "primary_after"):
        table.add_column(t(f"drill.{key}"))
    table.add_column("RTO (s)")
    table.add_column(t("drill.rows"))
    for r in rows:
        table.add_row(
            r["run_id"],
            r["scenario"],
            r["status"],
            str(r["started_at"]),
            r["primary_before"],
            r["primary_after"],
            str(r["rto_s"]),
            str(r["rpo_rows_lost"]),
        )
    Console().print(table)


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The drill run id (see `ganyun drill history`).")],
    fmt: Annotated[str, typer.Option("--format", help="html | json")] = "html",
    output: Annotated[Path | None, typer.Option("--output", help="File to write (else stdout).")] = None,
) -> None:
    """A stored drill report as HTML (bilingual labels) or JSON."""
    from console.services import drills
    from console.services.viewer import Viewer
    from inventory.store import open_store
    from playbooks.drill.report import render_html

    if fmt not in ("html", "json"):
        raise ConfigError("--format must be html or json")
    store = open_store(state(ctx).config().database_url)
    report = drills.report(store, Viewer.operator(), run_id)
    store.dispose()
    if report is None:
        raise ConfigError(t("drill.no_run", run_id=run_id))
    text = render_html(report, _labels()) if fmt == "html" else json.dumps(report, ensure_ascii=False, indent=1)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    _err.print(t("drill.report_saved", path=output))


COMMAND = CommandSpec("drill", "drill.command_help", app)
