"""`ganyun comply`: GB/T 39786 / MLPS audits, waivers, evidence attachments."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from console.actions import current_actor, record_action
from console.commands import CommandSpec
from console.context import state
from console.i18n import language, t
from providers.errors import ConfigError

# The compliance modules are imported inside the commands: `ganyun --help` and every other
# command stay fast. Formats and severities are repeated here for option validation.
FORMATS = ("json", "html", "xlsx", "csv")
SEVERITIES = ("critical", "high", "medium", "low", "info")

app = typer.Typer(no_args_is_help=True)
evidence_app = typer.Typer(no_args_is_help=True, help="Evidence attached to requirements (MANUAL items) or checks.")
app.add_typer(evidence_app, name="evidence")


def _store(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from inventory.store import open_store

    config = state(ctx).config()
    return config, open_store(config.database_url)


@app.command("audit", help="Audit the inventory against GB/T 39786-2021 at a level.")
def audit(
    ctx: typer.Context,
    level: Annotated[int, typer.Option("--level", min=1, max=4, help="GB/T 39786 level 1-4.")] = 3,
    fmt: Annotated[str | None, typer.Option("--format", help="json | html | xlsx | csv (else a table).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", help="Exit 1 on failures at this severity or above.")
    ] = None,
) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise ConfigError(f"--fail-on must be one of {', '.join(SEVERITIES)}")
    if fmt == "xlsx" and output is None:
        raise ConfigError(t("comply.xlsx_needs_output"))
    from security.compliance import engine, reports

    config, store = _store(ctx)
    with Console(stderr=True).status(t("comply.running")):
        report = engine.run_audit(config, store, level, actor=current_actor())
    record_action(
        config, "comply.audit",
        {"audit_id": report.audit_id, "level": level, "score": report.score, "counts": report.counts},
    )  # fmt: skip
    if fmt is None:
        _print_summary(report)
        if output is not None:
            output.write_bytes(reports.to_json(report))
    else:
        from console.services import compliance
        from console.services.viewer import Viewer

        data = compliance.render(store, Viewer.operator(), report, fmt)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
            typer.echo(t("comply.written", path=output), err=True)
    if fail_on is not None:
        count = report.failing_at_or_above(fail_on)
        if count:
            typer.echo(t("comply.fail_on", count=count, severity=fail_on), err=True)
            raise typer.Exit(1)


def _print_summary(report: Any) -> None:
    lang = "en" if language() == "en" else "zh"
    table = Table(title=t("comply.audit_title", audit_id=report.audit_id, level=report.level, score=report.score))
    for column in ("check", "severity", "pass", "fail", "manual", "waived"):
        table.add_column(t(f"comply.col_{column}"))
    for check in report.checks:
        c = check["counts"]
        table.add_row(
            check["title"][lang], check["severity"],
            *(str(c.get(s, 0)) for s in ("PASS", "FAIL", "MANUAL", "WAIVED")),
        )  # fmt: skip
    Console().print(table)
    typer.echo(t("comply.counts", **report.counts))


def _parse_date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(t("comply.bad_date", value=value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("waive", help="Request a waiver for a check (on one resource, a system, or all) as the OS user.")
def waive(
    ctx: typer.Context,
    check_id: Annotated[str, typer.Argument(help="The check to waive.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the finding is accepted.")],
    expires: Annotated[str, typer.Option("--expires", help="YYYY-MM-DD; at most a year ahead.")],
    resource: Annotated[str, typer.Option("--resource", help="Resource key, system:NAME, or * (all).")] = "*",
) -> None:
    from security.compliance import waivers
    from security.compliance.registry import load_checks

    config, store = _store(ctx)
    requester = current_actor()
    data = {"check_id": check_id, "resource_key": resource, "reason": reason, "requested_by": requester,
            "expires_at": _parse_date(expires)}  # fmt: skip
    waiver_id = waivers.request(store, data, set(load_checks()))
    record_action(config, "comply.waiver.request", {"id": waiver_id, "check_id": check_id, "resource": resource,
                                                    "expires": expires})  # fmt: skip
    typer.echo(t("comply.waiver_requested", id=waiver_id))


def _decide(ctx: typer.Context, waiver_id: int, verb: str) -> None:
    """The decider is the OS account running this command; the requester can never approve."""
    from security.compliance import waivers

    config, store = _store(ctx)
    actor = current_actor()
    if verb == "revoke":
        waivers.revoke(store, waiver_id, actor)
    else:
        waivers.decide(store, waiver_id, actor, approve=verb == "approve")
    record_action(config, f"comply.waiver.{verb}", {"id": waiver_id})
    typer.echo(t({"approve": "comply.waiver_approved", "reject": "comply.waiver_rejected",
                  "revoke": "comply.waiver_revoked"}[verb], id=waiver_id))  # fmt: skip


@app.command("approve", help="Approve a requested waiver as the OS user (not the requester).")
def approve(ctx: typer.Context, waiver_id: int) -> None:
    _decide(ctx, waiver_id, "approve")


@app.command("reject", help="Reject a requested waiver as the OS user.")
def reject(ctx: typer.Context, waiver_id: int) -> None:
    _decide(ctx, waiver_id, "reject")


@app.command("revoke", help="Withdraw a waiver as the OS user.")
def revoke(ctx: typer.Context, waiver_id: int) -> None:
    _decide(ctx, waiver_id, "revoke")


@app.command("waivers", help="Every waiver with its state (requested, approved, expired, ...).")
def list_waivers(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from security.compliance import waivers

    _config, store = _store(ctx)
    rows = waivers.list_all(store)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=t("comply.waivers_title"))
    columns = ("id", "check", "resource", "state", "requested_by", "approver", "expires", "reason")
    for column in columns:
        table.add_column(t(f"comply.col_{column}"))
    for w in rows:
        table.add_row(str(w["id"]), w["check_id"], w["resource_key"], w["state"], w["requested_by"], w["approver"],
                      w["expires_at"][:10], w["reason"])  # fmt: skip
    Console().print(table)


@app.command("checks", help="The checks, their severity and the clauses they decide.")
def list_checks(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from security.compliance.frameworks import clauses_of
    from security.compliance.registry import load_checks

    lang = "en" if language() == "en" else "zh"
    rows: list[dict[str, Any]] = [
        {"id": c.meta.id, "title": c.meta.title[lang], "severity": c.meta.severity, "min_level": c.meta.min_level,
         "clauses": clauses_of(c.meta.id)}
        for c in load_checks().values()
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=t("comply.checks_title"))
    for column in ("check", "severity", "min_level", "clauses"):
        table.add_column(t(f"comply.col_{column}"))
    for r in rows:
        table.add_row(f"{r['title']}\n{r['id']}", r["severity"], str(r["min_level"]), "\n".join(r["clauses"]))
    Console().print(table)


def _subjects() -> set[str]:
    from security.compliance.frameworks import load_frameworks
    from security.compliance.registry import load_checks

    subjects = set(load_checks())
    for fw in load_frameworks().values():
        subjects.update(r.subject for r in fw.requirements)
    return subjects


@evidence_app.command("add", help="Attach a file to a requirement (e.g. gbt39786-2021:7.1.a) or a check.")
def evidence_add(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="framework:clause or a check id.")],
    file: Annotated[Path, typer.Argument(help="The file to attach.")],
    note: Annotated[str, typer.Option("--note")] = "",
    resource: Annotated[str, typer.Option("--resource", help="Resource key the evidence is about.")] = "",
) -> None:
    from security.compliance import evidence

    config, store = _store(ctx)
    if not file.is_file():
        raise ConfigError(t("comply.no_file", path=file))
    actor = current_actor()
    content = file.read_bytes()
    ev_id = evidence.add(store, subject, file.name, content, note=note, added_by=actor, resource_key=resource,
                         known_subjects=_subjects())  # fmt: skip
    row = evidence.listing(store, subject)[-1]
    record_action(config, "comply.evidence.add", {"id": ev_id, "subject": subject, "file": file.name,
                                                  "sm3": row["sm3"]})  # fmt: skip
    typer.echo(t("comply.evidence_added", id=ev_id, subject=subject, sm3=row["sm3"]))


@evidence_app.command("list", help="Attached evidence.")
def evidence_list(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option("--subject")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from security.compliance import evidence

    _config, store = _store(ctx)
    rows = evidence.listing(store, subject)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=t("comply.evidence_title"))
    for column in ("id", "subject", "file", "size", "added"):
        table.add_column(t(f"comply.col_{column}"))
    for r in rows:
        table.add_row(str(r["id"]), r["subject"], r["filename"], str(r["size"]), r["added_at"][:19])
    Console().print(table)


@evidence_app.command("get", help="Write an attachment to a file.")
def evidence_get(
    ctx: typer.Context,
    evidence_id: Annotated[int, typer.Argument()],
    output: Annotated[Path, typer.Option("--output", "-o")],
) -> None:
    from security.compliance import evidence

    _config, store = _store(ctx)
    _name, data = evidence.content(store, evidence_id)
    output.write_bytes(data)
    typer.echo(t("comply.written", path=output), err=True)


COMMAND = CommandSpec("comply", "comply.command_help", app)
