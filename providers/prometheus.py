"""Per-VM utilization from a Prometheus server, through its HTTP API.

Most clouds here are watched by Prometheus with the libvirt exporter on every compute node.
A provider that names a Prometheus server (`prometheus:` in its config) gets its utilization
from there, whatever its adapter: CPU (average and 95th percentile), memory (average) over
the window, and disk use now, per VM.

Each figure is one instant query (`GET /api/v1/query`). The window's average and percentile
are computed by Prometheus itself over a subquery (`avg_over_time((EXPR)[30d:5m])`), so a
city's estate costs four answers of one sample per VM, never thirty days of points per VM.

The expressions are PromQL templates: `$labels` becomes the configured label matchers (which
job, which region), and each series must carry the label that names the node
(`id_label`, by default the libvirt domain's `uuid`, which is the Nova server id). The
defaults follow the libvirt exporter's metric names and join its `libvirt_domain_info_meta`
series for the uuid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any

from providers.base import Utilization
from providers.boundary import boundary, for_status
from providers.errors import BadResponse

_UUID = "* on(domain) group_left(uuid) libvirt_domain_info_meta{$labels}"
DEFAULT_QUERIES: Mapping[str, str] = {
    # Share of the VM's vCPUs busy: CPU seconds per second over vCPUs.
    "cpu": (
        "100 * rate(libvirt_domain_info_cpu_time_seconds_total{$labels}[5m])"
        " / on(domain) libvirt_domain_info_virtual_cpus{$labels} " + _UUID
    ),
    "memory": (
        "100 * libvirt_domain_info_memory_usage_bytes{$labels}"
        " / on(domain) libvirt_domain_info_maximum_memory_bytes{$labels} " + _UUID
    ),
    "disk": (
        "100 * sum by (domain) (libvirt_domain_block_stats_allocation_bytes{$labels})"
        " / sum by (domain) (libvirt_domain_block_stats_capacity_bytes{$labels}) " + _UUID
    ),
}


@dataclass(frozen=True, slots=True)
class PrometheusSource:
    """Where a provider's utilization comes from (the `prometheus:` block of its config)."""

    url: str
    queries: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERIES))
    labels: Mapping[str, str] = field(default_factory=dict)
    id_label: str = "uuid"
    window_days: int = 30
    resolution: str = "5m"
    timeout_s: float = 30.0

    def expression(self, kind: str) -> str:
        matchers = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(self.labels.items()))
        return Template(self.queries.get(kind) or DEFAULT_QUERIES[kind]).safe_substitute(labels=matchers)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PrometheusClient:
    """`/api/v1/query` of one server; answers become our error tree, naming the provider."""

    def __init__(self, provider: str, source: PrometheusSource) -> None:
        import requests

        self.provider = provider
        self.source = source
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def query(self, expression: str) -> dict[str, float]:
        """An instant vector as {value of id_label: value}; series without the label, or with
        a value that is not a finite number (no data yet), are left out."""
        call = "prometheus query"
        with boundary(self.provider, call):
            resp = self._http.get(
                self.source.url.rstrip("/") + "/api/v1/query",
                params={"query": expression},
                timeout=self.source.timeout_s,
            )
            if resp.status_code >= 400 and resp.status_code not in (400, 422):
                raise for_status(self.provider, call, resp.status_code, resp.text)
            body = resp.json()
            if not isinstance(body, dict) or body.get("status") != "success":
                detail = body.get("error", "") if isinstance(body, dict) else ""
                raise BadResponse(self.provider, call, f"Prometheus refused the query: {detail}")
            return _vector(body.get("data"), self.source.id_label)


def _vector(data: Any, id_label: str) -> dict[str, float]:
    """The `data` of an instant query as {id: value}. Any other shape is a ValueError, which
    the boundary reports as the server's BadResponse (never as a bug of ours)."""
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"expected an instant vector, got {str(kind)[:40]}")
    out: dict[str, float] = {}
    for series in data["result"]:
        metric = series.get("metric") if isinstance(series, dict) else None
        sample = series.get("value") if isinstance(series, dict) else None
        if (
            not isinstance(metric, dict)
            or not isinstance(sample, list)
            or len(sample) != 2
            or not isinstance(sample[1], str | int | float)
        ):
            raise ValueError("a series without its metric labels or its [time, value] sample")
        node, value = metric.get(id_label), float(sample[1])
        if isinstance(node, str) and node and math.isfinite(value):
            out[node] = value
    return out


def _window(source: PrometheusSource, expression: str, fn: str) -> str:
    return f"{fn}(({expression})[{source.window_days}d:{source.resolution}])"


def read_utilization(provider: str, source: PrometheusSource) -> list[Utilization]:
    """Every VM with a CPU figure in the window: CPU average and p95, memory average (0 when
    the exporter has no memory figure for it) and disk use now (None when unknown)."""
    client = PrometheusClient(provider, source)
    try:
        cpu = source.expression("cpu")
        cpu_avg = client.query(_window(source, cpu, "avg_over_time"))
        cpu_p95 = client.query(f"quantile_over_time(0.95, ({cpu})[{source.window_days}d:{source.resolution}])")
        ram_avg = client.query(_window(source, source.expression("memory"), "avg_over_time"))
        disk = client.query(source.expression("disk"))
    finally:
        client.close()
    return [
        Utilization(
            provider=provider,
            node_id=node,
            cpu_avg_pct=round(avg, 2),
            cpu_p95_pct=round(cpu_p95.get(node, avg), 2),
            ram_avg_pct=round(ram_avg.get(node, 0.0), 2),
            window_days=source.window_days,
            disk_used_pct=round(disk[node], 2) if node in disk else None,
        )
        for node, avg in sorted(cpu_avg.items())
    ]


def source_from(settings: Mapping[str, Any]) -> PrometheusSource:
    """A PrometheusSource from already validated settings (inventory/config.py)."""
    return PrometheusSource(
        url=str(settings["url"]),
        queries={**DEFAULT_QUERIES, **{k: v for k, v in dict(settings.get("queries") or {}).items() if v}},
        labels=dict(settings.get("labels") or {}),
        id_label=str(settings.get("id_label") or "uuid"),
        window_days=int(settings.get("window_days") or 30),
        resolution=str(settings.get("resolution") or "5m"),
        timeout_s=float(settings.get("timeout_s") or 30.0),
    )


__all__ = ["DEFAULT_QUERIES", "PrometheusClient", "PrometheusSource", "read_utilization", "source_from"]
