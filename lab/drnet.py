"""The DR lab's network as root: one network namespace per center on one bridge, each with its
own address in a private test subnet that exists only on this machine, sshd inside.

Names derive from the lab directory (`gy<id>...`), so two labs, or a test beside a demo, never
share a namespace, a device or a subnet. The remote center hangs off the bridge through the
delaying relay of lab/remote_link.py instead of a veth. Everything made here is recorded in
the lab's state and removed by `teardown`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from providers.errors import GanyunError

SUBNET_PREFIX = "10.213"
SSHD = "/usr/sbin/sshd"


class NetError(GanyunError):
    exit_code = 2


BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def usable() -> str:
    """ "" when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps)"
    if not Path(SSHD).exists():
        return "openssh-server is not installed (make system-deps)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing"
    return ""


def run(*cmd: str, ns: str = "", check: bool = True, timeout: float = 30) -> str:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")
    if check and proc.returncode != 0:
        raise NetError(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


def lab_id(dr_root: Path) -> str:
    return hashlib.sha256(str(dr_root.resolve()).encode()).hexdigest()[:6]


def _used_subnets() -> set[int]:
    used = set()
    for line in run("ip", "-4", "-o", "addr", "show").splitlines():
        for word in line.split():
            if word.startswith(SUBNET_PREFIX + "."):
                with contextlib.suppress(ValueError, IndexError):
                    used.add(int(word.split(".")[2]))
    return used


def pick_subnet(lid: str) -> ipaddress.IPv4Network:
    start = int(lid, 16) % 200 + 20
    used = _used_subnets()
    for k in range(200):
        third = (start + k - 20) % 200 + 20
        if third not in used:
            return ipaddress.IPv4Network(f"{SUBNET_PREFIX}.{third}.0/24")
    raise NetError(f"no free {SUBNET_PREFIX}.X.0/24 test subnet on this machine")


def plan(dr_root: Path, centers: Sequence[str], remote: str) -> dict[str, Any]:
    """Names and addresses for this lab: nothing is created yet."""
    lid = lab_id(dr_root)
    net = pick_subnet(lid)
    hosts = list(net.hosts())
    return {
        "id": lid,
        "subnet": str(net),
        "bridge": f"gy{lid}br",
        "bridge_ip": str(hosts[0]),
        "remote": remote,
        "link_control": str(dr_root / "link.json"),
        "centers": {
            c: {"netns": f"gy{lid}-{c}", "ip": str(hosts[10 + i]), "host_if": f"gy{lid}v{i}"}
            for i, c in enumerate(centers)
        },
    }


def build(net: dict[str, Any], dr_root: Path, rtt_ms: float) -> None:
    """Bridge, namespaces, veths (and the relay for the remote center)."""
    prefix = net["subnet"].split("/")[1]
    run("ip", "link", "add", net["bridge"], "type", "bridge")
    run("ip", "addr", "add", f"{net['bridge_ip']}/{prefix}", "dev", net["bridge"])
    run("ip", "link", "set", net["bridge"], "up")
    # Bridged frames must not meet the host's own firewall (Docker-like hosts drop forwarding).
    # The switch is host-wide: remember what it was, and teardown puts it back.
    with contextlib.suppress(OSError):
        if BRIDGE_NF.read_text().strip() != "0":
            BRIDGE_NF.write_text("0")
            net["bridge_nf_was"] = "1"
    (dr_root / "link.json").write_text(f'{{"rtt_ms": {float(rtt_ms)}, "loss": 0.0}}\n', encoding="utf-8")
    for center, c in net["centers"].items():
        ns = c["netns"]
        run("ip", "netns", "add", ns)
        run("ip", "link", "set", "lo", "up", ns=ns)
        if center == net["remote"]:
            _remote_link(net, c, dr_root)
        else:
            run("ip", "link", "add", c["host_if"], "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "link", "set", c["host_if"], "master", net["bridge"])
        run("ip", "link", "set", c["host_if"], "up")
        run("ip", "addr", "add", f"{c['ip']}/{prefix}", "dev", "eth0", ns=ns)
        run("ip", "link", "set", "eth0", "up", ns=ns)
        run("ip", "route", "add", "default", "via", net["bridge_ip"], ns=ns)


def _remote_link(net: dict[str, Any], c: dict[str, Any], dr_root: Path) -> None:
    far = f"gy{net['id']}r0"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    with (dr_root / "remote_link.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lab.remote_link", far, c["host_if"], net["link_control"]],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
                                start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    with proc.stdout:
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        if not ready or not proc.stdout.readline().startswith(b"ready"):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise NetError(f"the remote link relay did not start (see {dr_root / 'remote_link.log'})")
    net["relay_pid"] = proc.pid
    run("ip", "link", "set", far, "netns", c["netns"])
    run("ip", "link", "set", far, "name", "eth0", ns=c["netns"])


# --------------------------------------------------------------------------- sshd


def start_sshd(net: dict[str, Any], center: str, center_dir: Path, authorized_keys: Path) -> int:
    """sshd in the center's namespace on its own address, with a host key of this lab."""
    c = net["centers"][center]
    key = center_dir / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", center], check=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    conf = center_dir / "sshd_config"
    pid_file = center_dir / "sshd.pid"
    conf.write_text(
        "\n".join(
            [
                f"ListenAddress {c['ip']}",
                f"HostKey {key}",
                f"PidFile {pid_file}",
                f"AuthorizedKeysFile {authorized_keys}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "MaxSessions 64",
                "MaxStartups 64:30:128",
                "Subsystem sftp internal-sftp",
                "",
            ]
        ),
        encoding="utf-8",
    )
    run(SSHD, "-f", str(conf), ns=c["netns"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text().strip())
        time.sleep(0.05)
    raise NetError(f"{center}: sshd did not start")


def host_key_line(center_dir: Path, ip: str) -> str:
    pub = (center_dir / "ssh_host_ed25519_key.pub").read_text(encoding="utf-8").split()
    return f"{ip} {pub[0]} {pub[1]}"


# --------------------------------------------------------------------------- teardown


def pids_in(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def teardown(net: dict[str, Any]) -> None:
    """Kill every process in the lab's namespaces, then remove namespaces, devices and relay."""
    for c in net.get("centers", {}).values():
        for pid in pids_in(c["netns"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    relay = net.get("relay_pid")
    if relay:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(relay), signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(int(relay), 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pids_in(c["netns"]) for c in net.get("centers", {}).values()):
        time.sleep(0.05)
    for c in net.get("centers", {}).values():
        run("ip", "netns", "del", c["netns"], check=False)
        run("ip", "link", "del", c["host_if"], check=False)
    run("ip", "link", "del", net.get("bridge", ""), check=False) if net.get("bridge") else None
    if net.get("bridge_nf_was") and not _other_lab_bridges(net.get("bridge", "")):
        with contextlib.suppress(OSError):
            BRIDGE_NF.write_text(str(net["bridge_nf_was"]))


def _other_lab_bridges(mine: str) -> list[str]:
    """Bridges of other DR labs still up, which still need the host's firewall kept off them."""
    names = [p.name for p in Path("/sys/class/net").iterdir() if (p / "bridge").is_dir()]
    return [n for n in names if n != mine and n.startswith("gy") and n.endswith("br")]
