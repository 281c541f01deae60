"""The daily utilization history: sync keeps what Prometheus answered through query_range,
replaced per provider; idle detection checks every day of it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import event, select

from inventory.capacity import report as capacity
from inventory.capacity.rightsizing import daily_history
from inventory.config import GanyunConfig, parse_config
from inventory.models import NodeRow, UtilizationDayRow
from inventory.store import Store, open_store
from inventory.sync import sync_all
from tests.fakes import FakeCloud, factory, make_node
from tests.providers.test_prometheus_answers import serve_history


def _config(tmp_path: Path, url: str) -> GanyunConfig:
    return parse_config(
        {
            "database": "sqlite:///inv.db",
            "providers": [
                {"name": "kvm", "driver": "fake", "prometheus": {"url": url, "window_days": 3}},
                {"name": "plain", "driver": "fake"},
            ],
        },
        base_dir=str(tmp_path),
    )


def _days(store: Store) -> dict[str, list[tuple[float, float | None]]]:
    out: dict[str, list[tuple[float, float | None]]] = {}
    with store.session() as s:
        rows = s.execute(select(UtilizationDayRow).order_by(UtilizationDayRow.node_id, UtilizationDayRow.day))
        for (row,) in rows:
            assert row.provider == "kvm"
            out.setdefault(row.node_id, []).append((row.cpu_avg_pct, row.ram_avg_pct))
    return out


@pytest.fixture()
def estate(tmp_path: Path, httpserver: HTTPServer) -> tuple[GanyunConfig, Store, Any]:
    config = _config(tmp_path, httpserver.url_for("/"))
    clouds = {name: FakeCloud(nodes=[make_node(name, i) for i in range(2)]) for name in ("kvm", "plain")}
    return config, open_store(config.database_url), factory(clouds)


def test_sync_keeps_the_daily_history_and_replaces_it(estate, httpserver: HTTPServer) -> None:
    config, store, make = estate
    # kvm-n0 idles at 2% but for one day at 30%: its 3-day mean (11.3%) is not idle either;
    # kvm-n1's mean (4%) hides a 9% day; "plain" has no Prometheus.
    asked = serve_history(httpserver, {"kvm-n0": [2, 30, 2], "kvm-n1": [1.5, 9, 1.5]}, {"kvm-n0": [20, 20, 20]})
    assert sync_all(config, store, factory=make).status == "ok"
    assert len(asked) == 2 and all(a["step"] == "86400s" for a in asked)
    assert _days(store) == {
        "kvm-n0": [(2.0, 20.0), (30.0, 20.0), (2.0, 20.0)],
        "kvm-n1": [(1.5, None), (9.0, None), (1.5, None)],
    }

    httpserver.clear()
    serve_history(httpserver, {"kvm-n1": [1.0, 1.0, 1.0]}, {"kvm-n1": [5, 5, 5]})
    sync_all(config, store, factory=make)
    assert _days(store) == {"kvm-n1": [(1.0, 5.0)] * 3}  # replaced, not added to

    httpserver.clear()  # Prometheus gone: the last good history stays, with a warning
    report = sync_all(config, store, factory=make)
    assert any("utilization" in w for p in report.results for w in p.warnings)
    assert _days(store) == {"kvm-n1": [(1.0, 5.0)] * 3}


def test_a_provider_without_prometheus_never_touches_the_history(estate, httpserver: HTTPServer) -> None:
    config, store, make = estate
    serve_history(httpserver, {"kvm-n0": [1, 1, 1]}, {})
    sync_all(config, store, factory=make, only=["kvm"])
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    started = time.monotonic()
    assert sync_all(config, store, factory=make, only=["plain"]).status == "ok"
    # Its rollup's idle check names the table but reads no row of it (no utilization to join).
    writes = [s for s in statements if s.split()[0] in ("INSERT", "DELETE", "UPDATE") and "utilization_days" in s]
    assert statements and not writes
    assert time.monotonic() - started < 30
    assert list(_days(store)) == ["kvm-n0"]


def test_one_busy_day_keeps_a_vm_off_the_idle_list(estate, httpserver: HTTPServer) -> None:
    config, store, make = estate
    # Both average below the idle CPU threshold (7%) over the window; kvm-n0 had a 15% day.
    serve_history(httpserver, {"kvm-n0": [1, 15, 1], "kvm-n1": [5, 6, 5]}, {"kvm-n0": [10] * 3, "kvm-n1": [10] * 3})
    sync_all(config, store, factory=make, only=["kvm"])
    with store.session() as session:
        out = capacity.rightsizing(session, config, "moderate")
    idle = {row["id"]: row["idle"] for row in out["top"]}
    assert out["measured_nodes"] == 2 and out["idle"]["nodes"] == 1
    assert idle == {"kvm-n0": False, "kvm-n1": True}
    with store.session() as session:
        shown = [d["cpu_avg_pct"] for d in daily_history(session, "kvm", "kvm-n0")]
        department = session.scalar(select(NodeRow.department).where(NodeRow.id == "kvm-n0"))
        assert daily_history(session, "kvm", "kvm-n0", [department]) == daily_history(session, "kvm", "kvm-n0")
        assert daily_history(session, "kvm", "kvm-n0", ["another department"]) == []
    assert shown == [1.0, 15.0, 1.0]
