"""The Ansible side of a drill: the inventory of the members' hosts and the variables every DR
playbook takes, built from the `dr` configuration section.

Each center is one inventory host named after it, reached as the config says: over SSH with
the key from the vault (written to a 0600 file for the run and removed after), or locally.
Host steps run with the host's own Python (stdlib only: playbooks/library/ganyun_pgnode.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from inventory.config import GanyunConfig
from inventory.dr_config import ClusterConfig
from playbooks import runner
from providers.errors import ConfigError

# ControlPersist keeps one SSH connection per host for the whole run: a step costs a round
# trip, not a handshake, and the RTO measures the database, not SSH.
_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=2 -o ServerAliveCountMax=3"


def work_dir(config: GanyunConfig) -> Path:
    path = config.resolve_path(config.dr.work_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def node_vars(cluster: ClusterConfig) -> dict[str, Any]:
    """What the host module needs to know about the PostgreSQL on that host."""
    n = cluster.node
    out: dict[str, Any] = {
        "data_dir": n.data_dir,
        "bindir": n.bindir,
        "conf_file": n.conf_file,
        "log_file": n.log_file,
        "os_user": n.os_user,
        "application_name": n.application_name,
        "passfile": n.passfile,
        "port": cluster.postgres.port,
        "interface": n.interface,
    }
    if cluster.patroni is not None:
        out["manager_pid_file"] = cluster.patroni.pid_file
        out["manager_service"] = cluster.patroni.service
        out["manager_start"] = list(cluster.patroni.start_command)
    return out


@contextlib.contextmanager
def inventory(config: GanyunConfig) -> Iterator[dict[str, Any]]:
    """The inventory of localhost (the control node) and one host per center."""
    private = Path(tempfile.mkdtemp(prefix="ganyun-dr-keys-"))
    keys: dict[str, str] = {}
    try:
        hosts: dict[str, Any] = dict(runner.local_inventory()["all"]["hosts"])
        known_hosts = work_dir(config) / "known_hosts"
        for center, cluster in config.dr.clusters.items():
            ssh = cluster.ssh
            if ssh.connection == "local":
                hosts[center] = {"ansible_connection": "local", "ansible_python_interpreter": ssh.python}
                continue
            entry: dict[str, Any] = {
                "ansible_connection": "ssh",
                "ansible_host": ssh.host,
                "ansible_port": ssh.port,
                "ansible_user": ssh.user,
                "ansible_python_interpreter": ssh.python,
                "ansible_ssh_common_args": f"{_SSH_ARGS} -o StrictHostKeyChecking=accept-new"
                f" -o UserKnownHostsFile={known_hosts}",
            }
            if ssh.key:
                if ssh.key not in keys:
                    keys[ssh.key] = str(_key_file(config, ssh.key, private, len(keys)))
                entry["ansible_ssh_private_key_file"] = keys[ssh.key]
            hosts[center] = entry
        yield {"all": {"hosts": hosts}}
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _key_file(config: GanyunConfig, ref: str, private: Path, n: int) -> Path:
    from security.vault import Vault

    try:
        _user, text = Vault.open(config).get(ref.removeprefix("vault:"))
    except KeyError:
        raise ConfigError(f"dr.clusters.*.ssh.key: no vault entry '{ref}'") from None
    path = private / f"key{n}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    return path


def base_vars(config: GanyunConfig, config_file: Path, run_id: str) -> dict[str, Any]:
    """The variables every DR playbook takes: where the config is, and each center's node."""
    dr = config.dr
    return {
        "dr_control_hosts": "localhost",
        "dr_config_file": str(config_file),
        "dr_manager": dr.manager,
        "drill_run_id": run_id,
        "dr_nodes": {center: node_vars(c) for center, c in dr.clusters.items()},
        "dr_endpoints": {
            center: {
                "host": c.postgres.host,
                "port": c.postgres.port,
                "remote_port": c.postgres.remote_port or 0,
                "site": c.site,
            }
            for center, c in dr.clusters.items()
        },
        "dr_user": dr.user,
        "dr_confirmed": True,
    }


def run(
    config: GanyunConfig,
    config_file: Path,
    playbook: Path,
    variables: Mapping[str, Any],
    *,
    on_event: Callable[[runner.RunEvent], None] | None = None,
    cancel: Any = None,
) -> runner.RunResult:
    """Run one DR playbook against the members' hosts."""
    with inventory(config) as hosts:
        # The controller's ganyun_pg imports ganyun: keep this interpreter's bin first on PATH.
        env = {"ANSIBLE_PIPELINING": "1", "ANSIBLE_SSH_RETRIES": "0", "ANSIBLE_TIMEOUT": "5",
               "GANYUN_PYTHON": sys.executable}  # fmt: skip
        return runner.run(playbook, variables, hosts, on_event=on_event, cancel=cancel, envvars=env)
