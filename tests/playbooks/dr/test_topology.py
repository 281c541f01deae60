"""inventory/topology.py: centers, links and targets from the configuration (no PostgreSQL)."""

from __future__ import annotations

import pytest

from inventory import topology
from inventory.config import parse_config
from playbooks.drill import engine


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
    topo = topology.build(_config(dr={"home_center": "", "remote_center": "", "remote_delay_s": 2.5}))
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


@pytest.mark.parametrize("scenario", ["switchover", "failover", "failback", "partition"])
def test_same_city_targets_take_the_strictest_system(scenario: str) -> None:
    tg = engine.targets_for(_config(), scenario)
    assert tg.rto_s == 5 and tg.rpo_rows == 0 and tg.rpo_s is None


def test_the_issue_defaults_per_scenario() -> None:
    cfg = parse_config({"dr": {"remote_delay_s": 0.03}})
    got = {s: _triple(engine.targets_for(cfg, s)) for s in ("switchover", "failover", "remote-failover", "city-loss")}
    assert got == {
        "switchover": (10.0, 0, None),
        "failover": (30.0, 0, None),
        # Remote: the data-loss window allowed is the link's delay plus one second.
        "remote-failover": (60.0, None, 1.03),
        "city-loss": (60.0, None, 1.03),
    }


def test_targets_in_the_config_override_the_scenario_defaults() -> None:
    cfg = _config(dr={"targets": {"remote-failover": {"rto_s": 120, "rpo_s": 15}}})
    tg = engine.targets_for(cfg, "remote-failover")
    assert (tg.rto_s, tg.rpo_rows, tg.rpo_s) == (120.0, None, 15.0)


def _triple(tg: engine.DrillTargets) -> tuple[float, int | None, float | None]:
    return tg.rto_s, tg.rpo_rows, tg.rpo_s
