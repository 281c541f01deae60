"""Compliance audit benchmark: audit cost must grow linearly with the estate.

The inventory is loaded straight from the lab's seed (lab/seed.build_estate), the
same nodes, volumes (with their Cinder encryption types) and security groups the lab serves,
so no HTTP or sync time is measured. Figures, measured in the same run:
- audit time of the large estate against the small one, as a ratio to the size ratio
  (target <= 1.2: linear cost); also against the city estate, where fixed costs are smaller;
- audit time of the city estate in seconds.

Run: `python -m tests.benchmarks.bench_audit [--scales small,city,large]`; last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from inventory.config import parse_config
from inventory.diff import apply_listing
from inventory.store import Store, open_store
from lab.seed import build_estate
from providers.base import Kind, Node, SecurityGroup, SecurityRule, State, Volume
from security.compliance.engine import run_audit


def load_estate(scale: str, tmp: Path) -> tuple[Store, int, object]:
    estate = build_estate(scale)
    providers = [{"name": c.name, "driver": "openstack", "center": c.center, "credentials": f"vault:{c.name}"}
                 for c in estate.clouds]  # fmt: skip
    config = parse_config({"database": f"sqlite:///{tmp / 'g.db'}", "providers": providers}, base_dir=str(tmp))
    store = open_store(config.database_url)
    size = 0
    for cloud in estate.clouds:
        types = {t.name: t for t in cloud.volume_types}
        nodes = [
            Node(provider=cloud.name, id=s.id, name=s.name, state=State.RUNNING, ips=(s.ip,), tags=dict(s.metadata))
            for s in cloud.servers
        ]
        volumes = []
        for v in cloud.volumes:
            vt = types.get(v.volume_type)
            encrypted = bool(vt and (vt.encryption_provider or vt.encryption_cipher))
            volumes.append(Volume(provider=cloud.name, id=v.id, name=v.name, size_gb=v.size_gb, volume_type=v.volume_type,
                                  attached_to=(v.server_id,) if v.server_id else (), encrypted=encrypted,
                                  encryption_cipher=vt.encryption_cipher if vt and encrypted else ""))  # fmt: skip
        members: dict[str, list[str]] = {}
        for s in cloud.servers:
            for g in s.security_groups:
                members.setdefault(g, []).append(s.id)
        groups = [
            SecurityGroup(provider=cloud.name, id=g.id, name=g.name,
                          rules=tuple(SecurityRule(r.direction, r.protocol or "any", r.port_min, r.port_max,
                                                   r.remote_ip_prefix or "") for r in g.rules),
                          attached_to=tuple(members.get(g.name, members.get(g.id, []))))
            for g in cloud.security_groups
        ]  # fmt: skip
        with store.session() as session:
            for kind, records in ((Kind.NODE, nodes), (Kind.VOLUME, volumes), (Kind.SECURITY_GROUP, groups)):
                apply_listing(session, cloud.name, kind, records, now=estate.now, run_id=None, record_added=False)
        size += len(nodes) + len(volumes) + len(groups)
    return store, size, config


def timed_audit(store: Store, config: object) -> tuple[float, int]:
    start = time.perf_counter()
    report = run_audit(config, store, 3)  # type: ignore[arg-type]
    return time.perf_counter() - start, len(report.findings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="small,city,large")
    args = parser.parse_args()
    figures: dict[str, dict[str, float]] = {}
    for scale in args.scales.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            store, size, config = load_estate(scale, Path(tmp))
            timed_audit(store, config)  # warm: imports, caches, first-audit inserts
            # Steady state (a recurring audit); the best of several runs, because this machine
            # is shared and noisy and a slow run measures the neighbours, not the audit.
            runs = [timed_audit(store, config) for _ in range(5 if size < 20_000 else 2)]
            seconds, findings = min(runs)
            store.dispose()
        figures[scale] = {"resources": size, "findings": findings, "seconds": round(seconds, 3)}
        print(f"{scale}: {size} resources, {findings} findings, audit {seconds:.2f} s", flush=True)
    out: dict[str, object] = {"figures": figures}
    if "small" in figures and "large" in figures:
        s, lg = figures["small"], figures["large"]
        out["large_vs_small_ratio_to_size"] = round(
            (lg["seconds"] / s["seconds"]) / (lg["resources"] / s["resources"]), 3
        )
    if "city" in figures and "large" in figures:
        c, lg = figures["city"], figures["large"]
        out["large_vs_city_ratio_to_size"] = round(
            (lg["seconds"] / c["seconds"]) / (lg["resources"] / c["resources"]), 3
        )
    if "city" in figures:
        out["city_audit_seconds"] = figures["city"]["seconds"]
    out["target"] = "ratio to size <= 1.2"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
