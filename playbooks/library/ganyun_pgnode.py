#!/usr/bin/python
"""Ansible module ganyun_pgnode: one DR step on a database host, run on that host.

It needs only the host's Python standard library and PostgreSQL's own tools (pg_ctl,
pg_controldata, pg_rewind, pg_basebackup): the member hosts of a real center have no ganyun.
As root, PostgreSQL's tools run as its OS account (runuser), since PostgreSQL refuses root.

Fencing: the data directory is moved to `<data_dir>.fenced` with `standby.signal` inside and
a `<data_dir>.FENCED` marker beside it, so neither `pg_ctl start` nor a restart by hand can
bring back a writable primary. Only `follow` lifts it, and the center comes back a standby.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: ganyun_pgnode
short_description: DR drill steps on a PostgreSQL host (kill, fence, stop, promote, follow, link faults)
options:
  action: {required: true, type: str}
  node:
    required: true
    type: dict
    description: data_dir, bindir, conf_file, log_file, os_user, application_name, passfile, port, interface
  upstream: {type: dict, description: host, port, user of the primary to follow}
  sync_names: {type: str, default: ""}
  peers: {type: list, elements: str, description: addresses a partition cuts this host from}
  heal_after_s: {type: float, default: 0}
  fence_on_heal: {type: bool, default: false}
  run_id: {type: str, default: manual}
"""

import contextlib  # noqa: E402 - Ansible wants DOCUMENTATION first
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ACTIONS = (
    "state",
    "kill",
    "fence",
    "stop",
    "start",
    "promote",
    "configure",
    "follow",
    "cut_link",
    "partition",
    "heal",
    "stop_manager",
    "start_manager",
)
PARTITION_COMMENT = "ganyun-dr-partition"


class StepError(Exception):
    pass


# --------------------------------------------------------------------------- processes


def _as_pg(node: dict[str, Any], cmd: list[str]) -> list[str]:
    user = node.get("os_user") or "postgres"
    if os.geteuid() != 0 or user == "root":
        return cmd
    return ["runuser", "-u", user, "--", *cmd]


def _run_pg(node: dict[str, Any], tool: str, *args: str, timeout: float = 120, check: bool = True,
            env: dict[str, str] | None = None) -> str:  # fmt: skip
    cmd = _as_pg(node, [os.path.join(node["bindir"], tool), *args])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/",
                          env={**os.environ, **(env or {})})  # fmt: skip
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise StepError(f"{tool} failed (rc {proc.returncode}): {' | '.join(detail[-3:])}")
    return proc.stdout + proc.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def postmaster_pid(data_dir: str) -> int | None:
    try:
        with open(os.path.join(data_dir, "postmaster.pid"), encoding="utf-8") as handle:
            pid = int(handle.readline().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{entry}/stat", encoding="utf-8") as f:
            if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def kill_postmaster(data_dir: str) -> bool:
    """SIGKILL the postmaster and every backend: nothing is flushed, as when a server dies."""
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


# --------------------------------------------------------------------------- layout


def fenced_dir(node: dict[str, Any]) -> str:
    return str(node["data_dir"]).rstrip("/") + ".fenced"


def marker(node: dict[str, Any]) -> str:
    return str(node["data_dir"]).rstrip("/") + ".FENCED"


def _chown_pg(node: dict[str, Any], path: str) -> None:
    if os.geteuid() == 0 and (node.get("os_user") or "postgres") != "root":
        pw = pwd.getpwnam(node.get("os_user") or "postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _touch(node: dict[str, Any], path: str) -> None:
    with open(path, "a", encoding="utf-8"):
        pass
    _chown_pg(node, path)


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_conf(node: dict[str, Any], upstream: dict[str, Any] | None, sync_names: str) -> bool:
    """Rewrite the include file ganyun owns; True when its content changed."""
    lines = [
        "# Managed by ganyun DR drills: rewritten by every promote, follow and switchover.",
        f"port = {int(node['port'])}",
        f"cluster_name = '{node['application_name']}'",
        f"synchronous_standby_names = '{sync_names}'",
    ]
    if upstream:
        parts = {
            "host": str(upstream["host"]),
            "port": str(upstream["port"]),
            "user": str(upstream["user"]),
            "application_name": node["application_name"],
            "connect_timeout": "2",
        }
        if node.get("passfile"):
            parts["passfile"] = node["passfile"]
        info = " ".join(f"{k}={_conninfo_value(v)}" for k, v in parts.items())
        lines.append("primary_conninfo = '" + info.replace("'", "''") + "'")
    else:
        lines.append("primary_conninfo = ''")
    text = "\n".join(lines) + "\n"
    path = node["conf_file"]
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except OSError:
        pass
    tmp = path + ".ganyun-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    _chown_pg(node, tmp)
    os.replace(tmp, path)
    return True


def _checkpoint_lsn(node: dict[str, Any], data: str) -> str:
    for line in _run_pg(node, "pg_controldata", data).splitlines():
        if line.startswith("Latest checkpoint location:"):
            return line.split(":", 1)[1].strip()
    raise StepError(f"pg_controldata gave no checkpoint location for {data}")


def _reload(node: dict[str, Any]) -> None:
    if postmaster_pid(node["data_dir"]) is not None:
        _run_pg(node, "pg_ctl", "-D", node["data_dir"], "reload")


def start(node: dict[str, Any]) -> bool:
    if os.path.exists(marker(node)):
        raise StepError("this center is fenced; only a follow (rejoin as a standby) may start it")
    if postmaster_pid(node["data_dir"]) is not None:
        return False
    args = ["-D", node["data_dir"], "-w", "-t", "60"]
    if node.get("log_file"):
        args += ["-l", node["log_file"]]
    _run_pg(node, "pg_ctl", *args, "start")
    return True


def stop(node: dict[str, Any], mode: str = "fast") -> bool:
    data = node["data_dir"]
    if postmaster_pid(data) is None:
        return False
    out = _run_pg(node, "pg_ctl", "-D", data, "-m", mode, "-w", "-t", "60", "stop", check=False)
    if postmaster_pid(data) is not None:
        raise StepError(f"pg_ctl stop failed: {out.strip()[-200:]}")
    return True


# --------------------------------------------------------------------------- HA manager


def _manager_pid(node: dict[str, Any]) -> int | None:
    path = node.get("manager_pid_file") or ""
    try:
        with open(path, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def stop_manager(node: dict[str, Any]) -> bool:
    """Stop the HA manager abruptly (SIGKILL or systemctl kill): it must not demote anything."""
    if node.get("manager_service"):
        subprocess.run(["systemctl", "kill", "-s", "KILL", node["manager_service"]], check=False, capture_output=True)
        return True
    pid = _manager_pid(node)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)
    return True


def start_manager(node: dict[str, Any]) -> bool:
    """Start the HA manager; a fenced member's data goes back first (the manager rewinds it,
    or clones it anew, before it runs as a replica). Under a lock beside its pid file: the
    host's own delayed restart and a playbook's may come at once, and two managers of one
    data directory must never run."""
    pid_file = node.get("manager_pid_file") or ""
    if node.get("manager_service") or not pid_file:
        return _start_manager(node)
    with open(pid_file + ".lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _start_manager(node)


def _start_manager(node: dict[str, Any]) -> bool:
    data, fenced = node["data_dir"], fenced_dir(node)
    if os.path.exists(fenced) and not os.path.exists(data):
        os.rename(fenced, data)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker(node))
    if node.get("manager_service"):
        subprocess.run(["systemctl", "start", node["manager_service"]], check=True, capture_output=True)
        return True
    if _manager_pid(node) is not None:
        return False
    command = node.get("manager_start") or []
    if not command:
        raise StepError("no start command for the HA manager on this host")
    pid_file = node.get("manager_pid_file") or ""
    # Its output beside its pid file; cwd "/": the SSH user's home may be closed to the manager's
    # account, and PostgreSQL's tools it runs would fail there.
    with open(pid_file + ".log" if pid_file else os.devnull, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd="/",
                                start_new_session=True, close_fds=True)  # fmt: skip
    if pid_file:
        with open(pid_file, "w", encoding="utf-8") as handle:
            handle.write(str(proc.pid))
    return True


# --------------------------------------------------------------------------- steps


def fence(node: dict[str, Any], run_id: str, reason: str) -> dict[str, Any]:
    data, fenced = node["data_dir"], fenced_dir(node)
    fault_at = time.time()
    stop_manager(node)
    killed = kill_postmaster(data) or kill_postmaster(fenced)
    changed = killed
    if not os.path.exists(marker(node)):
        with open(marker(node), "w", encoding="utf-8") as handle:
            json.dump({"run_id": run_id, "reason": reason, "at": fault_at}, handle)
        changed = True
    if os.path.exists(data):
        if os.path.exists(fenced):
            raise StepError(f"both {data} and {fenced} exist; resolve by hand")
        os.rename(data, fenced)
        changed = True
    if os.path.exists(fenced) and not os.path.exists(os.path.join(fenced, "standby.signal")):
        _touch(node, os.path.join(fenced, "standby.signal"))
    return {"changed": changed, "killed": killed, "fault_at": fault_at if killed else None}


def promote(node: dict[str, Any], timeout_s: float = 30) -> dict[str, Any]:
    data = node["data_dir"]
    if postmaster_pid(data) is None:
        raise StepError("cannot promote: PostgreSQL is not running here")
    if not os.path.exists(os.path.join(data, "standby.signal")):
        return {"changed": False, "promoted_at": None}
    # Until a standby follows the new primary, waiting for one would block every write.
    write_conf(node, None, "")
    _reload(node)
    _run_pg(node, "pg_ctl", "-D", data, "-w", "-t", str(int(timeout_s)), "promote")
    return {"changed": True, "promoted_at": time.time()}


def follow(node: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """Rejoin as a standby of `upstream`: pg_rewind onto its timeline, else a fresh copy."""
    data, fenced = node["data_dir"], fenced_dir(node)
    stop(node)
    if os.path.exists(fenced) and not os.path.exists(data):
        os.rename(fenced, data)
    env = {"PGPASSFILE": node["passfile"]} if node.get("passfile") else {}
    source = (f"host={upstream['host']} port={upstream['port']} user={upstream['user']} dbname=postgres"
              " connect_timeout=5")  # fmt: skip
    # pg_rewind runs single-user crash recovery on a killed primary; that refuses standby mode.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(data, "standby.signal"))
    method = "pg_rewind"
    try:
        out = _run_pg(node, "pg_rewind", "-D", data, "--source-server", source, timeout=300, env=env)
        if "no rewind required" in out:
            method = "none"
    except StepError:
        # e.g. the WAL needed to rewind is gone: copying the whole cluster is always possible.
        shutil.rmtree(data, ignore_errors=True)
        _run_pg(node, "pg_basebackup", "-D", data, "-d", source, "-X", "stream", "-c", "fast", "--no-sync",
                timeout=600, env=env)  # fmt: skip
        method = "pg_basebackup"
    _touch(node, os.path.join(data, "standby.signal"))
    write_conf(node, upstream, "")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker(node))
    start(node)
    return {"changed": True, "method": method}


def _later(after_s: float, work: Any) -> None:
    """Run `work()` in a detached child after `after_s`: a link fault cuts the connection Ansible
    came in through, so nobody could undo it from outside. Forked, not spawned, because the
    module's own file is gone once Ansible has run it."""
    if os.fork() != 0:
        return
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        time.sleep(after_s)
        work()
    finally:
        os._exit(0)


def _commands(commands: list[list[str]]) -> Any:
    def work() -> None:
        for cmd in commands:
            subprocess.run(cmd, check=False, capture_output=True)

    return work


def _fault_token(run_id: str) -> str:
    """What marks one fault as its own: the drill's run id (safe for an iptables comment) and
    a random part, so two faults of one run differ too."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:48]
    return f"{safe}.{os.urandom(4).hex()}"


def _link_cut_file(node: dict[str, Any]) -> str:
    return str(node["data_dir"]).rstrip("/") + ".LINKCUT"


def cut_link(node: dict[str, Any], run_id: str, heal_after_s: float, fence_on_heal: bool) -> dict[str, Any]:
    iface = node.get("interface") or "eth0"
    token = _fault_token(run_id)
    cut_file = _link_cut_file(node)
    with open(cut_file, "w", encoding="utf-8") as handle:
        handle.write(token)

    def heal_work() -> None:
        # Only this cut's own heal: a later drill may have cut the link again (or healed it
        # and cut it anew) before this one's time was up, and that cut is not ours to end.
        try:
            with open(cut_file, encoding="utf-8") as handle:
                if handle.read() != token:
                    return
        except FileNotFoundError:
            return
        if fence_on_heal:
            # Before its link returns the lost center stops for good: its old primary must never
            # meet the new one (what a watchdog or STONITH does in a real center).
            with contextlib.suppress(Exception):
                fence(node, "self-fence", "isolated center fenced before its link returned")
        subprocess.run(["ip", "link", "set", iface, "up"], check=False, capture_output=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cut_file)

    if heal_after_s > 0:
        _later(heal_after_s, heal_work)
    fault_at = time.time() + 0.2
    # Detached as well: this very connection goes down with the link.
    _later(0.2, _commands([["ip", "link", "set", iface, "down"]]))
    return {"changed": True, "fault_at": fault_at, "heal_after_s": heal_after_s}


def _iptables(*args: str) -> list[str]:
    return ["iptables", "-w", *args]


def partition(node: dict[str, Any], peers: list[str], run_id: str, heal_after_s: float) -> dict[str, Any]:
    """Drop everything between this host and `peers` (the other centers); the control node
    still reaches it, as a monitoring network would. The rules carry this fault's own token:
    its delayed heal removes them and nothing a later partition of this host added."""
    comment = f"{PARTITION_COMMENT}:{_fault_token(run_id)}"
    rules = []
    for peer in peers:
        rules.append(["INPUT", "-s", peer, "-j", "DROP", "-m", "comment", "--comment", comment])
        rules.append(["OUTPUT", "-d", peer, "-j", "DROP", "-m", "comment", "--comment", comment])
    if heal_after_s > 0:
        _later(heal_after_s, _commands([_iptables("-D", *r) for r in rules]))
    fault_at = time.time()
    for rule in rules:
        subprocess.run(_iptables("-I", *rule), check=True, capture_output=True)
    return {"changed": True, "fault_at": fault_at, "heal_after_s": heal_after_s}


def heal(node: dict[str, Any]) -> dict[str, Any]:
    """Remove every partition rule this module added and bring the link up."""
    changed = False
    listing = subprocess.run(_iptables("-S"), capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        if PARTITION_COMMENT in line and line.startswith("-A "):
            subprocess.run(_iptables("-D", *shlex.split(line)[1:]), check=False, capture_output=True)
            changed = True
    iface = node.get("interface") or "eth0"
    subprocess.run(["ip", "link", "set", iface, "up"], check=False, capture_output=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_link_cut_file(node))
    return {"changed": changed}


def state(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "changed": False,
        "running": postmaster_pid(node["data_dir"]) is not None,
        "fenced": os.path.exists(marker(node)),
        "standby": os.path.exists(os.path.join(node["data_dir"], "standby.signal")),
        "manager_running": _manager_pid(node) is not None,
    }


def dispatch(p: dict[str, Any]) -> dict[str, Any]:
    node, action = p["node"], p["action"]
    if action == "state":
        return state(node)
    if action == "kill":
        fault_at = time.time()
        killed = kill_postmaster(node["data_dir"])
        return {"changed": killed, "fault_at": fault_at if killed else None}
    if action == "fence":
        return fence(node, p["run_id"], "drill fault injection")
    if action == "stop":
        fault_at = time.time()
        stopped = stop(node)
        return {"changed": stopped, "fault_at": fault_at if stopped else None,
                "end_lsn": _checkpoint_lsn(node, node["data_dir"])}  # fmt: skip
    if action == "start":
        return {"changed": start(node)}
    if action == "promote":
        return promote(node)
    if action == "configure":
        changed = write_conf(node, p["upstream"], p["sync_names"])
        if changed:
            _reload(node)
        return {"changed": changed, "synchronous_standby_names": p["sync_names"]}
    if action == "follow":
        if not p["upstream"]:
            raise StepError("follow needs upstream")
        return follow(node, p["upstream"])
    if action == "cut_link":
        return cut_link(node, p["run_id"], p["heal_after_s"], p["fence_on_heal"])
    if action == "partition":
        return partition(node, p["peers"], p["run_id"], p["heal_after_s"])
    if action == "heal":
        return heal(node)
    if action == "stop_manager":
        fault_at = time.time()
        stopped = stop_manager(node)
        if p["heal_after_s"] > 0:
            # The host itself starts it again: an outage of a known length, also when the
            # drill that caused it is interrupted; never once the center has been fenced.
            _later(p["heal_after_s"], lambda: os.path.exists(marker(node)) or start_manager(node))
        return {"changed": stopped, "fault_at": fault_at, "heal_after_s": p["heal_after_s"]}
    return {"changed": start_manager(node)}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
            "node": {"type": "dict", "required": True},
            "upstream": {"type": "dict"},
            "sync_names": {"type": "str", "default": ""},
            "peers": {"type": "list", "elements": "str", "default": []},
            "heal_after_s": {"type": "float", "default": 0.0},
            "fence_on_heal": {"type": "bool", "default": False},
            "run_id": {"type": "str", "default": "manual"},
        },
        supports_check_mode=False,
    )
    try:
        result = dispatch(module.params)
    except (StepError, OSError, subprocess.SubprocessError, KeyError) as exc:
        module.fail_json(msg=f"{module.params['action']}: {exc}")
        return
    changed = bool(result.pop("changed", False))
    module.exit_json(changed=changed, ganyun_drill={"action": module.params["action"], **result})


if __name__ == "__main__":
    main()
