"""`certs scan --from-inventory` targets: node IPs x the provider's tls_ports, then tls.endpoints."""

from __future__ import annotations

from pathlib import Path

from inventory.config import parse_config
from inventory.models import NodeRow
from inventory.store import open_store
from security.cert_collect import inventory_targets
from security.tls_settings import settings_of


def test_nodes_times_ports_plus_configured_endpoints(tmp_path: Path) -> None:
    config = parse_config({
        "database": f"sqlite:///{tmp_path / 'g.db'}",
        "providers": [
            {"name": "hw-gov", "driver": "openstack", "credentials": "env:HW", "tls_ports": [443, 8443]},
            {"name": "xc", "driver": "openstack", "credentials": "env:XC"},
        ],
        "tls": {"endpoints": [{"host": "10.0.0.1", "port": 443, "system": "dup"},
                              {"host": "10.9.9.9", "port": 9443, "system": "电子证照库", "department": "市行政审批局"}]},
    }, base_dir=str(tmp_path))
    store = open_store(config.database)
    with store.session() as session:
        session.add(NodeRow(provider="hw-gov", id="n1", ips=["10.0.0.1", "10.0.1.1"], system="赣服通", department="审批局"))
        session.add(NodeRow(provider="xc", id="n2", ips=["10.5.0.1"]))  # no tls_ports: not scanned
    with store.session() as session:
        targets = inventory_targets(session, config, settings_of(config))
    got = [(t.host, t.port, t.system, t.source) for t in targets]
    assert got == [
        ("10.0.0.1", 443, "赣服通", "hw-gov"), ("10.0.0.1", 8443, "赣服通", "hw-gov"),
        ("10.0.1.1", 443, "赣服通", "hw-gov"), ("10.0.1.1", 8443, "赣服通", "hw-gov"),
        ("10.9.9.9", 9443, "电子证照库", "config"),
    ]


def test_bad_tls_section_names_the_field(tmp_path: Path) -> None:
    import pytest

    from providers.errors import ConfigError

    config = parse_config({"tls": {"endpoints": [{"host": "a", "port": 70000}]}}, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"tls\.endpoints\.0\.port"):
        settings_of(config)
