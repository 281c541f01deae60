"""Drill scenarios are folders, ClusterOps implementations a lazy table; the product never
imports the lab. No PostgreSQL needed."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inventory.config import parse_config
from playbooks.drill import cluster, engine, scenarios
from providers.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
# The DR side of the product; the migration steps' own lab import is another change's to remove.
PRODUCT = ("providers", "inventory", "playbooks/drill", "playbooks/library", "security")


def test_every_scenario_is_a_folder_with_its_titles_stages_and_targets() -> None:
    found = scenarios.all()
    assert list(found) == ["switchover", "failover", "failback", "remote-failover", "partition", "city-loss",
                           "manager-loss"]  # fmt: skip
    for name, sc in found.items():
        assert sc.folder == REPO / "playbooks" / "drills" / name
        assert sc.playbook.is_file() and sc.title("zh-CN") and sc.title("en")
        assert sc.stages[0] == "guard" and "verify" in sc.stages
    # Stages are read from the playbook's task names, roles expanded, rescue left out.
    assert found["switchover"].stages[:4] == ("guard", "preflight", "appsync", "stop_writes")
    assert "safe_state" not in found["failover"].stages
    assert found["city-loss"].spec.managers == ["streaming"]
    assert found["partition"].spec.network_faults and not found["failover"].spec.network_faults
    loss = found["manager-loss"]
    assert loss.title("zh-CN") == "高可用管理进程故障" and loss.title("en") == "HA manager loss"
    assert loss.spec.managers == ["patroni"] and loss.spec.plan == "in-place" and loss.spec.heal_after_s == 5
    assert loss.stages[:3] == ("guard", "preflight", "fault") and "heal" in loss.stages


def test_the_manager_loss_drill_is_refused_for_streaming_in_one_line_and_its_outage_is_configurable() -> None:
    class Streaming:
        manager = "streaming"

    config = parse_config({"dr": {"manager": "streaming"}})
    with pytest.raises(engine.DrillRefused) as refused:
        engine.make_plan(Streaming(), config, "manager-loss")  # type: ignore[arg-type]
    assert str(refused.value) == "scenario 'manager-loss' cannot drive a streaming cluster (it needs patroni)"
    assert engine.targets_for(config, "manager-loss").heal_after_s == 5
    longer = parse_config({"dr": {"targets": {"manager-loss": {"rto_s": 5, "heal_after_s": 30}}}})
    assert engine.targets_for(longer, "manager-loss").heal_after_s == 30
    assert engine.targets_for(longer, "failover").heal_after_s is None


def test_a_new_scenario_is_one_new_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Copy a folder under another name onto the search path: the registry, the CLI's choices
    and help, and the console page's titles all know it; nothing else was edited."""
    extra = tmp_path / "drills"
    shutil.copytree(REPO / "playbooks" / "drills" / "failover", extra / "rack-loss")
    spec = (extra / "rack-loss" / "scenario.yaml").read_text(encoding="utf-8")
    (extra / "rack-loss" / "scenario.yaml").write_text(
        spec.replace("故障切换", "机柜失效").replace("en: Failover", "en: Rack loss").replace("order: 20", "order: 70"),
        encoding="utf-8",
    )
    monkeypatch.setenv(scenarios.PATH_ENV, str(extra))
    assert list(scenarios.all())[-1] == "rack-loss"
    assert scenarios.get("rack-loss").title("zh-CN") == "机柜失效"
    assert scenarios.get("rack-loss").stages == scenarios.get("failover").stages
    env = {**os.environ, "GANYUN_LANG": "en", "COLUMNS": "200", scenarios.PATH_ENV: str(extra)}
    helptext = subprocess.run([sys.executable, "-m", "console", "drill", "run", "--help"], capture_output=True,
                              text=True, env=env, check=False).stdout  # fmt: skip
    assert "rack-loss" in helptext and "city-loss" in helptext
    bad = subprocess.run([sys.executable, "-m", "console", "drill", "run", "--scenario", "rack-gone", "--yes"],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert bad.returncode == 2 and "rack-loss" in bad.stderr and "Traceback" not in bad.stderr
    listed = subprocess.run([sys.executable, "-m", "console", "drill", "list"], capture_output=True, text=True,
                            env={**env, "GANYUN_LANG": "zh-CN"}, check=False)  # fmt: skip
    assert listed.returncode == 0 and "机柜失效" in listed.stdout and "高可用管理进程故障" in listed.stdout
    rows = json.loads(subprocess.run([sys.executable, "-m", "console", "drill", "list", "--json"], capture_output=True,
                                     text=True, env=env, check=True).stdout)  # fmt: skip
    by_name = {r["name"]: r for r in rows}
    assert list(by_name)[-1] == "rack-loss" and by_name["rack-loss"]["title"]["en"] == "Rack loss"
    assert by_name["manager-loss"]["managers"] == ["patroni"] and by_name["manager-loss"]["heal_after_s"] == 5
    from console.app_pages.dr import scenario_title

    assert scenario_title("rack-loss") in ("机柜失效", "Rack loss")


def test_a_scenario_name_taken_twice_or_a_bad_spec_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "playbooks" / "drills" / "failover", tmp_path / "failover")
    monkeypatch.setenv(scenarios.PATH_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="defined twice"):
        scenarios.all()
    shutil.rmtree(tmp_path / "failover")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "scenario.yaml").write_text("title: {en: Odd}\nplan: sideways\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"odd: bad scenario\.yaml"):
        scenarios.all()


def test_managers_are_a_lazy_table_of_names() -> None:
    assert cluster.MANAGERS == {"streaming": "playbooks.drill.streaming:StreamingOps",
                                "patroni": "playbooks.drill.patroni:PatroniOps"}  # fmt: skip
    probe = "import sys, playbooks.drill.engine; print('playbooks.drill.patroni' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
    for target in cluster.MANAGERS.values():
        module, _, cls = target.partition(":")
        ops_cls = getattr(__import__(module, fromlist=[cls]), cls)
        for method in ("status", "writable", "promote", "fence", "rewind", "follow", "stop_writes", "switchover",
                       "failover", "elected"):  # fmt: skip
            assert callable(getattr(ops_cls, method)), (target, method)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_drills_never_import_the_lab() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if any(name == "lab" or name.startswith("lab.") for name in _imports(path))
    ]
    assert offenders == []
