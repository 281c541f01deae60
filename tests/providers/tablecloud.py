"""A cloud adapter that exists only as a module and one registry table line (in the test).

Its estate is computed from the config's options, so that what sync stores can be checked
against them: `nodes` VMs, `hosts` hypervisors, one volume per VM, a utilization sample per VM,
and, as a delta since any earlier time, the VMs listed in `changed` plus `deleted` ids gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from providers.base import Capability, Host, Node, ProviderSpec, State, Utilization, Volume
from providers.errors import NotFound


class TableCloudAdapter:
    features = frozenset({Capability.HOSTS, Capability.VOLUMES, Capability.NODE_DELTA, Capability.UTILIZATION})

    def __init__(self, spec: ProviderSpec) -> None:
        self.name = spec.name
        self.options = spec.options
        self.delta_asked: list[datetime | str] = []

    def _node(self, i: int, vcpus: int = 2) -> Node:
        return Node(
            provider=self.name,
            id=f"tc-{i}",
            name=f"table-vm-{i}",
            state=State.RUNNING,
            vcpus=vcpus,
            ram_mb=4096,
            arch="aarch64",
            cpu_vendor="Kunpeng",
            tags={"department": "市大数据局", "system": "表格云", "mlps_level": "2"},
        )

    def list_nodes(self) -> Sequence[Node]:
        return [self._node(i) for i in range(int(self.options["nodes"]))]

    def get_node(self, node_id: str) -> Node:
        for node in self.list_nodes():
            if node.id == node_id:
                return node
        raise NotFound(self.name, "get_node", node_id)

    def list_node_changes(self, since: datetime | str) -> tuple[list[Node], list[str]]:
        self.delta_asked.append(since)
        changed = [self._node(int(i), vcpus=8) for i in self.options.get("changed", [])]
        return changed, [f"tc-{i}" for i in self.options.get("deleted", [])]

    def list_hosts(self) -> Sequence[Host]:
        return [
            Host(provider=self.name, id=f"h{i}", name=f"table-host-{i}", state=State.RUNNING, vcpus=96, ram_mb=393216)
            for i in range(int(self.options["hosts"]))
        ]

    def list_volumes(self) -> Sequence[Volume]:
        return [
            Volume(provider=self.name, id=f"vol-{n.id}", name=f"{n.name}-root", size_gb=40, attached_to=(n.id,))
            for n in self.list_nodes()
        ]

    def list_utilization(self) -> Sequence[Utilization]:
        return [Utilization(self.name, n.id, 12.5, 30.0, 40.0) for n in self.list_nodes()]
