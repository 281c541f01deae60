"""Migration steps against an in-memory provider: idempotence and what rollback leaves behind."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from inventory.config import parse_config
from playbooks.migration_steps import StepError, manifest, run_step
from providers.base import Capability, Image, Node, State
from providers.errors import NotFound


class MemoryCloud:
    features = frozenset({Capability.POWER, Capability.CREATE_NODE, Capability.DESTROY_NODE, Capability.NODE_METADATA})

    def __init__(self, name: str, boot_state: State = State.RUNNING) -> None:
        self.name = name
        self.nodes: dict[str, Node] = {}
        self.images: dict[str, Image] = {}
        self.boot_state = boot_state
        self.created = 0

    def list_nodes(self) -> Sequence[Node]:
        return list(self.nodes.values())

    def get_node(self, node_id: str) -> Node:
        if node_id not in self.nodes:
            raise NotFound(self.name, "get_node", node_id)
        return self.nodes[node_id]

    def create_node(
        self,
        name: str,
        size_id: str,
        image_id: str,
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        fixed_ips: Sequence[str] = (),
    ) -> Node:
        self.created += 1
        node = Node(
            provider=self.name,
            id=f"{self.name}-new{self.created}",
            name=name,
            state=self.boot_state,
            ips=tuple(fixed_ips) or ("10.13.0.50",),
            tags=dict(metadata or {}),
            extra={"fault": "No valid host was found."},
        )
        self.nodes[node.id] = node
        return node

    def set_node_metadata(self, node_id: str, metadata: Mapping[str, str]) -> None:
        node = self.get_node(node_id)
        self.nodes[node_id] = replace(node, tags={**node.tags, **metadata})

    def stop_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.STOPPED)

    def start_node(self, node_id: str) -> None:
        self.nodes[node_id] = replace(self.get_node(node_id), state=State.RUNNING)

    def destroy_node(self, node_id: str) -> None:
        self.get_node(node_id)
        del self.nodes[node_id]

    def delete_image(self, image_id: str) -> None:
        if image_id not in self.images:
            raise NotFound(self.name, "delete_image", image_id)
        del self.images[image_id]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    config = parse_config(
        {"migration": {"appdata_dir": str(tmp_path / "data" / "{provider}" / "{id}"), "boot_timeout_s": 1}},
        base_dir=str(tmp_path),
    )
    src, tgt = MemoryCloud("legacy"), MemoryCloud("xc-kunpeng")
    src.nodes["vm1"] = Node(
        provider="legacy",
        id="vm1",
        name="sbjb-app-01",
        state=State.RUNNING,
        ips=("10.10.0.11",),
        tags={"department": "市人社局", "system": "社保", "role": "app"},
    )
    data = tmp_path / "data" / "legacy" / "vm1"
    (data / "data").mkdir(parents=True)
    (data / "data" / "records.csv").write_text("id,amount\n1,10\n2,20\n", encoding="utf-8")
    (data / "VERSION").write_text("1\n", encoding="utf-8")
    item = {
        "source_provider": "legacy",
        "source_id": "vm1",
        "name": "sbjb-app-01",
        "system": "社保",
        "strategy": "replatform",
        "target_provider": "xc-kunpeng",
        "target_size": {"id": "c4m8"},
        "target_image_id": "openeuler",
        "source_ips": ["10.10.0.11"],
        "network": {"target_network_id": "net", "keep_ip": False, "fixed_ip": ""},
    }
    clouds = {"legacy": src, "xc-kunpeng": tgt}

    def step(name: str, state: dict[str, Any], faults: frozenset[str] = frozenset()) -> dict[str, Any]:
        return run_step(name, config, item, state, 7, tmp_path / "work", faults, factory=clouds.__getitem__)

    return {"src": src, "tgt": tgt, "step": step, "tmp": tmp_path}


def _replatform(world: dict[str, Any], faults: frozenset[str] = frozenset()) -> dict[str, Any]:
    step = world["step"]
    state = step("prepare", {})
    state = step("boot", state)
    Path(state["target_data_dir"], "app.conf").write_text("[app]\n", encoding="utf-8")  # the role's part
    for name in ("copy_data", "verify", "health", "cutover", "stop_source", "cleanup"):
        state = step(name, state, faults)
    return state


def test_replatform_moves_data_with_equal_sm3_and_stops_the_source(world: dict[str, Any]) -> None:
    state = _replatform(world)
    src, tgt = world["src"], world["tgt"]
    assert src.nodes["vm1"].state == State.STOPPED  # stopped, not deleted
    assert src.nodes["vm1"].tags["ganyun_migrated_to"] == f"xc-kunpeng/{state['target_id']}"
    target = tgt.nodes[state["target_id"]]
    assert target.tags["service_address"] == "10.10.0.11" and target.tags["department"] == "市人社局"
    src_tree, tgt_tree = manifest(Path(state["source_data_dir"])), manifest(Path(state["target_data_dir"]))
    assert src_tree == tgt_tree and len(src_tree) == 2
    expected = hashlib.new("sm3", b"id,amount\n1,10\n2,20\n").hexdigest()
    assert src_tree["data/records.csv"] == expected


def test_boot_is_not_repeated_when_a_killed_run_left_a_node(world: dict[str, Any]) -> None:
    step = world["step"]
    state = step("prepare", {})
    first = step("boot", state)
    again = step("boot", {k: v for k, v in state.items()})  # the kill lost the recorded target_id
    assert again["target_id"] == first["target_id"]
    assert world["tgt"].created == 1


def test_checksum_mismatch_fails_verify_and_rollback_restores_the_source(world: dict[str, Any]) -> None:
    step = world["step"]
    state = step("prepare", {})
    state = step("boot", state)
    state = step("copy_data", state)
    Path(state["target_data_dir"], "data", "records.csv").write_text("tampered\n", encoding="utf-8")
    with pytest.raises(StepError, match="SM3 checksum mismatch"):
        step("verify", state)
    target_dir = Path(state["target_data_dir"])
    state = step("rollback", state)
    assert world["tgt"].nodes == {}
    assert world["src"].nodes["vm1"].state == State.RUNNING
    assert not target_dir.exists()  # the partial copy goes with the partial target
    assert step("rollback", state)["rolled_back"]  # twice is fine


def test_failed_boot_reports_the_node_so_rescue_can_remove_it(world: dict[str, Any]) -> None:
    world["tgt"].boot_state = State.ERROR
    step = world["step"]
    state = step("prepare", {})
    with pytest.raises(StepError, match="ERROR No valid host") as caught:
        step("boot", state)
    partial = caught.value.state or {}
    assert partial["target_id"] in world["tgt"].nodes
    step("rollback", partial)
    assert world["tgt"].nodes == {}


def test_revert_after_cutover_brings_the_source_back(world: dict[str, Any]) -> None:
    state = _replatform(world)
    world["step"]("revert", state)
    src = world["src"].nodes["vm1"]
    assert src.state == State.RUNNING and src.tags["ganyun_migrated_to"] == ""
    assert world["tgt"].nodes == {}


def test_a_target_that_does_not_declare_create_node_fails_the_boot_step(world: dict[str, Any]) -> None:
    world["tgt"].features = frozenset({Capability.POWER})  # create_node exists, but is not declared
    step = world["step"]
    with pytest.raises(StepError, match=r"boot: xc-kunpeng: create_node: not offered by this provider"):
        step("boot", step("prepare", {}))
    assert world["tgt"].created == 0
