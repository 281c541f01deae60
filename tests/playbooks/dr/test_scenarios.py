"""Drill scenarios are folders, ClusterOps implementations a lazy table; the product never
imports the lab. No PostgreSQL needed."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.drill import cluster, scenarios
from providers.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
# The DR side of the product; the migration steps' own lab import is another change's to remove.
PRODUCT = ("providers", "inventory", "playbooks/drill", "playbooks/library", "security")


def test_every_scenario_is_a_folder_with_its_titles_stages_and_targets() -> None:
    found = scenarios.all()
    assert list(found) == ["switchover", "failover", "failback", "remote-failover", "partition", "city-loss"]
    for name, sc in found.items():
        assert sc.folder == REPO / "playbooks" / "drills" / name
        assert sc.playbook.is_file() and sc.title("zh-CN") and sc.title("en")
        assert sc.stages[0] == "guard" and "verify" in sc.stages
    # Stages are read from the playbook's task names, roles expanded, rescue left out.
    assert found["switchover"].stages[:4] == ("guard", "preflight", "appsync", "stop_writes")
    assert "safe_state" not in found["failover"].stages
    assert found["city-loss"].spec.managers == ["streaming"]
    assert found["partition"].spec.network_faults and not found["failover"].spec.network_faults


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
                       "failover"):  # fmt: skip
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
