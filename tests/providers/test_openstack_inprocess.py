"""The same recorded OpenStack responses, in-process through libcloud's conn_class mechanism."""

from __future__ import annotations

import json

import pytest
from libcloud.common.base import Connection

from providers.base import ProviderSpec
from providers.registry import create_provider
from tests.providers.inprocess import fixture_connection
from tests.providers.replay_server import NOVA, driver_options, openstack_route


def test_recorded_servers_without_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Connection, "conn_class", fixture_connection(openstack_route))
    spec = ProviderSpec(
        name="recorded",
        driver="openstack",
        key="demo",
        secret="pw",
        options=driver_options("http://recorded.invalid/identity"),
    )
    adapter = create_provider(spec)
    servers = json.loads((NOVA / "_servers_detail.json").read_text())["servers"]
    nodes = adapter.list_nodes()
    assert sorted(n.id for n in nodes) == sorted(str(s["id"]) for s in servers)
    pages = [json.loads((NOVA / f).read_text())["images"] for f in ("_images_v2.json", "_images_v2_page2.json")]
    assert len(adapter.list_images()) == sum(len(p) for p in pages)
