"""The DR lab: three real PostgreSQL databases, one per center (两地三中心), that ganyun drives
like any real cluster, through the `dr` section this module writes into D/ganyun.yaml.

As root each center is a network namespace on one bridge, with its own address in a private
test subnet, sshd and PostgreSQL inside (lab/drnet.py); the remote center's link is delayed
and lossy (lab/remote_link.py). With `manager="patroni"` each center also runs an etcd member
and Patroni (lab/drpatroni.py). Without root the lab falls back to three databases on
loopback driven locally, and says so; the remote standby then streams through a delaying
TCP relay (lab/wan.py).

gz-prod is the primary, gz-dr the same-city standby replicating synchronously
(application_name site_b), nc-dr the remote standby replicating asynchronously.
Layout under D/dr/<center>/ (a link to PostgreSQL's own directory when it cannot reach D:
lab/pgdata.py): `data/` (PGDATA), `node.conf` (the include file the drills rewrite),
`listen.conf` (this member's address), `pgpass`, `log`. D/dr/pgpass is a libpq password file
for the lab's database user, for any client on the host.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from lab import drnet, pgdata
from providers.errors import GanyunError

STATE_FILE = "state.json"
DB_USER = "ganyun"
APP_DB = "ganyun_app"
VAULT_DB = "dr-db"
VAULT_SSH = "dr-ssh"
PG_PORT = 5432

# Center id -> (role at start, application_name, site). site_b is the sync standby.
CENTERS: dict[str, tuple[str, str, str]] = {
    "gz-prod": ("primary", "site_a", "ganzhou"),
    "gz-dr": ("sync-standby", "site_b", "ganzhou"),
    "nc-dr": ("async-standby", "site_c", "nanchang"),
}
HOME_CENTER = "gz-prod"
SYNC_CENTER = "gz-dr"
REMOTE_CENTER = "nc-dr"

# Settings common to every node. fsync=off is a lab shortcut: a kill -9 keeps the page cache,
# and only a host crash (not simulated) would need it. wal_log_hints lets pg_rewind work.
COMMON_CONF = """
# --- ganyun DR lab (common to every node; per-node settings in ../listen.conf, ../node.conf) ---
unix_socket_directories = ''
max_connections = 60
shared_buffers = 16MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
full_page_writes = on
fsync = off
synchronous_commit = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 200ms
wal_sender_timeout = 10s
wal_receiver_timeout = 10s
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%a '
include_if_exists = '../listen.conf'
include_if_exists = '../node.conf'
"""

# Demo application files (赣服通 attachments, 12345 hotline recordings index, ...).
APP_FILES: dict[str, str] = {
    "赣服通/办件材料/2026-0001.json": '{"事项": "不动产登记", "单位": "市行政审批局", "状态": "已办结"}\n',
    "赣服通/办件材料/2026-0002.json": '{"事项": "企业开办", "单位": "市市场监管局", "状态": "办理中"}\n',
    "12345热线/工单索引.csv": "工单号,诉求类型,承办单位\nRX-0001,供水,章贡区\nRX-0002,交通,南康区\n",
    "一网通办/配置/service.yaml": "name: 一网通办\ncenter: gz-prod\nmlps_level: 3\n",
}


class DrLabError(GanyunError):
    """The DR lab could not be started or controlled: this machine cannot host it as asked."""

    exit_code = 2


# --------------------------------------------------------------------------- binaries


def pg_bindir() -> Path | None:
    """Debian's newest PostgreSQL binaries, or None when PostgreSQL is not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(candidates[-1]).parent if candidates else None


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def chown_pg(path: Path) -> None:
    """Give a lab path to the PostgreSQL OS user (as root only)."""
    owner = pgdata.pg_owner()
    if owner is not None:
        os.chown(path, *owner)


def run_pg(bindir: Path, tool: str, *args: str, ns: str = "", timeout: float = 120.0,
           env: Mapping[str, str] | None = None) -> str:  # fmt: skip
    """Run a PostgreSQL tool as the PostgreSQL OS user (in a center's namespace); its output."""
    cmd = pgdata.as_pg_user([str(bindir / tool), *args])
    if ns:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    # cwd "/": PostgreSQL's account may not be allowed into ours (it warns, or fails, there).
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/",
                          env={**os.environ, **(env or {})})  # fmt: skip
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DrLabError(f"{tool} failed (rc {proc.returncode}): {' | '.join(detail[-3:])}")
    return proc.stdout + proc.stderr


def _write_pg_file(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    chown_pg(path)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return False


def _free_ports(count: int) -> list[int]:
    import socket

    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------- lab lifecycle


def _state_path(lab_dir: Path) -> Path:
    return Path(lab_dir) / "dr" / STATE_FILE


def load_state(lab_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(_state_path(Path(lab_dir).resolve()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _save_state(root: Path, state: Mapping[str, Any]) -> None:
    _write_private(root / STATE_FILE, json.dumps(state, ensure_ascii=False, indent=1))


def network_choice(requested: str = "auto") -> tuple[str, str]:
    """("netns" | "loopback", why loopback) for this machine."""
    if requested == "loopback":
        return "loopback", "asked for"
    reason = drnet.usable()
    if reason:
        if requested == "netns":
            raise DrLabError(f"the three-center network needs root and namespaces: {reason}")
        return "loopback", reason
    return "netns", ""


def start(
    lab_dir: Path, *, manager: str = "streaming", rtt_ms: float = 30.0, remote_delay_s: float | None = None,
    network: str = "auto",
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:  # fmt: skip
    """Start (or find running) the three centers: the `dr` config section and the vault entries
    (name -> (key, secret)) it refers to."""
    bindir = pg_bindir()
    if bindir is None:
        raise DrLabError("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    root = Path(lab_dir).resolve() / "dr"
    existing = load_state(Path(lab_dir))
    if existing is not None and _running(existing):
        return existing["section"], {k: (v[0], v[1]) for k, v in existing.get("secrets", {}).items()}
    if existing is not None:
        stop(Path(lab_dir))
    mode, why = network_choice(network)
    if manager == "patroni" and mode != "netns":
        raise DrLabError(f"--dr-manager patroni needs the three-center network ({why})")
    root.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"mode": mode, "manager": manager, "lab_dir": str(root), "bindir": str(bindir),
                             "fallback_reason": why}  # fmt: skip
    # The WAN delay: one way, half the round trip (loopback relays delay one direction only).
    delay_s = remote_delay_s if remote_delay_s is not None else rtt_ms / 1000.0
    state["remote_delay_s"] = delay_s
    try:
        _build(root, bindir, state, manager, rtt_ms)
    except BaseException:
        _teardown(state)
        raise
    _save_state(root, state)
    return state["section"], {k: (v[0], v[1]) for k, v in state["secrets"].items()}


def _running(state: Mapping[str, Any]) -> bool:
    members = state.get("members", {})
    return (bool(members) and all(postmaster_pid(Path(m["data_dir"])) is not None for m in members.values())) or (
        state.get("manager") == "patroni" and bool(state.get("pids"))
        and all(_alive(int(p)) for p in state["pids"].values())
    )  # fmt: skip


def _build(root: Path, bindir: Path, state: dict[str, Any], manager: str, rtt_ms: float) -> None:
    home = pgdata.decide(root)
    state["data_home"] = {"path": str(home.path), "external": home.external}
    pgdata.prepare(home, list(CENTERS))
    password = secrets.token_urlsafe(18)
    state["pids"] = {}
    members: dict[str, dict[str, Any]] = {}
    if state["mode"] == "netns":
        net = drnet.plan(root, list(CENTERS), REMOTE_CENTER)
        state["net"] = net
        drnet.build(net, root, rtt_ms)
        for center in CENTERS:
            members[center] = _member(home, root, center, net["centers"][center]["ip"], PG_PORT,
                                      net["centers"][center]["netns"])  # fmt: skip
    else:
        ports = _free_ports(2 * len(CENTERS))
        for i, center in enumerate(CENTERS):
            members[center] = _member(home, root, center, "127.0.0.1", ports[i], "", wan_port=ports[i + 3])
    state["members"] = members
    for m in members.values():
        _write_pg_file(Path(m["passfile"]), f"*:*:*:{DB_USER}:{password}\n")
    if manager == "patroni":
        from lab import drpatroni

        drpatroni.build(state, bindir, password)
    else:
        _build_streaming(bindir, state, password)
    _seed_and_files(state, password)
    if state["mode"] == "netns":
        _start_sshd(root, state)
    _write_private(root / "pgpass", "".join(f"{m['host']}:{m['port']}:*:{DB_USER}:{password}\n"
                                            for m in members.values()))  # fmt: skip
    state["secrets"] = {VAULT_DB: [DB_USER, password]}
    if state["mode"] == "netns":
        state["secrets"][VAULT_SSH] = ["root", (root / "ssh" / "id_ed25519").read_text(encoding="utf-8")]
    state["section"] = section(state)


def _member(home: pgdata.DataHome, root: Path, center: str, host: str, port: int, netns: str,
            wan_port: int = 0) -> dict[str, Any]:  # fmt: skip
    role, app, site = CENTERS[center]
    cdir = pgdata.center_dir(home, root, center)
    return {"center": center, "initial_role": role, "application_name": app, "site": site, "host": host,
            "port": port, "netns": netns, "center_dir": str(cdir), "data_dir": str(cdir / "data"),
            "conf_file": str(cdir / "node.conf"), "log_file": str(cdir / "log"), "passfile": str(cdir / "pgpass"),
            "wan_port": wan_port}  # fmt: skip


def _node_conf(m: Mapping[str, Any], upstream: Mapping[str, Any] | None = None, sync_names: str = "") -> str:
    lines = [f"port = {int(m['port'])}", f"cluster_name = '{m['application_name']}'",
             f"synchronous_standby_names = '{sync_names}'"]  # fmt: skip
    if upstream is not None:
        port = upstream["wan_port"] if upstream.get("wan_port") and upstream["site"] != m["site"] else upstream["port"]
        info = (f"host={upstream['host']} port={port} user={DB_USER} application_name={m['application_name']}"
                f" passfile={m['passfile']} connect_timeout=2")  # fmt: skip
        lines.append(f"primary_conninfo = '{info}'")
    else:
        lines.append("primary_conninfo = ''")
    return "\n".join(lines) + "\n"


def _pg_start(bindir: Path, m: Mapping[str, Any]) -> None:
    run_pg(bindir, "pg_ctl", "-D", m["data_dir"], "-l", m["log_file"], "-w", "-t", "60", "start", ns=m["netns"])


def _build_streaming(bindir: Path, state: dict[str, Any], password: str) -> None:
    members = state["members"]
    primary, sync, remote = members[HOME_CENTER], members[SYNC_CENTER], members[REMOTE_CENTER]
    subnet = state["net"]["subnet"] if state["mode"] == "netns" else "127.0.0.1/32"
    pwfile = Path(primary["center_dir"]) / "initdb.pw"
    _write_pg_file(pwfile, password + "\n")
    try:
        run_pg(bindir, "initdb", "-D", primary["data_dir"], "-U", DB_USER, f"--pwfile={pwfile}", "--auth-local=trust",
               "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8")  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)
    pdata = Path(primary["data_dir"])
    with (pdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(COMMON_CONF)
    with (pdata / "pg_hba.conf").open("a", encoding="utf-8") as hba:
        hba.write(f"host all {DB_USER} {subnet} scram-sha-256\nhost replication {DB_USER} {subnet} scram-sha-256\n")
    for m in members.values():
        _write_pg_file(Path(m["center_dir"]) / "listen.conf", f"listen_addresses = '{m['host']}'\n", 0o640)
    # No standby exists yet: synchronous replication is switched on once they stream.
    _write_pg_file(Path(primary["conf_file"]), _node_conf(primary), 0o644)
    _pg_start(bindir, primary)
    _wait_connect(primary, password)
    for standby in (sync, remote):
        run_pg(bindir, "pg_basebackup", "-D", standby["data_dir"], "-d",
               f"host={primary['host']} port={primary['port']} user={DB_USER}", "-X", "stream", "-c", "fast",
               "--no-sync", ns=standby["netns"], env={"PGPASSFILE": standby["passfile"]})  # fmt: skip
        (Path(standby["data_dir"]) / "standby.signal").touch()
        chown_pg(Path(standby["data_dir"]) / "standby.signal")
        _write_pg_file(Path(standby["conf_file"]), _node_conf(standby, upstream=primary), 0o644)
        _pg_start(bindir, standby)
    if state["mode"] == "loopback":
        _start_wan(state)
    _write_pg_file(Path(primary["conf_file"]), _node_conf(primary, sync_names=f"FIRST 1 ({sync['application_name']})"),
                   0o644)  # fmt: skip
    run_pg(bindir, "pg_ctl", "-D", primary["data_dir"], "reload", ns=primary["netns"])
    _wait_sync(primary, password, sync["application_name"], remote["application_name"])


def conninfo(m: Mapping[str, Any], password: str, dbname: str = APP_DB) -> str:
    return (f"host={m['host']} port={m['port']} user={DB_USER} password={password} dbname={dbname}"
            " connect_timeout=2")  # fmt: skip


def _wait_connect(m: Mapping[str, Any], password: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(conninfo(m, password, "postgres"), autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    return
                last = "still in recovery"
        except psycopg.Error as exc:
            last = str(exc).strip()
        time.sleep(0.1)
    raise DrLabError(f"{m['center']}: not accepting writes: {last}")


def _wait_sync(primary: Mapping[str, Any], password: str, sync_name: str, async_name: str,
               timeout_s: float = 60.0) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        with psycopg.connect(conninfo(primary, password, "postgres"), autocommit=True) as conn:
            rows = conn.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
        states = {r[0]: (r[1], r[2]) for r in rows}
        if states.get(sync_name) == ("streaming", "sync") and (states.get(async_name) or ("",))[0] == "streaming":
            return
        time.sleep(0.1)
    raise DrLabError(f"standbys did not reach streaming/sync in {timeout_s:.0f} s: {rows}")


def _seed_and_files(state: dict[str, Any], password: str) -> None:
    primary = state["members"][HOME_CENTER]
    _wait_connect(primary, password)
    with psycopg.connect(conninfo(primary, password, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DB,)).fetchone():
            conn.execute(f"CREATE DATABASE {APP_DB}")
    with psycopg.connect(conninfo(primary, password), autocommit=True) as conn:
        _seed(conn)
    appdata = Path(state["lab_dir"]) / "appdata"
    for rel, text in APP_FILES.items():
        for center in CENTERS:
            path = appdata / center / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _seed(conn: psycopg.Connection[Any]) -> None:
    """Business rows (12345 hotline tickets) and the heartbeat table the drills write to."""
    conn.execute(
        "CREATE TABLE service_tickets (id integer PRIMARY KEY, district text NOT NULL, topic text NOT NULL,"
        " opened_at timestamptz NOT NULL)"
    )
    districts = ["章贡区", "南康区", "赣县区", "信丰县", "瑞金市", "龙南市", "于都县", "兴国县"]
    topics = ["供水", "交通", "教育", "医保", "不动产登记", "企业开办"]
    conn.execute(
        "INSERT INTO service_tickets SELECT g, (%s::text[])[1 + g %% 8], (%s::text[])[1 + g %% 6],"
        " timestamptz '2026-01-01 08:00+08' + g * interval '7 minutes' FROM generate_series(1, 2000) g",
        (districts, topics),
    )
    conn.execute(
        "CREATE TABLE heartbeat (run_id text NOT NULL, id bigint NOT NULL, written_at timestamptz NOT NULL"
        " DEFAULT clock_timestamp(), origin text NOT NULL DEFAULT current_setting('cluster_name'),"
        " PRIMARY KEY (run_id, id))"
    )


def _start_sshd(root: Path, state: dict[str, Any]) -> None:
    ssh = root / "ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    key = ssh / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "ganyun-dr-lab"],
                       check=True)  # fmt: skip
    authorized = ssh / "authorized_keys"
    _write_private(authorized, (ssh / "id_ed25519.pub").read_text(encoding="utf-8"))
    known = []
    for center, m in state["members"].items():
        sshd_dir = root / "sshd" / center
        sshd_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state["pids"][f"{center}/sshd"] = drnet.start_sshd(state["net"], center, sshd_dir, authorized)
        known.append(drnet.host_key_line(sshd_dir, m["host"]))
    # The drills' known_hosts (dr.work_dir): every host key is known before the first connection.
    _write_private(root / "known_hosts", "\n".join(known) + "\n")


# --------------------------------------------------------------------------- loopback WAN relay


def _start_wan(state: dict[str, Any]) -> None:
    """The loopback lab's WAN relay in front of each center: other sites stream through it."""
    from lab import wan

    for m in state["members"].values():
        try:
            pid = wan.start(m["wan_port"], m["port"], state["remote_delay_s"], Path(m["center_dir"]) / "wan.log")
        except RuntimeError as exc:
            raise DrLabError(f"{m['center']}: {exc}") from None
        state["pids"][f"{m['center']}/wan"] = pid


# --------------------------------------------------------------------------- the dr config section


def section(state: Mapping[str, Any]) -> dict[str, Any]:
    """The `dr` section of D/ganyun.yaml: the three centers as any real cluster is described."""
    netns = state["mode"] == "netns"
    root = Path(state["lab_dir"])
    os_user = pgdata.PG_OS_USER if os.geteuid() == 0 else getpass.getuser()
    clusters: dict[str, Any] = {}
    for center, m in state["members"].items():
        entry: dict[str, Any] = {
            "site": m["site"],
            "ssh": {"host": m["host"], "user": "root", "key": f"vault:{VAULT_SSH}"}
            if netns else {"connection": "local", "python": sys.executable},
            "postgres": {"host": m["host"], "port": m["port"]},
            "node": {"data_dir": m["data_dir"], "bindir": state["bindir"], "conf_file": m["conf_file"],
                     "log_file": m["log_file"], "os_user": os_user, "application_name": m["application_name"],
                     "passfile": m["passfile"]},
            "appdata": str(root / "appdata" / center),
        }  # fmt: skip
        if m.get("wan_port"):
            entry["postgres"]["remote_port"] = m["wan_port"]
        if "patroni" in m:
            entry["patroni"] = m["patroni"]
        clusters[center] = entry
    lab_facts: dict[str, Any] = {"network": state["mode"], "dir": str(root)}
    if netns:
        lab_facts.update(subnet=state["net"]["subnet"], link_control=state["net"]["link_control"])
    else:
        lab_facts["fallback_reason"] = state.get("fallback_reason", "")
    return {
        "manager": state["manager"],
        "database": APP_DB,
        "user": DB_USER,
        "credentials": f"vault:{VAULT_DB}",
        "home_center": HOME_CENTER,
        "remote_center": REMOTE_CENTER,
        "remote_delay_s": state["remote_delay_s"],
        "work_dir": str(root),
        "clusters": clusters,
        "lab": lab_facts,
    }


# --------------------------------------------------------------------------- stop


def _teardown(state: Mapping[str, Any]) -> list[str]:
    stopped: list[str] = []
    for name, pid in dict(state.get("pids", {})).items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
            stopped.append(name)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(int(pid), os.WNOHANG)
    if state.get("net"):
        drnet.teardown(state["net"])
    bindir = Path(str(state.get("bindir", "")))
    for m in state.get("members", {}).values():
        for data in (Path(m["data_dir"]), Path(m["data_dir"] + ".fenced")):
            if postmaster_pid(data) is not None:
                if state.get("mode") != "netns":
                    with contextlib.suppress(DrLabError):
                        run_pg(bindir, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
                _kill_postmaster(data)
                stopped.append(m["center"])
    home = state.get("data_home") or {}
    if home:
        dh = pgdata.DataHome(Path(str(home["path"])), None, external=bool(home.get("external")))
        if dh.external:
            pgdata.remove(dh, Path(str(state["lab_dir"])), list(CENTERS))
    root = Path(str(state.get("lab_dir", "")))
    if root.name == "dr" and root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
    return sorted(set(stopped))


def _kill_postmaster(data: Path) -> None:
    pid = postmaster_pid(data)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)


def stop(lab_dir: Path) -> list[str]:
    """Remove everything the DR lab made: processes, namespaces, devices, data and files."""
    state = load_state(Path(lab_dir))
    if state is None:
        return []
    return _teardown(state)


def pids(lab_dir: Path) -> dict[str, int]:
    """Every process of the lab by name (postmasters included): for tests and `lab status`."""
    state = load_state(Path(lab_dir)) or {}
    out = {k: int(v) for k, v in state.get("pids", {}).items()}
    for center, m in state.get("members", {}).items():
        pid = postmaster_pid(Path(m["data_dir"]))
        if pid is not None:
            out[f"{center}/postgres"] = pid
        with contextlib.suppress(OSError, ValueError, KeyError):
            # A drill may have stopped and restarted Patroni: its pid file says which one runs.
            out[f"{center}/patroni"] = int(Path(m["patroni"]["pid_file"]).read_text(encoding="utf-8"))
    return out


def members(lab_dir: Path) -> list[dict[str, Any]]:
    return list((load_state(Path(lab_dir)) or {}).get("members", {}).values())
