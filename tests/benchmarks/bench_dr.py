"""DR drill benchmark on the three-cluster lab (real PostgreSQL, real Ansible).

Figures:
- same-city failover RTO through the full Ansible drill, against the bare baseline measured in
  the same run (kill -9 + fence + `pg_ctl promote` called directly, same heartbeat writer):
  the ratio is what the playbook and the drill machinery add; target RTO <= 10 s, RPO 0 rows;
- failback (planned switch back) RTO and RPO;
- remote failover (both Ganzhou centers lost): RTO, rows lost, remote lag before the fault.

Run: `python -m tests.benchmarks.bench_dr`; last line is JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from lab import dr
from playbooks.drill import engine, pgops
from playbooks.drill.heartbeat import HeartbeatWriter, multihost_conninfo

SAME_CITY = engine.DrillTargets(rto_s=10.0, rpo_rows=0, rpo_s=None)
REMOTE = engine.DrillTargets(rto_s=60.0, rpo_rows=None, rpo_s=30.0)


def _bare_failover(section: dict[str, Any]) -> float:
    """Kill, fence and promote without Ansible; RTO as the drill measures it."""
    writer = HeartbeatWriter(multihost_conninfo(list(section["clusters"].values()), "ganyun_app", "ganyun"), "bare")
    writer.start()
    time.sleep(0.5)
    fault = pgops.fence(section, "gz-prod", "bare", "benchmark baseline")["fault_at"]
    pgops.promote(section, "gz-dr")
    time.sleep(0.5)
    writer.stop()
    port = int(section["clusters"]["gz-dr"]["port"])
    first = next(a.at for a in writer.acks if a.at > fault and a.port == port)
    # Back to the original roles for the drills proper.
    pgops.follow(section, "nc-dr", "gz-dr")
    pgops.follow(section, "gz-prod", "gz-dr")
    pgops.set_sync(section, "gz-dr")
    report = engine.run_drill(section, "failback", SAME_CITY)
    assert report["passed"], report["message"]
    return first - fault


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="ganyun-bench-dr-"))
    os.chmod(root, 0o755)
    try:
        section = dr.start(root)
        bare = _bare_failover(section)
        failover = engine.run_drill(section, "failover", SAME_CITY)
        failback = engine.run_drill(section, "failback", SAME_CITY)
        remote = engine.run_drill(section, "remote-failover", REMOTE)
        back = engine.run_drill(section, "failback", SAME_CITY)
    finally:
        dr.stop(root)
        shutil.rmtree(root, ignore_errors=True)
    fo, fb, rm = failover["measurements"], failback["measurements"], remote["measurements"]
    figures = {
        "bare_failover_rto_s": round(bare, 3),
        "failover_rto_s": fo["rto_s"],
        "failover_rto_ratio_vs_bare": round(fo["rto_s"] / bare, 2) if fo["rto_s"] and bare > 0 else None,
        "failover_rows_lost": fo["rows_lost"],
        "failover_passed": failover["passed"],
        "failover_duration_s": failover["duration_s"],
        "failback_rto_s": fb["rto_s"],
        "failback_rows_lost": fb["rows_lost"],
        "failback_passed": failback["passed"],
        "remote_rto_s": rm["rto_s"],
        "remote_rows_lost": rm["rows_lost"],
        "remote_lag_bytes": rm["remote_lag_bytes"],
        "remote_lag_s": rm["remote_lag_s"],
        "remote_passed": remote["passed"],
        "final_failback_passed": back["passed"],
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
