"""OpenStack adapter listing cost against libcloud's own `list_nodes` on the same served cloud.

The adapter lists servers through libcloud's pagination and adds the lookups the estate's
conventions need (flavors, their extra specs, images, hypervisors). Baseline: libcloud's
`OpenStack_2_NodeDriver.list_nodes()` (servers only, libcloud objects) in the same run.

Run: `python -m tests.benchmarks.bench_openstack_adapter [--servers 5000]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from providers.base import ProviderSpec
from providers.registry import create_provider
from tests.providers.big_cloud import BigCloud
from tests.providers.replay_server import serve


def _best(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) if rounds < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cloud = BigCloud(servers=args.servers)
    base, stop = serve(cloud.route)
    options = {
        "ex_force_auth_url": f"{base}/identity",
        "ex_force_auth_version": "3.x_password",
        "ex_tenant_name": "demo",
        "ex_domain_name": "Default",
    }
    try:
        driver = OpenStack_2_NodeDriver("u", "p", **options)
        baseline = _best(lambda: driver.list_nodes(), args.rounds)

        def adapter_listing() -> None:
            # A fresh adapter each round: nothing cached between rounds (as in sync).
            create_provider(
                ProviderSpec(name="big", driver="openstack", key="u", secret="p", options=options)
            ).list_nodes()

        adapter = _best(adapter_listing, args.rounds)
    finally:
        stop()
    print(
        json.dumps(
            {
                "servers": args.servers,
                "libcloud_list_nodes_s": round(baseline, 3),
                "adapter_list_nodes_s": round(adapter, 3),
                "adapter_vs_libcloud_ratio": round(adapter / baseline, 2),
                "servers_per_s": round(args.servers / adapter),
            }
        )
    )


if __name__ == "__main__":
    main()
