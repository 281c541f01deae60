"""CPU cost of a sync where the machine is the limit: ganyun's own CPU seconds per 1,000 nodes
(this process plus its collector processes) against a floor client measured in the same run.

On 2 cores the lab server and the collectors compete, so wall time says little about ganyun;
CPU seconds do. The floor does the least any client must: per cloud, one Keystone login, then
the same listings (servers with every page, flavors, images, hypervisors, volumes, networks,
ports, security groups) over ONE keep-alive connection, parsed with orjson, and the servers
inserted into SQLite with one executemany. Target (issue 19): ganyun within 2x of the floor.
No timing is asserted: figures only.

The default scale is the lab's largest (100,000 nodes): per-node cost is the question, and at
3,000 nodes the fixed costs (each collector process importing libcloud, about 0.5 CPU-s) are
most of the figure. The lab's one-off capacity history import is done before the clock starts:
it runs once per database, not per sync.

What the floor does not do, and ganyun must: map every server, volume, port and group into a
record (flavor, image, host and tag lookups), fingerprint each row so that the next sync
writes only what changed, write hosts and the other resource kinds and their change events,
and keep the capacity rollups current. That per-record Python work is the remaining gap.

Run: `python -m tests.benchmarks.bench_sync_cpu [--scale large]`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from inventory.capacity.upkeep import ensure_history
from inventory.config import load_config
from inventory.store import open_store
from inventory.sync import sync_all
from security.vault import Vault, VaultCredentials


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    """Reaped children only: the collector processes a sync waits for (never the lab server,
    which is reaped only at `lab down`)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Floor:
    """One keep-alive connection to the lab; GET returns the orjson-parsed body."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
        self.token = ""

    def request(self, method: str, path: str, body: Any = None) -> tuple[Any, http.client.HTTPResponse]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        self.conn.request(method, path, body=orjson.dumps(body) if body is not None else None, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return (orjson.loads(data) if data else None), resp

    def pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        while path:
            body, _resp = self.request("GET", path)
            yield from body.get(key, [])
            following = [link["href"] for link in body.get(f"{key}_links", []) if link.get("rel") == "next"]
            if key == "images" and body.get("next"):
                following = [body["next"]]
            path = urlsplit(following[0])._replace(scheme="", netloc="").geturl() if following else ""


def _floor_cloud(floor: _Floor, provider: dict[str, Any], user: str, password: str, db: sqlite3.Connection) -> int:
    options = provider["options"]
    auth_path = urlsplit(options["ex_force_auth_url"]).path + "/v3/auth/tokens"
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}},
            },
            "scope": {"project": {"name": options["ex_tenant_name"], "domain": {"id": "default"}}},
        }
    }
    floor.token = ""
    body, resp = floor.request("POST", auth_path, login)
    floor.token = resp.getheader("X-Subject-Token") or ""
    urls = {
        s["type"]: urlsplit(e["url"]).path
        for s in body["token"]["catalog"]
        for e in s["endpoints"]
        if e["interface"] == "public" and e["region"] == options["ex_force_service_region"]
    }
    compute, network = urls["compute"], urls["network"] + "/v2.0"
    servers = list(floor.pages(f"{compute}/servers/detail", "servers"))
    for path, key in (
        (f"{compute}/flavors/detail", "flavors"),
        (f"{compute}/os-hypervisors/detail", "hypervisors"),
        (urls["image"] + "/v2/images", "images"),
        (urls["volumev3"] + "/volumes/detail", "volumes"),
        (f"{network}/networks", "networks"),
        (f"{network}/ports", "ports"),
        (f"{network}/security-groups", "security_groups"),
    ):
        for _item in floor.pages(path, key):
            pass
    db.executemany(
        "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                provider["name"],
                s["id"],
                s.get("name", ""),
                s.get("status", ""),
                orjson.dumps(s.get("metadata") or {}).decode(),
                orjson.dumps(s.get("addresses") or {}).decode(),
            )
            for s in servers
        ],
    )
    db.commit()
    return len(servers)


def floor_figures(config_path: Path, tmp: Path) -> dict[str, float]:
    raw = load_config(config_path)
    vault = Vault.open(raw)
    providers = [p.model_dump() for p in raw.providers]
    run_url = json.loads((config_path.parent / "run.json").read_text())["url"]
    db = sqlite3.connect(tmp / "floor.db")
    db.execute("CREATE TABLE nodes (provider, id, name, state, tags, addresses, PRIMARY KEY (provider, id))")
    floor = _Floor(run_url)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    nodes = 0
    for provider in providers:
        user, password = vault.get(provider["name"])
        nodes += _floor_cloud(floor, provider, user, password, db)
    return {
        "floor_nodes": nodes,
        "floor_cpu_s": time.process_time() - cpu0,
        "floor_wall_s": time.perf_counter() - wall0,
    }


def ganyun_figures(config_path: Path) -> dict[str, float]:
    config = load_config(config_path)
    store = open_store(config.database_url)
    ensure_history(config, store)
    self0, children0, wall0 = _cpu_self(), _cpu_children(), time.perf_counter()
    report = sync_all(config, store, vault=VaultCredentials(config), full=True)
    wall = time.perf_counter() - wall0
    parent, collectors = _cpu_self() - self0, _cpu_children() - children0
    return {
        "ganyun_nodes": sum(r.counts.get("node", 0) for r in report.results),
        "ganyun_failed": len(report.failed),
        "ganyun_parent_cpu_s": parent,
        "ganyun_collector_cpu_s": collectors,
        "ganyun_cpu_s": parent + collectors,
        "ganyun_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="large")
    args = parser.parse_args()
    from lab import control

    with tempfile.TemporaryDirectory(prefix="ganyun-bench-cpu-") as tmpdir:
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)
        config_path = Path(control.up(tmp / "lab", scale=args.scale))
        try:
            floor = floor_figures(config_path, tmp)
            ours = ganyun_figures(config_path)
        finally:
            control.down(tmp / "lab")
    per_k = 1000.0 / max(1.0, ours["ganyun_nodes"])
    floor_per_k = 1000.0 / max(1.0, floor["floor_nodes"])
    figures = {
        "scale": args.scale,
        "nodes": ours["ganyun_nodes"],
        "failed": ours["ganyun_failed"],
        "ganyun_cpu_s_per_1000_nodes": round(ours["ganyun_cpu_s"] * per_k, 3),
        "ganyun_parent_cpu_s_per_1000_nodes": round(ours["ganyun_parent_cpu_s"] * per_k, 3),
        "ganyun_collector_cpu_s_per_1000_nodes": round(ours["ganyun_collector_cpu_s"] * per_k, 3),
        "floor_cpu_s_per_1000_nodes": round(floor["floor_cpu_s"] * floor_per_k, 3),
        "cpu_vs_floor_ratio": round((ours["ganyun_cpu_s"] * per_k) / max(1e-9, floor["floor_cpu_s"] * floor_per_k), 3),
        "ganyun_wall_s": round(ours["ganyun_wall_s"], 2),
        "floor_wall_s": round(floor["floor_wall_s"], 2),
        "target": "cpu_vs_floor_ratio<=2",
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
