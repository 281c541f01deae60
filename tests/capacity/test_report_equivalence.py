"""The report's fast paths against their plain definitions: rightsizing sums and top list
against `suggest` node by node, and the weekly series against pandas' resampler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import and_, select

from inventory.capacity import rightsizing as rs
from inventory.capacity.forecast import RESOURCES, weekly_frame
from inventory.capacity.queries import allocated_clause
from inventory.capacity.report import rightsizing
from inventory.models import NodeRow, UtilizationRow
from tests.capacity.labdb import build_lab_db


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    config, store, _estate = build_lab_db(tmp_path_factory.mktemp("lab"), "small", history=False)
    return config, store


def _expected(session: Any, level: str, top: int) -> dict[str, Any]:
    stmt = (
        select(NodeRow.provider, NodeRow.id, NodeRow.name, NodeRow.vcpus, NodeRow.ram_mb, UtilizationRow.cpu_avg_pct,
               UtilizationRow.cpu_p95_pct, UtilizationRow.ram_avg_pct)
        .join(UtilizationRow, and_(UtilizationRow.provider == NodeRow.provider, UtilizationRow.node_id == NodeRow.id))
        .where(allocated_clause())
    )  # fmt: skip
    rows = session.execute(stmt).all()
    levels = {}
    for name, lv in rs.LEVELS.items():
        sized = [(r, *rs.suggest(r.vcpus, r.ram_mb, r.cpu_avg_pct, r.cpu_p95_pct, r.ram_avg_pct, lv)) for r in rows]
        levels[name] = {
            "oversized": sum(1 for r, c, m in sized if c < r.vcpus or m < r.ram_mb),
            "vcpus_reclaimable": sum(r.vcpus - c for r, c, _m in sized),
            "ram_mb_reclaimable": sum(r.ram_mb - m for r, _c, m in sized),
        }
        if name == level:
            shrunk = [(r, c, m) for r, c, m in sized if c < r.vcpus or m < r.ram_mb]
            shrunk.sort(key=lambda x: (-(x[0].vcpus - x[1]), -(x[0].ram_mb - x[2]), x[0].name, x[0].provider, x[0].id))
            order = [(r.provider, r.id, c, m) for r, c, m in shrunk[:top]]
    return {"measured": len(rows), "levels": levels, "top": order}


@pytest.mark.parametrize("level", list(rs.LEVELS))
@pytest.mark.parametrize("top", [1, 7, 50, rs.TOP + 10])  # above TOP: measured live, not from rollups
def test_rightsizing_matches_suggest_node_by_node(lab: Any, level: str, top: int) -> None:
    config, store = lab
    with store.session() as session:
        out = rightsizing(session, config, level, top=top)
        want = _expected(session, level, top)
    assert out["measured_nodes"] == want["measured"] > 100
    assert out["levels"] == want["levels"]
    got = [(e["provider"], e["id"], e["suggested_vcpus"], e["suggested_ram_mb"]) for e in out["top"]]
    assert got == want["top"]


def test_weekly_frame_is_the_resampled_series() -> None:
    rng = np.random.default_rng(3)
    start = datetime(2024, 11, 3, 0, 0, tzinfo=UTC)
    # Irregular instants: several a week, gaps of several weeks, exact Sunday midnights and late Sundays.
    offsets = np.cumsum(rng.integers(1, 60 * 24 * 20, size=200))  # minutes
    instants = [start + timedelta(minutes=int(m)) for m in offsets]
    instants += [datetime(2025, 3, 2, tzinfo=UTC), datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)]
    points = [(at, int(v), int(v) * 1024, int(v) * 10) for at, v in zip(instants, rng.integers(0, 5000, 202))]
    points = sorted(set(points), key=lambda p: p[0])
    points = list({p[0]: p for p in points}.values())
    frame = pd.DataFrame(points, columns=["at", *RESOURCES]).set_index("at").sort_index()
    want = frame.resample("W-SUN").last().ffill().astype(float)
    got = weekly_frame(points)
    assert list(got.index) == list(want.index)
    assert got.to_numpy().tolist() == want.to_numpy().tolist()
    assert list(got.columns) == list(want.columns)
