"""Console benchmark: the Overview page rendered on the large lab's inventory against the small one.

Both inventories are written straight into SQLite with the lab's clouds, centers, pools and
node counts (lab.seed: 200 nodes on 5 clouds, 100,000 on 20) plus a year of daily
capacity samples, then console/app_pages/overview.py is run by Streamlit's AppTest:
- cold: first render (every aggregate computed in the database);
- warm: a rerun (st.cache_data hits, keyed by the latest sync run).
Target: large cold render <= 3x the small cold render (CPU time; wall time reported too).

Run: `python -m tests.benchmarks.bench_console [--repeat 3]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from inventory.config import GanyunConfig, parse_config
from inventory.models import CapacitySample, HostRow, NodeRow, ProviderStatus, SyncRun
from inventory.store import open_store
from lab.seed import cloud_specs, nodes_per_cloud

PAGE = Path(__file__).resolve().parents[2] / "console" / "app_pages" / "overview.py"
DEPARTMENTS = ("市人社局", "市公安局", "市卫健委", "市教育局", "市政务服务中心", "市医保局")
CENTERS = [
    {"id": "gz-prod", "name": "赣州政务云生产中心", "role": "production", "site": "ganzhou"},
    {"id": "gz-dr", "name": "同城灾备中心", "role": "same-city-dr", "site": "ganzhou"},
    {"id": "nc-dr", "name": "异地灾备中心", "role": "remote-dr", "site": "nanchang"},
]


def build(tmp: Path, scale: str) -> GanyunConfig:
    specs = cloud_specs(scale)
    counts = nodes_per_cloud(scale)
    config = parse_config({
        "database": f"sqlite:///{scale}.db",
        "centers": CENTERS,
        "providers": [{"name": s.name, "driver": "openstack", "center": s.center, "pool": s.pool} for s in specs],
    }, base_dir=str(tmp))
    store = open_store(config.database_url)
    now = datetime.now(UTC)
    with store.session() as session:
        session.execute(insert(SyncRun), [{"started_at": now, "finished_at": now, "status": "ok"}])
        session.execute(insert(ProviderStatus), [
            {"name": s.name, "driver": "openstack", "center": s.center, "pool": s.pool, "status": "ok",
             "stale": False, "error": "", "warnings": [], "counts": {"nodes": counts[s.name]},
             "last_attempt": now, "last_success": now, "duration_s": 1.0} for s in specs])
        for s in specs:
            xc = s.pool == "xinchuang"
            rows = [{
                "provider": s.name, "id": f"{s.name}-{i:06d}", "name": f"vm-{i}", "state": "running",
                "vcpus": 2 + i % 4 * 2, "ram_mb": 4096 * (1 + i % 4), "disk_gb": 100,
                "arch": "aarch64" if xc else "x86_64", "cpu_vendor": "Kunpeng" if xc else "Intel",
                "os_family": "Kylin" if xc else "CentOS", "ips": [], "host": f"{s.name}-h{i % 50}",
                "department": DEPARTMENTS[i % len(DEPARTMENTS)], "system": f"sys-{i % 40}",
                "mlps_level": 2 + i % 2, "tags": {}, "extra": {}, "fingerprint": "", "first_seen": now,
            } for i in range(counts[s.name])]
            session.execute(insert(NodeRow), rows)
            session.execute(insert(HostRow), [
                {"provider": s.name, "id": f"h{i}", "name": f"{s.name}-h{i}", "vcpus": 96, "ram_mb": 524288,
                 "disk_gb": 8000, "extra": {}} for i in range(max(1, counts[s.name] // 25))])
            session.execute(insert(CapacitySample), [
                {"at": now - timedelta(days=d), "provider": s.name, "center": s.center, "pool": s.pool,
                 "department": "", "nodes": counts[s.name], "vcpus": counts[s.name] * 5,
                 "ram_mb": counts[s.name] * 10240, "disk_gb": counts[s.name] * 100} for d in range(365)])
    store.dispose()
    return config


def render_times(config: GanyunConfig, repeat: int) -> dict[str, float]:
    """Median wall and CPU seconds of a cold and a warm render.

    CPU time (time.process_time, all threads of this process: AppTest runs the script in a
    thread) is the figure to trust on a shared machine, where wall time mostly measures the
    neighbours.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    samples: dict[str, list[float]] = {"cold_s": [], "warm_s": [], "cold_cpu_s": [], "warm_cpu_s": []}
    for _ in range(repeat):
        st.cache_data.clear()  # cold: every aggregate from the database again
        at = AppTest.from_file(str(PAGE), default_timeout=600)
        at.session_state["ganyun_config"] = config
        at.session_state["user"] = {"name": "bench", "role": "auditor"}
        for phase in ("cold", "warm"):
            wall, cpu = time.perf_counter(), time.process_time()
            at.run()
            samples[f"{phase}_s"].append(time.perf_counter() - wall)
            samples[f"{phase}_cpu_s"].append(time.process_time() - cpu)
            if at.exception:
                raise SystemExit(f"overview raised: {at.exception[0].value}")
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ganyun-bench-console-") as tmpdir:
        tmp = Path(tmpdir)
        results = {}
        for scale in ("small", "large"):
            start = time.perf_counter()
            config = build(tmp, scale)
            figures[f"{scale}_build_s"] = round(time.perf_counter() - start, 2)
            if scale == "small":
                render_times(config, 1)  # warm-up: imports and Streamlit start-up count for neither scale
            results[scale] = render_times(config, args.repeat)
            print(json.dumps({scale: results[scale]}), flush=True)
        for key in ("cold_s", "warm_s", "cold_cpu_s", "warm_cpu_s"):
            figures[f"small_{key}"] = round(results["small"][key], 3)
            figures[f"large_{key}"] = round(results["large"][key], 3)
        figures["large_vs_small_cold_cpu_ratio"] = round(results["large"]["cold_cpu_s"] / results["small"]["cold_cpu_s"], 2)
        figures["large_vs_small_warm_cpu_ratio"] = round(results["large"]["warm_cpu_s"] / results["small"]["warm_cpu_s"], 2)
        figures["large_vs_small_cold_wall_ratio"] = round(results["large"]["cold_s"] / results["small"]["cold_s"], 2)
        figures["target"] = "large_vs_small_cold_cpu_ratio<=3"
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
