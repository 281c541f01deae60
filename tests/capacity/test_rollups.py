"""Capacity rollups: the report read from them equals the report computed live, and a rollup
that might be out of date is never used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from inventory.capacity import daily_rollups as sample_rollups
from inventory.capacity import provider_rollups as rollups
from inventory.capacity.models import CapacityRollup, ProviderDay, RollupState, TrendDay
from inventory.capacity.queries import provider_day_rows, trend_groups
from inventory.capacity.report import aggregate, build_report
from inventory.models import CapacitySample, NodeRow, UtilizationRow
from inventory.sync import sync_all
from tests.capacity.estate import build_small
from tests.capacity.labdb import build_lab_db
from tests.inventory.fakes import factory, make_node

MOMENT = "2026-11-29T00:00:00+00:00"


def _report(config: Any, store: Any, level: str = "moderate") -> dict[str, Any]:
    from datetime import datetime

    report = build_report(config, store, now=datetime.fromisoformat(MOMENT), method="linear", rightsizing_level=level,
                          headroom_filters={})  # fmt: skip
    report.pop("generated_at")
    return report


def _forget_rollups(store: Any) -> None:
    with store.session() as session:
        for table in (CapacityRollup, TrendDay, ProviderDay, RollupState):
            session.execute(delete(table))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    config, store, _estate = build_lab_db(tmp_path_factory.mktemp("rollups"), "small")
    # The first report imports the lab's year of history (and refreshes the daily rollups).
    build_report(config, store, forecast=False)
    return config, store


def test_every_synced_provider_has_a_current_rollup(lab: Any) -> None:
    config, store = lab
    with store.session() as session:
        covered = rollups.coverage(session)
        assert covered.missing == []
        assert sorted(covered.payloads) == sorted(pc.name for pc in config.providers)
        assert sample_rollups.is_current(session)


@pytest.mark.parametrize("level", ["conservative", "moderate", "aggressive"])
def test_report_from_rollups_equals_the_live_report(tmp_path: Path, lab: Any, level: str) -> None:
    config, store = lab
    from_rollups = _report(config, store, level)
    assert from_rollups["rightsizing"]["top"], "the lab has oversized nodes"
    assert from_rollups["xinchuang"]["trend"]["overall"], "the lab has a year of history"
    copy = _copy_store(tmp_path, store)
    _forget_rollups(copy)
    with copy.session() as session:
        assert rollups.coverage(session).missing is None
        assert not sample_rollups.is_current(session)
    assert _report(config, copy, level) == from_rollups


def test_some_providers_live_and_the_rest_from_rollups(tmp_path: Path, lab: Any) -> None:
    config, store = lab
    expected = _report(config, store)
    copy = _copy_store(tmp_path, store)
    dropped = [pc.name for pc in config.providers][:2]
    with copy.session() as session:
        session.execute(delete(CapacityRollup).where(CapacityRollup.provider.in_(dropped)))
    with copy.session() as session:
        assert sorted(rollups.coverage(session).missing or []) == sorted(dropped)
    assert _report(config, copy) == expected


def test_rollups_computed_with_other_thresholds_are_ignored(tmp_path: Path, lab: Any) -> None:
    config, store = lab
    copy = _copy_store(tmp_path, store)
    with copy.session() as session:
        session.execute(update(CapacityRollup).values(params="thresholds-of-an-older-version"))
    with copy.session() as session:
        assert rollups.coverage(session).missing is None
        assert not rollups.is_current(session, config.providers[0].name)


def test_a_damaged_rollup_is_computed_live(tmp_path: Path, lab: Any) -> None:
    config, store = lab
    expected = _report(config, store)
    copy = _copy_store(tmp_path, store)
    damaged = config.providers[0].name
    with copy.session() as session:
        session.execute(update(CapacityRollup).where(CapacityRollup.provider == damaged).values(payload="{not json"))
    with copy.session() as session:
        assert rollups.coverage(session).missing == [damaged]
    assert _report(config, copy) == expected


def test_a_write_outside_sync_drops_the_rollups_and_shows_in_the_report(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False)
    before = build_report(small.config, small.store, forecast=False)["pools"]
    with small.store.session() as session:
        assert rollups.coverage(session).missing == []
        session.add(NodeRow(provider="xc-a", id="extra", name="extra", state="running", vcpus=16, ram_mb=1024,
                            disk_gb=10, host="x1"))  # fmt: skip
    with small.store.session() as session:
        assert rollups.coverage(session).missing is None
    after = {p["name"]: p for p in build_report(small.config, small.store, forecast=False)["pools"]}
    assert after["xc-a"]["allocated"]["vcpus"] == {p["name"]: p for p in before}["xc-a"]["allocated"]["vcpus"] + 16
    # The next sync puts the providers' rollups back, from what the clouds report.
    sync_all(small.config, small.store, factory=factory(small.clouds))
    with small.store.session() as session:
        assert rollups.coverage(session).missing == []


@pytest.mark.parametrize(
    "statement",
    [
        lambda: update(NodeRow).values(vcpus=NodeRow.vcpus + 1),
        lambda: delete(UtilizationRow),
        lambda: insert(NodeRow).values(provider="leg-a", id="raw", name="raw"),
    ],
)
def test_statements_on_the_inventory_drop_the_rollups(tmp_path: Path, statement: Any) -> None:
    small = build_small(tmp_path, stale=False)
    with small.store.session() as session:
        session.execute(statement())
    with small.store.session() as session:
        assert session.scalar(select(func.count()).select_from(CapacityRollup)) == 0


def test_sync_rewrites_a_rollup_only_when_the_provider_changed(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False)

    def computed() -> dict[str, Any]:
        with small.store.session() as session:
            return {p: at for p, at in session.execute(select(CapacityRollup.provider, CapacityRollup.computed_at))}

    first = computed()
    sync_all(small.config, small.store, factory=factory(small.clouds))
    assert computed() == first
    small.clouds["leg-b"].nodes.append(make_node("leg-b", 9, host="b1", vcpus=6, tags={"department": "乙局"}))
    sync_all(small.config, small.store, factory=factory(small.clouds))
    second = computed()
    assert second["leg-b"] != first["leg-b"]
    assert {k: v for k, v in second.items() if k != "leg-b"} == {k: v for k, v in first.items() if k != "leg-b"}
    with small.store.session() as session:
        allocation = rollups.coverage(session).allocation(session)
    assert sum(v for p, _d, _s, _n, v, _r, _k in allocation if p == "leg-b") == 4 + 6


def test_daily_rollups_follow_each_sync_and_equal_a_rebuild(tmp_path: Path) -> None:
    small = build_small(tmp_path, stale=False)
    for extra in (5, 6):
        small.clouds["xc-a"].nodes.append(make_node("xc-a", extra, host="x1", tags={"department": "甲局"}))
        sync_all(small.config, small.store, factory=factory(small.clouds))
    with small.store.session() as session:
        assert sample_rollups.is_current(session)
        kept = sorted(sample_rollups.trend(session)), sorted(sample_rollups.provider_days(session))
        live = sorted(trend_groups(session)), sorted(provider_day_rows(session))
    assert kept == live
    # The day's last sample counts: the xc-a figure of the day has all four nodes.
    xc_vcpus = sum(g[4] for g in kept[0])
    assert xc_vcpus == 4 * 4


def test_samples_written_elsewhere_are_read_live_until_the_next_refresh(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    small = build_small(tmp_path, stale=False)
    earlier = datetime.now(UTC) - timedelta(days=30)
    with small.store.session() as session:
        session.execute(insert(CapacitySample).values(at=earlier, provider="leg-a", center="c1", pool="legacy",
                                                      department="丙局", nodes=3, vcpus=12, ram_mb=1, disk_gb=1))  # fmt: skip
    with small.store.session() as session:
        assert not sample_rollups.is_current(session)
        assert any(g[2] == "丙局" for g in sample_rollups.trend(session))
    # The next sync finds the tables behind and rebuilds every day, the new one included.
    sync_all(small.config, small.store, factory=factory(small.clouds))
    with small.store.session() as session:
        assert sample_rollups.is_current(session)
        assert sorted(sample_rollups.trend(session)) == sorted(trend_groups(session))
        assert any(g[2] == "丙局" for g in sample_rollups.trend(session))


def test_aggregate_accepts_a_coverage_without_rollups(lab: Any) -> None:
    config, store = lab
    with store.session() as session:
        from_rollups = aggregate(session, config)
        live = aggregate(session, config, coverage=rollups.Coverage({}, None))
    assert live == from_rollups


def _copy_store(tmp_path: Path, store: Any) -> Any:
    """A private copy of the module's lab database, its history already imported (the tests
    here change what they read)."""
    import sqlite3

    from inventory.store import open_store

    source = store.engine.url.database
    target = tmp_path / "inv.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return open_store(f"sqlite:///{target}")
