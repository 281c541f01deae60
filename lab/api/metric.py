"""30-day utilization per server, Gnocchi-style (a lab convention: GET /v1/aggregates/servers)."""

from __future__ import annotations

from lab.api.cloud import CloudRuntime
from lab.api.http import JSON, Reply, Request
from lab.seed import utilization


def handle(rt: CloudRuntime, req: Request) -> Reply:
    wanted = req.arg("server_id")
    if not wanted and rt.metrics_cache is not None:
        return Reply(200, rt.metrics_cache, {"Content-Type": JSON})
    items = []
    for server_id in rt.server_order():
        if wanted and server_id != wanted:
            continue
        cpu_avg, cpu_p95, ram_avg = utilization(server_id)
        items.append(
            {
                "server_id": server_id,
                "cpu_avg_pct": cpu_avg,
                "cpu_p95_pct": cpu_p95,
                "ram_avg_pct": ram_avg,
                "window_days": 30,
            }
        )
    reply = Reply.json(200, items)
    if not wanted:
        rt.metrics_cache = reply.body
    return reply
