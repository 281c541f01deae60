"""Preflight rules as data: each rule decides what it says, and a bad rules file fails loudly."""

from __future__ import annotations

from typing import Any

import pytest

from inventory.assessment import Related, assess_node, default_rules, parse_rules, system_groups
from providers.errors import ConfigError


def _node(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "gov-huawei",
        "id": "n1",
        "name": "sbjb-app-01",
        "state": "running",
        "arch": "x86_64",
        "os_family": "CentOS",
        "ips": ["10.10.0.11"],
        "image": "img-centos",
        "mlps_level": 3,
        "system": "社会保险经办系统",
        "department": "市人社局",
        "tags": {},
        "extra": {},
    }
    base.update(kw)
    return base


def _related(**kw: Any) -> Related:
    return Related.build(kw.get("volumes", []), kw.get("snapshots", []), kw.get("images", []), kw.get("groups"))


def test_centos_is_replatformed_onto_a_domestic_os() -> None:
    a = assess_node(_node(), _related(), lang="en")
    assert a.strategy == "replatform"
    assert a.target_arch == "aarch64"
    assert a.target_os_family == "openEuler"
    assert any(f.rule == "os-eol" for f in a.findings)


def test_windows_can_only_be_rehosted_and_is_retained_on_kunpeng() -> None:
    win = _node(os_family="Windows")
    assert assess_node(win, _related()).strategy == "rehost"
    forced = assess_node(win, _related(), force="replatform", lang="en")
    assert forced.strategy == "retain"
    assert forced.findings[0].effect == "no_replatform"
    assert "aarch64" in forced.findings[0].message


def test_error_state_is_retained_and_terminated_retired() -> None:
    assert assess_node(_node(state="error"), _related()).strategy == "retain"
    assert assess_node(_node(state="terminated"), _related()).strategy == "retire"


def test_pinning_and_passthrough_need_manual_assessment() -> None:
    pinned = _node(extra={"flavor_extra_specs": {"hw:cpu_policy": "dedicated"}})
    assert assess_node(pinned, _related()).strategy == "retain"
    gpu = _node(extra={"flavor_extra_specs": {"pci_passthrough:alias": "gpu:1"}})
    assert assess_node(gpu, _related()).strategy == "retain"


def test_volumes_snapshots_and_formats_become_reasons() -> None:
    related = _related(
        volumes=[{"provider": "gov-huawei", "id": "v1", "attached_to": ["n1"], "volume_type": "ssd-luks"}],
        snapshots=[{"provider": "gov-huawei", "volume_id": "v1"}, {"provider": "gov-huawei", "volume_id": "v1"}],
        images=[{"provider": "gov-huawei", "id": "img-centos", "disk_format": "vmdk"}],
    )
    a = assess_node(_node(), related, lang="en")
    rules = {f.rule: f.message for f in a.findings}
    assert "2 existing snapshot(s)" in rules["snapshots-existing"]
    assert "1 encrypted volume(s)" in rules["volumes-encrypted"]
    assert "vmdk" in rules["disk-format-vmdk"]


def test_already_migrated_nodes_are_not_planned_twice() -> None:
    a = assess_node(_node(state="stopped", tags={"ganyun_migrated_to": "xc-kunpeng/abc"}), _related())
    assert a.strategy == "retire"


def test_domestic_x86_prefers_rehost_and_arm_source_cannot_rehost() -> None:
    assert assess_node(_node(os_family="Kylin"), _related()).strategy == "rehost"
    arm = assess_node(_node(os_family="Kylin", arch="aarch64"), _related(), force="rehost")
    assert arm.strategy == "retain"


def test_systems_moving_together_form_one_group() -> None:
    class S:
        def __init__(self, name: str, move_with: list[str]) -> None:
            self.name, self.move_with = name, move_with

    groups = system_groups([S("A", ["B"]), S("C", ["B"])], ["A", "B", "C", "D"])
    assert groups["A"][0] == groups["B"][0] == groups["C"][0]
    assert groups["A"][1] == 3
    assert groups["D"] == ("D", 1)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"rules": [{"id": "x", "effect": "explode", "message": {"zh": "a", "en": "b"}}]}, "effect"),
        (
            {
                "rules": [
                    {"id": "x", "effect": "warn", "when": {"arch": {"like": "x"}}, "message": {"zh": "a", "en": "b"}}
                ]
            },
            "operator",
        ),
        ({"rules": [{"id": "x", "effect": "warn", "message": {"zh": "a"}}]}, "zh and en"),
        ({"rules": [{"id": "x", "effect": "warn", "message": {"zh": "a", "en": "b"}}] * 2}, "duplicate"),
        ({"nothing": 1}, "rules"),
    ],
)
def test_bad_rules_are_refused(data: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_rules(data)


def test_shipped_rules_parse_and_cover_the_issue() -> None:
    ids = {r.id for r in default_rules().rules}
    for wanted in (
        "arch-foreign",
        "snapshots-existing",
        "static-ip",
        "host-pinning",
        "passthrough",
        "mlps-4",
        "move-together",
        "volumes-attached",
        "disk-format-unsupported",
    ):
        assert wanted in ids
