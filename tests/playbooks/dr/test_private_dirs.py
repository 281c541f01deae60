"""The DR lab from a private directory (root's 0700 home, anything `mktemp -d` makes), as root
and as an ordinary user, through the real `ganyun` entry point: up, a drill, down, nothing left."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import control, dr, drnet, pgdata
from providers.errors import GanyunError
from tests.playbooks.dr.conftest import alive

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
GANYUN = str(Path(sys.executable).with_name("ganyun"))
REPO = Path(__file__).resolve().parents[3]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another account only for root")


@dataclass(frozen=True)
class Account:
    """Who runs `ganyun`: this process (root), or an ordinary user through runuser."""

    user: str | None = None
    script: str = GANYUN
    env: tuple[tuple[str, str], ...] = ()

    def ganyun(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        assignments = [f"{k}={v}" for k, v in (*self.env, *env.items())]
        proc = subprocess.run([*prefix, "env", *assignments, self.script, *args], capture_output=True, text=True,
                              timeout=600, cwd="/", check=False)  # fmt: skip
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        return proc


ROOT = Account()


def _lab_pids(lab_dir: Path) -> dict[str, int]:
    """Every process the lab started, by what it is: server, postmasters, relays, sshd."""
    return {"server": int((lab_dir / control.PID_FILE).read_text()), **dr.pids(lab_dir)}


def _uid(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def _drill_and_down(lab_dir: Path, who: Account = ROOT) -> None:
    """A switchover drill through the CLI, then `lab down`: every process the lab had is gone."""
    config = str(lab_dir / "ganyun.yaml")
    pids = _lab_pids(lab_dir)
    assert all(alive(p) for p in pids.values()), pids
    drill = who.ganyun("drill", "run", "--scenario", "switchover", "--yes", GANYUN_CONFIG=config)
    assert drill.returncode == 0, drill.stderr
    history = who.ganyun("drill", "history", "--json", GANYUN_CONFIG=config)
    assert [(r["scenario"], r["status"]) for r in json.loads(history.stdout)] == [("switchover", "passed")]
    down = who.ganyun("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stderr
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"still running after lab down: {left}"


@as_root
def test_dr_lab_under_a_0700_parent_as_root_runs_a_drill_and_leaves_nothing() -> None:
    top = Path(tempfile.mkdtemp(prefix="ganyun-private-"))  # 0700, as `mktemp -d` makes it
    lab_dir = top / "p" / ".lab"
    try:
        up = ROOT.ganyun("lab", "up", "--dir", str(lab_dir), "--scale", "small", "--dr")
        assert up.returncode == 0, up.stderr
        state = json.loads((lab_dir / "dr" / "state.json").read_text(encoding="utf-8"))
        home = Path(state["data_home"]["path"])
        assert state["data_home"]["external"] and home.parent == pgdata.EXTERNAL_BASE
        info = home.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (pwd.getpwnam("postgres").pw_uid, 0o700)
        for center in state["members"]:
            assert (lab_dir / "dr" / center).resolve() == home / center
        assert stat.S_IMODE(top.stat().st_mode) == 0o700  # the user's directory was not opened up
        postgres_uid = pwd.getpwnam("postgres").pw_uid
        assert {_uid(p) for n, p in _lab_pids(lab_dir).items() if n.endswith("/postgres")} == {postgres_uid}
        net = state.get("net") or {}
        assert bool(net) == (drnet.usable() == "")  # as root with namespaces, the three-center network
        _drill_and_down(lab_dir)
        # `lab down` removed the three-center network too: namespaces, veths, the bridge.
        made = [c["netns"] for c in net.get("centers", {}).values()]
        devices = [*([net["bridge"]] if net else []), *(c["host_if"] for c in net.get("centers", {}).values())]
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert not [n for n in made if n in netns]
        assert not [d for d in devices if f" {d}:" in links or f" {d}@" in links]
        assert not home.exists()
        assert not (lab_dir / "dr").exists()  # `lab down` removes every file the DR lab made
        # Down, then up again: the clusters are built afresh in a new private home.
        again = ROOT.ganyun("lab", "up", "--dir", str(lab_dir), "--scale", "small", "--dr")
        assert again.returncode == 0, again.stderr
        assert home.is_dir()
        assert ROOT.ganyun("lab", "down", "--dir", str(lab_dir)).returncode == 0
        assert not home.exists()
    finally:
        ROOT.ganyun("lab", "down", "--dir", str(lab_dir))
        shutil.rmtree(top)


# --------------------------------------------------------------------------- an ordinary user


@contextlib.contextmanager
def _ordinary_user(parent: Path) -> Iterator[tuple[str, Path]]:
    """A throwaway account with its own 0700 home under `parent`."""
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    name = f"ganyun-t{secrets.token_hex(3)}"
    home = parent / name
    subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)  # fmt: skip
    try:
        home.mkdir(mode=0o700)
        shutil.chown(home, name, name)
        yield name, home
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def _venv_for(user_dir: Path) -> Path:
    """This venv's packages under a Python the user can run (ours lives in root's 0700 home).

    Debian's python3.X (same ABI) gets a venv whose site adds ours, with our console scripts
    pointed at it; the product code runs unchanged.
    """
    system_python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system_python.exists():
        pytest.skip(f"{system_python} is not installed: no Python an ordinary user can run")
    venv = user_dir / "venv"
    subprocess.run([str(system_python), "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    ours = sysconfig.get_paths()["purelib"]
    (site / "ganyun-shared.pth").write_text(f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    for script in Path(sys.executable).parent.iterdir():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            first, rest = script.read_text(encoding="utf-8").split("\n", 1)
            if first.startswith("#!") and "python" in first and not (venv / "bin" / script.name).exists():
                (venv / "bin" / script.name).write_text(f"#!{venv}/bin/python\n{rest}", encoding="utf-8")
                (venv / "bin" / script.name).chmod(0o755)
    return venv


@as_root
def test_dr_lab_as_an_ordinary_user_in_its_own_0700_home() -> None:
    top = Path(tempfile.mkdtemp(prefix="ganyun-user-"))
    top.chmod(0o755)  # the test's own directory, holding the user's home (0700) and its venv
    with _ordinary_user(top) as (user, home):
        readable = subprocess.run(["runuser", "-u", user, "--", "test", "-r", str(REPO / "console" / "cli.py")],
                                  check=False)  # fmt: skip
        if readable.returncode != 0:
            pytest.skip(f"{user} cannot read {REPO}")
        venv = _venv_for(top)
        who = Account(user, str(venv / "bin" / "ganyun"), (("HOME", str(home)), ("PATH", f"{venv}/bin:/usr/bin:/bin")))
        lab_dir = home / ".lab"
        try:
            up = who.ganyun("lab", "up", "--dir", str(lab_dir), "--scale", "small", "--dr", "--tls", GANYUN_LANG="en")
            assert up.returncode == 0, up.stderr
            state = json.loads((lab_dir / "dr" / "state.json").read_text(encoding="utf-8"))
            # Without root there are no namespaces: the loopback clusters, and the user is told why.
            assert (state["mode"], state["fallback_reason"]) == ("loopback", "not running as root")
            assert "DR centers fall back to loopback (not running as root)" in up.stderr
            assert state["data_home"] == {"path": str(lab_dir / "dr"), "external": False}
            uid = pwd.getpwnam(user).pw_uid
            assert {_uid(p) for p in _lab_pids(lab_dir).values()} == {uid}  # PostgreSQL runs as the user
            tls_pid = int((lab_dir / "tls" / "tls.pid").read_text())
            assert _uid(tls_pid) == uid
            _drill_and_down(lab_dir, who)
            assert not alive(tls_pid)
        finally:
            who.ganyun("lab", "down", "--dir", str(lab_dir))
    shutil.rmtree(top)


# --------------------------------------------------------------------------- placement, failures


@as_root
def test_placement_stays_in_a_reachable_lab_and_leaves_a_private_one(tmp_path: Path) -> None:
    open_dir = Path(tempfile.mkdtemp(prefix="ganyun-open-"))
    try:
        open_dir.chmod(0o755)
        assert pgdata.decide(open_dir) == pgdata.DataHome(open_dir, pgdata.pg_owner(), external=False)
    finally:
        open_dir.rmdir()
    private = tmp_path / "deep" / "dr"  # pytest's tmp_path sits under a 0700 directory
    private.mkdir(parents=True)
    home = pgdata.decide(private)
    assert home.external and home.path == pgdata.external_path(private)


@as_root
def test_a_shared_base_another_user_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base"
    base.mkdir(mode=0o777)
    base.chmod(0o777)
    monkeypatch.setattr(pgdata, "EXTERNAL_BASE", base)
    home = pgdata.DataHome(base / "lab", pgdata.pg_owner(), external=True)
    with pytest.raises(pgdata.PlacementError, match="writable only by root"):
        pgdata.prepare(home, ["gz-prod"])
    assert not home.path.exists()


def test_a_dr_lab_that_cannot_start_is_one_line_exit_2_and_nothing_stays_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lab.dr.pg_bindir", lambda: None)
    with pytest.raises(GanyunError) as caught:
        control.up(tmp_path / "lab", "small", dr=True)
    assert getattr(caught.value, "exit_code", None) == 2
    assert "apt-get install postgresql" in str(caught.value)
    assert control.running_pid(tmp_path / "lab") is None
