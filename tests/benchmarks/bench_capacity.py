"""Capacity report benchmark on the large lab (100,000 nodes, 20 clouds, 12 months of history).

The DB is built straight from the seed (lab.seed.build_estate, no HTTP) through the
real sync path, which also writes each provider's rollup (inventory/capacity/provider_rollups.py), plus the
lab's history file, whose import fills the daily rollups (inventory/capacity/daily_rollups.py).
Figures, each against a baseline from this run:
- current-figures ratio: the report's aggregate sections (pools, centers, hosts, racks, showback,
  Xinchuang share; then again with the share's 12-month trend) against ONE raw SQL query computing the per-pool totals;
  the totals of both are compared for equality;
- full-report ratio, the issue's target (<= 3x, `target_ratio`): everything incl. rightsizing over every measured
  node and the linear forecasts, against the same baseline; also with Holt ETS forecasts (the CLI's default model),
  once with every curve fitted ("cold") and once reusing the curves stored by the previous report ("warm",
  inventory/capacity/forecast_fits.py: what a report costs while the series have not changed);
- the same full report with every rollup dropped (computed live from nodes and samples), and the
  work the rollups move into sync: rewriting every provider's rollup once, as a first sync does;
- peak memory: tracemalloc peak of the report and the process RSS high-water mark.

Run: `python -m tests.benchmarks.bench_capacity [--scale large]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inventory.capacity import report as capacity
from inventory.capacity.models import CapacityRollup, ForecastFit, RollupState
from tests.capacity.labdb import build_lab_db

RAW_TOTALS = """
SELECT n.provider, n.nodes, n.vcpus, n.ram_mb, n.disk_gb, h.vcpus, h.ram_mb, h.disk_gb
FROM (SELECT provider, COUNT(*) AS nodes, SUM(vcpus) AS vcpus, SUM(ram_mb) AS ram_mb, SUM(disk_gb) AS disk_gb
      FROM nodes WHERE state != 'terminated' AND NOT (state = 'error' AND host = '') GROUP BY provider) AS n
LEFT JOIN (SELECT provider, SUM(vcpus) AS vcpus, SUM(ram_mb) AS ram_mb, SUM(disk_gb) AS disk_gb
           FROM hosts GROUP BY provider) AS h ON h.provider = n.provider
ORDER BY n.provider
"""


def _best(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="large")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        config, store, estate = build_lab_db(Path(tmp), args.scale)
        build_s = time.perf_counter() - t0
        db = config.database_url.split("///", 1)[1]

        def raw() -> list[tuple[Any, ...]]:
            with sqlite3.connect(db) as conn:
                return conn.execute(RAW_TOTALS).fetchall()

        def aggregate(trend: bool = True) -> dict[str, Any]:
            with store.session() as session:
                return capacity.aggregate(session, config, trend=trend)

        # Warm-up: imports (statsmodels), the history import, SQLite's page cache.
        capacity.build_report(config, store, method="linear")
        raw()
        raw_s, raw_rows = _best(raw)
        current_s, _ = _best(lambda: aggregate(trend=False))
        agg_s, agg = _best(aggregate)
        pools = {p["name"]: p for p in agg["pools"]}
        mismatches = [
            r[0] for r in raw_rows
            if (pools[r[0]]["nodes"], *pools[r[0]]["allocated"].values(), *pools[r[0]]["physical"].values())
            != tuple(r[1:])
        ]  # fmt: skip
        full_linear_s, report = _best(lambda: capacity.build_report(config, store, method="linear"), runs=2)
        # Memory in a separate run: tracemalloc slows every allocation down.
        tracemalloc.start()
        capacity.build_report(config, store, method="linear")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        _drop(store, ForecastFit)
        ets_cold_s, ets_report = _best(lambda: capacity.build_report(config, store, method="ets"), runs=1)
        ets_s, _ = _best(lambda: capacity.build_report(config, store, method="ets"), runs=2)
        rightsizing_s, _ = _best(lambda: _rightsizing(config, store))
        refresh_s, _ = _best(lambda: _refresh_every_rollup(config, store), runs=1)
        _drop(store, CapacityRollup, RollupState)
        live_s, live_report = _best(lambda: capacity.build_report(config, store, method="linear"), runs=2)
        same_as_live = _without_stamp(live_report) == _without_stamp(report)
    out = {
        "benchmark": "capacity_report",
        "scale": args.scale,
        "nodes": estate.node_count,
        "pools": len(report["pools"]),
        "build_db_s": round(build_s, 2),
        "raw_sql_s": round(raw_s, 4),
        "current_figures_s": round(current_s, 4),
        "current_figures_ratio": round(current_s / raw_s, 2),
        "aggregate_with_trend_s": round(agg_s, 4),
        "aggregate_with_trend_ratio": round(agg_s / raw_s, 2),
        "totals_match": not mismatches,
        "rightsizing_s": round(rightsizing_s, 3),
        "full_report_linear_s": round(full_linear_s, 3),
        "full_report_linear_ratio": round(full_linear_s / raw_s, 1),
        # The target: the FULL report against the one raw SQL query.
        "target": "full_report_linear_ratio",
        "target_ratio": 3.0,
        "target_met": full_linear_s / raw_s <= 3.0,
        "full_report_ets_cold_s": round(ets_cold_s, 3),
        "full_report_ets_cold_ratio": round(ets_cold_s / raw_s, 1),
        "full_report_ets_warm_s": round(ets_s, 3),
        "full_report_ets_warm_ratio": round(ets_s / raw_s, 1),
        "ets_forecasts": sum(1 for f in ets_report["forecast"] for r in f["resources"].values() if r["points"]),
        "live_full_report_s": round(live_s, 3),
        "live_full_report_ratio": round(live_s / raw_s, 1),
        "rollups_equal_live": same_as_live,
        "rollup_refresh_all_providers_s": round(refresh_s, 3),
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "timing": "best of 3 runs for raw and aggregates, best of 2 for full reports, after a warm-up report",
    }
    print(json.dumps(out, ensure_ascii=False))


def _refresh_every_rollup(config: Any, store: Any) -> None:
    from datetime import UTC, datetime

    from inventory.capacity import provider_rollups as rollups

    with store.session() as session:
        for pc in config.providers:
            rollups.refresh(session, pc.name, datetime.now(UTC))


def _drop(store: Any, *tables: Any) -> None:
    from sqlalchemy import delete

    with store.session() as session:
        for table in tables:
            session.execute(delete(table))


def _without_stamp(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


def _rightsizing(config: Any, store: Any) -> Any:
    from inventory.capacity.report import rightsizing

    with store.session() as session:
        return rightsizing(session, config)


if __name__ == "__main__":
    main()
