"""ClusterOps for plain streaming replication: ganyun itself promotes (`pg_ctl promote`), fences,
rewinds (`pg_rewind`) and re-points (`primary_conninfo`).

Reading is done here, over SQL from the control node; every change on a host is an Ansible
task on that host (playbooks/dr_op.yml, the same roles the scenario playbooks use), so a
step taken outside a drill (a safe state after an interrupted one) goes the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from inventory.config import GanyunConfig, config_path
from playbooks.drill import hosts
from playbooks.drill.cluster import DrillStepError, Member, MemberStatus, sql_status, with_lag

FENCED_FILE = "fenced.json"
OP_PLAYBOOK = Path(__file__).resolve().parents[1] / "dr_op.yml"


class StreamingOps:
    manager: ClassVar[str] = "streaming"

    def __init__(self, config: GanyunConfig, members: Mapping[str, Member], config_file: Path | None = None) -> None:
        self.config = config
        self.members: Mapping[str, Member] = dict(members)
        self.config_file = config_file or config_path(None).resolve()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(members)), thread_name_prefix="ganyun-status")

    # ------------------------------------------------------------------ reading

    def fenced(self) -> set[str]:
        """Centers ganyun fenced and has not brought back (recorded on the control node)."""
        try:
            data = json.loads((hosts.work_dir(self.config) / FENCED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return {str(c) for c in data if c in self.members}

    def record_fenced(self, centers: list[str], fenced: bool) -> None:
        now = self.fenced() | set(centers) if fenced else self.fenced() - set(centers)
        path = hosts.work_dir(self.config) / FENCED_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(now)), encoding="utf-8")
        tmp.replace(path)

    def status(self, timeout_s: int = 2) -> dict[str, MemberStatus]:
        fenced = self.fenced()
        found = dict(zip(self.members, self._pool.map(lambda m: sql_status(m, timeout_s), self.members.values()),
                         strict=True))  # fmt: skip
        for center, st in found.items():
            if not st.reachable and center in fenced:
                st.role = "fenced"
        return with_lag(self.members, self._annotate(found))

    def _annotate(self, statuses: dict[str, MemberStatus]) -> dict[str, MemberStatus]:
        return statuses

    def writable(self) -> list[str]:
        return [c for c, s in self.status().items() if s.role == "primary"]

    def elected(self) -> str | None:
        return None

    def verify_manager(self, leader: str, since: float) -> dict[str, Any]:
        raise DrillStepError(f"a {self.manager} cluster has no HA manager to verify")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    # ------------------------------------------------------------------ waiting

    def wait_caught_up(self, center: str, lsn: str, timeout_s: float = 60.0) -> dict[str, Any]:
        member = self.members[center]
        deadline = time.monotonic() + timeout_s
        got = ""
        while time.monotonic() < deadline:
            try:
                with member.connect("postgres") as conn:
                    row = conn.execute(
                        "SELECT pg_last_wal_replay_lsn()::text, pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)
                    ).fetchone()
                if row is not None and row[1]:
                    return {"center": center, "replayed": row[0]}
                got = str(row[0]) if row else ""
            except Exception as exc:
                got = str(exc).strip()
            time.sleep(0.05)
        raise DrillStepError(f"{center} did not replay up to {lsn} within {timeout_s:.0f} s (at {got})")

    def wait_leader(self, lost: list[str], prefer: str = "", timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until exactly one center outside `lost` accepts writes (and no lost one does)."""
        deadline = time.monotonic() + timeout_s
        seen: list[str] = []
        while time.monotonic() < deadline:
            seen = self.writable()
            if len(seen) == 1 and seen[0] not in lost and (not prefer or seen[0] == prefer):
                return {"center": seen[0], "promoted_at": time.time()}
            time.sleep(0.1)
        raise DrillStepError(f"no new writable primary within {timeout_s:.0f} s (writable: {seen or 'none'})")

    def streams_from(self, center: str, upstream: str) -> bool:
        st = sql_status(self.members[upstream])
        name = self.members[center].application_name
        return any(r["application_name"] == name and r["state"] == "streaming" for r in st.replicas)

    def wait_streaming(self, centers: list[str], upstream: str, timeout_s: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        pending = list(centers)
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending if not self.streams_from(c, upstream)]
            if pending:
                time.sleep(0.1)
        if pending:
            raise DrillStepError(f"not streaming from {upstream} after {timeout_s:.0f} s: {', '.join(pending)}")
        return {"upstream": upstream, "streaming": centers}

    def sync_names(self, primary: str) -> str:
        """A same-site standby's acknowledgement is required whenever one streams; none left
        means running degraded (reported), since blocking every write would be an outage."""
        st = sql_status(self.members[primary])
        streaming = {r["application_name"] for r in st.replicas if r["state"] == "streaming"}
        site = self.members[primary].site
        peers = [m.application_name for c, m in self.members.items()
                 if c != primary and m.site == site and m.application_name in streaming]  # fmt: skip
        return f"FIRST 1 ({', '.join(peers)})" if peers else ""

    def wait_sync(self, primary: str, timeout_s: float = 30.0) -> dict[str, Any]:
        names = sql_status(self.members[primary]).synchronous_standby_names or ""
        if names:
            deadline = time.monotonic() + timeout_s
            while not any(r["sync_state"] == "sync" for r in sql_status(self.members[primary]).replicas):
                if time.monotonic() > deadline:
                    raise DrillStepError(f"{primary}: no standby became synchronous within {timeout_s:.0f} s")
                time.sleep(0.05)
        return {"center": primary, "synchronous_standby_names": names, "degraded": not names}

    def checkpoint(self, center: str) -> None:
        # pg_rewind reads the source's timeline from its control file: make it current.
        with self.members[center].connect("postgres", 5) as conn:
            conn.execute("CHECKPOINT")

    def upstream_for(self, center: str, upstream: str) -> dict[str, Any]:
        """How `center` reaches `upstream` for replication: through the WAN relay between sites
        when there is one."""
        up, me = self.members[upstream], self.members[center]
        port = up.remote_port if up.remote_port and up.site != me.site else up.port
        return {"host": up.host, "port": port, "user": up.user}

    # ------------------------------------------------------------------ changing (Ansible on the hosts)

    def _op(self, op: str, center: str, **extra: Any) -> dict[str, Any]:
        variables = {**hosts.base_vars(self.config, self.config_file, "ops"), "dr_op": op, "dr_center": center,
                     **extra}  # fmt: skip
        result = hosts.run(self.config, self.config_file, OP_PLAYBOOK, variables)
        if not result.ok:
            raise DrillStepError(f"{op} {center}: {result.failure() or result.status}")
        out: dict[str, Any] = {}
        for res in result.results("ganyun_drill"):
            out.update(res)
        return out

    def promote(self, center: str) -> dict[str, Any]:
        return self._op("promote", center)

    def fence(self, center: str, reason: str) -> dict[str, Any]:
        return self._op("fence", center, dr_reason=reason)

    def rewind(self, center: str, upstream: str) -> dict[str, Any]:
        # pg_rewind is how a standby that was a primary follows: the two are one step.
        return self.follow(center, upstream)

    def follow(self, center: str, upstream: str) -> dict[str, Any]:
        return self._op("follow", center, dr_upstream=upstream)

    def stop_writes(self, center: str) -> dict[str, Any]:
        return self._op("stop_writes", center)

    def switchover(self, primary: str, target: str) -> dict[str, Any]:
        self.stop_writes(primary)
        return self.promote(target)

    def failover(self, target: str) -> dict[str, Any]:
        return self.promote(target)
