"""lab up/down/status: background process, ready config, restart persistence, exact stopping."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inventory.config import load_config
from lab import control
from tests.lab.conftest import Lab, call

pytestmark = pytest.mark.xdist_group("lab-control")
GANYUN = str(Path(sys.executable).with_name("ganyun"))


def _lab(path: Path) -> Lab:
    return Lab(path.resolve(), path / "ganyun.yaml", yaml.safe_load((path / "ganyun.yaml").read_text()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_config_is_ready_for_ganyun(tmp_path: Path) -> None:
    path = control.up(tmp_path, "small")
    try:
        config = load_config(path)
        assert [c.id for c in config.centers] == ["gz-prod", "gz-dr", "nc-dr"]
        assert {p.name: p.pool for p in config.providers} == {
            "gov-huawei": "legacy", "gov-inspur": "legacy", "county-h3c": "legacy",
            "xc-kunpeng": "xinchuang", "xc-hygon": "xinchuang",
        }  # fmt: skip
        for p in config.providers:
            assert p.driver == "openstack" and p.credentials == f"vault:{p.name}"
            assert p.options["ex_force_auth_version"] == "3.x_password"
            assert p.options["ex_force_auth_url"].endswith(f"/{p.name}/identity")
        assert config.capacity.overcommit["xinchuang"].cpu == 2.0
        assert config.capacity.rack.hosts_per_rack == 16
        assert config.database_url == f"sqlite:///{tmp_path.resolve() / 'ganyun.db'}"
        # no password in any file but the vault's sealed entries
        lab = _lab(tmp_path)
        secret = lab.credentials("gov-huawei")[1]
        for f in tmp_path.rglob("*"):
            if f.is_file() and f.suffix in (".json", ".yaml", ".log"):
                assert secret not in f.read_text(errors="replace"), f
        assert (tmp_path / "lab.json").stat().st_mode & 0o077 == 0
    finally:
        control.down(tmp_path)


def test_state_and_faults_survive_a_restart(tmp_path: Path) -> None:
    control.up(tmp_path, "small", faults={"county-h3c": {"http500": 1.0}})
    lab = _lab(tmp_path)
    port = lab.provider("gov-huawei")["options"]["ex_force_auth_url"].split(":")[2].split("/")[0]
    assert call(lab, "county-h3c", "GET", "compute/v2.1/flavors").status_code == 500
    driver = lab.driver("xc-kunpeng")
    victim = driver.list_nodes()[0]
    if victim.state != "stopped":
        assert (
            call(
                lab, "xc-kunpeng", "POST", f"compute/v2.1/servers/{victim.id}/action", json={"os-stop": None}
            ).status_code
            == 202
        )
    size = next(s for s in driver.list_sizes() if s.id == "c2m4")
    image = driver.list_images()[0]
    created = driver.create_node(name="persist-01", size=size, image=image, ex_metadata={"owner": "王芳"})
    gone = driver.list_nodes()[1]
    driver.destroy_node(gone)
    lab.faults("gov-inspur", forbidden="volumes")
    uploaded = call(lab, "xc-kunpeng", "POST", "image/v2/images", json={"name": "moved", "disk_format": "raw"}).json()[
        "id"
    ]
    assert call(lab, "xc-kunpeng", "PUT", f"image/v2/images/{uploaded}/file", data=b"disk-bytes").status_code == 204
    first_pid = control.running_pid(tmp_path)

    assert control.down(tmp_path) == [first_pid]
    assert not _alive(first_pid) and control.status(tmp_path)["running"] is False

    control.up(tmp_path, "small")
    lab = _lab(tmp_path)
    assert control.running_pid(tmp_path) not in (None, first_pid)
    assert lab.provider("gov-huawei")["options"]["ex_force_auth_url"].split(":")[2].split("/")[0] == port
    driver = lab.driver("xc-kunpeng")
    nodes = {n.id: n for n in driver.list_nodes()}
    assert created.id in nodes and nodes[created.id].extra["metadata"] == {"owner": "王芳"}
    assert nodes[created.id].state in ("running", "pending")
    assert nodes[victim.id].state == "stopped"
    assert gone.id not in nodes
    image = call(lab, "xc-kunpeng", "GET", f"image/v2/images/{uploaded}").json()
    assert image["status"] == "active" and image["size"] == len(b"disk-bytes")
    assert call(lab, "xc-kunpeng", "GET", f"image/v2/images/{uploaded}/file").content == b"disk-bytes"
    assert call(lab, "county-h3c", "GET", "compute/v2.1/flavors").status_code == 500
    assert call(lab, "gov-inspur", "GET", "volume/v2/x/volumes/detail").status_code == 403
    control.down(tmp_path)


def test_down_stops_exactly_its_own_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    control.up(one, "small")
    control.up(two, "small")
    decoy = subprocess.Popen(["sleep", "60"])
    try:
        pid_one, pid_two = control.running_pid(one), control.running_pid(two)
        assert pid_one and pid_two and pid_one != pid_two
        assert control.down(one) == [pid_one]
        assert not _alive(pid_one) and _alive(pid_two)
        assert call(_lab(two), "gov-huawei", "GET", "compute/v2.1/flavors").status_code == 200
        # A stale pid file naming some other process: down must leave that process alone.
        (one / "lab.pid").write_text(f"{decoy.pid}\n")
        assert control.down(one) == []
        assert decoy.poll() is None
        assert control.down(two) == [pid_two]
        assert not _alive(pid_two)
    finally:
        decoy.send_signal(signal.SIGTERM)
        decoy.wait(5)
        control.down(two)


def test_cli_up_status_fault_down(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from console.cli import app

    env = {**os.environ, "GANYUN_LANG": "en"}
    # A real process for `up`: the lab must outlive the CLI that started it.
    up = subprocess.run([GANYUN, "lab", "up", "--dir", str(tmp_path), "--scale", "small"],
                        capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
    runner = CliRunner()
    try:
        assert up.returncode == 0, up.stderr
        assert str(tmp_path / "ganyun.yaml") in up.stdout and "ganyun sync" in up.stdout
        info = control.status(tmp_path)
        assert info["running"] is True and sum(c["servers"] for c in info["clouds"].values()) == 200
        bad = subprocess.run([GANYUN, "lab", "fault", "--dir", str(tmp_path), "--cloud", "gov-huawei", "--set", "nonsense"],
                             capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
        assert bad.returncode == 2 and "unknown fault" in bad.stderr and "Traceback" not in bad.stderr
        ok = runner.invoke(
            app, ["--lang", "en", "lab", "fault", "--dir", str(tmp_path), "--cloud", "gov-huawei", "--set", "garbage"]
        )
        assert ok.exit_code == 0 and "garbage" in ok.stdout
        assert call(_lab(tmp_path), "gov-huawei", "GET", "compute/v2.1/flavors").content.endswith(b"Bad Gat")
        status = runner.invoke(app, ["--lang", "en", "lab", "status", "--dir", str(tmp_path), "--json"])
        assert json.loads(status.stdout)["clouds"]["gov-huawei"]["faults"] == {"garbage": True}
    finally:
        down = runner.invoke(app, ["--lang", "en", "lab", "down", "--dir", str(tmp_path)])
    assert down.exit_code == 0 and "Stopped" in down.stdout
    assert control.status(tmp_path)["running"] is False


def test_bad_scale_is_a_config_error(tmp_path: Path) -> None:
    from providers.errors import ConfigError

    with pytest.raises(ConfigError):
        control.up(tmp_path, "galactic")
    with pytest.raises(ConfigError):
        control.up(tmp_path, "small", latency_ms=-1)
    with pytest.raises(ConfigError, match="no cloud 'gov-nowhere'"):
        control.up(tmp_path, "small", faults={"gov-nowhere": {"garbage": True}})
    with pytest.raises(ConfigError, match="http500"):
        control.up(tmp_path, "small", faults={"gov-huawei": {"http500": 2}})
    with pytest.raises(ConfigError, match="unknown kind"):
        control.up(tmp_path, "small", faults={"gov-huawei": {"forbidden": "everything"}})
    assert control.running_pid(tmp_path) is None


def _cmdlines() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # the process may be gone meanwhile
                out.append((int(entry.name), (entry / "cmdline").read_bytes().decode(errors="replace")))
    return out


def test_racing_ups_start_one_server(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: control.up(tmp_path, "small"), range(3)))
    try:
        assert len(set(paths)) == 1
        pid = control.running_pid(tmp_path)
        servers = [
            pid_ for pid_, cmd in _cmdlines() if str(tmp_path.resolve()) in cmd and "lab.server" in cmd
        ]
        assert servers == [pid]
    finally:
        control.down(tmp_path)
