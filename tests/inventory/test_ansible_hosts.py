"""Host names, state groups and stale nodes in the dynamic inventory, as a real `ansible`
ad-hoc run and the real CLI see them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inventory.config import load_config
from inventory.store import open_store
from inventory.sync import sync_all
from providers.base import State
from providers.errors import Unavailable
from tests.fakes.provider import FakeCloud, factory, make_node

BIN = Path(sys.executable).parent
JINJA = "web{{ lookup('pipe','id') }}"


@pytest.fixture()
def estate(tmp_path: Path) -> tuple[Path, dict[str, FakeCloud]]:
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text(
        "database: sqlite:///inv.db\n"
        "centers: [{id: gz-prod, name: 生产中心, role: production, site: ganzhou}]\n"
        "providers:\n"
        "  - {name: gov.cloud, driver: fake, center: gz-prod}\n"
        "  - {name: xc.pool-2, driver: fake, center: gz-prod, pool: xinchuang}\n"
        "  - {name: flaky, driver: fake, center: gz-prod}\n",
        encoding="utf-8",
    )
    clouds = {
        "gov.cloud": FakeCloud(
            nodes=[
                make_node("gov.cloud", 0, name="web", created_at=datetime(2026, 3, 1, tzinfo=UTC)),
                make_node("gov.cloud", 1, name="web", created_at=datetime(2025, 1, 1, tzinfo=UTC)),
                make_node("gov.cloud", 2, name="db", state=State.STOPPED),
                make_node("gov.cloud", 3, name="old", state=State.TERMINATED),
                make_node("gov.cloud", 4, name=JINJA),
            ]
        ),
        "xc.pool-2": FakeCloud(nodes=[make_node("xc.pool-2", 0, name="应用服务器")]),
        "flaky": FakeCloud(nodes=[make_node("flaky", 0, name="app")]),
    }
    config = load_config(cfg)
    store = open_store(config.database_url)
    sync_all(config, store, factory=factory(clouds), full=True)
    clouds["flaky"].fail_nodes = Unavailable("flaky", "list_nodes", "HTTP 500")
    sync_all(config, store, factory=factory(clouds), full=True)
    return cfg, clouds


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "--lang", "en", "--config", str(cfg), "inventory", "ansible", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_names_are_unique_stable_and_warn_on_collision(estate: tuple[Path, dict[str, FakeCloud]]) -> None:
    cfg, _clouds = estate
    listed = _cli(cfg, "--list")
    assert listed.returncode == 0, listed.stderr
    inv = json.loads(listed.stdout)
    hostvars = inv["_meta"]["hostvars"]
    ids = {h["ganyun_id"]["__ansible_unsafe"]: name for name, h in hostvars.items()}
    # The two VMs named "web" are two hosts; the older one keeps the plain name.
    assert ids["gov.cloud-n1"] == "gov.cloud.web"
    assert ids["gov.cloud-n0"].startswith("gov.cloud.web-") and len(ids["gov.cloud-n0"]) == len("gov.cloud.web-") + 8
    assert "2 nodes share the host name gov.cloud.web" in listed.stderr
    # Terminated nodes and the stale provider's nodes are left out.
    assert "gov.cloud-n3" not in ids and "flaky-n0" not in ids
    assert set(ids) == {"gov.cloud-n0", "gov.cloud-n1", "gov.cloud-n2", "gov.cloud-n4", "xc.pool-2-n0"}
    # State groups.
    assert inv["state_stopped"]["hosts"] == [ids["gov.cloud-n2"]]
    assert ids["gov.cloud-n2"] not in inv["state_running"]["hosts"]
    # Stable: the same names on the next answer.
    again = json.loads(_cli(cfg, "--list").stdout)
    assert set(again["_meta"]["hostvars"]) == set(hostvars)


def test_include_stale_adds_terminated_and_stale_provider_nodes(estate: tuple[Path, dict[str, FakeCloud]]) -> None:
    cfg, _clouds = estate
    inv = json.loads(_cli(cfg, "--list", "--include-stale").stdout)
    by_id = {h["ganyun_id"]["__ansible_unsafe"]: h for h in inv["_meta"]["hostvars"].values()}
    assert by_id["gov.cloud-n3"]["ganyun_stale"] is True
    assert by_id["flaky-n0"]["ganyun_stale"] is True
    assert by_id["gov.cloud-n1"]["ganyun_stale"] is False
    assert "state_terminated" in inv


def test_host_works_for_any_provider_name(estate: tuple[Path, dict[str, FakeCloud]]) -> None:
    cfg, _clouds = estate
    inv = json.loads(_cli(cfg, "--list").stdout)
    for name, expected in inv["_meta"]["hostvars"].items():
        answer = _cli(cfg, "--host", name)
        assert answer.returncode == 0, (name, answer.stderr)
        assert json.loads(answer.stdout) == expected
    missing = _cli(cfg, "--host", "gov.cloud.nothing")
    assert missing.returncode == 1 and missing.stderr.strip() == "no host gov.cloud.nothing in the inventory"
    assert _cli(cfg, "--host", "flaky.app").returncode == 1
    assert _cli(cfg, "--host", "flaky.app", "--include-stale").returncode == 0


@pytest.mark.skipif(shutil.which("ansible", path=str(BIN)) is None, reason="ansible-core not installed")
def test_real_ansible_adhoc_sees_every_host_and_templates_nothing(
    estate: tuple[Path, dict[str, FakeCloud]], tmp_path: Path
) -> None:
    cfg, _clouds = estate
    script = tmp_path / "ganyun_inventory.sh"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m console --config "{cfg}" inventory ansible "$@"\n')
    script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ANSIBLE_INVENTORY_ENABLED": "script",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
    }
    run = subprocess.run(
        [
            str(BIN / "ansible"),
            "all",
            "-i",
            str(script),
            "-o",
            "-m",
            "debug",
            "-a",
            "msg={{ hostvars[inventory_hostname].ganyun_name }}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    shown = {}
    for line in run.stdout.splitlines():
        host, sep, answer = line.partition(" | SUCCESS => ")
        if sep:
            shown[host] = json.loads(answer)["msg"]
    assert len(shown) == 5
    assert sorted(shown.values()) == sorted(["web", "web", "db", JINJA, "应用服务器"])
    assert not (tmp_path / "uid=").exists() and "uid=" not in run.stdout
