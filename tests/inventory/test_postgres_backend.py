"""The same sync against a real, throwaway PostgreSQL cluster."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.config import parse_config
from inventory.models import ChangeEvent
from inventory.query import iter_records
from inventory.store import open_store
from inventory.sync import sync_all
from providers.errors import Unavailable
from tests.fakes import FakeCloud, factory, make_node
from tests.pg import pg_bindir, throwaway_cluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(pg_bindir() is None, reason="PostgreSQL binaries missing (make test installs them)"),
]


def test_sync_on_postgresql(tmp_path):
    with throwaway_cluster() as url:
        config = parse_config(
            {
                "database": url,
                "providers": [{"name": "a", "driver": "fake"}, {"name": "b", "driver": "fake", "pool": "xinchuang"}],
            },
            base_dir=str(tmp_path),
        )
        clouds = {n: FakeCloud(nodes=[make_node(n, i, name=f"云主机-{i}") for i in range(50)]) for n in "ab"}
        store = open_store(config.database_url)
        assert sync_all(config, store, factory=factory(clouds)).status == "ok"
        clouds["a"].nodes.pop()
        clouds["b"].fail_nodes = Unavailable("b", "list_nodes", "HTTP 500")
        report = sync_all(config, store, factory=factory(clouds))
        assert [r.status for r in report.results] == ["ok", "failed"]
        with store.session() as s:
            nodes = list(iter_records(s, "nodes"))
            removed = list(s.scalars(select(ChangeEvent.resource_id).where(ChangeEvent.change == "removed")))
            by_tag = list(iter_records(s, "nodes", {"tag.department": "市人社局", "provider": "b"}))
        assert len(nodes) == 99 and removed == ["a-n49"]
        assert len(by_tag) == 50 and all(r["stale"] for r in by_tag)
        assert nodes[0]["name"].startswith("云主机")
        store.dispose()
