"""Listing thousands of servers costs their pages plus a fixed number of lookups, never a call per server."""

from __future__ import annotations

import pytest

from providers.base import ProviderSpec
from providers.registry import create_provider
from tests.providers.big_cloud import PAGE, BigCloud
from tests.providers.replay_server import serve


@pytest.mark.xdist_group("openstack-scale")
def test_5000_servers_with_bounded_calls() -> None:
    cloud = BigCloud(servers=5000)
    base, stop = serve(cloud.route)
    try:
        adapter = create_provider(
            ProviderSpec(
                name="big",
                driver="openstack",
                key="u",
                secret="p",
                timeout_s=30,
                options={
                    "ex_force_auth_url": f"{base}/identity",
                    "ex_force_auth_version": "3.x_password",
                    "ex_tenant_name": "demo",
                    "ex_domain_name": "Default",
                },
            )
        )
        nodes = adapter.list_nodes()
    finally:
        stop()
    assert len(nodes) == 5000 and len({n.id for n in nodes}) == 5000
    assert all(n.arch == "aarch64" and n.cpu_vendor == "Kunpeng" and n.department == "市公安局" for n in nodes)
    assert {n.os_family for n in nodes} == {"Kylin", "UOS", "openEuler", "CentOS"}
    calls = cloud.calls
    assert calls["/compute/v2.1/servers/detail"] == 5000 // PAGE
    assert calls["/compute/v2.1/flavors/detail"] == 1
    assert sum(v for k, v in calls.items() if k.endswith("/os-extra_specs")) == len(cloud.flavors)
    assert calls["/compute/v2.1/os-hypervisors/detail"] == 1
    assert calls["/image/v2/images"] == 1
    assert not any("/servers/srv-" in k for k in calls)
