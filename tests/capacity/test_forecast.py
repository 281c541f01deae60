"""Forecasts on synthetic history with a known trend; history file import; run-out dates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from inventory.capacity import forecast as fc
from inventory.capacity.history import ensure_history
from inventory.models import CapacitySample
from lab.history import FORMAT, build_history
from lab.seed import build_estate
from tests.capacity.estate import build_small

SLOPE = 20.0
BASE = 1000.0


def _series(weeks: int = 52, noise: float = 10.0, seed: int = 7) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-01-05", periods=weeks, freq="W-SUN", tz="UTC")
    return pd.Series(BASE + SLOPE * np.arange(weeks) + rng.normal(0, noise, weeks), index=index)


@pytest.mark.parametrize("method", ["ets", "linear"])
def test_known_trend_lands_in_interval(method: str) -> None:
    series = _series()
    capacity = BASE + SLOPE * 75  # the true line reaches it at week 75: 24 weeks after the last point
    out = fc.forecast_series(series, capacity, horizon_weeks=52, method=method)
    assert out["status"] == "runs_out"
    for h in (1, 12, 24, 40):
        _day, mean, lo, hi = out["points"][h - 1]
        truth = BASE + SLOPE * (51 + h)
        assert lo <= truth <= hi, (h, lo, truth, hi)
        assert lo <= mean <= hi
    true_runout = (series.index[-1] + timedelta(weeks=24)).date()
    runout = out["runout"]
    assert date.fromisoformat(runout["earliest"]) <= true_runout <= date.fromisoformat(runout["latest"])
    assert abs((date.fromisoformat(runout["date"]) - true_runout).days) <= 14


def test_no_growth_never_runs_out_and_short_history_is_said() -> None:
    flat = pd.Series(500.0, index=pd.date_range("2025-01-05", periods=20, freq="W-SUN", tz="UTC"))
    out = fc.forecast_series(flat, 1000.0, horizon_weeks=20)
    assert out["status"] == "beyond_horizon" and out["runout"]["date"] is None
    assert fc.forecast_series(flat.iloc[:3], 1000.0)["status"] == "insufficient_history"
    full = fc.forecast_series(flat, 400.0)
    assert full["status"] == "exhausted"


def test_forecast_pools_from_samples(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False)
    # 30 weeks of synthetic history for xc-a growing 2 vCPU a week, ending last week.
    now = datetime.now(UTC)
    rows = [{"at": now - timedelta(weeks=30 - k), "provider": "xc-a", "center": "c1", "pool": "xinchuang",
             "department": "甲局", "nodes": k, "vcpus": 60 + 2 * k, "ram_mb": 1024 * k, "disk_gb": 10 * k}
            for k in range(30)]  # fmt: skip
    with small.store.session() as session:
        session.execute(insert(CapacitySample), rows)
        pools = [{"name": "xc-a", "center": "c1", "pool": "xinchuang", "stale": False,
                  "capacity": {"vcpus": 200.0, "ram_mb": 262144.0, "disk_gb": 4000.0}}]  # fmt: skip
        out = fc.forecast_pools(session, pools, now, horizon_weeks=104, method="linear")
    vcpu = out[0]["resources"]["vcpus"]
    assert out[0]["history_points"] >= 30
    assert vcpu["status"] == "runs_out"
    assert out[0]["runout_resource"] == "vcpus"
    # The current (synced) figure is 8 vCPU, far below the history: allocation fell; still a date or none.
    assert vcpu["points"] and all(p[2] <= p[1] <= p[3] for p in vcpu["points"])


def test_lab_history_is_the_estates_growth() -> None:
    estate = build_estate("small")
    data = build_history(estate)
    assert data["format"] == FORMAT
    cols = data["columns"]
    frame = pd.DataFrame(data["rows"], columns=cols)
    last = frame[frame["at"] == frame["at"].max()]
    # By the last week, everything created before it exists: never more than the estate holds.
    cloud = estate.cloud("gov-huawei")
    flavors = {f.id: f for f in cloud.flavors}
    cutoff = frame["at"].max()
    expected = sum(flavors[s.flavor_id].vcpus for s in cloud.servers if s.created <= cutoff)
    assert int(last[last["provider"] == "gov-huawei"]["vcpus"].sum()) == expected
    per_week = frame.groupby("at")["vcpus"].sum()
    assert per_week.is_monotonic_increasing and per_week.iloc[0] < per_week.iloc[-1]
    assert build_history(estate) == data  # deterministic


def test_history_import_is_idempotent(tmp_path: Path) -> None:
    history = {"format": FORMAT, "columns": ["at", "provider", "center", "pool", "department", "nodes", "vcpus",
                                             "ram_mb", "disk_gb"],
               "rows": [["2026-01-04T00:00:00Z", "xc-a", "c1", "xinchuang", "甲局", 1, 3, 8192, 100],
                        ["2026-01-11T00:00:00Z", "xc-a", "c1", "xinchuang", "甲局", 2, 7, 16384, 200]]}  # fmt: skip
    (tmp_path / "history.json").write_text(json.dumps(history), encoding="utf-8")
    small = build_small(tmp_path, stale=False, history_file="history.json")
    # sync_all already imported it (the capacity hook); further calls are no-ops.
    assert ensure_history(small.config, small.store) == 0
    with small.store.session() as session:
        n = session.scalar(select(func.count()).select_from(CapacitySample).where(CapacitySample.vcpus.in_((3, 7))))
    assert n == 2
