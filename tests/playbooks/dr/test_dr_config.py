"""The `dr` section: validated before anything runs, one clear line per bad field."""

from __future__ import annotations

from typing import Any

import pytest

from inventory.config import parse_config
from providers.errors import ConfigError


def _cluster(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "site": "ganzhou",
        "ssh": {"host": "10.213.7.11", "user": "root", "key": "vault:dr-ssh"},
        "postgres": {"host": "10.213.7.11", "port": 5432},
        "node": {"data_dir": "/var/lib/postgresql/15/main", "conf_file": "/etc/postgresql/15/main/conf.d/ganyun.conf",
                 "application_name": "site_a"},
    }  # fmt: skip
    base.update(over)
    return base


def _dr(**over: Any) -> dict[str, Any]:
    dr: dict[str, Any] = {
        "credentials": "vault:dr-db",
        "home_center": "gz-prod",
        "clusters": {
            "gz-prod": _cluster(),
            "gz-dr": _cluster(node={"data_dir": "/d", "conf_file": "/c", "application_name": "site_b"}),
        },
    }
    dr.update(over)
    return {"dr": dr}


def test_a_valid_section_describes_each_center() -> None:
    cfg = parse_config(_dr(targets={"failover": {"rto_s": 20, "rpo_rows": 0}}))
    assert cfg.dr.configured and cfg.dr.manager == "streaming"
    assert cfg.dr.clusters["gz-prod"].ssh.key == "vault:dr-ssh"
    assert cfg.dr.targets["failover"].rto_s == 20
    assert not parse_config({}).dr.configured


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"credentials": "hunter2"}, "dr.credentials: must be 'vault:NAME'"),
        ({"manager": "pacemaker"}, "dr.manager: Input should be 'streaming' or 'patroni'"),
        ({"home_center": "gz-x"}, "home_center: 'gz-x' is not one of clusters"),
        ({"manager": "patroni"}, "clusters.gz-prod.patroni: required with manager patroni"),
        ({"clusters": {"gz-prod": _cluster(ssh={"host": "", "user": "root"})}}, "host: required for connection ssh"),
        (
            {"clusters": {"gz-prod": _cluster(ssh={"host": "h", "key": "/root/.ssh/id_rsa"})}},
            "key: must be 'vault:NAME'",
        ),
        ({"clusters": {"gz-prod": _cluster(postgres={"host": "h; rm -rf /", "port": 5432})}}, "postgres.host"),
        ({"clusters": {"gz-prod": _cluster(patroni={"rest_url": "file:///etc/passwd"})}}, "patroni.rest_url"),
        ({"targets": {"failover": {"rto_s": -1}}}, "dr.targets.failover.rto_s"),
        ({"targets": {"manager-loss": {"rto_s": 5, "heal_after_s": 1e308}}}, "heal_after_s"),
        ({"targets": {"manager-loss": {"rto_s": 5, "heal_after_s": 0}}}, "heal_after_s"),
        ({"targets": {"manager-loss": {"rto_s": 5, "heal_after_s": "{{ 7*7 }}"}}}, "heal_after_s"),
        ({"surprise": 1}, "dr.surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_dr(**change))
    assert message in str(caught.value)


def test_two_centers_with_one_application_name_are_refused() -> None:
    clusters = {"a": _cluster(), "b": _cluster()}
    with pytest.raises(ConfigError, match="application_name must be unique"):
        parse_config({"dr": {"clusters": clusters}})
