"""Per-VM utilization from a Prometheus server, through its HTTP API.

Most clouds here are watched by Prometheus with the libvirt exporter on every compute node.
A provider that names a Prometheus server (`prometheus:` in its config) gets its utilization
from there, whatever its adapter: a daily history of CPU and memory over the window, the CPU's
95th percentile over the window, and disk use now, per VM.

The history is one range query per figure (`GET /api/v1/query_range`): each point is
Prometheus's own average over one day (`avg_over_time((EXPR)[1d:5m])`), evaluated once a day
from the window's first day to now, so a VM costs `window_days` points per figure, never
thirty days of raw samples. The window's averages are the means of those days. The
percentile cannot be made from daily averages: it stays one instant query over the window
(`GET /api/v1/query`), as does disk use now. Four answers in all.

The expressions are PromQL templates: `$labels` becomes the configured label matchers (which
job, which region), and each series must carry the label that names the node
(`id_label`, by default the libvirt domain's `uuid`, which is the Nova server id). The
defaults follow the libvirt exporter's metric names and join its `libvirt_domain_info_meta`
series for the uuid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from statistics import fmean
from string import Template
from typing import Any, TypeVar

from providers.base import DailyUtilization, Utilization
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


_Parsed = TypeVar("_Parsed")


class PrometheusClient:
    """`/api/v1/query` and `/api/v1/query_range` of one server; answers become our error tree,
    naming the provider."""

    def __init__(self, provider: str, source: PrometheusSource) -> None:
        import requests

        self.provider = provider
        self.source = source
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def query(self, expression: str, at: float | None = None) -> dict[str, float]:
        """An instant vector (at `at`, else the server's now) as {value of id_label: value};
        series without the label, or with a value that is not a finite number (no data yet),
        are left out."""
        params = {"query": expression} if at is None else {"query": expression, "time": f"{at:.3f}"}
        return self._get("query", params, lambda data: _vector(data, self.source.id_label))

    def query_range(self, expression: str, start: float, end: float, step_s: int) -> dict[str, dict[float, float]]:
        """A range query as {value of id_label: {unix time: value}}, with the same care."""
        params = {"query": expression, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s}s"}
        return self._get("query_range", params, lambda data: _matrix(data, self.source.id_label))

    def _get(self, endpoint: str, params: dict[str, str], parse: Callable[[Any], _Parsed]) -> _Parsed:
        call = f"prometheus {endpoint}"
        with boundary(self.provider, call):
            resp = self._http.get(
                f"{self.source.url.rstrip('/')}/api/v1/{endpoint}", params=params, timeout=self.source.timeout_s
            )
            if resp.status_code >= 400 and resp.status_code not in (400, 422):
                raise for_status(self.provider, call, resp.status_code, resp.text)
            body = resp.json()
            if not isinstance(body, dict) or body.get("status") != "success":
                detail = body.get("error", "") if isinstance(body, dict) else ""
                raise BadResponse(self.provider, call, f"Prometheus refused the query: {detail}")
            return parse(body.get("data"))


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


# Points at times no calendar of ours holds (before 1970, after 9999) are not Prometheus's.
_LAST_CALENDAR_TIME = 253_402_300_800


def _matrix(data: Any, id_label: str) -> dict[str, dict[float, float]]:
    """The `data` of a range query as {id: {unix time: value}}, by `_vector`'s rules: any other
    shape is a ValueError (the server's BadResponse), a point whose value is not a finite number
    is left out, and so is a series whose id is not text."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"expected a range matrix, got {str(kind)[:40]}")
    out: dict[str, dict[float, float]] = {}
    for series in data["result"]:
        metric = series.get("metric") if isinstance(series, dict) else None
        points = series.get("values") if isinstance(series, dict) else None
        if not isinstance(metric, dict) or not isinstance(points, list):
            raise ValueError("a series without its metric labels or its [time, value] points")
        kept: dict[float, float] = {}
        for point in points:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or isinstance(point[0], bool)
                or not isinstance(point[0], int | float)
                or not 0 <= point[0] < _LAST_CALENDAR_TIME
                or not isinstance(point[1], str | int | float)
            ):
                raise ValueError("a point that is not [unix time, value] in the calendar")
            value = float(point[1])
            if math.isfinite(value):
                kept[float(point[0])] = value
        node = metric.get(id_label)
        if isinstance(node, str) and node and kept:
            out.setdefault(node, {}).update(kept)
    return out


# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000
DAY_S = 86_400


def history_step_days(window_days: int) -> int:
    """Whole days per history point: one a day, unless the window would then exceed the
    server's points per series (a window longer than 11,000 days; the config allows 366)."""
    return max(1, math.ceil(window_days / MAX_POINTS_PER_SERIES))


def history_range(window_days: int, end: float) -> tuple[float, float, int]:
    """(start, end, step in seconds) of the history's range query: the points fall at `end`
    and each whole step before it, as many as cover the window, never more than the server
    takes."""
    step_days = history_step_days(window_days)
    points = math.ceil(window_days / step_days)
    return end - (points - 1) * step_days * DAY_S, end, step_days * DAY_S


def _day(at: float) -> date:
    """The UTC day a history point's period ends on."""
    return datetime.fromtimestamp(at, UTC).date()


@dataclass(frozen=True, slots=True)
class Reading:
    """One provider's utilization per VM and the daily history behind it."""

    utilization: list[Utilization]
    history: list[DailyUtilization]


def read_utilization(provider: str, source: PrometheusSource, now: float | None = None) -> Reading:
    """Every VM with a CPU figure in the window: its daily CPU and memory averages; the window's
    CPU average (the mean of its days), CPU p95, memory average (0 when the exporter has no
    memory figure for it) and disk use now (None when unknown).

    The mean of the days is Prometheus's own window average whenever every day holds its full
    set of samples; a day with fewer (a VM created or stopped that day) counts as one day, as
    a daily report would count it."""
    end = time.time() if now is None else now
    start, end, step_s = history_range(source.window_days, end)
    period = f"{step_s // DAY_S}d:{source.resolution}"
    client = PrometheusClient(provider, source)
    try:
        cpu = source.expression("cpu")
        cpu_days = client.query_range(f"avg_over_time(({cpu})[{period}])", start, end, step_s)
        ram_days = client.query_range(f"avg_over_time(({source.expression('memory')})[{period}])", start, end, step_s)
        window = f"{source.window_days}d:{source.resolution}"
        cpu_p95 = client.query(f"quantile_over_time(0.95, ({cpu})[{window}])", at=end)
        disk = client.query(source.expression("disk"), at=end)
    finally:
        client.close()
    utilization: list[Utilization] = []
    history: list[DailyUtilization] = []
    for node, days in sorted(cpu_days.items()):
        ram = ram_days.get(node, {})
        avg = fmean(days.values())
        utilization.append(
            Utilization(
                provider=provider,
                node_id=node,
                cpu_avg_pct=round(avg, 2),
                cpu_p95_pct=round(cpu_p95.get(node, avg), 2),
                ram_avg_pct=round(fmean(ram.values()), 2) if ram else 0.0,
                window_days=source.window_days,
                disk_used_pct=round(disk[node], 2) if node in disk else None,
            )
        )
        history += [
            DailyUtilization(provider, node, _day(at), round(value, 2), round(ram[at], 2) if at in ram else None)
            for at, value in sorted(days.items())
        ]
    return Reading(utilization, history)


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


__all__ = [
    "DEFAULT_QUERIES",
    "MAX_POINTS_PER_SERIES",
    "PrometheusClient",
    "PrometheusSource",
    "Reading",
    "history_range",
    "history_step_days",
    "read_utilization",
    "source_from",
]
