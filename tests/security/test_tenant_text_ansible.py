"""Issue 13, item 1: nothing a tenant wrote is ever a template or a command.

A tenant of the lab renames and re-tags two of its VMs (through its own cloud's Nova API) with
Jinja, shell, newlines, quotes and `../`. Then, for real:
  (a) `ansible` ad hoc with `ganyun inventory ansible` as the inventory script, templating hostvars;
  (b) `ansible-playbook` of every playbook: collect_certs with the same inventory, the four DR
      playbooks with hostile values in every variable they take, and the four migration
      playbooks through (c);
  (c) `ganyun migrate run` (replatform, then `migrate rollback`; rehost, then `migrate finalize`).
Every payload would create a file in one directory if anything ran it: it stays empty, and the
hostile text comes out unchanged wherever it is shown.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.config import load_config
from inventory.tenant_text import UNSAFE_KEY, escape_controls
from lab import control
from playbooks import runner
from playbooks.drill import scenarios
from playbooks.migration_steps import StepError, data_dir, run_step
from providers.errors import PlaybookError
from tests.lab.labcli import LabCli
from tests.security.tenant import Tenant, payloads

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tenant-text-lab")]
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GANYUN = str(BIN / "ganyun")
SYSTEM = "人社一体化公共服务平台"


class Estate(LabCli):
    """A small lab in which a tenant has made two VMs hostile."""

    def __init__(self, lab_dir: Path, config: Path, markers: Path) -> None:
        super().__init__(lab_dir, config)
        self.env["ANSIBLE_NOCOLOR"] = "1"
        self.markers = markers
        self.hostile: dict[str, dict[str, str]] = {}  # node id -> the fields the tenant set
        self.linux_id = ""  # the CentOS VM (replatform)
        self.windows_id = ""  # the Windows VM (rehost)

    def nothing_ran(self) -> None:
        assert sorted(p.name for p in self.markers.iterdir()) == []


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    lab_dir = tmp_path_factory.mktemp("tenantlab").resolve()
    markers = tmp_path_factory.mktemp("markers").resolve()
    config = Path(control.up(lab_dir, "small"))
    try:
        e = Estate(lab_dir, config, markers)
        e.run("sync")
        p = payloads(markers)
        nodes = [n for n in e.nodes(system=SYSTEM) if n["state"] == "running"]
        linux = next(n for n in sorted(nodes, key=lambda n: n["name"]) if n["os_family"] == "CentOS")
        windows = next(n for n in sorted(nodes, key=lambda n: n["name"]) if n["os_family"] == "Windows")
        hostile = {
            linux["id"]: {
                "cloud": linux["provider"],
                "name": f"{p['jinja_pipe']} {p['shell']}",
                "system": f"{p['newline']} {p['jinja_stmt']}",
                "owner": p["shell"],
                "department": f"{p['path']}{p['jinja_raw']}",
            },
            windows["id"]: {
                "cloud": windows["provider"],
                "name": f"{p['jinja_stmt']}\n{p['path']}",
                "system": p["jinja_pipe"],
                "owner": p["jinja_raw"],
                "department": f"{p['shell']}{p['newline']}",
            },
        }
        for node_id, fields in hostile.items():
            tenant = Tenant(config, fields["cloud"])
            tenant.rename(node_id, fields["name"])
            tenant.tag(node_id, {k: fields[k] for k in ("system", "owner", "department")})
        e.hostile = hostile
        e.run("sync")
        e.linux_id, e.windows_id = linux["id"], windows["id"]
        yield e
    finally:
        control.down(lab_dir)


def _inventory_script(estate: Estate) -> Path:
    script = estate.dir / "ganyun_inventory.sh"
    script.write_text(f'#!/bin/sh\nexec "{GANYUN}" --config "{estate.config_path}" inventory ansible "$@"\n')
    script.chmod(0o755)
    return script


def _aliases(estate: Estate) -> dict[str, str]:
    """{node id: inventory host name} of the hostile VMs, from `ganyun inventory ansible --list`."""
    inventory = estate.json("inventory", "ansible", "--list")
    out = {}
    for host, hv in inventory["_meta"]["hostvars"].items():
        node_id = hv["ganyun_id"][UNSAFE_KEY] if isinstance(hv["ganyun_id"], dict) else hv["ganyun_id"]
        if node_id in estate.hostile:
            out[node_id] = host
    assert set(out) == set(estate.hostile)
    return out


def _ansible_env(estate: Estate) -> dict[str, str]:
    return {
        **estate.env,
        "ANSIBLE_INVENTORY_ENABLED": "script",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }


def _adhoc_results(stdout: str) -> dict[str, Any]:
    """{host: result} from ad-hoc output (`host | SUCCESS => {json}`)."""
    decoder = json.JSONDecoder()
    return {
        m.group(1): decoder.raw_decode(stdout, m.end())[0]
        for m in re.finditer(r"^(\S+) \| SUCCESS => ", stdout, flags=re.M)
    }


# --------------------------------------------------------------------------- (a) dynamic inventory


def test_adhoc_ansible_templating_hostvars_runs_nothing(estate: Estate) -> None:
    aliases = _aliases(estate)
    script = _inventory_script(estate)
    proc = subprocess.run(
        [str(BIN / "ansible"), "-i", str(script), ",".join(aliases.values()), "-c", "local",
         "-m", "debug", "-a", "msg={{ hostvars[inventory_hostname] }}"],
        capture_output=True, text=True, env=_ansible_env(estate), cwd=estate.dir, timeout=300,
    )  # fmt: skip
    estate.nothing_ran()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hosts = _adhoc_results(proc.stdout)
    for node_id, alias in aliases.items():
        shown = hosts[alias]["msg"]
        want = estate.hostile[node_id]
        assert shown["ganyun_name"] == want["name"]
        assert shown["ganyun_system"] == want["system"]
        assert shown["ganyun_department"] == want["department"]
    # One variable at a time, as a playbook's task would use it.
    alias = aliases[estate.linux_id]
    proc = subprocess.run(
        [str(BIN / "ansible"), "-i", str(script), alias, "-c", "local", "-m", "debug",
         "-a", "msg={{ ganyun_name }}|{{ ganyun_system }}"],
        capture_output=True, text=True, env=_ansible_env(estate), cwd=estate.dir, timeout=300,
    )  # fmt: skip
    estate.nothing_ran()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = estate.hostile[estate.linux_id]
    assert _adhoc_results(proc.stdout)[alias]["msg"] == f"{want['name']}|{want['system']}"


def test_dynamic_inventory_marks_every_string_unsafe(estate: Estate) -> None:
    inventory = estate.json("inventory", "ansible", "--list")
    assert len(inventory["_meta"]["hostvars"]) >= 200
    for host, hv in inventory["_meta"]["hostvars"].items():
        # Every string of every host, not only those that look dangerous.
        assert not [k for k, v in hv.items() if isinstance(v, str)], (host, hv)
        assert all(set(ip) == {UNSAFE_KEY} for ip in hv["ganyun_ips"])
        # Host names are plain: they are --limit patterns and fetch directories too.
        assert re.fullmatch(r"[0-9A-Za-z_.\-\u4e00-\u9fff]+", host) and ".." not in host, host
    for node_id, alias in _aliases(estate).items():
        # `--host`, what Ansible calls for an inventory without _meta, answers the same way.
        host = estate.json("inventory", "ansible", "--host", alias)
        assert host["ganyun_id"] == {UNSAFE_KEY: node_id}
        assert host["ganyun_name"] == {UNSAFE_KEY: estate.hostile[node_id]["name"]}
        assert host["ganyun_system"] == {UNSAFE_KEY: estate.hostile[node_id]["system"]}


def test_collect_certs_playbook_with_the_dynamic_inventory(estate: Estate, tmp_path: Path) -> None:
    """collect_certs.yml fetches into <dest>/<inventory_hostname>/: host names never escape dest."""
    aliases = _aliases(estate)
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "svc.pem").write_bytes((REPO / "tests" / "security" / "data" / "sample.pem").read_bytes())
    dest = tmp_path / "fetched"
    extra = {"ganyun_hosts": "all", "collect_dest": str(dest), "collect_paths": [str(pki)],
             "ansible_python_interpreter": sys.executable}  # fmt: skip
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(_inventory_script(estate)), "-c", "local",
         "-l", ",".join(aliases.values()), "-e", json.dumps(extra), str(REPO / "playbooks" / "collect_certs.yml")],
        capture_output=True, text=True, env=_ansible_env(estate), cwd=estate.dir, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fetched = sorted(p for p in dest.rglob("*") if p.is_file())
    assert len(fetched) == len(aliases)
    for path in fetched:
        assert path.resolve().is_relative_to(dest.resolve())
        assert path.relative_to(dest).parts[0] in aliases.values()
    estate.nothing_ran()


# --------------------------------------------------------------------------- (b) DR playbooks

DR_PLAYBOOKS = sorted(s.playbook.relative_to(REPO / "playbooks").as_posix() for s in scenarios.all().values())


def test_dr_playbooks_take_no_inventory_data() -> None:
    """The DR playbooks read only the variables the drill engine passes from the DR config
    (config file, center names, their nodes, run id): no host variables, no inventory groups."""
    texts = [(REPO / "playbooks" / name).read_text() for name in DR_PLAYBOOKS]
    texts += [p.read_text() for p in (REPO / "playbooks" / "roles").glob("dr_*/**/*.yml")]
    for text in texts:
        # The modules' names and their result key, not variables.
        expressions = text.replace("ganyun_pgnode:", "").replace("ganyun_pg:", "").replace("ganyun_drill.", "")
        for forbidden in ("hostvars", "groups[", "ganyun_", "mig_", "inventory_", "lookup(", "query("):
            assert forbidden not in expressions


@pytest.mark.parametrize("playbook", DR_PLAYBOOKS)
def test_dr_playbook_with_hostile_values_runs_nothing(playbook: str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    p = payloads(markers)
    config_file = f"{tmp_path}/{p['jinja_pipe']}"
    centers = [p["jinja_stmt"], p["shell"], p["newline"]]
    node = {"data_dir": p["shell"], "bindir": p["jinja_pipe"], "conf_file": p["newline"], "os_user": p["jinja_raw"]}
    result = runner.run(
        playbook,
        {
            "dr_control_hosts": "localhost",
            "dr_config_file": config_file,
            # manager-loss drives an HA manager only, and for a set outage.
            "dr_manager": "patroni" if "manager-loss" in playbook else "streaming",
            "dr_heal_after_s": 1,
            "drill_run_id": p["jinja_raw"],
            "dr_primary": centers[0],
            "dr_target": centers[1],
            "dr_followers": [centers[2]],
            "dr_lost": [centers[0]],
            "dr_nodes": {c: node for c in centers},
            "dr_endpoints": {c: {"host": p["shell"], "port": 5432, "remote_port": 0, "site": "x"} for c in centers},
            "dr_user": p["jinja_stmt"],
            "dr_primary_has_peer": True,
            "dr_confirmed": True,
        },
    )
    assert not result.ok
    assert list(markers.iterdir()) == []
    # The step failed on the missing configuration and says where it looked, unchanged.
    assert any(config_file in e.msg for e in result.events if e.failed), result.failure()
    if playbook == "drills/failback/playbook.yml":
        # Its first task's name is templated from the center names: shown, not run.
        follow = next(e for e in result.events if e.stage == "follow")
        assert f"{centers[2]}, {centers[1]} follow {centers[0]}" in follow.task


# --------------------------------------------------------------------------- (c) migrate run


def _plan(estate: Estate, node_id: str, name: str) -> Path:
    path = estate.dir / f"{name}.json"
    estate.run("migrate", "plan", "--target", "xinchuang", "--where", f"id={node_id}", "--output", str(path))
    plan = json.loads(path.read_text(encoding="utf-8"))
    assert [i["source_id"] for i in plan["items"]] == [node_id]
    assert plan["items"][0]["name"] == estate.hostile[node_id]["name"]
    return path


def _status(estate: Estate, run_id: int) -> dict[str, Any]:
    status = estate.json("migrate", "status", "--run", str(run_id), "--json")
    [vm] = status["vms"]
    return dict(vm)


def test_migrate_replatform_then_rollback(estate: Estate) -> None:
    node_id = estate.linux_id
    want = estate.hostile[node_id]
    plan = str(_plan(estate, node_id, "replatform"))
    # A failing step first: the module's message names the VM, and the rescue templates it
    # (`ansible_failed_result.msg`) into the failure it records.
    failed = estate.run("migrate", "run", plan, "--yes", "--json", "--lab-fault", "corrupt_copy", check=False)
    assert failed.returncode == 1, failed.stderr
    estate.nothing_ran()
    [vm] = json.loads(failed.stdout)["vms"]
    assert vm["status"] == "failed" and vm["name"] == want["name"]
    assert vm["message"].startswith(" ".join(want["name"].split()) + ": verify: SM3 checksum mismatch")

    report = estate.json("migrate", "run", plan, "--yes", "--json")
    assert report["status"] == "completed", report
    vm = _status(estate, report["run_id"])
    assert vm["strategy"] == "replatform" and vm["status"] == "cut_over"
    assert vm["name"] == want["name"] and vm["system"] == want["system"]
    estate.nothing_ran()

    target_provider, target_id = vm["target"].split("/")
    conf = (estate.dir / "appdata" / target_provider / target_id / "app.conf").read_text(encoding="utf-8")
    lines = conf.split("\n")
    # The newline, CR, NUL, ESC, NEL and U+2028 in the tag stay inside the one `system` line.
    assert f"system = {escape_controls(want['system'])}" in lines
    assert not any(line.startswith(("restore", "[evil]")) for line in lines)
    assert not any(c in conf for c in "\r\x00\x1b\x85\u2028")
    assert sum(1 for line in lines if line.startswith("[")) == 1

    # The tenant's text is copied to the new node as data, and the next sync reads it back.
    landed = next(n for n in estate.nodes(provider=target_provider) if n["id"] == target_id)
    assert landed["name"] == want["name"]
    assert landed["tags"]["system"] == want["system"] and landed["tags"]["owner"] == want["owner"]

    estate.run("migrate", "rollback", str(report["run_id"]), "--yes")
    assert _status(estate, report["run_id"])["status"] == "rolled_back"
    estate.nothing_ran()


def test_migrate_rehost_then_finalize(estate: Estate) -> None:
    node_id = estate.windows_id
    want = estate.hostile[node_id]
    report = estate.json("migrate", "run", str(_plan(estate, node_id, "rehost")), "--yes", "--json")
    assert report["status"] == "completed", report
    vm = _status(estate, report["run_id"])
    assert vm["strategy"] == "rehost" and vm["name"] == want["name"]
    estate.nothing_ran()
    target_provider, target_id = vm["target"].split("/")
    landed = next(n for n in estate.nodes(provider=target_provider) if n["id"] == target_id)
    assert landed["name"] == want["name"] and landed["tags"]["department"] == want["department"]

    estate.run("migrate", "finalize", str(report["run_id"]), "--yes")
    assert _status(estate, report["run_id"])["status"] == "finalized"
    estate.nothing_ran()
    # Work files live under ids, never under names: nothing was written outside the work dir.
    assert not list(estate.dir.glob("**/pwned*")) and not Path("/tmp/'quoted\"").exists()


# --------------------------------------------------------------------------- guards


def test_every_template_expression_is_escaped() -> None:
    """Files ganyun renders keep each inventory value on its line (the `ganyun_escape` filter)."""
    templates = sorted((REPO / "playbooks" / "roles").glob("*/templates/*.j2"))
    assert templates
    for template in templates:
        for expression in re.findall(r"{{(.*?)}}", template.read_text(), flags=re.S):
            assert expression.strip().endswith("| ganyun_escape"), (template.name, expression)


def test_escape_controls_is_one_line_and_reversible() -> None:
    hostile = "a\\b\nc\rd\x00e\x1b\x7f\x85\u2028\u2029f\tg"
    escaped = escape_controls(hostile)
    assert escaped == "a\\\\b\\nc\\rd\\0e\\x1b\\x7f\\x85\\u2028\\u2029f\\tg"
    assert escaped.splitlines() == [escaped]
    assert escape_controls("赣服通 web-01") == "赣服通 web-01"


@pytest.mark.parametrize(
    "hostile", ["../x", "..", ".hidden", "a/b", "-rf", "a b", "$(id)", "`id`", "a;b", "x\ny", "'q'"]
)
def test_hostile_ids_never_name_paths(hostile: str, tmp_path: Path) -> None:
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text('database: sqlite:///g.db\nmigration: {appdata_dir: "data/{provider}/{id}"}\n', encoding="utf-8")
    config = load_config(cfg)
    with pytest.raises(PlaybookError, match="cannot name a file"):
        data_dir(config, "gov-huawei", hostile)
    item = {"source_provider": "gov-huawei", "source_id": hostile, "target_provider": "xc-kunpeng", "name": "vm"}
    with pytest.raises(StepError, match="prepare"):
        run_step("prepare", config, item, {}, 1, tmp_path / "work")
    with pytest.raises(StepError, match="disk format"):
        run_step(
            "export", config, {**item, "source_id": "vm-1"}, {"snapshot_format": hostile, "work": "w"}, 1, tmp_path
        )
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ganyun.yaml"]


def test_runner_refuses_hostile_host_names(tmp_path: Path) -> None:
    inventory = {"all": {"hosts": {"web;touch x": {"ansible_connection": "local"}}}}
    with pytest.raises(PlaybookError, match="inventory host name"):
        runner.run("migrate_rehost.yml", {}, inventory)
