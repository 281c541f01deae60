"""`ganyun lab demo` (what `make demo` runs) against a small lab: every step timed, and every
area the console shows has content, checked through the CLI a user would use."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.plan_schema import load_plan
from lab import dr

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(dr.pg_bindir() is None, reason="PostgreSQL binaries not found under /usr/lib/postgresql"),
    pytest.mark.xdist_group("demo"),
]
GANYUN = str(Path(sys.executable).with_name("ganyun"))


def _ganyun(*args: str, config: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANYUN_")}
    env["GANYUN_LANG"] = "en"
    if config is not None:
        env["GANYUN_CONFIG"] = str(config)
    proc = subprocess.run([GANYUN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def toured() -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    top = Path(tempfile.mkdtemp(prefix="ganyun-demo-"))  # 0700: the DR lab must cope
    lab_dir = top / "clone" / ".lab"
    (top / "clone").mkdir()
    try:
        # Relative --dir, as the Makefile gives it: the steps run from the same directory.
        yield lab_dir, _ganyun("lab", "demo", "--dir", ".lab", "--scale", "small", cwd=top / "clone")
    finally:
        _ganyun("lab", "down", "--dir", str(lab_dir))
        subprocess.run(["rm", "-rf", str(top)], check=False)


def test_every_step_passes_and_says_how_long_it_took(toured: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    lab_dir, proc = toured
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = re.findall(r"^\[(\d)/(\d)\] .* done in (\d+\.\d) s$", proc.stdout, flags=re.MULTILINE)
    assert [int(n) for n, _, _ in steps] == list(range(1, 8)), proc.stdout
    assert re.search(r"All steps took \d+\.\d s", proc.stdout)
    assert ".lab/accounts.txt" in proc.stdout and "ganyun lab down --dir .lab" in proc.stdout
    assert sorted(p.name for p in (lab_dir / "logs").glob("demo-*.log"))[0] == "demo-01-lab_up.log"


def test_certificates_and_endpoints_are_listed(toured: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    config = toured[0] / "ganyun.yaml"
    certificates = json.loads(_ganyun("certs", "list", "--json", config=config).stdout)
    endpoints = json.loads(_ganyun("certs", "list", "--endpoints", "--json", config=config).stdout)
    assert len(certificates) >= 5 and len(endpoints) >= 5
    assert any(e["tlcp"] for e in endpoints)  # the SM2 endpoints (TLCP, GB/T 38636) were reached


def test_drill_history_has_the_switchover_and_the_switch_back(toured: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    config = toured[0] / "ganyun.yaml"
    history = json.loads(_ganyun("drill", "history", "--json", config=config).stdout)
    assert sorted((r["scenario"], r["status"]) for r in history) == [("failback", "passed"), ("switchover", "passed")]
    status = json.loads(_ganyun("drill", "status", "--json", config=config).stdout)
    assert status["gz-prod"]["role"] == "primary"  # back home


def test_a_level_3_audit_is_recorded(toured: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    config = toured[0] / "ganyun.yaml"
    found = json.loads(_ganyun("audit", "search", "--action", "comply.audit", "--json", config=config).stdout)
    assert found["total"] == 1 and found["entries"][0]["details"]["level"] == 3
    assert sum(found["entries"][0]["details"]["counts"].values()) > 0


def test_a_migration_plan_is_written(toured: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    plan = load_plan(toured[0] / "migration-plan.json")
    assert plan.target == "xc-kunpeng" and plan.items
    assert {i.target_provider for i in plan.items} == {"xc-kunpeng"}
