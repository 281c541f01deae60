"""Sync benchmark on the large lab (100,000 nodes over 20 clouds, ~50 ms per request).

Figures, each a ratio against a baseline measured in the same run:
- sync wall time against the slowest single cloud synced alone (target <= 1.5), and the same
  with as many clouds as cores (how collection scales where cores are not the limit);
- store write rate against raw sqlite3 executemany of the same rows (target >= 0.5);
- a second sync with nothing changed against the first (target >= 3x faster);
- peak memory (RSS high-water mark of this process, and of the largest collector process).

Run: `python -m tests.benchmarks.bench_sync [--scale large] [--latency-ms 50]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from inventory.config import load_config
from inventory.diff import apply_listing, layout_for
from inventory.store import open_store
from inventory.sync import sync_all
from providers.base import Kind, Node, State
from security.vault import VaultCredentials


def _synthetic_nodes(n: int) -> list[Node]:
    return [
        Node(
            provider="bench",
            id=f"n-{i:06d}",
            name=f"vm-{i}",
            state=State.RUNNING,
            vcpus=4,
            ram_mb=8192,
            disk_gb=100,
            arch="x86_64",
            cpu_vendor="Intel",
            os_family="CentOS",
            ips=(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",),
            host=f"h-{i % 300}",
            image="img",
            size="m1.large",
            tags={"department": "市人社局", "system": "社保系统", "mlps_level": "3", "owner": "ops"},
        )
        for i in range(n)
    ]


def store_write_ratio(tmp: Path, n: int = 100_000) -> dict[str, float]:
    """Rows/s through apply_listing (fingerprints, events) against raw executemany of the same rows."""
    nodes = _synthetic_nodes(n)
    store = open_store(f"sqlite:///{tmp / 'store.db'}")
    from datetime import UTC, datetime

    t0 = time.perf_counter()
    with store.session() as session:
        # As a provider's first sync writes it: no per-node "added" events on the initial import.
        apply_listing(session, "bench", Kind.NODE, nodes, now=datetime.now(UTC), run_id=None, record_added=False)
    ours = time.perf_counter() - t0

    # The baseline starts from the same records: any raw-SQL writer has to turn them into
    # tuples and serialize the JSON columns before executemany.
    columns = list(layout_for(Kind.NODE).columns)
    raw = sqlite3.connect(tmp / "raw.db")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute(f"CREATE TABLE nodes ({', '.join(columns)}, PRIMARY KEY (provider, id))")
    t0 = time.perf_counter()
    values = [
        (
            n.provider,
            n.id,
            n.name,
            n.state.value,
            n.vcpus,
            n.ram_mb,
            n.disk_gb,
            n.arch,
            n.cpu_vendor,
            n.os_family,
            json.dumps(list(n.ips)),
            n.host,
            n.image,
            n.size,
            n.created_at,
            n.tags.get("department", ""),
            n.tags.get("system", ""),
            n.tags.get("mlps_level"),
            n.tags.get("owner", ""),
            json.dumps(dict(n.tags), ensure_ascii=False),
            json.dumps(dict(n.extra)),
        )
        for n in nodes
    ]
    raw.executemany(f"INSERT INTO nodes VALUES ({', '.join('?' for _ in columns)})", values)
    raw.commit()
    baseline = time.perf_counter() - t0
    raw.close()
    store.dispose()
    return {
        "store_rows_per_s": round(n / ours),
        "raw_executemany_rows_per_s": round(n / baseline),
        "store_write_ratio": round(baseline / ours, 3),
    }


def lab_sync_figures(tmp: Path, scale: str, latency_ms: int) -> dict[str, float | str]:
    from lab import control

    lab = tmp / "lab"
    config_path = control.up(lab, scale=scale, latency_ms=latency_ms)
    try:
        config = load_config(config_path)
        store = open_store(config.database_url)
        t0 = time.perf_counter()
        first = sync_all(config, store, vault=VaultCredentials(config))
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = sync_all(config, store, vault=VaultCredentials(config))
        second_s = time.perf_counter() - t0
        slowest = max(first.results, key=lambda r: r.duration_s).name
        alone = open_store(f"sqlite:///{tmp / 'alone.db'}")
        t0 = time.perf_counter()
        sync_all(config, alone, only=[slowest], vault=VaultCredentials(config))
        alone_s = time.perf_counter() - t0
        # How the design scales: as many clouds as this machine has cores, one collector
        # process each, against one cloud alone. 20 clouds on fewer cores queue for CPU.
        cores = os.cpu_count() or 1
        per_core = config.model_copy(update={"sync": config.sync.model_copy(update={"processes": cores})})
        names = [slowest, *[r.name for r in first.results if r.name != slowest]][:cores]
        t0 = time.perf_counter()
        sync_all(per_core, open_store(f"sqlite:///{tmp / 'per_core.db'}"), only=names, vault=VaultCredentials(per_core))
        per_core_s = time.perf_counter() - t0
        # Collection runs in worker processes (inventory/collector.py): the largest of them,
        # read before the lab server (also a child) is stopped and reaped.
        collector_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        nodes = sum(r.counts.get("node", 0) for r in first.results)
        return {
            "nodes": nodes,
            "clouds": len(first.results),
            "failed": len(first.failed) + len(second.failed),
            "first_sync_s": round(first_s, 2),
            "second_sync_s": round(second_s, 2),
            "slowest_cloud": slowest,
            "slowest_cloud_alone_s": round(alone_s, 2),
            "sync_vs_slowest_alone_ratio": round(first_s / alone_s, 3),
            "second_sync_speedup": round(first_s / second_s, 3),
            "cores": cores,
            "one_cloud_per_core_s": round(per_core_s, 2),
            "one_cloud_per_core_vs_alone_ratio": round(per_core_s / alone_s, 3),
            "collector_peak_rss_mb": round(collector_rss, 1),
        }
    finally:
        control.down(lab)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="large")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ganyun-bench-") as tmpdir:
        tmp = Path(tmpdir)
        figures: dict[str, float | str] = {}
        figures.update(store_write_ratio(tmp, args.rows))
        print(json.dumps(figures), flush=True)
        figures.update(lab_sync_figures(tmp, args.scale, args.latency_ms))
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        figures["targets"] = "sync_vs_slowest_alone_ratio<=1.5 store_write_ratio>=0.5 second_sync_speedup>=3"
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
