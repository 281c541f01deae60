"""`ganyun migrate`: assess, plan, run, status, rollback, finalize (migration into the Xinchuang pool)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from console.actions import record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import language, t
from inventory import query
from inventory.config import GanyunConfig, config_path
from inventory.plan_schema import Plan, dump_plan, load_plan
from inventory.store import Store, open_store
from providers.errors import ConfigError, PlaybookError

app = typer.Typer(no_args_is_help=True)

WhereOpt = Annotated[list[str] | None, typer.Option("--where", help="Filter KEY=VALUE (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RunArg = Annotated[int, typer.Argument(help="Run id.")]
_VM_STYLE = {
    "cut_over": "green",
    "finalized": "green",
    "running": "cyan",
    "failed": "red",
    "rollback_failed": "bold red",
}


def _setup(ctx: typer.Context) -> tuple[GanyunConfig, Store, Path]:
    cli = state(ctx)
    config = cli.config()
    return config, open_store(config.database_url), config_path(cli.config_path)


def _strategy(name: str) -> str:
    return t(f"migrate.strategy_{name}")


@app.command("assess", help="Per legacy node: rehost, replatform, retain or retire, with reasons.")
def assess_cmd(ctx: typer.Context, where: WhereOpt = None, as_json: JsonOpt = False) -> None:
    from inventory.planning import assess

    config, store, _ = _setup(ctx)
    with store.session() as session:
        results = assess(config, session, query.parse_filters(where or []), lang=language())
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in results], ensure_ascii=False, indent=2))
        return
    table = Table(title=t("migrate.assess_title", n=len(results)), show_lines=False)
    for key in ("provider", "name", "department", "system", "mlps", "strategy", "target_os", "reasons"):
        table.add_column(t(f"migrate.col_{key}"), overflow="fold")
    for a in results:
        table.add_row(
            a.provider,
            a.name,
            a.department,
            a.system,
            str(a.mlps_level or ""),
            _strategy(a.strategy),
            a.target_os_family,
            "; ".join(f.message for f in a.findings if f.effect not in ("info",))[:200],
        )
    console = Console()
    console.print(table)
    counts = Counter(a.strategy for a in results)
    console.print(
        t("migrate.assess_totals", None, **{s: counts.get(s, 0) for s in ("rehost", "replatform", "retain", "retire")})
    )


@app.command("plan", help="Size, network and storage mapping, placement and waves for one target; writes JSON.")
def plan_cmd(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--target", help="A Xinchuang pool name or one provider name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Plan file to write (JSON).")],
    where: WhereOpt = None,
    source: Annotated[str | None, typer.Option("--source", help="Only VMs of this (legacy) provider.")] = None,
    wave_size: Annotated[int, typer.Option("--wave-size", help="Most VMs per wave.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    from inventory.planning import build_plan, shortfall_text

    config, store, _ = _setup(ctx)
    filters = query.parse_filters(where or [])
    if source is not None:
        known = {p.name: p for p in config.providers}
        if source not in known:
            raise ConfigError(t("migrate.unknown_source", source=source))
        if known[source].pool == "xinchuang":
            raise ConfigError(t("migrate.source_is_target_pool", source=source))
        filters["provider"] = source
    with store.session() as session:
        outcome = build_plan(config, session, target, filters, wave_size=wave_size, lang=language())
    plan = outcome.plan
    s = plan.summary
    err = Console(stderr=True)
    lines = [
        t(
            "migrate.plan_bound",
            bound=s.lower_bound_hosts,
            used=s.hosts_used,
            gap=s.gap_hosts,
            available=s.hosts_available,
        ),
        t(
            "migrate.plan_dims",
            cpu_d=s.dimensions["vcpus"].demand,
            cpu_c=s.dimensions["vcpus"].capacity,
            ram_d=s.dimensions["ram_mb"].demand / 1024,
            ram_c=s.dimensions["ram_mb"].capacity / 1024,
            disk_d=s.dimensions["disk_gb"].demand,
            disk_c=s.dimensions["disk_gb"].capacity,
        ),
    ]
    if not outcome.fits:
        for line in lines:
            err.print(line)
        error = PlaybookError(t("migrate.plan_does_not_fit", detail=shortfall_text(outcome, language())))
        error.exit_code = 1  # type: ignore[attr-defined]
        raise error
    if not plan.items:
        raise ConfigError(t("migrate.plan_empty", skipped=len(plan.skipped)))
    dump_plan(plan, output)
    record_action(config, "migrate.plan", {"target": target, "output": str(output), "vms": len(plan.items)})
    if as_json:
        typer.echo(json.dumps({"output": str(output), **plan.summary.model_dump(mode="json")}, ensure_ascii=False))
        return
    console = Console()
    _print_items(console, plan)
    for line in lines:
        console.print(line)
    console.print(
        t("migrate.plan_written", path=output, vms=len(plan.items), waves=len(plan.waves), skipped=len(plan.skipped))
    )


def _print_items(console: Console, plan: Plan, wave: int | None = None) -> None:
    table = Table()
    for key in ("wave", "name", "system", "strategy", "target", "host", "size"):
        table.add_column(t(f"migrate.col_{key}"))
    for i in plan.wave_items(wave):
        table.add_row(
            str(i.wave),
            i.name,
            i.system,
            _strategy(i.strategy),
            i.target_provider,
            i.target_host,
            f"{i.target_size.name or i.target_size.id}",
        )
    console.print(table)


def _confirm(yes: bool, message: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfigError(t("migrate.needs_yes"))
    if not typer.confirm(message, default=False):
        raise typer.Abort()


@app.command("run", help="Run a plan (or one wave) through Ansible; re-running resumes where it stopped.")
def run_cmd(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(help="Plan JSON written by `migrate plan`.")],
    wave: Annotated[int | None, typer.Option("--wave", help="Only this wave.")] = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    sync_after: Annotated[bool, typer.Option("--sync/--no-sync", help="Sync the involved providers after.")] = True,
    fault: Annotated[list[str] | None, typer.Option("--lab-fault", hidden=True, help="Lab-only faults.")] = None,
) -> None:
    from playbooks import migration

    config, store, cfg_file = _setup(ctx)
    plan = load_plan(plan_file)
    _check_plan_is_for_this_estate(config, store, plan, plan_file)
    err = Console(stderr=True)
    run_id, resumed = migration.open_run(store, plan, wave, actor=_actor())
    todo = [v for v in migration.run_status(store, run_id)["vms"] if v["status"] not in ("cut_over", "finalized")]
    if not todo:
        err.print(t("migrate.nothing_to_run", run=run_id))
    else:
        out = err if as_json else Console()
        out.print(
            t("migrate.run_preview", n=len(todo), run=run_id, resumed=t("migrate.run_resumed") if resumed else "")
        )
        _print_items(out, plan, wave)
        _confirm(yes, t("migrate.run_confirm"))
        record_action(config, "migrate.run", {"run": run_id, "plan": str(plan_file), "wave": wave, "vms": len(todo)})
        _execute_with_progress(
            err, todo, lambda cb: migration.execute(config, cfg_file, store, run_id, on_progress=cb, faults=fault or ())
        )
    report = _report_after(config, store, run_id, as_json, err, sync=sync_after)
    if report["status"] not in ("completed", "finalized"):
        err.print(t("migrate.run_failed", run=run_id, status=report["status"]))
        raise typer.Exit(1)


def _check_plan_is_for_this_estate(config: GanyunConfig, store: Store, plan: Plan, path: Path) -> None:
    """Refuse, before a run is opened, a plan with nothing to move or made for another estate."""
    from sqlalchemy import select, tuple_

    from inventory.models import NodeRow

    if not plan.items:
        raise ConfigError(t("migrate.plan_without_vms", path=path))
    known = {p.name for p in config.providers}
    foreign = sorted({n for i in plan.items for n in (i.source_provider, i.target_provider)} - known)
    if foreign:
        raise ConfigError(t("migrate.plan_foreign_providers", path=path, providers=", ".join(foreign)))
    sources = [(i.source_provider, i.source_id) for i in plan.items]
    with store.session() as session:
        found = session.execute(
            select(NodeRow.provider).where(tuple_(NodeRow.provider, NodeRow.id).in_(sources)).limit(1)
        ).first()
    # Some sources gone is a run's business (finalized, deleted meanwhile); all of them, another inventory.
    if found is None:
        raise ConfigError(t("migrate.plan_foreign_vms", path=path, n=len(sources)))


def _actor() -> str:
    from console.actions import current_actor

    return current_actor()


def _execute_with_progress(err: Console, todo: list[dict[str, Any]], work: Any) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from playbooks.migration_steps import STEPS

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        tasks = {v["key"]: progress.add_task(v["name"], total=v["total"], completed=v["done"]) for v in todo}

        def on_progress(p: Any) -> None:
            task = tasks.get(p.key)
            if task is None:
                return
            steps = STEPS.get(p.flow or p.strategy, ())
            if p.status == "running" and p.step in steps:
                progress.update(task, completed=steps.index(p.step))
            label = t(f"migrate.vm_{p.status}")
            style = _VM_STYLE.get(p.status, "")
            detail = escape(p.message[:80]) if p.status == "running" and p.message else ""
            text = f"{escape(p.name)}: {label} {p.step} {detail}".strip()
            kwargs: dict[str, Any] = {"description": f"[{style}]{text}[/]" if style else text}
            if p.status == "cut_over":
                kwargs["completed"] = progress.tasks[task].total
            progress.update(task, **kwargs)

        result: dict[str, Any] = work(on_progress)
        return result


def _sync(config: GanyunConfig, store: Store, providers: list[str], err: Console) -> None:
    from inventory.sync import sync_all
    from security.vault import VaultCredentials

    names = [p for p in providers if any(c.name == p for c in config.providers)]
    if names:
        sync_all(config, store, only=names, vault=VaultCredentials(config))
        err.print(t("migrate.synced", providers=", ".join(names)))


def _print_status(console: Console, report: dict[str, Any]) -> None:
    from playbooks.migration import addresses_text

    if report.get("run_id") is None:
        console.print(t("migrate.no_runs"))
        return
    table = Table(
        title=t("migrate.status_title", run=report["run_id"], target=report["target"], status=report["status"])
    )
    for key in ("name", "strategy", "status", "step", "progress", "target", "addresses", "message"):
        table.add_column(t(f"migrate.col_{key}"), overflow="fold")
    for vm in report["vms"]:
        style = _VM_STYLE.get(vm["status"], "")
        status = t(f"migrate.vm_{vm['status']}")
        table.add_row(
            escape(vm["name"]),
            _strategy(vm["strategy"]),
            f"[{style}]{status}[/]" if style else status,
            vm["step"],
            f"{vm['done']}/{vm['total']}",
            vm["target"],
            escape(addresses_text(vm["addresses"])),
            escape(vm["message"][:160]),
        )
    console.print(table)


def _emit_status(report: dict[str, Any], as_json: bool) -> None:
    """A run's status as JSON or as the table: the one output of status, run, rollback and finalize."""
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_status(Console(), report)


def _report_after(
    config: GanyunConfig, store: Store, run_id: int, as_json: bool, err: Console, *, sync: bool = True
) -> dict[str, Any]:
    """After a run, rollback or finalize: resync the clouds it touched, then show where the run is.

    The sync comes first so that the inventory (and the console) already show the moved VMs.
    """
    from playbooks import migration

    if sync:
        _sync(config, store, migration.involved_providers(store, run_id), err)
    report = migration.run_status(store, run_id)
    _emit_status(report, as_json)
    return report


@app.command("status", help="Where each VM of a run is (the latest run unless --run).")
def status_cmd(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Option("--run", help="Run id.")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="List the runs instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    from console.services import migration
    from console.services.viewer import Viewer

    _, store, _ = _setup(ctx)
    operator = Viewer.operator()
    if all_runs:
        runs = migration.runs(store, operator, limit=20)
        if as_json:
            typer.echo(json.dumps(runs, ensure_ascii=False, indent=2))
            return
        table = Table()
        for key in ("run", "created", "target", "wave", "status"):
            table.add_column(t(f"migrate.col_{key}"))
        for r in runs:
            table.add_row(str(r["run_id"]), r["created_at"], r["target"], str(r["wave"] or ""), r["status"])
        Console().print(table)
        return
    _emit_status(migration.run_detail(store, operator, run), as_json)


@app.command("rollback", help="Bring the sources of a run back (also after cutover); targets are removed.")
def rollback_cmd(
    ctx: typer.Context,
    run: RunArg,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from playbooks import migration

    config, store, cfg_file = _setup(ctx)
    migration.run_status(store, run)  # unknown run -> clear error before asking
    _confirm(yes, t("migrate.rollback_confirm", run=run))
    record_action(config, "migrate.rollback", {"run": run})
    migration.rollback_run(config, cfg_file, store, run)
    _report_after(config, store, run, as_json, Console(stderr=True))


@app.command("finalize", help="Delete the stopped sources of a completed run (only when told).")
def finalize_cmd(
    ctx: typer.Context,
    run: RunArg,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from playbooks import migration

    config, store, cfg_file = _setup(ctx)
    report = migration.run_status(store, run)
    ready = [v for v in report["vms"] if v["status"] == "cut_over"]
    _confirm(yes, t("migrate.finalize_confirm", run=run, n=len(ready)))
    record_action(config, "migrate.finalize", {"run": run, "vms": len(ready)})
    migration.finalize_run(config, cfg_file, store, run)
    _report_after(config, store, run, as_json, Console(stderr=True))


COMMAND = CommandSpec("migrate", "migrate.command_help", app)
