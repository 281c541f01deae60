"""Run one seeded simulator in a state directory: `start`, `running`, `stop`.

The state directory holds the seed, the TLS certificate the simulator serves (the CA file a
client trusts), the datastores with their VMDK files, the log, the pid file and the ready file.
`stop` signals exactly the recorded pid, after checking /proc that it is still our simulator
for this directory: a recycled pid is never signalled. The password only ever travels on the
simulator's stdin.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.vsphere import disks
from lab.vsphere.build import BINARY_NAME, SimulatorError, ensure_binary
from lab.vsphere.estate import VSphereEstate

PID_FILE = "vcsim.pid"
READY_FILE = "vcsim.ready.json"
PORT_FILE = "vcsim.port"
SEED_FILE = "seed.json"
CERT_FILE = "vcsim-cert.pem"
KEY_FILE = "vcsim-key.pem"
LOG_FILE = "vcsim.log"
DATASTORE_DIR = "datastores"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Running:
    pid: int
    host: str
    port: int
    ca_file: Path

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/sdk"


def datastore_dir(state_dir: Path, name: str) -> Path:
    return state_dir / DATASTORE_DIR / name


def start(state_dir: Path, estate: VSphereEstate, username: str, password: str, port: int = 0) -> Running:
    """Start the simulator for `estate` (or return the one already running here)."""
    state_dir = state_dir.resolve()
    current = running(state_dir)
    if current is not None:
        return current
    binary = ensure_binary()
    state_dir.mkdir(parents=True, exist_ok=True)
    _certificate(state_dir)
    _datastores(state_dir, estate)
    dirs = {name: str(datastore_dir(state_dir, name)) for name in estate.datastores}
    (state_dir / SEED_FILE).write_text(json.dumps(estate.seed(dirs), ensure_ascii=False), encoding="utf-8")
    wanted = port or _previous_port(state_dir)
    try:
        return _spawn(state_dir, binary, username, password, wanted)
    except SimulatorError:
        if port or not wanted:
            raise
    # The previous port is taken now: any free one.
    return _spawn(state_dir, binary, username, password, 0)


def _previous_port(state_dir: Path) -> int:
    try:
        return int((state_dir / PORT_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0


def _certificate(state_dir: Path) -> None:
    """A self-signed certificate for 127.0.0.1, made once per state directory."""
    cert_path, key_path = state_dir / CERT_FILE, state_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vcenter.lab.ganyun")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _datastores(state_dir: Path, estate: VSphereEstate) -> None:
    """Fresh datastores: the simulator creates .vmx files there and must not find old ones."""
    root = state_dir / DATASTORE_DIR
    shutil.rmtree(root, ignore_errors=True)
    for name in estate.datastores:
        datastore_dir(state_dir, name).mkdir(parents=True)
    disks.make_all(
        (datastore_dir(state_dir, d.datastore) / d.path, d.capacity_kb * 1024, f"{vm.name}/{n}")
        for vm in estate.vms
        for n, d in enumerate(vm.disks)
    )


def _spawn(state_dir: Path, binary: Path, username: str, password: str, port: int) -> Running:
    (state_dir / READY_FILE).unlink(missing_ok=True)
    args = [
        str(binary),
        "-seed", str(state_dir / SEED_FILE),
        "-listen", f"127.0.0.1:{port}",
        "-cert", str(state_dir / CERT_FILE),
        "-key", str(state_dir / KEY_FILE),
        "-ready", str(state_dir / READY_FILE),
    ]  # fmt: skip
    with (state_dir / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            args,
            cwd=str(state_dir),
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the CLI, never gets its Ctrl-C
        )
    (state_dir / PID_FILE).write_text(f"{proc.pid}\n")
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(json.dumps({"username": username, "password": password}).encode())
        proc.stdin.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SimulatorError(f"vSphere simulator exited with code {proc.returncode}: {_log_tail(state_dir)}")
        ready = _read_json(state_dir / READY_FILE)
        if ready and ready.get("pid") == proc.pid:
            host, _, port_text = str(ready["host"]).rpartition(":")
            (state_dir / PORT_FILE).write_text(port_text)
            return Running(proc.pid, host, int(port_text), state_dir / CERT_FILE)
        time.sleep(0.1)
    _terminate(proc.pid)
    raise SimulatorError(f"vSphere simulator was not ready within {START_TIMEOUT_S:.0f}s: {_log_tail(state_dir)}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _log_tail(state_dir: Path) -> str:
    try:
        lines = (state_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return "no log"
    return (lines[-1] if lines else "empty log")[:300]


def _is_ours(pid: int, state_dir: Path) -> bool:
    """True when pid is alive and is our simulator binary serving this very directory."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    args = raw.decode(errors="replace").split("\0")
    return bool(args) and Path(args[0]).name.startswith(BINARY_NAME) and str(state_dir / SEED_FILE) in args


def running(state_dir: Path) -> Running | None:
    state_dir = state_dir.resolve()
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    ready = _read_json(state_dir / READY_FILE)
    if not ready or ready.get("pid") != pid or not _is_ours(pid, state_dir):
        return None
    host, _, port_text = str(ready["host"]).rpartition(":")
    return Running(pid, host, int(port_text), state_dir / CERT_FILE)


def _gone(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our child (tests)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 10.0):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)


def stop(state_dir: Path) -> int | None:
    """Stop the simulator of this directory; its pid, or None when none was running."""
    state_dir = state_dir.resolve()
    try:
        pid: int | None = int((state_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        pid = None
    if pid is not None and _is_ours(pid, state_dir):
        _terminate(pid)
    else:
        pid = None
    for name in (PID_FILE, READY_FILE):
        (state_dir / name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / DATASTORE_DIR, ignore_errors=True)
    return pid
