"""Benchmark: plan 20,000 VMs onto 500 target hosts.

Prints seconds (target <= 5) and hosts used against the lower bound (target <= 1.05) for
the planner's dot-product heuristic, beside naive first-fit measured in the same run. Last line is JSON.
Run: .venv/bin/python tests/benchmarks/bench_placement.py
"""

from __future__ import annotations

import json
import random
import time

from inventory.config import ResourceRatio
from inventory.placement import Demand, HostSlot, place

VMS = 20_000
HOSTS = 500
# The lab's flavor mix (lab/catalog.py FLAVORS), weights included.
FLAVORS = [
    ((2, 4096, 40), 0.22),
    ((4, 8192, 80), 0.34),
    ((4, 16384, 100), 0.12),
    ((8, 16384, 100), 0.16),
    ((8, 32768, 200), 0.10),
    ((16, 65536, 200), 0.06),
]


def estate(seed: int = 6) -> tuple[list[HostSlot], list[Demand]]:
    rng = random.Random(seed)
    hosts = []
    for i in range(HOSTS):
        busy = rng.random() < 0.2  # a fifth of the pool already carries workloads
        hosts.append(
            HostSlot(
                "xc-kunpeng",
                f"xc-kunpeng-cn{i:04d}",
                vcpus=128,
                ram_mb=786432,
                disk_gb=7200,
                vcpus_used=rng.randint(16, 96) if busy else 0,
                ram_mb_used=rng.randint(64, 384) * 1024 if busy else 0,
                disk_gb_used=rng.randint(200, 2000) if busy else 0,
            )
        )
    sizes = [f for f, _ in FLAVORS]
    weights = [w for _, w in FLAVORS]
    demands = []
    system = 0
    while len(demands) < VMS:
        system += 1
        for _ in range(min(rng.randint(3, 15), VMS - len(demands))):
            demands.append(Demand(f"vm{len(demands)}", f"sys{system}", *rng.choices(sizes, weights)[0]))
    return hosts, demands


def measure(algorithm: str, hosts: list[HostSlot], demands: list[Demand]) -> dict[str, float]:
    ratios = {"xc-kunpeng": ResourceRatio(cpu=2.0, ram=1.0, disk=1.0)}
    start = time.perf_counter()
    result = place(hosts, demands, ratios, algorithm=algorithm)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 3),
        "hosts_used": result.hosts_used,
        "lower_bound": result.lower_bound,
        "ratio": round(result.hosts_used / result.lower_bound, 4),
        "unplaced": len(result.unplaced),
    }


def main() -> None:
    hosts, demands = estate()
    dot = measure("dot-product", hosts, demands)
    ff = measure("first-fit", hosts, demands)
    print(
        f"dot-product:     {dot['seconds']:.2f} s, {dot['hosts_used']} hosts, bound {dot['lower_bound']}, ratio {dot['ratio']:.3f}"
    )
    print(
        f"naive first-fit:     {ff['seconds']:.2f} s, {ff['hosts_used']} hosts, bound {ff['lower_bound']}, ratio {ff['ratio']:.3f}"
    )
    print(
        json.dumps(
            {
                "benchmark": "placement",
                "vms": VMS,
                "hosts": HOSTS,
                "seconds": dot["seconds"],
                "hosts_used": dot["hosts_used"],
                "lower_bound": dot["lower_bound"],
                "ratio_to_lower_bound": dot["ratio"],
                "unplaced": dot["unplaced"],
                "first_fit_seconds": ff["seconds"],
                "first_fit_hosts_used": ff["hosts_used"],
                "first_fit_ratio_to_lower_bound": ff["ratio"],
                "first_fit_unplaced": ff["unplaced"],
                "hosts_saved_vs_first_fit": ff["hosts_used"] - dot["hosts_used"],
                "seconds_ratio_vs_first_fit": round(dot["seconds"] / max(ff["seconds"], 1e-9), 3),
                "targets": {"seconds": 5, "ratio_to_lower_bound": 1.05},
            }
        )
    )


if __name__ == "__main__":
    main()
