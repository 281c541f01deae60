"""REST API benchmark: every node through /api/v1/nodes against `inventory list --format json`
of the same nodes, and the latency of one page under 50 concurrent clients.

The inventory is the large lab's (lab.seed: 100,000 nodes on 20 clouds), written straight into
SQLite as bench_console does. The API runs in a real uvicorn server in this process (one
thread) on a loopback port; the clients are threads with keep-alive HTTP connections.
- baseline: what `ganyun inventory list --format json` does in process
  (console.services.inventory.records + json.dump of every record);
- api: one client pages through every node (page_size 1000, next_page_token to the end),
  parsing each page's JSON;
- concurrent: 50 clients, each asking for one page of 100 nodes again and again; p50 and p99.
Target (issue 18): api <= 2x baseline. Figures only; nothing here asserts on time.

Run: `python -m tests.benchmarks.bench_api [--scale large|small] [--rounds 10]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import uvicorn

from console import accounts
from console.api import tokens
from console.api.app import create_app
from console.services import inventory as services_inventory
from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from inventory.scope import Scope
from inventory.store import open_store
from tests.benchmarks.bench_console import build

CLIENTS = 50


def baseline(config: GanyunConfig) -> tuple[float, int]:
    """`inventory list --format json`: every record, serialized as the CLI writes it."""
    start = time.perf_counter()
    store = open_store(config.database_url)
    records = services_inventory.records(store, Viewer.operator(), "nodes", {})
    out = io.StringIO()
    json.dump(records, out, ensure_ascii=False, default=str)
    store.dispose()
    return time.perf_counter() - start, len(records)


class Server:
    def __init__(self, config: GanyunConfig) -> None:
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=0, log_level="error",
                                                    backlog=256))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _get(connection: http.client.HTTPConnection, path: str, params: dict[str, Any], token: str) -> dict[str, Any]:
    connection.request("GET", f"{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]!r}")
    parsed: dict[str, Any] = orjson.loads(body)
    return parsed


def list_everything(port: int, token: str) -> tuple[float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    count, params = 0, {"page_size": 1000}
    while True:
        page = _get(connection, "/api/v1/nodes", params, token)
        count += len(page["items"])
        if not page["next_page_token"]:
            break
        params = {"page_size": 1000, "page_token": page["next_page_token"]}
    connection.close()
    return time.perf_counter() - start, count


def concurrent_pages(port: int, token: str, rounds: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        _get(connection, "/api/v1/nodes", {"page_size": 100}, token)  # connect and warm up
        barrier.wait()
        own = []
        for _ in range(rounds):
            start = time.perf_counter()
            _get(connection, "/api/v1/nodes", {"page_size": 100}, token)
            own.append(time.perf_counter() - start)
        connection.close()
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=("small", "large"), default="large")
    parser.add_argument("--rounds", type=int, default=10, help="pages per concurrent client")
    args = parser.parse_args()
    figures: dict[str, Any] = {"scale": args.scale}
    with tempfile.TemporaryDirectory(prefix="ganyun-bench-api-") as tmpdir:
        config = build(Path(tmpdir), args.scale)
        store = open_store(config.database_url)
        accounts.save_local(store, "bench", "planner", Scope.city_wide(), "Correct-Horse-9-Battery")
        token = tokens.create(store, "bench", 1)[1]
        store.dispose()
        baseline(config)  # warm the page cache and imports for both sides
        base_s, base_n = baseline(config)
        with Server(config) as port:
            list_everything(port, token)
            api_s, api_n = list_everything(port, token)
            if api_n != base_n:
                raise SystemExit(f"the API listed {api_n} nodes, inventory list {base_n}")
            print(json.dumps({"baseline_s": round(base_s, 3), "api_s": round(api_s, 3), "nodes": api_n}), flush=True)
            latencies = concurrent_pages(port, token, args.rounds)
        figures.update({
            "nodes": api_n,
            "inventory_list_json_s": round(base_s, 3),
            "api_list_all_s": round(api_s, 3),
            "api_vs_inventory_list_ratio": round(api_s / base_s, 2),
            "concurrent_clients": CLIENTS,
            "page_requests": len(latencies),
            "page_p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
            "page_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
            "page_mean_ms": round(statistics.fmean(latencies) * 1000, 1),
            "target": "api_vs_inventory_list_ratio<=2",
        })  # fmt: skip
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
