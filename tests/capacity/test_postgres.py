"""The capacity SQL (date grouping, CASE, ceil, the latest-sample join) on PostgreSQL too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from inventory.capacity.report import build_report
from inventory.models import CapacitySample, UtilizationRow
from tests.capacity.estate import build_small
from tests.pg import pg_bindir, throwaway_cluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL binaries missing (make test installs them)"),
]


def _seed_extra(small) -> None:
    now = datetime.now(UTC)
    with small.store.session() as session:
        session.execute(insert(CapacitySample), [
            {"at": now - timedelta(weeks=20 - k), "provider": "xc-a", "center": "c1", "pool": "xinchuang",
             "department": "甲局", "nodes": 1, "vcpus": 2 + k, "ram_mb": 1024, "disk_gb": 10} for k in range(20)
        ])  # fmt: skip
        session.execute(insert(UtilizationRow), [
            {"provider": "leg-a", "node_id": "leg-a-n1", "cpu_avg_pct": 2.0, "cpu_p95_pct": 4.0, "ram_avg_pct": 20.0,
             "window_days": 30, "sampled_at": now}
        ])  # fmt: skip


def _essentials(report: dict) -> dict:
    return {
        "pools": [(p["name"], p["allocated"], p["capacity"], p["free_vm_units"]) for p in report["pools"]],
        "share": report["xinchuang"]["share"],
        "trend_days": len(report["xinchuang"]["trend"]["overall"]),
        "stale": [s["provider"] for s in report["stale"]],
        "rightsizing": report["rightsizing"]["levels"],
        "top": [(s["id"], s["suggested_vcpus"], s["suggested_ram_mb"]) for s in report["rightsizing"]["top"]],
        "forecast_points": [len(f["resources"]["vcpus"]["points"]) for f in report["forecast"]],
        "headroom": [(t["pool"], t["fits_now"]) for t in report["headroom"]["targets"]],
    }


def test_same_report_on_postgresql_and_sqlite(tmp_path: Path) -> None:
    lite = build_small(tmp_path / "lite")
    _seed_extra(lite)
    expected = _essentials(build_report(lite.config, lite.store, method="linear", headroom_filters={}))
    with throwaway_cluster() as url:
        pg = build_small(tmp_path / "pg", database=url)
        _seed_extra(pg)
        got = _essentials(build_report(pg.config, pg.store, method="linear", headroom_filters={}))
        pg.store.dispose()
    assert got == expected
    assert expected["forecast_points"][1] > 0  # xc-a has a forecast from its 20 weeks of samples


def test_rollups_on_postgresql_equal_the_live_report(tmp_path: Path) -> None:
    from sqlalchemy import delete

    from inventory.capacity import daily_rollups as sample_rollups
    from inventory.capacity import provider_rollups as rollups
    from inventory.capacity.models import CapacityRollup, ForecastFit, ProviderDay, RollupState, TrendDay
    from inventory.sync import sync_all
    from tests.inventory.fakes import factory

    with throwaway_cluster() as url:
        pg = build_small(tmp_path / "pg", database=url)
        _seed_extra(pg)  # written outside sync: every rollup is dropped, the samples are not current
        sync_all(pg.config, pg.store, factory=factory(pg.clouds))  # leg-b still fails
        with pg.store.session() as session:
            assert rollups.coverage(session).missing == ["leg-b"]
            assert sample_rollups.is_current(session)

        def report() -> dict:
            out = build_report(pg.config, pg.store, method="linear", headroom_filters={})
            out.pop("generated_at")
            return out

        from_rollups = report()
        with pg.store.session() as session:
            for table in (CapacityRollup, TrendDay, ProviderDay, RollupState, ForecastFit):
                session.execute(delete(table))
        live = report()
        pg.store.dispose()
    assert from_rollups == live
    assert from_rollups["xinchuang"]["trend"]["overall"] and from_rollups["rightsizing"]["top"]
