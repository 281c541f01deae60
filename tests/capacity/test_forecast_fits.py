"""Stored forecast fits: reused only for the very series, model, horizon and level they were
fitted for, and never at the cost of the report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import OperationalError

from inventory.capacity import forecast as fc
from inventory.capacity.forecast_fits import FitMemo
from inventory.capacity.models import ForecastFit
from inventory.capacity.report import build_report
from inventory.models import CapacitySample
from tests.capacity.labdb import build_lab_db

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture()
def lab(tmp_path: Path) -> Any:
    config, store, _estate = build_lab_db(tmp_path, "small")
    return config, store


def _forecasts(config: Any, store: Any, **kw: Any) -> list[dict[str, Any]]:
    return build_report(config, store, now=NOW, method="ets", **kw)["forecast"]


def _stored(store: Any, **where: Any) -> dict[tuple[str, str], str]:
    stmt = select(ForecastFit.provider, ForecastFit.resource, ForecastFit.digest).filter_by(**where)
    with store.session() as session:
        return {(p, r): d for p, r, d in session.execute(stmt)}


def _fitted(points: list[dict[str, Any]]) -> int:
    return sum(1 for f in points for r in f["resources"].values() if r["points"])


def test_a_second_report_reuses_every_fit(lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = lab
    first = _forecasts(config, store)
    assert _fitted(first) >= 10
    assert len(_stored(store, method="ets", horizon=104)) == _fitted(first)

    def no_fitting(*_args: Any) -> Any:
        raise AssertionError("an unchanged series was fitted again")

    monkeypatch.setattr(fc, "_predict_ets", no_fitting)
    assert _forecasts(config, store) == first


def test_a_changed_series_is_fitted_again(lab: Any) -> None:
    config, store = lab
    _forecasts(config, store)
    before = _stored(store, method="ets")
    pool = config.providers[0]
    with store.session() as session:
        session.execute(
            insert(CapacitySample).values(at=datetime.now(UTC), provider=pool.name, center=pool.center,
                                          pool=pool.pool, department="新部门", nodes=50, vcpus=400, ram_mb=819200,
                                          disk_gb=5000)
        )  # fmt: skip
    report = build_report(config, store, now=NOW, method="ets")
    after = _stored(store, method="ets")
    assert {k for k in after if after[k] != before[k]} == {(pool.name, r) for r in fc.RESOURCES}
    with store.session() as session:
        fresh = fc.forecast_pools(session, report["pools"], NOW, 104, method="ets")
    assert report["forecast"] == fresh


def test_a_damaged_curve_is_fitted_again(lab: Any) -> None:
    config, store = lab
    first = _forecasts(config, store)
    with store.session() as session:
        session.execute(update(ForecastFit).values(bounds=b"\x00" * 16))
    assert _forecasts(config, store) == first
    with store.session() as session:
        sizes = set(session.scalars(select(func.length(ForecastFit.bounds))))
    assert sizes == {3 * 104 * 8}


def test_curves_are_kept_per_horizon_and_never_lent_to_another_level(lab: Any) -> None:
    config, store = lab
    _forecasts(config, store)
    short = _forecasts(config, store, horizon_weeks=52)
    assert _stored(store, horizon=52) and _stored(store, horizon=104)
    assert all(len(r["points"]) in (0, 52) for f in short for r in f["resources"].values())
    with store.session() as session:
        pools = build_report(config, store, now=NOW, forecast=False)["pools"]
        memo = FitMemo.load(session, [p["name"] for p in pools], "ets", 104, fc.DEFAULT_LEVEL)
        wider = fc.forecast_pools(session, pools, NOW, 104, level=0.8, method="ets", fits=memo)
        plain = fc.forecast_pools(session, pools, NOW, 104, level=0.8, method="ets")
    assert wider == plain and not memo.fresh


def test_a_database_that_refuses_the_write_does_not_fail_the_report(lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = lab
    real_session = store.session
    calls = {"n": 0}

    @contextlib.contextmanager
    def refusing_writes() -> Iterator[Any]:
        calls["n"] += 1
        if calls["n"] > 1:  # the report's own read session works; the fits' write is refused
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        with real_session() as session:
            yield session

    monkeypatch.setattr(store, "session", refusing_writes)
    report = build_report(config, store, now=NOW, method="ets", import_history=False)
    assert _fitted(report["forecast"]) >= 10
    monkeypatch.setattr(store, "session", real_session)
    assert _stored(store) == {}
