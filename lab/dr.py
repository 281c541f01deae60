"""The DR lab: three real PostgreSQL clusters on loopback, one per center (两地三中心).

gz-prod is the primary, gz-dr the same-city standby replicating synchronously
(application_name site_b), nc-dr the remote standby replicating asynchronously over a
wide-area link with a configurable delay (`remote_delay_s`): each center's WAN relay
(lab/wan.py) holds what it sends for that long, and dies with the center, so WAL
still in flight is lost as it would be between cities. An application data directory per
center (D/dr/appdata/<center>) stands for the files a system keeps beside its database.

Layout under D/dr/<center>/ (a link to PostgreSQL's own directory when it cannot reach D: see
lab/pgdata.py): `data/` (PGDATA), `node.conf` (this node's settings), `log`,
`wan.pid` and `wan.log` (the center's WAN relay).
Every postgresql.conf ends with `include_if_exists = '../node.conf'`: pg_rewind copies
configuration files from its source, so per-node settings must live outside PGDATA.
A fenced cluster's PGDATA is moved to `data.fenced/` with a FENCED marker beside it.

PostgreSQL refuses to run as root, so as root every PostgreSQL binary runs as `postgres`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psycopg

from lab import pgdata
from providers.errors import GanyunError

STATE_FILE = "state.json"
FENCE_MARKER = "FENCED"
WAN_PID = "wan.pid"
DB_USER = "ganyun"
APP_DB = "ganyun_app"

# Center id -> (cluster role at start, application_name, site). site_b is the sync standby.
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
# --- ganyun DR lab (common to every node; per-node settings in ../node.conf) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 40
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
log_line_prefix = '%m [%p] %q%a '
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


def run_pg(bindir: Path, tool: str, *args: str, timeout: float = 120.0, check: bool = True) -> str:
    """Run a PostgreSQL tool as the PostgreSQL OS user; its output, or DrLabError."""
    cmd = pgdata.as_pg_user([str(bindir / tool), *args])
    # cwd "/": PostgreSQL's account may not be allowed into ours (it warns, or fails, there).
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DrLabError(f"{tool} failed (rc {proc.returncode}): {' | '.join(detail[-3:])}")
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------- node layout


def center_dir(cluster: Mapping[str, Any]) -> Path:
    return Path(str(cluster["data_dir"])).parent


def fenced_dir(cluster: Mapping[str, Any]) -> Path:
    return center_dir(cluster) / "data.fenced"


def is_fenced(cluster: Mapping[str, Any]) -> bool:
    return (center_dir(cluster) / FENCE_MARKER).exists()


def conninfo(cluster: Mapping[str, Any], dbname: str = APP_DB, timeout_s: int = 2, **extra: str) -> str:
    parts = {
        "host": "127.0.0.1",
        "port": str(cluster["port"]),
        "user": DB_USER,
        "dbname": dbname,
        "connect_timeout": str(timeout_s),
        **extra,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items())


def upstream_port(cluster: Mapping[str, Any], upstream: Mapping[str, Any]) -> int:
    """The port `cluster` streams from when it follows `upstream`: a standby in another city
    goes through that center's WAN relay (when the lab has relays), others connect directly."""
    over_wan = cluster.get("site") != upstream.get("site") and bool(upstream.get("wan_port"))
    return int(upstream["wan_port"]) if over_wan else int(upstream["port"])


def write_node_conf(
    cluster: Mapping[str, Any], *, upstream: Mapping[str, Any] | None = None, sync_names: str = ""
) -> None:
    """Rewrite node.conf: the port and name always, primary_conninfo when a standby."""
    lines = [
        f"port = {int(cluster['port'])}",
        f"cluster_name = '{cluster['application_name']}'",
        f"synchronous_standby_names = '{sync_names}'",
    ]
    if upstream is not None:
        via = {**upstream, "port": upstream_port(cluster, upstream)}
        info = conninfo(via, dbname="postgres", application_name=str(cluster["application_name"]))
        lines.append(f"primary_conninfo = '{info}'")
    else:
        lines.append("primary_conninfo = ''")
    path = center_dir(cluster) / "node.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    chown_pg(path)


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in postmaster.pid if that process is alive."""
    try:
        first = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def start_cluster(bindir: Path, cluster: Mapping[str, Any]) -> None:
    """pg_ctl start; refused for a fenced center, so it can never come back by accident."""
    if is_fenced(cluster):
        raise DrLabError(f"{cluster['center']} is fenced; only a failback may bring it back (as a standby)")
    data = Path(str(cluster["data_dir"]))
    if postmaster_pid(data) is not None:
        return
    log = center_dir(cluster) / "log"
    run_pg(bindir, "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "start")
    start_wan(cluster)


# --------------------------------------------------------------------------- WAN relays


# The relays this process started, by pid: they outlive it (`lab up` exits, they stay), but
# while it runs it keeps them to reap them when they are killed.
_RELAYS: dict[int, subprocess.Popen[bytes]] = {}


def _wan_pid(cluster: Mapping[str, Any]) -> int | None:
    """The pid of the center's running WAN relay, if it runs."""
    try:
        pid = int((center_dir(cluster) / WAN_PID).read_text(encoding="utf-8").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"lab.wan" in cmdline and _alive(pid) else None


def start_wan(cluster: Mapping[str, Any], timeout_s: float = 10.0) -> None:
    """Start the center's WAN relay (a no-op when it runs, or the lab predates relays)."""
    if not cluster.get("wan_port") or _wan_pid(cluster) is not None:
        return
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    args = [str(cluster["wan_port"]), str(cluster["port"]), str(cluster.get("wan_delay_s", 0.0))]
    with (center_dir(cluster) / "wan.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lab.wan", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True,
        )  # fmt: skip
    assert proc.stdout is not None
    with proc.stdout:
        # The relay says when it listens; probing its port instead would open a session to the center.
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        if not ready or not proc.stdout.readline().startswith(b"listening"):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            log_path = center_dir(cluster) / "wan.log"
            raise DrLabError(f"{cluster['center']}: the WAN relay did not start (see {log_path})")
    (center_dir(cluster) / WAN_PID).write_text(str(proc.pid), encoding="utf-8")
    _RELAYS[proc.pid] = proc


def kill_wan(cluster: Mapping[str, Any]) -> bool:
    """SIGKILL the center's WAN relay: whatever it still held is lost with it."""
    pid = _wan_pid(cluster)
    (center_dir(cluster) / WAN_PID).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    started_here = _RELAYS.pop(pid, None)
    if started_here is not None:
        started_here.wait(5)  # reaped: no zombie in a long-lived process (a console, a test run)
        return True
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)
    return True


def reload_cluster(bindir: Path, cluster: Mapping[str, Any]) -> None:
    run_pg(bindir, "pg_ctl", "-D", str(cluster["data_dir"]), "reload")


def stop_cluster(bindir: Path, data_dir: Path, mode: str = "fast") -> bool:
    """pg_ctl stop on one data dir; True when a running postmaster was stopped."""
    if postmaster_pid(data_dir) is None:
        return False
    out = run_pg(bindir, "pg_ctl", "-D", str(data_dir), "-m", mode, "-w", "-t", "60", "stop", check=False)
    if postmaster_pid(data_dir) is not None:
        raise DrLabError(f"pg_ctl stop failed for {data_dir}: {out.strip()[-200:]}")
    return True


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


def kill_cluster(data_dir: Path) -> bool:
    """SIGKILL the postmaster and every backend: the center is lost, nothing is flushed."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return False
    victims = [pid, *_children(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(v) for v in victims):
        time.sleep(0.02)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it holds no port and no shared memory.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _free_ports(count: int) -> list[int]:
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


def _wait_connect(cluster: Mapping[str, Any], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(conninfo(cluster, dbname="postgres"), autocommit=True) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.Error as exc:
            last = str(exc).strip()
            time.sleep(0.1)
    raise DrLabError(f"{cluster['center']}: not accepting connections: {last}")


# --------------------------------------------------------------------------- lab lifecycle


def _state_path(lab_dir: Path) -> Path:
    return Path(lab_dir) / "dr" / STATE_FILE


def load_section(lab_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(_state_path(lab_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def start(lab_dir: Path, *, remote_delay_s: float = 1.0, rto_target_s: float = 10.0) -> dict[str, Any]:
    """Start (or find running) the three clusters; the `dr` config section describing them."""
    bindir = pg_bindir()
    if bindir is None:
        raise DrLabError("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    root = Path(lab_dir).resolve() / "dr"
    existing = load_section(Path(lab_dir).resolve())
    if existing is not None:
        for cluster in existing["clusters"].values():
            if not is_fenced(cluster):
                start_cluster(bindir, cluster)
        return existing
    root.mkdir(parents=True, exist_ok=True)
    home = pgdata.decide(root)
    # Clusters left by an earlier lab here whose state is gone: stopped before their data goes.
    _stop_dirs(bindir, _clusters_in(home.path))
    pgdata.prepare(home, list(CENTERS))
    ports = _free_ports(2 * len(CENTERS))
    clusters: dict[str, dict[str, Any]] = {}
    for (center, (role, app_name, site)), port, wan_port in zip(
        CENTERS.items(), ports[: len(CENTERS)], ports[len(CENTERS) :], strict=True
    ):
        cdir = pgdata.center_dir(home, root, center)
        clusters[center] = {
            "center": center,
            "initial_role": role,
            "application_name": app_name,
            "site": site,
            "port": port,
            "data_dir": str(cdir / "data"),
            # Standbys in other cities stream from this center through its WAN relay.
            "wan_port": wan_port,
            "wan_delay_s": remote_delay_s,
        }
    section: dict[str, Any] = {
        "bindir": str(bindir),
        "lab_dir": str(root),
        "database": APP_DB,
        "user": DB_USER,
        "home_center": HOME_CENTER,
        "sync_center": SYNC_CENTER,
        "remote_center": REMOTE_CENTER,
        "remote_delay_s": remote_delay_s,
        "rto_target_s": rto_target_s,
        "rpo_target_rows": 0,
        "clusters": clusters,
        "appdata": {c: str(root / "appdata" / c) for c in CENTERS},
        "data_home": {"path": str(home.path), "external": home.external},
    }
    try:
        _build(bindir, section)
    except BaseException:
        _stop_dirs(bindir, clusters.values())
        _remove_data_home(section)
        raise
    _state_path(root.parent).write_text(json.dumps(section, ensure_ascii=False, indent=1), encoding="utf-8")
    return section


def _build(bindir: Path, section: dict[str, Any]) -> None:
    clusters = section["clusters"]
    primary, sync, remote = clusters[HOME_CENTER], clusters[SYNC_CENTER], clusters[REMOTE_CENTER]
    pdata = Path(primary["data_dir"])
    run_pg(
        bindir, "initdb", "-D", str(pdata), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"
    )
    with (pdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(COMMON_CONF)
    # No standby exists yet: synchronous replication is switched on once they stream.
    write_node_conf(primary)
    start_cluster(bindir, primary)
    _wait_connect(primary)
    with psycopg.connect(conninfo(primary, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {APP_DB}")
    with psycopg.connect(conninfo(primary), autocommit=True) as conn:
        _seed(conn)
    for standby in (sync, remote):
        run_pg(
            bindir,
            "pg_basebackup",
            "-D",
            standby["data_dir"],
            "-h",
            "127.0.0.1",
            "-p",
            str(primary["port"]),
            "-U",
            DB_USER,
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        (Path(standby["data_dir"]) / "standby.signal").touch()
        chown_pg(Path(standby["data_dir"]) / "standby.signal")
        write_node_conf(standby, upstream=primary)
        start_cluster(bindir, standby)
    write_node_conf(primary, sync_names=f"FIRST 1 ({sync['application_name']})")
    reload_cluster(bindir, primary)
    _wait_sync(primary, sync["application_name"], remote["application_name"])
    for center, path in section["appdata"].items():
        if center == HOME_CENTER:
            _write_app_files(Path(path))
    for center, path in section["appdata"].items():
        if center != HOME_CENTER:
            shutil.copytree(section["appdata"][HOME_CENTER], path, dirs_exist_ok=True)


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


def _write_app_files(root: Path) -> None:
    for rel, text in APP_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _wait_sync(primary: Mapping[str, Any], sync_name: str, async_name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        with psycopg.connect(conninfo(primary, dbname="postgres"), autocommit=True) as conn:
            rows = conn.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
        states = {r[0]: (r[1], r[2]) for r in rows}
        if states.get(sync_name) == ("streaming", "sync") and (states.get(async_name) or ("",))[0] == "streaming":
            return
        time.sleep(0.1)
    raise DrLabError(f"standbys did not reach streaming/sync in {timeout_s:.0f} s: {rows}")


def _clusters_in(home: Path) -> list[dict[str, Any]]:
    """The clusters a home directory may hold, by the layout alone (no recorded state)."""
    return [{"center": c, "data_dir": str(home / c / "data")} for c in CENTERS if (home / c).is_dir()]


def _remove_data_home(section: Mapping[str, Any]) -> bool:
    """Delete the clusters' data when it was kept outside the lab directory, with its links."""
    recorded = section.get("data_home") or {}
    if not recorded.get("external"):
        return False
    home = pgdata.DataHome(Path(str(recorded["path"])), None, external=True)
    pgdata.remove(home, Path(str(section["lab_dir"])), list(section["clusters"]))
    return True


def _stop_dirs(bindir: Path, clusters: Iterable[Mapping[str, Any]]) -> list[str]:
    stopped = []
    for cluster in clusters:
        kill_wan(cluster)
        for data in (Path(cluster["data_dir"]), fenced_dir(cluster)):
            try:
                if stop_cluster(bindir, data):
                    stopped.append(cluster["center"])
            except DrLabError:
                if kill_cluster(data):
                    stopped.append(cluster["center"])
    return stopped


def stop(lab_dir: Path) -> list[str]:
    """Stop exactly the clusters this lab started (pg_ctl stop on the recorded data dirs)."""
    section = load_section(Path(lab_dir).resolve())
    if section is None:
        return []
    stopped = _stop_dirs(Path(section["bindir"]), section["clusters"].values())
    # Kept outside the lab directory, nothing of the clusters may outlive the lab: the next
    # `lab up` builds them anew.
    if _remove_data_home(section):
        _state_path(Path(lab_dir).resolve()).unlink(missing_ok=True)
    return stopped


def status(lab_dir: Path) -> dict[str, dict[str, Any]]:
    """Per center: running, fenced, and whether it is a writable primary or a standby."""
    section = load_section(Path(lab_dir).resolve())
    if section is None:
        return {}
    return {center: cluster_status(cluster) for center, cluster in section["clusters"].items()}


def cluster_status(cluster: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "center": cluster["center"],
        "port": cluster["port"],
        "fenced": is_fenced(cluster),
        "running": postmaster_pid(Path(str(cluster["data_dir"]))) is not None,
        "role": "down",
    }
    if not out["running"]:
        out["role"] = "fenced" if out["fenced"] else "down"
        return out
    try:
        with psycopg.connect(conninfo(cluster, dbname="postgres", timeout_s=2), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint()),"
                " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,"
                " current_setting('synchronous_standby_names')"
            ).fetchone()
            assert row is not None
            out.update(
                role="standby" if row[0] else "primary",
                timeline=int(row[1]),
                lsn=str(row[2]),
                synchronous_standby_names=row[3],
            )
            if row[0]:
                wr = conn.execute("SELECT status, sender_port FROM pg_stat_wal_receiver").fetchone()
                out["upstream_port"] = int(wr[1]) if wr and wr[1] else None
                out["receiver"] = wr[0] if wr else "stopped"
            else:
                reps = conn.execute(
                    "SELECT application_name, state, sync_state,"
                    " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                    " COALESCE(EXTRACT(epoch FROM replay_lag), 0)::float8 FROM pg_stat_replication"
                ).fetchall()
                out["replicas"] = [
                    {
                        "application_name": r[0],
                        "state": r[1],
                        "sync_state": r[2],
                        "replay_lag_bytes": r[3],
                        "replay_lag_s": r[4],
                    }
                    for r in reps
                ]
    except psycopg.Error as exc:
        out.update(role="unreachable", error=str(exc).strip().splitlines()[0] if str(exc).strip() else "error")
    return out
