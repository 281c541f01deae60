"""`ganyun migrate` on a small fixed inventory: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.migration.estate import build_store, default_listings, make_config, target_listing

GANYUN = str(Path(sys.executable).with_name("ganyun"))


def _write_config(tmp_path: Path, listings: dict[str, Any]) -> Path:
    config = make_config(tmp_path)
    build_store(config, listings).dispose()
    path = tmp_path / "ganyun.yaml"
    data = config.model_dump(mode="json", exclude={"base_dir"})
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _ganyun(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GANYUN_CONFIG": str(config), "GANYUN_LANG": "en"}
    return subprocess.run([GANYUN, *args], env=env, cwd=config.parent, capture_output=True, text=True, timeout=120)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return _write_config(tmp_path, default_listings())


def test_assess_json_lists_every_legacy_node_with_reasons(config: Path) -> None:
    proc = _ganyun(config, "migrate", "assess", "--where", "department=市人社局", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 8
    assert {r["provider"] for r in rows} == {"gov-huawei"}  # the Xinchuang pool is never a source
    windows = next(r for r in rows if r["name"] == "就业创业服务平台-vm6")
    assert windows["strategy"] == "rehost" and windows["reasons"]


def test_plan_writes_a_valid_plan_and_prints_the_bound(config: Path) -> None:
    out = config.parent / "plan.json"
    proc = _ganyun(
        config,
        "migrate",
        "plan",
        "--target",
        "xc-kunpeng",
        "--where",
        "department=市人社局",
        "--output",
        str(out),
        "--wave-size",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Lower bound" in proc.stdout and "gap" in proc.stdout
    plan = json.loads(out.read_text(encoding="utf-8"))
    assert len(plan["items"]) == 6 and plan["summary"]["lower_bound_hosts"] >= 1


def test_plan_that_does_not_fit_is_refused_with_one_line(tmp_path: Path) -> None:
    listings = default_listings()
    listings["xc-kunpeng"] = target_listing("xc-kunpeng", "aarch64", hosts=1, vcpus=4, ram_mb=16384)
    config = _write_config(tmp_path, listings)
    out = tmp_path / "plan.json"
    proc = _ganyun(config, "migrate", "plan", "--target", "xc-kunpeng", "--output", str(out))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ganyun: ") and "does not fit" in last and "short" in last
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_bad_inputs_exit_2(config: Path) -> None:
    bad = config.parent / "bad.json"
    bad.write_text('{"version": 1, "items": []}', encoding="utf-8")
    proc = _ganyun(config, "migrate", "run", str(bad), "--yes")
    assert proc.returncode == 2 and "invalid plan" in proc.stderr
    proc = _ganyun(config, "migrate", "plan", "--target", "nowhere", "--output", "x.json")
    assert proc.returncode == 2 and "neither a provider nor a pool" in proc.stderr
    proc = _ganyun(config, "migrate", "rollback", "42", "--yes")
    assert proc.returncode == 2 and "no migration run 42" in proc.stderr


def test_status_without_runs(config: Path) -> None:
    proc = _ganyun(config, "migrate", "status", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"run_id": None, "vms": []}


def test_plan_source_narrows_to_one_provider_and_refuses_a_target_pool(config: Path) -> None:
    out = config.parent / "plan.json"
    proc = _ganyun(config, "migrate", "plan", "--source", "gov-huawei", "--target", "xc-kunpeng", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {i["source_provider"] for i in json.loads(out.read_text(encoding="utf-8"))["items"]} == {"gov-huawei"}
    for source, reason in (("nowhere", "no provider named nowhere"), ("xc-hygon", "a target, never a source")):
        proc = _ganyun(config, "migrate", "plan", "--source", source, "--target", "xc-kunpeng", "--output", str(out))
        assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr
