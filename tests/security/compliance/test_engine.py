"""Audits end to end on a small estate: findings, waivers and expiry, scores, trend, reports, CLI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from inventory.config import GanyunConfig
from inventory.store import Store
from providers.errors import ConfigError
from security.compliance import engine, evidence, reports, waivers
from security.compliance.registry import load_checks
from security.compliance.timeutil import now
from tests.fakes.estates.compliance import small_estate

CHECKS = set(load_checks())


@pytest.fixture
def estate(tmp_path: Path) -> tuple[GanyunConfig, Store]:
    return small_estate(tmp_path)


def failed(report: engine.AuditReport) -> set[tuple[str, str]]:
    return {(f["check_id"], f["resource_key"]) for f in report.findings if f["status"] == "FAIL"}


def test_audit_finds_the_planted_problems(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    report = engine.run_audit(config, store, 3)
    assert failed(report) == {
        ("volume_unencrypted", "hw-gov/volume/v-plain"),
        ("volume_not_sm4", "hw-gov/volume/v-aes"),
        ("sg_remote_admin_open", "hw-gov/security_group/ssh-open"),
        ("provider_credentials_not_in_vault", "provider/ali-gov"),
    }
    assert report.failed_by_severity["high"] == 3 and report.failed_by_severity["medium"] == 1
    # Every 应/宜/可 requirement no check decides is a MANUAL finding.
    manual = [f for f in report.findings if f["resource_type"] == "requirement"]
    assert manual and all(f["status"] == "MANUAL" for f in manual)
    assert 0 < report.score < 100
    assert report.scores["system"]["社保系统"] < 100 and report.scores["department"]["市人社局"] < 100
    req = {r["id"]: r for r in report.requirements if r["framework"] == "gbt39786-2021"}
    assert req["6.4.e"]["status"] == "FAIL" and req["6.4.e"]["strength"] == "应"
    assert req["6.3.e"]["status"] == "PASS"
    assert req["7.1.a"]["status"] == "MANUAL"


def test_level_selects_the_checks(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    level1 = engine.run_audit(config, store, 1)
    ids = {c["id"] for c in level1.checks}
    assert "volume_unencrypted" not in ids and "sg_remote_admin_open" in ids
    with pytest.raises(ConfigError):
        engine.run_audit(config, store, 5)


def test_findings_keep_first_seen_and_the_trend_grows(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    first = engine.run_audit(config, store, 3)
    second = engine.run_audit(config, store, 3, at=now() + timedelta(hours=1))
    f1 = {(f["check_id"], f["resource_key"]): f for f in first.findings}
    f2 = {(f["check_id"], f["resource_key"]): f for f in second.findings}
    key = ("volume_unencrypted", "hw-gov/volume/v-plain")
    assert f2[key]["first_seen"] == f1[key]["first_seen"]
    assert f2[key]["last_seen"] > f1[key]["last_seen"]
    assert [t["audit_id"] for t in second.trend] == [first.audit_id, second.audit_id]
    stored = engine.latest_findings(store, status="FAIL")
    assert {(f["check_id"], f["resource_key"]) for f in stored} == failed(second)


def test_waiver_needs_approval_by_someone_else_and_expires(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    target = ("volume_unencrypted", "hw-gov/volume/v-plain")
    wid = waivers.request(
        store,
        {"check_id": target[0], "resource_key": "system:社保系统", "reason": "信创迁移后整改",
         "requested_by": "alice", "expires_at": now() + timedelta(days=30)},
        CHECKS,
    )  # fmt: skip
    assert target in failed(engine.run_audit(config, store, 3))  # requested is not approved
    with pytest.raises(ConfigError, match="requester"):
        waivers.decide(store, wid, "alice", approve=True)
    waivers.decide(store, wid, "bob", approve=True)
    report = engine.run_audit(config, store, 3)
    waived = [f for f in report.findings if f["status"] == "WAIVED"]
    assert [(f["check_id"], f["resource_key"]) for f in waived] == [target]
    assert waived[0]["waiver"]["approver"] == "bob"
    # After the expiry the waiver stops applying.
    later = now() + timedelta(days=31)
    assert target in failed(engine.run_audit(config, store, 3, at=later))
    assert waivers.list_all(store, at=later)[0]["state"] == "expired"


def test_waiver_requests_are_validated(estate: tuple[GanyunConfig, Store]) -> None:
    _config, store = estate
    base = {"check_id": "volume_unencrypted", "reason": "ok reason", "requested_by": "a"}
    with pytest.raises(ConfigError, match="future"):
        waivers.request(store, {**base, "expires_at": now() - timedelta(days=1)}, CHECKS)
    with pytest.raises(ConfigError, match="366 days"):
        waivers.request(store, {**base, "expires_at": now() + timedelta(days=800)}, CHECKS)
    with pytest.raises(ConfigError, match="unknown check"):
        waivers.request(store, {**base, "check_id": "nope", "expires_at": now() + timedelta(days=1)}, CHECKS)
    with pytest.raises(ConfigError, match="reason"):
        waivers.request(store, {**base, "reason": "x", "expires_at": now() + timedelta(days=1)}, CHECKS)


def test_revoked_waiver_stops_applying(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    wid = waivers.request(
        store,
        {"check_id": "sg_remote_admin_open", "reason": "堡垒机替代中", "requested_by": "a",
         "expires_at": now() + timedelta(days=5)},
        CHECKS,
    )  # fmt: skip
    waivers.decide(store, wid, "b", approve=True)
    assert engine.run_audit(config, store, 3).counts["WAIVED"] == 1
    waivers.revoke(store, wid, "b")
    assert engine.run_audit(config, store, 3).counts["WAIVED"] == 0


def test_evidence_is_counted_on_manual_requirements(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    evidence.add(store, "gbt39786-2021:7.1.a", "制度.pdf", b"%PDF-1.4 policy", added_by="alice")
    with pytest.raises(ConfigError, match="unknown"):
        evidence.add(store, "nope", "x.txt", b"x", known_subjects={"gbt39786-2021:7.1.a"})
    report = engine.run_audit(config, store, 3)
    manual = {f["resource_key"]: f for f in report.findings if f["resource_type"] == "requirement"}
    assert manual["gbt39786-2021:7.1.a"]["evidence"]["attachments"] == 1
    assert (
        manual["gbt39786-2021:7.1.b" if "gbt39786-2021:7.1.b" in manual else "gbt39786-2021:7.2.a"]["evidence"][
            "attachments"
        ]
        == 0
    )
    name, data = evidence.content(store, 1)
    assert (name, data) == ("制度.pdf", b"%PDF-1.4 policy")


def test_reports(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    report = engine.run_audit(config, store, 3)
    data = json.loads(reports.to_json(report))
    assert data["level"] == 3 and len(data["findings"]) == len(report.findings)
    html = reports.to_html(report).decode()
    assert "商用密码应用合规审计报告" in html and "Commercial cryptography compliance audit report" in html
    assert "hw-gov/volume/v-plain" in html and "安全组向大范围地址开放" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html  # offline, no CDN
    wb = load_workbook(io.BytesIO(reports.to_xlsx(report)))
    assert wb.sheetnames[:2] == ["汇总 Summary", "问题清单 Findings"]
    rows = list(wb["问题清单 Findings"].iter_rows(values_only=True))
    assert len(rows) == len(report.findings) + 1
    rows_csv = list(csv.reader(io.StringIO(reports.to_csv(report).decode("utf-8-sig"))))
    assert rows_csv[0][2] == "check_id" and len(rows_csv) == len(report.findings) + 1


def test_fail_on_threshold(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    report = engine.run_audit(config, store, 3)
    assert report.failing_at_or_above("critical") == 0
    assert report.failing_at_or_above("high") == 3
    assert report.failing_at_or_above("medium") == 4


def test_cli(estate: tuple[GanyunConfig, Store], tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    config, store = estate
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config.model_dump(exclude={"base_dir"}), allow_unicode=True), encoding="utf-8")
    c = ("--config", str(cfg), "--lang", "en")
    code, out, err = cli(*c, "comply", "audit", "--level", "3", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["counts"]["FAIL"] == 4
    code, out, err = cli(*c, "comply", "audit", "--fail-on", "high")
    assert code == 1 and "3 failed findings" in err
    code, out, err = cli(*c, "comply", "audit", "--fail-on", "critical")
    assert code == 0
    for fmt in ("html", "xlsx", "csv"):
        target = tmp_path / f"r.{fmt}"
        code, _out, err = cli(*c, "comply", "audit", "--format", fmt, "--output", str(target))
        assert code == 0 and target.stat().st_size > 0, err
    code, _out, err = cli(*c, "comply", "audit", "--format", "pdf")
    assert code == 2
    code, out, err = cli(*c, "comply", "waive", "volume_not_sm4", "--reason", "AES 过渡期", "--expires",
                         (now() + timedelta(days=10)).date().isoformat())  # fmt: skip
    assert code == 0, err
    # The requester is the OS user, who cannot approve; another person (here on the console) can.
    assert cli(*c, "comply", "approve", "1")[0] == 2
    waivers.decide(store, 1, "console:security-officer-2", approve=True)
    code, out, _ = cli(*c, "comply", "waivers", "--json")
    assert json.loads(out)[0]["state"] == "approved"
    code, out, _ = cli(*c, "comply", "audit", "--format", "json")
    assert json.loads(out)["counts"]["WAIVED"] == 1
    doc = tmp_path / "plan.txt"
    doc.write_text("密码应用方案", encoding="utf-8")
    assert cli(*c, "comply", "evidence", "add", "gbt39786-2021:7.3.a", str(doc))[0] == 0
    code, out, _ = cli(*c, "comply", "evidence", "list", "--json")
    assert json.loads(out)[0]["filename"] == "plan.txt"
    # Every action above is in the audit log.
    from security import audit

    _total, rows = audit.search(audit.store_for(config), action="comply", limit=100)
    actions = {r["action"] for r in rows}
    assert {"comply.audit", "comply.waiver.request", "comply.evidence.add"} <= actions


def test_cli_option_lists_match_the_library() -> None:
    from console.commands import comply_cmd
    from security.compliance.types import SEVERITIES

    assert comply_cmd.FORMATS == reports.FORMATS and comply_cmd.SEVERITIES == SEVERITIES


def test_findings_page_filters_and_pages_in_sql(estate: tuple[GanyunConfig, Store]) -> None:
    config, store = estate
    assert engine.findings_page(store, statuses=["FAIL"], offset=0, limit=10) == ([], 0, 0)
    engine.run_audit(config, store, 3)
    everything = engine.latest_findings(store)
    failed = [f for f in everything if f["status"] == "FAIL"]
    first, shown, total = engine.findings_page(store, statuses=["FAIL"], offset=0, limit=3)
    rest, _, _ = engine.findings_page(store, statuses=["FAIL"], offset=3, limit=3)
    assert (shown, total) == (len(failed), len(everything)) and len(failed) > 3
    assert first + rest == failed
    both, shown_both, _ = engine.findings_page(store, statuses=["FAIL", "PASS"], offset=0, limit=1000)
    assert shown_both == len(both) == sum(f["status"] in ("FAIL", "PASS") for f in everything)
