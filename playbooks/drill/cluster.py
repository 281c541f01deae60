"""How a drill sees and drives the database of the three centers: the `ClusterOps` protocol.

One implementation per HA manager, chosen by name from a lazy `name -> "module:Class"` table:
`streaming` (ganyun itself promotes, fences, rewinds and re-points plain streaming replication)
and `patroni` (switchover and failover through Patroni's REST API, as its operators do).
Members are described by the `dr` configuration section only: a lab is driven like any real
cluster. What runs on a member's host (kill, fence, pg_ctl, pg_rewind, link faults) is an
Ansible task delegated to that host (playbooks/library/ganyun_pgnode.py); what reads or asks
the database or the manager runs here, on the control node.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import psycopg

from inventory.config import GanyunConfig
from inventory.dr_config import ClusterConfig
from providers.errors import ConfigError

# The HA managers ganyun can drive, imported only when a configuration names them.
MANAGERS: dict[str, str] = {
    "streaming": "playbooks.drill.streaming:StreamingOps",
    "patroni": "playbooks.drill.patroni:PatroniOps",
}
ROLES = ("primary", "standby", "down", "fenced", "unreachable")


class DrillStepError(RuntimeError):
    """A DR step could not be done; the message says which and why."""


def conninfo_value(value: str) -> str:
    """A libpq conninfo value, quoted: a name or password with spaces or quotes stays one value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Member:
    """One center's database as the control node reaches it."""

    center: str
    site: str
    host: str
    port: int
    application_name: str
    dbname: str
    user: str
    password: str = field(default="", repr=False)
    passfile: str = ""
    remote_port: int | None = None
    vip: str = ""
    rest_url: str = ""
    config: ClusterConfig | None = field(default=None, repr=False, compare=False)

    def conninfo(self, dbname: str | None = None, timeout_s: int = 2, **extra: str) -> str:
        parts: dict[str, str] = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": dbname or self.dbname,
            "connect_timeout": str(timeout_s),
            # A peer that vanished (link cut) fails a query within seconds, not TCP's minutes.
            "tcp_user_timeout": "2000",
            **extra,
        }
        if self.password:
            parts["password"] = self.password
        elif self.passfile:
            parts["passfile"] = self.passfile
        return " ".join(f"{k}={conninfo_value(v)}" for k, v in parts.items())

    def connect(self, dbname: str | None = None, timeout_s: int = 2) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo(dbname, timeout_s), autocommit=True)


@dataclass(slots=True)
class MemberStatus:
    center: str
    role: str  # one of ROLES
    reachable: bool
    timeline: int | None = None
    lsn: str | None = None
    lag_bytes: int | None = None
    upstream: str | None = None
    receiver: str | None = None
    synchronous_standby_names: str | None = None
    replicas: list[dict[str, Any]] = field(default_factory=list)
    manager: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClusterOps(Protocol):
    """What a drill needs from the database of the three centers."""

    manager: ClassVar[str]
    members: Mapping[str, Member]

    def status(self, timeout_s: int = 2) -> dict[str, MemberStatus]:
        """Every member: role, timeline, LSN, lag behind the primary, reachable."""
        ...

    def writable(self) -> list[str]:
        """Centers whose database accepts writes right now."""
        ...

    def elected(self) -> str | None:
        """The member the HA manager holds as its leader (None without a manager, or unknown)."""
        ...

    def verify_manager(self, leader: str, since: float) -> dict[str, Any]:
        """After the leader's HA manager was stopped at `since` and came back: it still leads
        and every member's manager answers (a cluster without a manager refuses)."""
        ...

    def promote(self, center: str) -> dict[str, Any]: ...

    def fence(self, center: str, reason: str) -> dict[str, Any]: ...

    def rewind(self, center: str, upstream: str) -> dict[str, Any]: ...

    def follow(self, center: str, upstream: str) -> dict[str, Any]: ...

    def stop_writes(self, center: str) -> dict[str, Any]: ...

    def switchover(self, primary: str, target: str) -> dict[str, Any]: ...

    def failover(self, target: str) -> dict[str, Any]: ...


def members_of(config: GanyunConfig) -> dict[str, Member]:
    """The configured members, credentials resolved through the vault."""
    dr = config.dr
    if not dr.configured:
        raise ConfigError("the configuration has no dr.clusters")
    user, password = dr.user, ""
    if dr.credentials:
        from providers.masking import SECRETS
        from security.vault import Vault

        try:
            user, password = Vault.open(config).get(dr.credentials.removeprefix("vault:"))
        except KeyError:
            raise ConfigError(f"dr.credentials: no vault entry '{dr.credentials}'") from None
        SECRETS.remember_credential(user, password)
    passfile = str(config.resolve_path(dr.passfile)) if dr.passfile else ""
    return {
        center: Member(
            center=center,
            site=c.site,
            host=c.postgres.host,
            port=c.postgres.port,
            application_name=c.node.application_name,
            dbname=dr.database,
            user=user,
            password=password,
            passfile=passfile,
            remote_port=c.postgres.remote_port,
            vip=c.vip,
            rest_url=c.patroni.rest_url if c.patroni else "",
            config=c,
        )
        for center, c in dr.clusters.items()
    }


def ops_for(config: GanyunConfig, config_file: Path | None = None) -> ClusterOps:
    """The ClusterOps of the configured manager (imported by name, on first use)."""
    target = MANAGERS.get(config.dr.manager)
    if target is None:
        raise ConfigError(f"dr.manager: unknown manager '{config.dr.manager}' (one of {', '.join(MANAGERS)})")
    module, _, cls = target.partition(":")
    factory = getattr(importlib.import_module(module), cls)
    ops: ClusterOps = factory(config, members_of(config), config_file)
    return ops


# --------------------------------------------------------------------------- SQL status


def sql_status(member: Member, timeout_s: int = 2) -> MemberStatus:
    """Role, timeline, LSN (and replicas, for a primary) as PostgreSQL reports them."""
    try:
        with member.connect("postgres", timeout_s) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(),"
                " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text,"
                " current_setting('synchronous_standby_names'),"
                " CASE WHEN pg_is_in_recovery()"
                "   THEN (SELECT received_tli FROM pg_stat_wal_receiver)"
                "   ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,"
                " (SELECT timeline_id FROM pg_control_checkpoint())"
            ).fetchone()
            assert row is not None
            status = MemberStatus(
                center=member.center,
                role="standby" if row[0] else "primary",
                reachable=True,
                lsn=str(row[1]) if row[1] else None,
                synchronous_standby_names=str(row[2]),
                timeline=int(row[3] or row[4]),
            )
            if row[0]:
                wr = conn.execute("SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver").fetchone()
                status.receiver = str(wr[0]) if wr else "stopped"
                status.upstream = f"{wr[1]}:{wr[2]}" if wr and wr[1] else None
            else:
                status.replicas = [
                    {
                        "application_name": r[0],
                        "state": r[1],
                        "sync_state": r[2],
                        "replay_lag_bytes": int(r[3]) if r[3] is not None else None,
                        "replay_lag_s": float(r[4]),
                    }
                    for r in conn.execute(
                        "SELECT application_name, state, sync_state,"
                        " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                        " COALESCE(EXTRACT(epoch FROM replay_lag), 0)::float8 FROM pg_stat_replication"
                    )
                ]
            return status
    except psycopg.Error as exc:
        text = str(exc).strip()
        return MemberStatus(member.center, "down", reachable=False, error=text.splitlines()[0] if text else "error")


def with_lag(members: Mapping[str, Member], statuses: dict[str, MemberStatus]) -> dict[str, MemberStatus]:
    """Fill each standby's lag (bytes behind the one primary) from the primary's replicas."""
    primaries = [s for s in statuses.values() if s.role == "primary"]
    if len(primaries) == 1:
        by_app = {r["application_name"]: r for r in primaries[0].replicas}
        for center, st in statuses.items():
            if st.role == "standby":
                replica = by_app.get(members[center].application_name)
                st.lag_bytes = replica["replay_lag_bytes"] if replica else None
        primaries[0].lag_bytes = 0
    return statuses
