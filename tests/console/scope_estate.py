"""The small lab, synced through the real path, with what every console page reads added the way
ganyun adds it: TLS scan results and certificates (cert_store.save_scan), a compliance audit
(engine.run_audit), drill reports (drill history), and migration runs (planning.build_plan,
then migration.open_run). Several departments own each kind of thing, so that a scope leak
shows as another department's name, node, certificate or finding on a page.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from inventory.config import GanyunConfig, load_config
from inventory.models import NodeRow
from inventory.store import Store, open_store
from inventory.sync import sync_all
from playbooks import migration
from playbooks.drill import history
from security.cert_store import save_scan
from security.compliance import engine
from security.tlsscan import ScanResult, Target
from security.vault import VaultCredentials
from tests.lab.running import small_lab

COUNTY = "定南县"
DEPARTMENT = "市财政局"
# Owns certificates, drills and migration VMs too, without being either viewer's.
OTHER = "市人社局"
# Its only migration run holds none of the viewers' VMs.
UNRELATED = "市市场监管局"


@dataclass
class ScopeEstate:
    config: GanyunConfig
    store: Store
    dir: Path
    audit: engine.AuditReport
    # department -> what it owns that a page could show
    nodes: dict[str, set[str]] = field(default_factory=dict)
    systems: dict[str, set[str]] = field(default_factory=dict)
    certificates: dict[str, set[str]] = field(default_factory=dict)
    findings: dict[str, set[str]] = field(default_factory=dict)
    drills: dict[str, str] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)


def build(directory: Path) -> ScopeEstate:
    lab_dir = directory / "lab"
    with small_lab(lab_dir) as path:
        config = _own_copy(load_config(path), path, directory)
        store = open_store(config.database_url)
        report = sync_all(config, store, vault=VaultCredentials(config))
        assert report.status == "ok", report.to_dict()
    shutil.rmtree(lab_dir / "logs", ignore_errors=True)
    estate = ScopeEstate(config, store, directory, audit=None)  # type: ignore[arg-type]
    _owners(estate)
    _scans(estate)
    _drills(estate)
    _runs(estate)
    estate.audit = engine.run_audit(config, store, 3, actor="test")
    with store.session() as session:
        from security.compliance.models import ComplianceFinding

        # A finding is named by its resource key (provider/kind/id, host:port); its resource name
        # may be shared (a security group called "default", a provider's name).
        for department, key in session.execute(select(ComplianceFinding.department, ComplianceFinding.resource_key)):
            estate.findings.setdefault(department, set()).add(key)
    return estate


def _own_copy(config: GanyunConfig, path: Path, directory: Path) -> GanyunConfig:
    """The lab's configuration with its database, history and vault beside the test's files,
    and business systems in the topology for the DR page."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name in ("history.json", "vault.json", "vault.key", "vault.key.anchor"):
        shutil.copy2(path.parent / name, directory / name)
    raw.pop("lab", None)
    raw["database"] = f"sqlite:///{directory / 'scope.db'}"
    raw["capacity"]["history_file"] = str(directory / "history.json")
    raw["vault"] = {"path": str(directory / "vault.json"), "key_file": str(directory / "vault.key")}
    raw["dr"] = {"targets": {"failover": {"rto_s": 60}}}
    out = directory / "ganyun.yaml"
    out.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_config(out)


def _owners(estate: ScopeEstate) -> None:
    with estate.store.session() as session:
        for department, name, node_id, system in session.execute(
            select(NodeRow.department, NodeRow.name, NodeRow.id, NodeRow.system)
        ):
            estate.nodes.setdefault(department, set()).update({name, node_id})
            if system:
                estate.systems.setdefault(department, set()).add(system)
    # The topology shows configured systems: one of each viewer's and of another department's.
    systems = [{"name": sorted(estate.systems[d])[0], "center": "gz-prod", "rto_s": 60}
               for d in (COUNTY, DEPARTMENT, OTHER)]  # fmt: skip
    estate.config = estate.config.model_copy(update={"systems": [*estate.config.systems, *_parsed(systems)]})


def _parsed(systems: list[dict[str, Any]]) -> list[Any]:
    from inventory.config import SystemConfig

    return [SystemConfig(**s) for s in systems]


def _certificate(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=20))  # within the overview's 30-day window
        .sign(key, hashes.SHA256())
    )


def _scans(estate: ScopeEstate) -> None:
    """An inventory scan of one node per department (the target carries the node's department
    and system), a manual scan of a county node (no department recorded: its IP decides) and
    a manual scan of an address no node has."""
    results = []
    with estate.store.session() as session:
        for department in (COUNTY, DEPARTMENT, OTHER):
            provider, name, ips, system = session.execute(
                select(NodeRow.provider, NodeRow.name, NodeRow.ips, NodeRow.system)
                .where(NodeRow.department == department, NodeRow.ips != "[]")
                .order_by(NodeRow.name)
            ).first()  # type: ignore[misc]
            cert = _certificate(f"{name}.svc.gz")
            estate.certificates.setdefault(department, set()).add(f"{name}.svc.gz")
            target = Target(str(ips[0]), 443, system, department, provider)
            results.append(_result(target, cert))
            if department == COUNTY:
                manual = _certificate(f"{name}.manual.gz")
                estate.certificates[COUNTY].add(f"{name}.manual.gz")
                results.append(_result(Target(str(ips[0]), 8443), manual))
    stray = _certificate("stray.unknown.gz")
    estate.certificates.setdefault("", set()).add("stray.unknown.gz")
    results.append(_result(Target("10.254.254.254", 443), stray))
    with estate.store.write_lock, estate.store.session() as session:
        save_scan(session, results)


def _result(target: Target, cert: x509.Certificate) -> ScanResult:
    return ScanResult(
        target, reachable=True, tls={"versions": ["TLSv1.2"], "cipher": "ECDHE-ECDSA-AES128-GCM-SHA256"},
        seen=[(cert, f"tls://{target.address}", "leaf")],
    )  # fmt: skip


def _drills(estate: ScopeEstate) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    for i, department in enumerate((COUNTY, DEPARTMENT, OTHER)):
        system = sorted(estate.systems[department])[0]
        run_id = f"20261101T0{i}0000-failover-{i:06x}"
        history.save(estate.store, {
            "run_id": run_id, "scenario": "failover", "status": "passed", "passed": True,
            "started_at": start + 600 * i, "finished_at": start + 600 * i + 30,
            "primary_before": "gz-prod", "primary_after": "gz-dr",
            "targets": {"rto_s": 60, "rpo_rows": 0, "rpo_s": None},
            "measurements": {"fault_at": start + 600 * i + 5, "rto_s": 4.0, "rows_lost": 0, "data_loss_window_s": 0.0},
            "verification": {"equal": True},
            "checks": [{"name": "rto", "target": 60, "measured": 4.0, "met": True},
                       {"name": "rpo_rows", "target": 0, "measured": 0, "met": True}],
            "systems": [{"name": system, "center": "gz-prod", "rto_target_s": 60, "rpo_target_s": 0.0,
                         "rto_met": True, "rpo_met": True, "met": True}],
            "steps": [], "message": "",
        })  # fmt: skip
        estate.drills[department] = run_id


def _runs(estate: ScopeEstate) -> None:
    """A run that moves VMs of both viewers and of another department, and one of a fourth."""
    from inventory import planning

    for departments in ((COUNTY, DEPARTMENT, OTHER), (UNRELATED,)):
        with estate.store.session() as session:
            outcome = planning.build_plan(
                estate.config, session, "xinchuang", {}, where=[NodeRow.department.in_(departments)]
            )
        moved = {i.department for i in outcome.plan.items}
        assert moved == set(departments), (departments, moved, [s.reasons for s in outcome.plan.skipped][:3])
        run_id, _ = migration.open_run(estate.store, outcome.plan, None, actor="test")
        estate.runs.append(run_id)


# --------------------------------------------------------------------------- what a leak is


def forbidden(estate: ScopeEstate, departments: tuple[str, ...]) -> dict[str, set[str]]:
    """What belongs to other departments, less anything that is also the viewer's own text
    (a shared system name) or a part of it."""
    own = set(departments)
    mine = set(departments)
    for table in (estate.nodes, estate.systems, estate.certificates, estate.findings):
        for department in own:
            mine |= table.get(department, set())
    out: dict[str, set[str]] = {}
    for label, table in (("department", {d: {d} for d in estate.nodes}), ("node", estate.nodes),
                         ("system", estate.systems), ("certificate", estate.certificates),
                         ("finding", estate.findings)):  # fmt: skip
        # Findings without a department are the city's own (the audit log, a provider's
        # credentials): not another department's, and named like the checks themselves.
        values = {v for d, vs in table.items() if d not in own and (d or label != "finding") for v in vs}
        out[label] = {v for v in values if v and v not in mine and not any(v in m for m in mine)}
    return out


def leaks(text: str, forbidden: dict[str, set[str]]) -> list[str]:
    return sorted(f"{label}: {value}" for label, values in forbidden.items() for value in values if value in text)
