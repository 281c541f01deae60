"""The `dr` configuration section: the database of each center, how ganyun reaches it, and
the targets each drill scenario is judged against.

```yaml
dr:
  manager: streaming            # or patroni: the HA manager of the replication group
  database: ganyun_app
  credentials: vault:dr-db      # the PostgreSQL user (key) and password (secret)
  passfile: dr/pgpass           # or a libpq password file instead of credentials
  home_center: gz-prod
  remote_center: nc-dr
  remote_delay_s: 0.03
  work_dir: dr                  # drill lock and per-run files
  clusters:
    gz-prod:
      site: ganzhou
      ssh: {host: 10.213.7.11, user: root, key: vault:dr-ssh}
      postgres: {host: 10.213.7.11, port: 5432}
      node: {data_dir: /var/lib/postgresql/15/main, bindir: /usr/lib/postgresql/15/bin, ...}
      patroni: {rest_url: "http://10.213.7.11:8008"}
      vip: db.gov.example        # optional: the name applications use
  targets:
    failover: {rto_s: 30, rpo_rows: 0}
```

Every secret is a `vault:NAME` reference; nothing in this section is ever a password.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Manager = Literal["streaming", "patroni"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _vault_ref(value: str) -> str:
    if value and (not value.startswith("vault:") or value == "vault:"):
        raise ValueError("must be 'vault:NAME'; secrets are never written inline")
    return value


class SshTarget(_Strict):
    """How Ansible reaches the center's database host."""

    host: str = Field(default="", pattern=r"^[A-Za-z0-9.:_-]*$")
    port: int = Field(default=22, gt=0, lt=65536)
    user: str = Field(default="root", pattern=NAME)
    # The private key, kept in the vault (entry key: the user, secret: the key text).
    key: str = ""
    # `local` runs the host's steps on the control node itself (a database on this machine).
    connection: Literal["ssh", "local"] = "ssh"
    python: str = "/usr/bin/python3"

    @field_validator("key")
    @classmethod
    def _key_in_vault(cls, value: str) -> str:
        return _vault_ref(value)

    @model_validator(mode="after")
    def _ssh_needs_a_host(self) -> SshTarget:
        if self.connection == "ssh" and not self.host:
            raise ValueError("host: required for connection ssh")
        return self


class PgEndpoint(_Strict):
    host: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.:_-]+$")
    port: int = Field(default=5432, gt=0, lt=65536)
    # The port standbys in another site stream from, when the WAN link goes through a relay.
    remote_port: int | None = Field(default=None, gt=0, lt=65536)


class NodeSettings(_Strict):
    """Where PostgreSQL lives on the host (used by the `streaming` manager and by faults)."""

    data_dir: str = Field(min_length=1)
    bindir: str = "/usr/lib/postgresql/15/bin"
    # An include file of postgresql.conf that ganyun owns: port, primary_conninfo, sync names.
    conf_file: str = Field(min_length=1)
    log_file: str = ""
    os_user: str = Field(default="postgres", pattern=NAME)
    # How the primary lists this member in pg_stat_replication (Patroni: the member's name).
    application_name: str = Field(min_length=1, pattern=r"^[a-z0-9_][a-z0-9_.-]*$")
    # A libpq password file on the host, for replication and pg_rewind.
    passfile: str = ""
    # The host's interface to the other centers (a link cut takes it down).
    interface: str = Field(default="eth0", pattern=r"^[A-Za-z0-9_.-]{1,15}$")


class PatroniSettings(_Strict):
    rest_url: str = Field(pattern=r"^https?://[A-Za-z0-9.:_-]+(/.*)?$")
    name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    # How the HA manager is stopped and started on the host: a systemd unit, or a pid file.
    service: str = ""
    pid_file: str = ""
    start_command: list[str] = Field(default_factory=list)


class ClusterConfig(_Strict):
    """One center's database."""

    site: str = Field(min_length=1)
    ssh: SshTarget
    postgres: PgEndpoint
    node: NodeSettings
    patroni: PatroniSettings | None = None
    vip: str = Field(default="", pattern=r"^[A-Za-z0-9.:_-]*$")
    # Application data replicated beside the database (a directory on the control node).
    appdata: str = ""


class ScenarioTargets(_Strict):
    rto_s: float = Field(gt=0)
    rpo_rows: int | None = Field(default=None, ge=0)
    rpo_s: float | None = Field(default=None, ge=0)
    # How long a self-healing fault lasts (the scenario's default when not set); an outage of
    # more than ten minutes is no drill any more.
    heal_after_s: float | None = Field(default=None, gt=0, le=600)


class DrConfig(_Strict):
    manager: Manager = "streaming"
    database: str = Field(default="ganyun_app", pattern=NAME)
    user: str = Field(default="ganyun", pattern=NAME)
    credentials: str = ""
    passfile: str = ""
    home_center: str = ""
    remote_center: str = ""
    remote_delay_s: float = Field(default=0.0, ge=0)
    work_dir: str = "dr"
    clusters: dict[str, ClusterConfig] = Field(default_factory=dict)
    targets: dict[str, ScenarioTargets] = Field(default_factory=dict)
    # How long a drill waits for every member to be up with zero lag before it starts.
    healthy_wait_s: float = Field(default=60.0, ge=0)
    # Free-form facts the lab records about itself (never read by the drills).
    lab: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _credentials_in_vault(cls, value: str) -> str:
        return _vault_ref(value)

    @property
    def configured(self) -> bool:
        return bool(self.clusters)

    @model_validator(mode="after")
    def _consistent(self) -> DrConfig:
        centers = list(self.clusters)
        for key in ("home_center", "remote_center"):
            value = getattr(self, key)
            if value and centers and value not in centers:
                raise ValueError(f"{key}: '{value}' is not one of clusters ({', '.join(centers)})")
        for center, cluster in self.clusters.items():
            if self.manager == "patroni" and cluster.patroni is None:
                raise ValueError(f"clusters.{center}.patroni: required with manager patroni (its rest_url)")
        names = [c.node.application_name for c in self.clusters.values()]
        if len(set(names)) != len(names):
            raise ValueError("clusters: node.application_name must be unique")
        return self
