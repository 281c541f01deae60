"""Run an audit: every check that applies at the level, waivers, MANUAL requirements,
findings kept with first/last seen, scores per system/department/center, and the trend."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.orm import Session

from inventory.bulk import executemany
from inventory.config import GanyunConfig
from inventory.store import Store
from providers.errors import ConfigError
from security.compliance import evidence, waivers
from security.compliance.facts import AuditContext, load_context
from security.compliance.frameworks import PRIMARY, STRENGTH_EN, clauses_of, load_frameworks
from security.compliance.models import ComplianceAudit, ComplianceFinding
from security.compliance.registry import Check, load_checks
from security.compliance.timeutil import aware, now
from security.compliance.types import SEVERITIES, SEVERITY_WEIGHT, Result, Status

LEVELS = (1, 2, 3, 4)
MANUAL_PREFIX = "manual:"
_TREND_LENGTH = 20


@dataclass
class AuditReport:
    audit_id: int
    level: int
    started_at: str
    finished_at: str
    score: float
    counts: dict[str, int]
    failed_by_severity: dict[str, int]
    scores: dict[str, dict[str, float]]
    findings: list[dict[str, Any]]
    requirements: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    trend: list[dict[str, Any]] = field(default_factory=list)
    framework: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "level": self.level,
            "framework": self.framework,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "score": self.score,
            "counts": self.counts,
            "failed_by_severity": self.failed_by_severity,
            "scores": self.scores,
            "trend": self.trend,
            "checks": self.checks,
            "requirements": self.requirements,
            "findings": self.findings,
        }

    def failing_at_or_above(self, severity: str) -> int:
        if severity not in SEVERITIES:
            raise ConfigError(f"--fail-on: severity must be one of {', '.join(SEVERITIES)}")
        limit = SEVERITIES.index(severity)
        return sum(n for sev, n in self.failed_by_severity.items() if SEVERITIES.index(sev) <= limit)


def applicable_checks(level: int) -> dict[str, Check]:
    return {cid: c for cid, c in load_checks().items() if c.meta.min_level <= level}


def run_audit(
    config: GanyunConfig, store: Store, level: int = 3, *, actor: str = "", at: datetime | None = None
) -> AuditReport:
    if level not in LEVELS:
        raise ConfigError("--level must be 1, 2, 3 or 4")
    started = aware(at) if at else now()
    ctx = load_context(config, store, level, started)
    active = waivers.active(store, started)
    findings = list(_evaluate(ctx, applicable_checks(level), active))
    evidence_counts = evidence.counts(store)
    findings.extend(_manual_findings(level, evidence_counts))
    report = summarize(level, started, findings, evidence_counts)
    _persist(store, report, actor, started)
    report.trend = trend(store)
    return report


def _evaluate(
    ctx: AuditContext, checks: dict[str, Check], active: list[waivers.ActiveWaiver]
) -> Iterable[dict[str, Any]]:
    by_check: dict[str, list[waivers.ActiveWaiver]] = defaultdict(list)
    for w in active:
        by_check[w.check_id].append(w)
    for cid, check in checks.items():
        for result in check.execute(ctx):
            status, waiver = result.status, None
            if status is Status.FAIL:
                waiver = next(
                    (w for w in by_check.get(cid, ()) if w.matches(cid, result.resource_key, result.owner.system)), None
                )
                if waiver is not None:
                    status = Status.WAIVED
            yield _finding(check, result, status, waiver)


def _finding(check: Check, result: Result, status: Status, waiver: waivers.ActiveWaiver | None) -> dict[str, Any]:
    o = result.owner
    out = {
        "check_id": check.meta.id,
        "title": check.meta.title,
        "severity": check.meta.severity,
        "status": status.value,
        "resource_key": result.resource_key,
        "resource_type": result.resource_type,
        "resource_name": result.resource_name,
        "provider": o.provider,
        "center": o.center,
        "department": o.department,
        "system": o.system,
        "mlps_level": o.mlps_level,
        "evidence": result.evidence,
    }
    if waiver is not None:
        out["waiver"] = {"id": waiver.id, "approver": waiver.approver, "expires_at": waiver.expires_at.isoformat()}
    return out


def _manual_findings(level: int, evidence_counts: dict[str, int]) -> Iterable[dict[str, Any]]:
    """One MANUAL finding per requirement no check decides, pointing at its evidence."""
    fw = load_frameworks()[PRIMARY]
    for req in fw.at_level(level):
        if not req.manual:
            continue
        yield {
            "check_id": MANUAL_PREFIX + req.subject,
            "title": req.title,
            "severity": "medium" if req.strength[level] == "应" else "low",
            "status": Status.MANUAL.value,
            "resource_key": req.subject,
            "resource_type": "requirement",
            "resource_name": req.id,
            "provider": "",
            "center": "",
            "department": "",
            "system": "",
            "mlps_level": None,
            "evidence": {"attachments": evidence_counts.get(req.subject, 0), "strength": req.strength[level]},
        }


def _score(passed: float, failed: float) -> float:
    total = passed + failed
    return round(100.0 * passed / total, 1) if total else 100.0


def summarize(level: int, started: datetime, findings: list[dict[str, Any]], ev: dict[str, int]) -> AuditReport:
    """Counts, severity-weighted scores (overall and per system, department and center), per-check
    counts and requirement statuses of these findings."""
    counts = Counter(f["status"] for f in findings)
    failed_by_severity = Counter(f["severity"] for f in findings if f["status"] == Status.FAIL.value)
    # Severity-weighted: one critical failure weighs as much as eight low ones. WAIVED and
    # MANUAL findings neither help nor hurt the score.
    weights: dict[str, dict[str, list[float]]] = {"system": {}, "department": {}, "center": {}}
    total = [0.0, 0.0]
    per_check: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        per_check[f["check_id"]][f["status"]] += 1
        if f["status"] not in (Status.PASS.value, Status.FAIL.value):
            continue
        w = SEVERITY_WEIGHT[f["severity"]]
        slot = 0 if f["status"] == Status.PASS.value else 1
        total[slot] += w
        for dim in weights:
            name = f[dim] or "-"
            weights[dim].setdefault(name, [0.0, 0.0])[slot] += w
    scores = {dim: {name: _score(p, q) for name, (p, q) in sorted(values.items())} for dim, values in weights.items()}
    checks = [
        {
            "id": c.meta.id,
            "title": c.meta.title,
            "severity": c.meta.severity,
            "risk": c.meta.risk,
            "remediation": c.meta.remediation,
            "clauses": clauses_of(c.meta.id),
            "counts": dict(per_check.get(c.meta.id, Counter())),
        }
        for c in applicable_checks(level).values()
    ]
    fw = load_frameworks()[PRIMARY]
    return AuditReport(
        audit_id=0,
        level=level,
        started_at=started.isoformat(),
        finished_at=now().isoformat(),
        score=_score(*total),
        counts={s.value: counts.get(s.value, 0) for s in Status},
        failed_by_severity={s: failed_by_severity.get(s, 0) for s in SEVERITIES},
        scores=scores,
        findings=findings,
        requirements=_requirements(level, per_check, ev),
        checks=checks,
        framework={"id": fw.id, "title": fw.title, "note": fw.note},
    )


def _requirements(level: int, per_check: dict[str, Counter[str]], ev: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for fw in load_frameworks().values():
        for req in fw.at_level(level):
            if req.manual:
                status = Status.MANUAL.value
            else:
                merged: Counter[str] = Counter()
                for cid in req.checks:
                    merged.update(per_check.get(cid, Counter()))
                if merged[Status.FAIL.value]:
                    status = Status.FAIL.value
                elif merged[Status.PASS.value] or merged[Status.WAIVED.value]:
                    status = Status.PASS.value
                elif merged[Status.MANUAL.value]:
                    status = Status.MANUAL.value
                else:
                    status = "N/A"  # nothing in the inventory falls under it
            strength = req.strength[level] or ""
            out.append(
                {
                    "framework": fw.id,
                    "section": req.section_id,
                    "section_title": req.section_title,
                    "id": req.id,
                    "title": req.title,
                    "strength": strength,
                    "strength_en": STRENGTH_EN.get(strength, ""),
                    "checks": list(req.checks),
                    "status": status,
                    "evidence": ev.get(req.subject, 0),
                }
            )
    return out


def _persist(store: Store, report: AuditReport, actor: str, started: datetime) -> None:
    """One audit row; findings upserted by (check, resource) with two bulk statements."""
    finished = now()
    summary = {"counts": report.counts, "failed_by_severity": report.failed_by_severity, "scores": report.scores}
    table = ComplianceFinding.__table__
    assert isinstance(table, Table)  # for the type checker: a mapped class has a Table
    with store.write_lock, store.session() as session:
        audit = ComplianceAudit(
            started_at=started,
            finished_at=finished,
            level=report.level,
            actor=actor,
            score=report.score,
            summary=summary,
        )
        session.add(audit)
        session.flush()
        report.audit_id = int(audit.id)
        existing = {
            (cid, key): (fid, aware(first))
            for fid, cid, key, first in session.execute(
                select(
                    ComplianceFinding.id,
                    ComplianceFinding.check_id,
                    ComplianceFinding.resource_key,
                    ComplianceFinding.first_seen,
                )
            )
        }
        inserts, updates = [], []
        for f in report.findings:
            values = {
                "resource_type": f["resource_type"],
                "resource_name": f["resource_name"][:255],
                "provider": f["provider"],
                "center": f["center"],
                "department": f["department"],
                "system": f["system"],
                "mlps_level": f["mlps_level"],
                "severity": f["severity"],
                "status": f["status"],
                "evidence": f["evidence"],
                "last_seen": started,
                "last_audit_id": audit.id,
            }
            known = existing.get((f["check_id"], f["resource_key"]))
            if known is None:
                inserts.append(
                    {"check_id": f["check_id"], "resource_key": f["resource_key"], "first_seen": started, **values}
                )
                f["first_seen"] = started.isoformat()
            else:
                updates.append({"fid": known[0], **values})
                f["first_seen"] = known[1].isoformat()
            f["last_seen"] = started.isoformat()
        connection = session.connection()
        executemany(connection, table, "INSERT", inserts)
        executemany(connection, table, "UPDATE", updates)


def trend(store: Store, limit: int = _TREND_LENGTH) -> list[dict[str, Any]]:
    """The last audits, oldest first: score and failure counts over time."""
    with store.session() as session:
        rows = session.scalars(select(ComplianceAudit).order_by(ComplianceAudit.id.desc()).limit(limit)).all()
        return [
            {
                "audit_id": r.id,
                "at": aware(r.started_at).isoformat(),
                "level": r.level,
                "score": r.score,
                "failed": int((r.summary or {}).get("counts", {}).get("FAIL", 0)),
                "failed_by_severity": (r.summary or {}).get("failed_by_severity", {}),
            }
            for r in reversed(rows)
        ]


def latest_findings(
    store: Store, *, status: str | None = None, where: ColumnElement[bool] | None = None
) -> list[dict[str, Any]]:
    """Findings of the most recent audit (what the console shows without re-running)."""
    with store.session() as session:
        last = _last_audit_id(session)
        if last is None:
            return []
        stmt = select(ComplianceFinding).where(ComplianceFinding.last_audit_id == last)
        if where is not None:
            stmt = stmt.where(where)
        if status:
            stmt = stmt.where(ComplianceFinding.status == status)
        return [_finding_dict(r) for r in session.scalars(stmt.order_by(ComplianceFinding.id))]


def findings_page(
    store: Store,
    *,
    statuses: Sequence[str],
    offset: int,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> tuple[list[dict[str, Any]], int, int]:
    """One page of the latest audit's findings with these statuses (and `where`), the number
    that match and the number in the audit (with `where`): the console pages in SQL instead of
    holding every finding of an estate-wide audit in memory."""
    with store.session() as session:
        last = _last_audit_id(session)
        if last is None:
            return [], 0, 0
        in_audit = ComplianceFinding.last_audit_id == last
        if where is not None:
            in_audit = and_(in_audit, where)
        matching = and_(in_audit, ComplianceFinding.status.in_(list(statuses)))
        total = int(session.scalar(select(func.count()).select_from(ComplianceFinding).where(in_audit)) or 0)
        shown = int(session.scalar(select(func.count()).select_from(ComplianceFinding).where(matching)) or 0)
        stmt = select(ComplianceFinding).where(matching).order_by(ComplianceFinding.id).offset(offset).limit(limit)
        return [_finding_dict(r) for r in session.scalars(stmt)], shown, total


def _last_audit_id(session: Session) -> int | None:
    last: int | None = session.scalar(select(ComplianceAudit.id).order_by(ComplianceAudit.id.desc()).limit(1))
    return last


def _finding_dict(r: ComplianceFinding) -> dict[str, Any]:
    return {
        "check_id": r.check_id,
        "resource_key": r.resource_key,
        "resource_type": r.resource_type,
        "resource_name": r.resource_name,
        "provider": r.provider,
        "center": r.center,
        "department": r.department,
        "system": r.system,
        "mlps_level": r.mlps_level,
        "severity": r.severity,
        "status": r.status,
        "evidence": r.evidence,
        "first_seen": aware(r.first_seen).isoformat(),
        "last_seen": aware(r.last_seen).isoformat(),
    }


def latest_audit(store: Store) -> dict[str, Any] | None:
    with store.session() as session:
        row = session.scalars(select(ComplianceAudit).order_by(ComplianceAudit.id.desc()).limit(1)).first()
        if row is None:
            return None
        return {
            "audit_id": row.id,
            "at": aware(row.started_at).isoformat(),
            "level": row.level,
            "score": row.score,
            **(row.summary or {}),
        }
