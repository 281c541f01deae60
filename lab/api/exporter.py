"""A libvirt exporter per lab cloud: `GET /_exporter/<cloud>/metrics` in Prometheus's
exposition format, with the metric names of the libvirt exporter that real compute nodes run.

Figures come from each server's seeded 30-day profile (`seed.utilization`): the CPU counter
grows at the profile's average share of the server's vCPUs, memory use and disk allocation
are the profile's shares of the flavor's sizes. Running servers only (a stopped domain's
counter stands still). `libvirt_domain_info_meta` names each domain's uuid, which is the
Nova server id, as on a real OpenStack compute node.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from lab.api.cloud import CloudRuntime
from lab.api.http import Reply
from lab.seed import utilization

_GIB = 1024**3
_MIB = 1024**2


def domain_name(server_id: str) -> str:
    return f"instance-{server_id[:8]}"


class _CloudCollector(Collector):
    def __init__(self, rt: CloudRuntime, started: float) -> None:
        self.rt = rt
        self.started = started

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily(
            "libvirt_domain_info_cpu_time_seconds_total", "Amount of CPU time used by the domain", labels=["domain"]
        )
        vcpus = GaugeMetricFamily("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs", labels=["domain"])
        mem_max = GaugeMetricFamily(
            "libvirt_domain_info_maximum_memory_bytes", "Maximum allowed memory of the domain", labels=["domain"]
        )
        mem_used = GaugeMetricFamily(
            "libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain", labels=["domain"]
        )
        capacity = GaugeMetricFamily(
            "libvirt_domain_block_stats_capacity_bytes",
            "Logical size of the block device",
            labels=["domain", "target_device"],
        )
        allocation = GaugeMetricFamily(
            "libvirt_domain_block_stats_allocation_bytes",
            "Highest allocated extent",
            labels=["domain", "target_device"],
        )
        meta = GaugeMetricFamily(
            "libvirt_domain_info_meta", "Domain metadata", labels=["domain", "uuid", "instance_name", "flavor"]
        )
        elapsed = max(0.0, time.time() - self.started)
        for server_id in self.rt.server_order():
            server = self.rt.servers.get(server_id)
            flavor = self.rt.flavors.get(server.flavor_id) if server is not None else None
            if server is None or flavor is None or server.status != "ACTIVE":
                continue
            domain = domain_name(server.id)
            cpu_avg, _cpu_p95, ram_avg = utilization(server.id)
            cpu.add_metric([domain], flavor.vcpus * cpu_avg / 100.0 * elapsed)
            vcpus.add_metric([domain], flavor.vcpus)
            mem_max.add_metric([domain], flavor.ram_mb * _MIB)
            mem_used.add_metric([domain], flavor.ram_mb * _MIB * ram_avg / 100.0)
            disk_share = random.Random(f"disk:{server.id}").uniform(0.15, 0.9)
            capacity.add_metric([domain, "vda"], flavor.disk_gb * _GIB)
            allocation.add_metric([domain, "vda"], int(flavor.disk_gb * _GIB * disk_share))
            meta.add_metric([domain, server.id, server.name, flavor.name], 1)
        yield from (cpu, vcpus, mem_max, mem_used, capacity, allocation, meta)


def handle(rt: CloudRuntime, started: float) -> Reply:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_CloudCollector(rt, started))
    return Reply(200, generate_latest(registry), {"Content-Type": CONTENT_TYPE_LATEST})
