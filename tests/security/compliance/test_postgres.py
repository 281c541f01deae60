"""The audit on PostgreSQL: the same findings, score and stored history as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from security.compliance import engine
from tests.fakes.estates.compliance import NOW, small_estate
from tests.pg import pg_bindir, throwaway_cluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL binaries missing (make test installs them)"),
]


def _outcome(report: engine.AuditReport) -> tuple[float, list[tuple[str, str, str]]]:
    return report.score, sorted((f["check_id"], f["resource_key"], f["status"]) for f in report.findings)


def test_audit_on_postgresql_matches_sqlite(tmp_path: Path) -> None:
    lite_config, lite_store = small_estate(tmp_path / "lite")
    (tmp_path / "pg").mkdir()
    with throwaway_cluster() as url:
        pg_config, pg_store = small_estate(tmp_path / "pg", database=url)
        expected = engine.run_audit(lite_config, lite_store, at=NOW)
        first = engine.run_audit(pg_config, pg_store, at=NOW)
        second = engine.run_audit(pg_config, pg_store, at=NOW, actor="安全管理员")
        assert _outcome(first) == _outcome(expected) == _outcome(second)
        assert any(status == "FAIL" for _, _, status in _outcome(first)[1])
        stored = engine.latest_findings(pg_store, status="FAIL")
        assert sorted((f["check_id"], f["resource_key"]) for f in stored) == sorted(
            (c, r) for c, r, s in _outcome(second)[1] if s == "FAIL"
        )
        assert [t["audit_id"] for t in engine.trend(pg_store)][-2:] == [first.audit_id, second.audit_id]
        pg_store.dispose()
