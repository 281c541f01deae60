"""`ganyun sync`: collect every provider, with a progress line each, then a summary."""

from __future__ import annotations

import json
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from console.commands import CommandSpec
from console.context import state
from console.i18n import t
from inventory.store import open_store
from inventory.sync import SyncReport, sync_all
from security.vault import VaultCredentials

_STYLE = {"ok": "green", "partial": "yellow", "failed": "bold red"}


def sync(
    ctx: typer.Context,
    only: Annotated[list[str] | None, typer.Option("--only", help="Sync only this provider (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="List every node again instead of changes since the last sync.")
    ] = False,
) -> None:
    config = state(ctx).config()
    store = open_store(config.database_url)
    err = Console(stderr=True)
    if as_json:
        report = sync_all(config, store, only=only or (), full=full, vault=VaultCredentials(config))
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        report = _sync_with_progress(config, store, only or (), err, full)
        Console().print(summary_table(report))
    _record_audit(config, report)
    if report.failed:
        raise typer.Exit(1)


def _sync_with_progress(config, store, only, err: Console, full: bool) -> SyncReport:  # type: ignore[no-untyped-def]
    names = [p.name for p in config.providers if not only or p.name in only]
    lock = threading.Lock()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=False
    ) as progress:
        tasks = {name: progress.add_task(f"{name}: {t('sync.waiting')}", total=1) for name in names}

        def on_progress(name: str, phase: str) -> None:
            with lock:
                task = tasks.get(name)
                if task is None:
                    return
                done = phase in ("ok", "partial", "failed")
                label = t(f"sync.phase_{phase}")
                style = _STYLE.get(phase, "")
                text = f"[{style}]{name}: {label}[/]" if style else f"{name}: {label}"
                progress.update(task, description=text, completed=1 if done else 0)

        return sync_all(config, store, only=only, progress=on_progress, full=full, vault=VaultCredentials(config))


def summary_table(report: SyncReport) -> Table:
    table = Table(title=t("sync.summary_title", run=report.run_id))
    for key in ("provider", "status", "nodes", "hosts", "added", "changed", "removed", "seconds", "message"):
        table.add_column(t(f"sync.col_{key}"))
    for r in report.results:
        # Endpoint-written text: shown as text, never as Rich markup.
        message = escape(r.error or "; ".join(r.warnings))
        table.add_row(
            r.name,
            f"[{_STYLE[r.status]}]{t('sync.phase_' + r.status)}[/]",
            str(r.counts.get("node", "")),
            str(r.counts.get("host", "")),
            str(r.added),
            str(r.changed),
            str(r.removed),
            f"{r.duration_s:.1f}",
            message,
        )
    return table


def _record_audit(config, report: SyncReport) -> None:  # type: ignore[no-untyped-def]
    from console.actions import record_action

    record_action(config, "sync", {"run_id": report.run_id, "status": report.status})


COMMAND = CommandSpec("sync", "sync.command_help", sync)
