"""Start, stop and inspect the lab in the background; write a ready D/ganyun.yaml.

`up()` spawns exactly one server process (detached, its own session), records its pid in
D/lab.pid and `down()` stops exactly that pid after checking /proc that it is still our lab
server for this directory: a recycled pid is never signalled. Cloud passwords are random
per lab; the server only keeps their SHA-256, the plaintext goes to the ganyun vault.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lab import catalog as cat
from lab.seed import DEFAULT_SEED, cloud_specs, default_now
from lab.server import LAB_FILE, RUN_FILE
from providers.errors import ConfigError, GanyunError

PID_FILE = "lab.pid"
CONFIG_FILE = "ganyun.yaml"
LAB_VAULT = {"path": "vault.json", "key_file": "vault.key"}
LOG_DIR = "logs"
PROVIDER_TIMEOUT_S = 15.0
START_TIMEOUT_S = {"small": 60.0, "city": 90.0, "large": 300.0}
_REPO_ROOT = Path(__file__).resolve().parents[1]


class LabError(GanyunError):
    """The lab could not be started, reached or stopped: the message says what to do."""

    exit_code = 2


# --------------------------------------------------------------------------- files


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private(path: Path, text: str) -> None:
    """Mode 0600 from the first byte: lab.json holds the token secret and admin token."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_pid(lab_dir: Path) -> int | None:
    try:
        return int((lab_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_server(pid: int, lab_dir: Path) -> bool:
    """True when pid is alive and is lab.server for this very directory."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return False
    if state == "Z":
        return False
    args = raw.decode(errors="replace").split("\0")
    return "lab.server" in args and str(lab_dir) in args


def running_pid(lab_dir: Path) -> int | None:
    lab_dir = Path(lab_dir).resolve()
    pid = read_pid(lab_dir)
    return pid if pid is not None and _is_our_server(pid, lab_dir) else None


# --------------------------------------------------------------------------- up


def _lab_spec(
    lab_dir: Path, scale: str, latency_ms: int, faults: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """lab.json content, reusing an existing lab of the same scale; new plaintext passwords."""
    spec = _read_json(lab_dir / LAB_FILE)
    new_passwords: dict[str, str] = {}
    if spec is None or spec.get("scale") != scale:
        if spec is not None:
            # Another scale: the recorded changes refer to servers that will not exist.
            (lab_dir / "state.json").unlink(missing_ok=True)
        new_passwords = {c.name: secrets.token_urlsafe(18) for c in cloud_specs(scale)}
        spec = {
            "scale": scale,
            "seed": DEFAULT_SEED,
            "now": default_now().isoformat(),
            "token_secret": secrets.token_hex(32),
            "admin_token": secrets.token_urlsafe(24),
            "passwords_sha256": {n: hashlib.sha256(p.encode()).hexdigest() for n, p in new_passwords.items()},
            "port": 0,
        }
    spec["latency_ms"] = int(latency_ms)
    if faults is not None:
        spec["faults"] = {k: dict(v) for k, v in faults.items()}
    return spec, new_passwords


def _spawn(lab_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log_dir = lab_dir / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    with (log_dir / "server.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "lab.server", "--dir", str(lab_dir), "--port", str(port)],
            cwd=str(lab_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the CLI, never gets its Ctrl-C
        )


def _wait_ready(lab_dir: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"lab server exited with code {proc.returncode}: {_log_tail(lab_dir)}")
        run = _read_json(lab_dir / RUN_FILE)
        if run and run.get("pid") == proc.pid:
            try:
                with urllib.request.urlopen(f"{run['url']}/_lab/health", timeout=5) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        return run
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.1)
    raise LabError(f"lab server did not answer within {timeout_s:.0f}s: {_log_tail(lab_dir)}")


def _log_tail(lab_dir: Path) -> str:
    try:
        lines = (lab_dir / LOG_DIR / "server.log").read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return "no log"
    return (lines[-1] if lines else "empty log")[:300]


def _start_server(lab_dir: Path, spec: dict[str, Any], port: int) -> dict[str, Any]:
    timeout_s = START_TIMEOUT_S.get(spec["scale"], 120.0)
    # Prefer the previous port so that an existing ganyun.yaml stays valid after a restart.
    wanted = port or int(spec.get("port") or 0)
    proc = _spawn(lab_dir, wanted)
    (lab_dir / PID_FILE).write_text(f"{proc.pid}\n")
    try:
        return _wait_ready(lab_dir, proc, timeout_s)
    except LabError:
        if port or not wanted:
            raise
    # The previous port is taken now: take any free one.
    proc = _spawn(lab_dir, 0)
    (lab_dir / PID_FILE).write_text(f"{proc.pid}\n")
    return _wait_ready(lab_dir, proc, timeout_s)


def build_config(spec: Mapping[str, Any], url: str, credentials: Mapping[str, str]) -> dict[str, Any]:
    """The ganyun.yaml for this lab: three centers, one openstack provider per cloud."""
    providers = []
    for c in cloud_specs(str(spec["scale"])):
        site = next(x.site for x in cat.CENTERS if x.id == c.center)
        providers.append(
            {
                "name": c.name,
                "driver": "openstack",
                "center": c.center,
                "pool": c.pool,
                "credentials": credentials[c.name],
                "options": {
                    "ex_force_auth_url": f"{url}/{c.name}/identity",
                    "ex_force_auth_version": "3.x_password",
                    "ex_tenant_name": "gov-ops",
                    "ex_domain_name": "Default",
                    "ex_force_service_region": cat.SITE_REGION[site],
                },
                "timeout_s": PROVIDER_TIMEOUT_S,
            }
        )
    return {
        "database": "sqlite:///ganyun.db",
        "centers": [{"id": x.id, "name": x.name, "role": x.role, "site": x.site} for x in cat.CENTERS],
        "providers": providers,
        "capacity": {
            "overcommit": {
                "default": {"cpu": 4.0, "ram": 1.0},
                "legacy": {"cpu": 4.0, "ram": 1.0},
                "xinchuang": {"cpu": 2.0, "ram": 1.0},
            },
            "vm_unit": {"vcpus": 4, "ram_mb": 8192},
            "rack": {"hosts_per_rack": 16, "kw_per_rack": 8.0, "kw_per_host": 0.45},
        },
        "vault": dict(LAB_VAULT),
        # Where the lab keeps each server's application data (lab/disks.py), for replatform copies.
        "migration": {"appdata_dir": "appdata/{provider}/{id}"},
        "lab": {
            "dir": ".",
            "url": url,
            "scale": spec["scale"],
            "seed": spec["seed"],
            "now": spec["now"],
            "latency_ms": spec.get("latency_ms", 0),
        },
    }


def _measure_with_prometheus(root: Path, config: dict[str, Any], lab_url: str) -> None:
    """Start the lab's Prometheus and point each OpenStack cloud's utilization at its job."""
    from lab import prometheus as lab_prometheus

    clouds = [p["name"] for p in config["providers"] if p["driver"] == "openstack"]
    url = lab_prometheus.start(root, lab_url, clouds)
    for entry in config["providers"]:
        if entry["name"] in clouds:
            entry["prometheus"] = {
                "url": url,
                "labels": {"job": entry["name"]},
                "resolution": lab_prometheus.RESOLUTION,
                "window_days": lab_prometheus.WINDOW_DAYS,
                "queries": {"cpu": lab_prometheus.CPU_QUERY},
            }


def _store_credentials(lab_dir: Path, config: dict[str, Any], passwords: Mapping[str, str]) -> dict[str, str]:
    """vault:<cloud> references, the passwords stored in the lab's own vault."""
    from inventory.config import parse_config
    from security.vault import Vault

    names = [p["name"] for p in config["providers"]]
    if passwords:
        vault = Vault.open(parse_config(config, base_dir=str(lab_dir)), create=True)
        for name in names:
            vault.set(name, "ganyun", passwords[name])
    return {n: f"vault:{n}" for n in names}


def _store_secrets(lab_dir: Path, config: dict[str, Any], entries: Mapping[str, tuple[str, str]]) -> None:
    """The DR lab's database password and SSH key, in the lab's vault like every credential."""
    from inventory.config import parse_config
    from security.vault import Vault

    vault = Vault.open(parse_config(config, base_dir=str(lab_dir)), create=True)
    for name, (key, secret) in entries.items():
        vault.set(name, key, secret)


def _discard_vault(lab_dir: Path) -> None:
    from inventory.config import parse_config
    from security.vault import discard

    discard(parse_config({"vault": dict(LAB_VAULT)}, base_dir=str(lab_dir)))


def _extension(name: str) -> Any:
    """lab.tls / lab.dr: imported only when asked, so a plain lab does not load them."""
    import importlib

    try:
        return importlib.import_module(f"lab.{name}")
    except ImportError as exc:
        raise LabError(f"--{name} needs lab/{name}.py, which is not available: {exc}") from None


@contextlib.contextmanager
def _dir_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lab.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_faults(scale: str, faults: Mapping[str, Any]) -> None:
    """Refuse bad fault specs before anything starts, one clear message."""
    from lab.faults import FaultError, Faults

    names = {c.name for c in cloud_specs(scale)}
    for cloud, spec in faults.items():
        if cloud not in names:
            raise ConfigError(f"faults: no cloud '{cloud}' in the {scale} lab")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"faults.{cloud}: must be a mapping of fault kinds")
        try:
            Faults.from_dict(spec)
        except FaultError as exc:
            raise ConfigError(f"faults.{cloud}: {exc}") from None


def up(
    lab_dir: str | os.PathLike[str],
    scale: str = "small",
    tls: bool = False,
    dr: bool = False,
    latency_ms: int = 0,
    port: int = 0,
    faults: Mapping[str, Mapping[str, Any]] | None = None,
    vsphere: bool = False,
    dr_manager: str = "streaming",
    dr_rtt_ms: float = 30.0,
    every_cloud: Mapping[str, Any] | None = None,
    prometheus: bool = False,
) -> Path:
    """Start the lab (or find it running) and return the path of D/ganyun.yaml.

    `every_cloud` holds faults for every cloud (`lab up --image-seconds/--boot-seconds/--flaky`);
    a cloud's own entry in `faults` wins over it."""
    if scale not in cat.SCALES:
        raise ConfigError(f"unknown lab scale '{scale}' (one of {', '.join(cat.SCALES)})")
    if latency_ms < 0 or port < 0:
        raise ConfigError("latency and port must not be negative")
    if every_cloud:
        merged: dict[str, Mapping[str, Any]] = {c.name: dict(every_cloud) for c in cloud_specs(scale)}
        for name, spec in (faults or {}).items():
            merged[name] = {**merged.get(name, {}), **spec}
        faults = merged
    if faults:
        _check_faults(scale, faults)
    root = Path(lab_dir).resolve()
    # One up/down at a time per directory: two racing `up`s would start two servers.
    with _dir_lock(root):
        return _up(root, scale, tls, dr, latency_ms, port, faults, vsphere, prometheus, (dr_manager, dr_rtt_ms))


def _up(
    root: Path,
    scale: str,
    tls: bool,
    dr: bool,
    latency_ms: int,
    port: int,
    faults: Mapping[str, Mapping[str, Any]] | None,
    vsphere: bool = False,
    prometheus: bool = False,
    dr_options: tuple[str, float] = ("streaming", 30.0),
) -> Path:
    pid = running_pid(root)
    if pid is not None:
        # Already up: report it as it runs (its latency and faults stay as they are).
        spec = _read_json(root / LAB_FILE) or {}
        passwords: dict[str, str] = {}
        if spec.get("scale") != scale:
            raise LabError(f"a {spec.get('scale')} lab is running in {root} (pid {pid}); run `ganyun lab down` first")
        run = _read_json(root / RUN_FILE) or {}
        if not run:
            raise LabError(f"lab server pid {pid} is running but {root / RUN_FILE} is missing")
    else:
        spec, passwords = _lab_spec(root, scale, latency_ms, faults)
        if passwords and (root / "vault.json").exists():
            # New passwords: stale entries of an earlier lab would no longer open anything.
            _discard_vault(root)
        _write_private(root / LAB_FILE, json.dumps(spec, indent=1))
        run = _start_server(root, spec, port)
        spec["port"] = run["port"]
        _write_private(root / LAB_FILE, json.dumps(spec, indent=1))
    config = build_config(spec, str(run["url"]), {c.name: f"vault:{c.name}" for c in cloud_specs(scale)})
    refs = _store_credentials(root, config, passwords)
    for entry in config["providers"]:
        entry["credentials"] = refs[entry["name"]]
    from lab.seed import build_estate

    # Recorded before starting them: `down` must stop them even if their start fails half way.
    spec["tls"] = bool(spec.get("tls")) or tls
    spec["dr"] = bool(spec.get("dr")) or dr
    spec["vsphere"] = bool(spec.get("vsphere")) or vsphere
    spec["prometheus"] = bool(spec.get("prometheus")) or prometheus
    _write_private(root / LAB_FILE, json.dumps(spec, indent=1))
    # Capacity (issue 5): 12 months of weekly allocation history derived from the seeded estate,
    # imported once into the inventory by inventory/history.py.
    from lab.history import HISTORY_FILE, write_history

    history_due = bool(passwords) or not (root / HISTORY_FILE).exists()
    # The seeded estate (~7 s at large scale) is built once, and only for what reads it.
    estate = None
    if tls or history_due:
        estate = build_estate(scale, seed=int(spec["seed"]), now=datetime.fromisoformat(spec["now"]))
    try:
        if tls:
            config["tls"] = dict(_extension("tls").start(root, estate))
        if dr:
            config["dr"], dr_secrets = _extension("dr").start(root, manager=dr_options[0], rtt_ms=dr_options[1])
            _store_secrets(root, config, dr_secrets)
        if spec["prometheus"]:
            _measure_with_prometheus(root, config, str(run["url"]))
        from lab.vsphere import lab as vsphere_lab

        if vsphere or vsphere_lab.is_running(root):
            config["providers"].append(vsphere_lab.start(root, config, str(spec["scale"]), int(spec["seed"])))
    except BaseException:
        # A lab that cannot start whole does not stay half up: the user fixes the cause and reruns.
        _down(root)
        raise
    if estate is not None and history_due:
        write_history(root, estate)
    config["capacity"]["history_file"] = HISTORY_FILE
    from inventory.config import parse_config

    parse_config(config, base_dir=str(root))  # never write a config ganyun itself would refuse
    path = root / CONFIG_FILE
    path.write_text(
        "# Written by `ganyun lab up`; rewritten on every start.\n"
        + yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    if passwords or not (root / "accounts.txt").exists():
        # One console account per role, passwords in D/accounts.txt (0600); see console/auth.py.
        from console.auth import create_lab_accounts

        create_lab_accounts(root, parse_config(config, base_dir=str(root)))
    return path


# --------------------------------------------------------------------------- down / status / faults


def _exited(pid: int) -> bool:
    """Gone or a zombie. Not the cmdline test: an exiting process loses its cmdline first."""
    # Reap it when it is our child (tests start and stop the lab in one process).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.05)
    return False


def down(lab_dir: str | os.PathLike[str]) -> list[int]:
    """Stop what `up` started in this directory; returns the pids that were stopped."""
    root = Path(lab_dir).resolve()
    if not root.is_dir():
        return []
    with _dir_lock(root):
        return _down(root)


def _down(root: Path) -> list[int]:
    spec = _read_json(root / LAB_FILE) or {}
    for name in ("tls", "dr"):
        if spec.get(name):
            _extension(name).stop(root)
    stopped: list[int] = []
    from lab import prometheus as lab_prometheus

    prometheus_pid = lab_prometheus.stop(root)
    stopped.extend([prometheus_pid] if prometheus_pid is not None else [])
    if spec.get("vsphere"):
        from lab.vsphere import lab as vsphere_lab

        vcsim_pid = vsphere_lab.stop(root)
        stopped.extend([vcsim_pid] if vcsim_pid is not None else [])
    pid = read_pid(root)
    if pid is not None and _is_our_server(pid, root):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 10.0):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        stopped.append(pid)
    (root / PID_FILE).unlink(missing_ok=True)
    (root / RUN_FILE).unlink(missing_ok=True)
    return stopped


def _admin(lab_dir: Path, method: str, path: str, body: Any = None) -> Any:
    spec = _read_json(lab_dir / LAB_FILE)
    run = _read_json(lab_dir / RUN_FILE)
    if spec is None or run is None or running_pid(lab_dir) is None:
        raise LabError(f"no lab is running in {lab_dir} (start it: ganyun lab up --dir {lab_dir})")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 - loopback URL we wrote ourselves
        f"{run['url']}/_lab/{path}",
        data=data,
        method=method,
        headers={"X-Lab-Admin": spec["admin_token"], "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        with contextlib.suppress(ValueError, TypeError, KeyError, StopIteration, AttributeError):
            detail = next(iter(json.loads(detail).values()))["message"]
        raise (ConfigError if exc.code in (400, 404) else LabError)(f"lab: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LabError(f"lab admin {path}: {exc}") from None


def status(lab_dir: str | os.PathLike[str]) -> dict[str, Any]:
    root = Path(lab_dir).resolve()
    spec = _read_json(root / LAB_FILE)
    pid = running_pid(root)
    out: dict[str, Any] = {"dir": str(root), "running": pid is not None, "pid": pid}
    if spec is not None:
        out.update({"scale": spec.get("scale"), "latency_ms": spec.get("latency_ms", 0)})
    if (root / CONFIG_FILE).exists():
        out["config"] = str(root / CONFIG_FILE)
    if pid is not None:
        run = _read_json(root / RUN_FILE) or {}
        out["url"] = run.get("url")
        out["clouds"] = _admin(root, "GET", "status")["clouds"]
    return out


def set_faults(
    lab_dir: str | os.PathLike[str],
    cloud: str | None,
    assignments: Mapping[str, Any] | None = None,
    clear: bool = False,
) -> dict[str, Any]:
    """Change faults at run time; `cloud` None means every cloud. Returns the active faults."""
    body: dict[str, Any] = {"set": dict(assignments or {}), "clear": clear}
    if cloud:
        body["cloud"] = cloud
    result: dict[str, Any] = _admin(Path(lab_dir).resolve(), "POST", "faults", body)
    return result
