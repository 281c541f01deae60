from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from inventory.config import parse_config
from inventory.models import ChangeEvent, NodeRow, ProviderStatus
from inventory.query import iter_records
from inventory.store import open_store
from inventory.sync import sync_all
from providers.base import Capability, Host, State, Volume
from providers.errors import BadResponse, Unavailable
from tests.fakes import LISTINGS, FakeCloud, FakeProvider, factory, make_node

# Providers that answer changes since the last sync, like Nova (nodes) and Cinder 3.60 (volumes).
NODE_DELTA = LISTINGS | {Capability.NODE_DELTA}
VOLUME_DELTA = LISTINGS | {Capability.VOLUME_DELTA}


@pytest.fixture()
def setup(tmp_path):
    config = parse_config(
        {
            "database": "sqlite:///inv.db",
            "centers": [{"id": "gz-prod", "name": "生产中心", "role": "production", "site": "ganzhou"}],
            "providers": [
                {"name": "a", "driver": "fake", "center": "gz-prod"},
                {"name": "b", "driver": "fake", "center": "gz-prod", "pool": "xinchuang"},
                {"name": "c", "driver": "fake"},
            ],
        },
        base_dir=str(tmp_path),
    )
    clouds = {n: FakeCloud(nodes=[make_node(n, i) for i in range(5)]) for n in "abc"}
    store = open_store(config.database_url)
    return config, clouds, store


def _node_ids(store, provider):
    with store.session() as s:
        return set(s.scalars(select(NodeRow.id).where(NodeRow.provider == provider)))


def test_first_sync_stores_every_node_with_tags(setup):
    config, clouds, store = setup
    report = sync_all(config, store, factory=factory(clouds))
    assert report.status == "ok"
    with store.session() as s:
        rows = list(iter_records(s, "nodes"))
    assert len(rows) == 15
    row = next(r for r in rows if r["provider"] == "b")
    assert (row["department"], row["system"], row["mlps_level"]) == ("市人社局", "社保系统", 3)
    assert row["pool"] == "xinchuang" and row["center"] == "gz-prod" and row["stale"] is False


def test_changes_are_recorded_with_fields(setup):
    config, clouds, store = setup
    sync_all(config, store, factory=factory(clouds))
    clouds["a"].nodes[0] = replace(clouds["a"].nodes[0], vcpus=8)
    clouds["a"].nodes.append(make_node("a", 99))
    del clouds["a"].nodes[1]
    report = sync_all(config, store, factory=factory(clouds))
    a = next(r for r in report.results if r.name == "a")
    assert (a.added, a.changed, a.removed) == (1, 1, 1)
    with store.session() as s:
        events = {(e.resource_id, e.change): e.fields for e in s.scalars(select(ChangeEvent))}
    assert events[("a-n0", "changed")] == {"vcpus": [4, 8]}
    assert ("a-n99", "added") in events and ("a-n1", "removed") in events


def test_unchanged_second_sync_writes_nothing(setup):
    config, clouds, store = setup
    sync_all(config, store, factory=factory(clouds))
    report = sync_all(config, store, factory=factory(clouds))
    assert all((r.added, r.changed, r.removed) == (0, 0, 0) for r in report.results)


@pytest.mark.parametrize(
    "fault",
    [Unavailable("a", "list_nodes", "HTTP 500"), BadResponse("a", "list_nodes", "malformed JSON"), RuntimeError("bug")],
)
def test_failed_provider_keeps_last_good_data_marked_stale(setup, fault):
    config, clouds, store = setup
    sync_all(config, store, factory=factory(clouds))
    clouds["a"].fail_nodes = fault
    clouds["b"].nodes.pop()
    report = sync_all(config, store, factory=factory(clouds))
    a = next(r for r in report.results if r.name == "a")
    assert a.status == "failed" and "a" in a.error
    assert len(_node_ids(store, "a")) == 5  # nothing wrongly removed
    assert len(_node_ids(store, "b")) == 4  # the others synced completely
    with store.session() as s:
        status = s.get(ProviderStatus, "a")
        assert status.status == "failed" and status.stale is True
        assert s.scalar(select(func.count()).select_from(ChangeEvent).where(ChangeEvent.provider == "a")) == 0
        records = list(iter_records(s, "nodes", {"provider": "a"}))
    assert all(r["stale"] for r in records)


def test_failure_on_first_sync_is_not_stale_and_not_empty_success(setup):
    config, clouds, store = setup
    clouds["c"].fail_nodes = Unavailable("c", "list_nodes", "timed out")
    report = sync_all(config, store, factory=factory(clouds))
    assert report.status == "partial"
    with store.session() as s:
        status = s.get(ProviderStatus, "c")
    assert status.status == "failed" and status.stale is False and "timed out" in status.error


def test_forbidden_kinds_are_left_empty_with_a_warning(setup):
    config, clouds, store = setup
    clouds["a"].hosts = [Host(provider="a", id="h1", name="h1", vcpus=64)]
    clouds["a"].volumes = [Volume(provider="a", id="v1", name="v1", size_gb=10)]
    sync_all(config, store, factory=factory(clouds))
    clouds["a"].forbidden = {"hosts", "volumes", "networks"}
    report = sync_all(config, store, factory=factory(clouds))
    a = next(r for r in report.results if r.name == "a")
    assert a.status == "partial"
    assert {w.split(":")[0] for w in a.warnings} == {"host", "volume", "network"}
    assert len(_node_ids(store, "a")) == 5
    with store.session() as s:
        # An unreadable kind is no evidence of deletion: the earlier rows stay.
        assert [r["id"] for r in iter_records(s, "volumes", {"provider": "a"})] == ["v1"]


def test_only_unknown_provider_is_a_config_error(setup):
    from providers.errors import ConfigError

    config, clouds, store = setup
    with pytest.raises(ConfigError, match="nope"):
        sync_all(config, store, only=["nope"], factory=factory(clouds))


def test_delta_sync_applies_changes_and_explicit_deletions_only(setup):
    config, clouds, store = setup
    sync_all(config, store, factory=factory(clouds), full=True)
    changed = replace(clouds["a"].nodes[0], state=State.STOPPED)
    providers = {}

    def make(spec):
        delta = ([changed], ["a-n4", "ghost"]) if spec.name == "a" else ([], [])
        providers[spec.name] = FakeProvider(spec.name, clouds[spec.name], NODE_DELTA, node_changes=delta)
        return providers[spec.name]

    report = sync_all(config, store, factory=make)
    a = next(r for r in report.results if r.name == "a")
    assert (a.added, a.changed, a.removed) == (0, 1, 1)
    assert a.counts["node"] == 4
    assert providers["a"].since, "the delta was asked with the last success time"
    assert _node_ids(store, "a") == {"a-n0", "a-n1", "a-n2", "a-n3"}
    assert len(_node_ids(store, "b")) == 5  # an empty delta removes nothing


def test_full_sync_ignores_delta(setup):
    config, clouds, store = setup
    sync_all(config, store, factory=factory(clouds))
    make = lambda spec: FakeProvider(spec.name, clouds[spec.name], NODE_DELTA)  # noqa: E731
    clouds["a"].nodes.pop()
    report = sync_all(config, store, factory=make, full=True)
    assert next(r for r in report.results if r.name == "a").removed == 1


def test_volume_delta_updates_changed_and_removes_only_what_is_no_longer_present(setup):
    from inventory.models import ResourceRow

    config, clouds, store = setup
    clouds["a"].volumes = [Volume(provider="a", id=f"v{i}", name=f"vol-{i}", size_gb=10) for i in range(4)]
    sync_all(config, store, factory=factory(clouds), full=True)
    grown = replace(clouds["a"].volumes[0], size_gb=20)
    clouds["a"].volumes = [grown, *clouds["a"].volumes[1:3]]  # v3 deleted
    providers = {}

    def make(spec):
        changed = [grown] if spec.name == "a" else []
        providers[spec.name] = FakeProvider(spec.name, clouds[spec.name], VOLUME_DELTA, changed_volumes=changed)
        return providers[spec.name]

    report = sync_all(config, store, factory=make)
    a = next(r for r in report.results if r.name == "a")
    assert providers["a"].since, "volumes were asked as changes since the last success"
    assert (a.changed, a.removed, a.counts["volume"]) == (1, 1, 3)
    with store.session() as s:
        stored = dict(s.execute(select(ResourceRow.id, ResourceRow.data).where(ResourceRow.kind == "volume")).all())
    assert sorted(stored) == ["v0", "v1", "v2"] and stored["v0"]["size_gb"] == 20
