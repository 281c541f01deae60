"""inventory/topology.py: centers, links and targets from the configuration (no PostgreSQL)."""

from __future__ import annotations

import pytest

from inventory import topology
from inventory.config import parse_config


def _config(**extra: object) -> object:
    return parse_config(
        {
            "centers": [
                {"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"},
                {"id": "gz-dr", "name": "同城灾备中心", "role": "same-city-dr", "site": "ganzhou"},
                {"id": "nc-dr", "name": "异地灾备中心", "role": "remote-dr", "site": "nanchang"},
            ],
            "systems": [
                {"name": "赣服通", "rto_s": 300, "rpo_s": 0},
                {"name": "12345热线", "center": "gz-dr", "rto_s": 5, "rpo_s": 0},
            ],
            **extra,
        }
    )


def test_links_follow_the_dr_section_and_systems_default_to_production() -> None:
    topo = topology.build(
        _config(dr={"home_center": "gz-prod", "sync_center": "gz-dr", "remote_center": "nc-dr", "remote_delay_s": 2.5})
    )
    assert [(lk.source, lk.target, lk.mode, lk.delay_s) for lk in topo.links] == [
        ("gz-prod", "gz-dr", "sync", 0.0),
        ("gz-prod", "nc-dr", "async", 2.5),
    ]
    assert topo.by_role("remote-dr").id == "nc-dr"
    placed = {s.name: s.center for s in topo.systems}
    assert placed == {"赣服通": "gz-prod", "12345热线": "gz-dr"}
    assert topo.to_dict()["centers"][0]["name"] == "赣州政务云生产中心"


def test_default_centers_when_the_config_names_none() -> None:
    topo = topology.build(parse_config({}))
    assert [c.role for c in topo.centers] == ["production", "same-city-dr", "remote-dr"]
    assert [lk.mode for lk in topo.links] == ["sync", "async"]


@pytest.mark.parametrize("scenario", ["switchover", "failover", "failback"])
def test_same_city_targets_take_the_strictest_system(scenario: str) -> None:
    tg = topology.targets(_config(dr={"rto_target_s": 10}), scenario)
    assert tg.rto_s == 5 and tg.rpo_rows == 0 and tg.rpo_s is None


def test_remote_targets_come_from_the_dr_section() -> None:
    tg = topology.targets(_config(dr={"remote_rto_target_s": 120, "remote_rpo_target_s": 15}), "remote-failover")
    assert (tg.rto_s, tg.rpo_rows, tg.rpo_s) == (120.0, None, 15.0)
