"""DR drill benchmark on the three-center lab (real PostgreSQL, real Ansible over SSH).

Figures per manager and scenario: RTO (fault to the first acknowledged write on the new
primary), acknowledged rows lost, the data-loss window, the write gap, and the whole drill's
duration; against the scenario's targets. As root the centers are network namespaces (with
Patroni 4 + etcd when it is installed); otherwise the loopback fallback with streaming only.
Every scenario that leaves the primary away from home is followed by a failback.

Run: `python -m tests.benchmarks.bench_dr [streaming|patroni]...`; last line is JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lab import drnet, drpatroni
from playbooks.drill import engine
from tests.playbooks.dr.conftest import Lab, lab_in_tempdir

SEQUENCES = {
    "streaming": [
        "switchover",
        "failback",
        "failover",
        "failback",
        "partition",
        "failback",
        "remote-failover",
        "failback",
        "city-loss",
        "failback",
    ],
    "patroni": [
        "switchover",
        "failback",
        "failover",
        "failback",
        "partition",
        "failback",
        "remote-failover",
        "failback",
    ],
}


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    m = report["measurements"]
    return {
        "status": report["status"],
        "rto_s": m["rto_s"],
        "rto_target_s": report["targets"]["rto_s"],
        "rows_lost": m["rows_lost"],
        "data_loss_window_s": m["data_loss_window_s"],
        "rpo_target": report["targets"]["rpo_rows"] if report["targets"]["rpo_rows"] is not None
        else report["targets"]["rpo_s"],
        "write_gap_s": m["write_gap_s"],
        "double_primaries": len(report["timeline"]["double_primaries"]),
        "duration_s": report["duration_s"],
    }  # fmt: skip


def run(manager: str) -> dict[str, Any]:
    network = "netns" if not drnet.usable() else "loopback"
    out: dict[str, Any] = {"network": network}
    with lab_in_tempdir(f"ganyun-bench-dr-{manager}-", network=network, manager=manager) as lab:
        for i, scenario in enumerate(SEQUENCES[manager]):
            if network == "loopback" and engine.scenarios.get(scenario).spec.network_faults:
                continue
            out[f"{i:02d}-{scenario}"] = _figures(_drill(lab, scenario))
    return out


def _drill(lab: Lab, scenario: str) -> dict[str, Any]:
    return engine.run_drill(lab.config, lab.config_file, scenario, engine.targets_for(lab.config, scenario))


def main(argv: list[str]) -> None:
    managers = argv or ["streaming", *([] if drnet.usable() or drpatroni.usable() else ["patroni"])]
    figures = {manager: run(manager) for manager in managers}
    for manager, runs in figures.items():
        print(f"{manager} ({runs['network']})")
        for name, f in runs.items():
            if name != "network":
                print(f"  {name:22} {f['status']:8} RTO {f['rto_s']} s (target {f['rto_target_s']})"
                      f"  lost {f['rows_lost']} rows / {f['data_loss_window_s']} s (target {f['rpo_target']})"
                      f"  gap {f['write_gap_s']} s  drill {f['duration_s']} s")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
