"""Compliance reads: the latest audit, its trend, findings, top risks, waivers, evidence and the
report exports, within the viewer's scope.

A scoped viewer's audit is summarized again from its own findings (the same weighting as the
audit itself: engine.summarize), so its score, counts, per-check counts and requirement
statuses speak of its resources only; its trend follows its departments' scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select

from console.services import ownership
from console.services.viewer import Viewer
from inventory import query
from inventory.store import Store
from security.compliance import engine, evidence, reports, waivers
from security.compliance.models import ComplianceAudit, ComplianceFinding

_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def latest_audit(store: Store, viewer: Viewer) -> dict[str, Any] | None:
    """The latest audit: id, time, level, score, counts, failed_by_severity and scores."""
    audit = engine.latest_audit(store)
    clause = ownership.finding_clause(viewer)
    if audit is None or clause is None:
        return audit
    own = engine.latest_findings(store, where=clause)
    summary = engine.summarize(int(audit["level"]), datetime.fromisoformat(audit["at"]), own, {})
    return {
        "audit_id": audit["audit_id"],
        "at": audit["at"],
        "level": audit["level"],
        "score": summary.score,
        "counts": summary.counts,
        "failed_by_severity": summary.failed_by_severity,
        "scores": summary.scores,
    }


def trend(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """The last audits, oldest first; for a scoped viewer, its departments' mean score in each
    (an audit keeps per-department scores, not per-department failure counts)."""
    points = engine.trend(store)
    departments = viewer.departments
    if departments is None:
        return points
    ids = [p["audit_id"] for p in points]
    with store.session() as session:
        stmt = select(ComplianceAudit.id, ComplianceAudit.summary).where(ComplianceAudit.id.in_(ids))
        summaries: dict[int, dict[str, Any]] = {audit_id: summary for audit_id, summary in session.execute(stmt)}
    out = []
    for point in points:
        by_department = ((summaries.get(point["audit_id"]) or {}).get("scores") or {}).get("department") or {}
        own = [float(by_department[d]) for d in departments if d in by_department]
        out.append({"audit_id": point["audit_id"], "at": point["at"], "level": point["level"],
                    "score": round(sum(own) / len(own), 1) if own else None, "failed": None,
                    "failed_by_severity": {}})  # fmt: skip
    return out


def findings_page(
    store: Store,
    viewer: Viewer,
    statuses: Sequence[str],
    offset: int,
    limit: int,
    filters: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], int, int]:
    """One page of the latest audit's findings: (page, matching, in the audit); `filters` are
    `--where` pairs on the findings' fields (inventory.query.apply_filters)."""
    clauses = [ownership.finding_clause(viewer)]
    if filters:
        clauses.append(query.apply_filters(select(ComplianceFinding), ComplianceFinding, dict(filters)).whereclause)
    wanted = [c for c in clauses if c is not None]
    where = None if not wanted else wanted[0] if len(wanted) == 1 else and_(*wanted)
    return engine.findings_page(store, statuses=statuses, offset=offset, limit=limit, where=where)


def top_risks(store: Store, viewer: Viewer, limit: int = 10) -> list[dict[str, Any]]:
    """Failed findings of the latest audit counted per check, worst severity first."""
    clause = ownership.finding_clause(viewer)
    with store.session() as session:
        last = session.scalar(select(func.max(ComplianceAudit.id)))
        if last is None:
            return []
        stmt = (
            select(ComplianceFinding.check_id, ComplianceFinding.severity, func.count())
            .where(ComplianceFinding.last_audit_id == last, ComplianceFinding.status == "FAIL")
            .group_by(ComplianceFinding.check_id, ComplianceFinding.severity)
        )
        if clause is not None:
            stmt = stmt.where(clause)
        counted = sorted(session.execute(stmt), key=lambda row: (_SEVERITY_RANK.get(row[1], 9), -int(row[2])))
    return [{"check_id": c, "severity": s, "count": int(n)} for c, s, n in counted[:limit]]


def _own_keys(store: Store, viewer: Viewer) -> tuple[set[str], set[str]]:
    """The resource keys of the viewer's findings and its systems."""
    clause = ownership.finding_clause(viewer)
    with store.session() as session:
        keys = (
            set(session.scalars(select(ComplianceFinding.resource_key).where(clause))) if clause is not None else set()
        )
        systems = ownership.systems(session, viewer) or set()
    return keys, systems


def waiver_list(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Waivers; a scoped viewer sees those on every resource ("*"), on its systems and on its
    own findings' resources."""
    rows = waivers.list_all(store)
    if viewer.departments is None:
        return rows
    keys, systems = _own_keys(store, viewer)
    wanted = keys | {"*"} | {f"system:{s}" for s in systems}
    return [w for w in rows if w["resource_key"] in wanted]


def evidence_list(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Evidence files; a scoped viewer sees those attached to requirements (the city's
    documents) and to its own findings."""
    rows = evidence.listing(store)
    if viewer.departments is None:
        return rows
    keys, _systems = _own_keys(store, viewer)
    return [e for e in rows if not e["resource_key"] or e["resource_key"] in keys]


def scoped_report(store: Store, viewer: Viewer, report: engine.AuditReport) -> engine.AuditReport:
    """An audit's report as the viewer may see it: a scoped viewer's holds its own findings,
    summarized again, and its own trend."""
    departments = viewer.departments
    if departments is None:
        return report
    wanted = set(departments)
    own = [f for f in report.findings if f["department"] in wanted]
    summary = engine.summarize(report.level, datetime.fromisoformat(report.started_at), own, evidence.counts(store))
    return replace(summary, audit_id=report.audit_id, finished_at=report.finished_at, trend=trend(store, viewer))


def render(store: Store, viewer: Viewer, report: engine.AuditReport, fmt: str) -> bytes:
    """An audit report export (json, html, xlsx or csv) as the viewer may see it."""
    return reports.render(scoped_report(store, viewer, report), fmt)


__all__ = [
    "evidence_list",
    "findings_page",
    "latest_audit",
    "render",
    "scoped_report",
    "top_risks",
    "trend",
    "waiver_list",
]
