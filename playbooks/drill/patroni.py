"""ClusterOps for a Patroni cluster: switchover and failover through Patroni's REST API
(`/switchover`, `/failover`, `/cluster`, `/config`), as its operators do with patronictl.

Patroni decides who leads; ganyun asks it, watches what PostgreSQL itself reports, and never
promotes or re-points a member behind its back. Faults on the hosts (kill the postmaster,
stop Patroni, cut a link) are the same Ansible host tasks as for streaming replication.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import requests

from inventory.config import GanyunConfig
from playbooks.drill import hosts
from playbooks.drill.cluster import DrillStepError, Member, MemberStatus
from playbooks.drill.streaming import StreamingOps

TIMEOUT_S = 3.0
ACTION_TIMEOUT_S = 90.0
SYNC_OFF_MARKER = "patroni-synchronous-mode-off"


class PatroniOps(StreamingOps):
    manager: ClassVar[str] = "patroni"

    def __init__(self, config: GanyunConfig, members: Mapping[str, Member], config_file: Path | None = None) -> None:
        super().__init__(config, members, config_file)
        self._http = requests.Session()
        self._names = {
            center: (c.patroni.name if c.patroni and c.patroni.name else center)
            for center, c in config.dr.clusters.items()
        }

    def _centers_by_name(self) -> dict[str, str]:
        return {name: center for center, name in self._names.items()}

    # ------------------------------------------------------------------ REST

    def _call(self, method: str, center: str, path: str, body: Any = None) -> requests.Response:
        url = self.members[center].rest_url.rstrip("/") + path
        # A switchover or failover answers once it is done (Patroni waits for the new leader).
        timeout = ACTION_TIMEOUT_S if method == "POST" else TIMEOUT_S
        try:
            return self._http.request(method, url, json=body, timeout=timeout)
        except requests.RequestException as exc:
            raise DrillStepError(f"Patroni {method} {path} on {center}: {type(exc).__name__}") from None

    def _any(self, method: str, path: str, body: Any = None, prefer: str = "") -> requests.Response:
        """Ask the first member that answers (the preferred one first)."""
        order = [prefer] if prefer in self.members else []
        order += [c for c in self.members if c not in order]
        last = ""
        for center in order:
            try:
                return self._call(method, center, path, body)
            except DrillStepError as exc:
                last = str(exc)
        raise DrillStepError(f"no Patroni member answers: {last}")

    def cluster(self) -> dict[str, Any]:
        data: dict[str, Any] = self._any("GET", "/cluster").json()
        return data

    def _annotate(self, statuses: dict[str, MemberStatus]) -> dict[str, MemberStatus]:
        try:
            members = self.cluster().get("members", [])
        except (DrillStepError, ValueError):
            return statuses
        by_name = self._centers_by_name()
        for m in members:
            center = by_name.get(str(m.get("name")))
            if center in statuses:
                statuses[center].manager = {k: m.get(k) for k in ("role", "state", "timeline", "lag")}
        return statuses

    def leader(self) -> str | None:
        by_name = self._centers_by_name()
        for m in self.cluster().get("members", []):
            if m.get("role") == "leader":
                return by_name.get(str(m.get("name")))
        return None

    def elected(self) -> str | None:
        try:
            return self.leader()
        except (DrillStepError, ValueError):
            return None

    # ------------------------------------------------------------------ changing

    def switchover(self, primary: str, target: str) -> dict[str, Any]:
        body = {"leader": self._names[primary], "candidate": self._names[target]}
        asked = time.time()
        resp = self._call("POST", primary, "/switchover", body)
        if resp.status_code != 200:
            raise DrillStepError(f"Patroni refused the switchover ({resp.status_code}): {resp.text.strip()[:200]}")
        done = self.wait_leader([primary], prefer=target)
        return {"fault_at": asked, **done}

    def failover(self, target: str) -> dict[str, Any]:
        """A manual failover to `target`, also to an asynchronous standby: synchronous mode is
        switched off first (PATCH /config), since Patroni promotes only a synchronous standby
        while it is on."""
        sync_mode = bool(self._any("GET", "/config", prefer=target).json().get("synchronous_mode"))
        if sync_mode and not self._is_sync(target):
            resp = self._any("PATCH", "/config", {"synchronous_mode": False}, prefer=target)
            if resp.status_code != 200:
                raise DrillStepError(f"Patroni refused PATCH /config ({resp.status_code})")
            # Ours to switch back on once a same-site standby streams again (failback).
            (hosts.work_dir(self.config) / SYNC_OFF_MARKER).write_text(target, encoding="utf-8")
        resp = self._call("POST", target, "/failover", {"candidate": self._names[target]})
        if resp.status_code != 200:
            raise DrillStepError(f"Patroni refused the failover ({resp.status_code}): {resp.text.strip()[:200]}")
        return self.wait_leader([c for c in self.members if c != target], prefer=target)

    def _is_sync(self, center: str) -> bool:
        name = self._names[center]
        return any(m.get("name") == name and m.get("role") == "sync_standby" for m in self.cluster().get("members", []))

    def verify_manager(self, leader: str, since: float, timeout_s: float = 60.0) -> dict[str, Any]:
        """After `leader`'s Patroni was killed and started again: Patroni still names it the
        leader, its new process has reached the DCS since `since` (it holds the leader key
        again: Patroni 4 logs "I am the leader but not owner of the lease", then renews it),
        and every member's own Patroni answers with its PostgreSQL running or streaming.
        Another leader means the outage outlived the leader key's ttl: the replicas elected
        one while the old primary, with no watchdog to stop it, still accepted connections."""
        deadline = time.monotonic() + timeout_s
        reason = ""
        while time.monotonic() < deadline:
            try:
                members = {str(m.get("name")): m for m in self.cluster().get("members", [])}
            except (DrillStepError, ValueError):
                members = {}
            by_name = self._centers_by_name()
            elected = [by_name.get(n, n) for n, m in members.items() if m.get("role") == "leader"]
            if elected and elected != [leader]:
                raise DrillStepError(
                    f"Patroni elected {', '.join(elected)} while the manager of {leader} was down"
                    f" (longer than the leader key's ttl; {leader}'s PostgreSQL kept running as a primary)"
                )
            reason = self._manager_not_ready(leader, since, members)
            if not reason:
                roles = {by_name.get(n, n): (m.get("role"), m.get("state")) for n, m in members.items()}
                return {"leader": leader, "members": roles}
            time.sleep(0.5)
        raise DrillStepError(f"the HA manager is not healthy {timeout_s:.0f} s after the outage: {reason}")

    def _manager_not_ready(self, leader: str, since: float, members: Mapping[str, Any]) -> str:
        """Why the cluster's managers are not all back ("" when they are)."""
        for center, name in self._names.items():
            m = members.get(name)
            want = "running" if center == leader else "streaming"
            if m is None or m.get("state") != want:
                return f"{center} is {m.get('state') if m else 'missing from the cluster'}, not {want}"
            try:
                own = self._call("GET", center, "/patroni").json()
            except (DrillStepError, ValueError):
                return f"{center}'s Patroni does not answer"
            if center == leader and float(own.get("dcs_last_seen") or 0) < since:
                return f"{center}'s Patroni has not reached the DCS since it was started again"
        return ""

    def set_synchronous_mode(self, on: bool) -> None:
        resp = self._any("PATCH", "/config", {"synchronous_mode": on})
        if resp.status_code != 200:
            raise DrillStepError(f"Patroni refused PATCH /config ({resp.status_code})")

    def promote(self, center: str) -> dict[str, Any]:
        return self.failover(center)

    def follow(self, center: str, upstream: str) -> dict[str, Any]:
        """Patroni re-points and rewinds its members itself: start it if it was stopped, then wait."""
        self._op("rejoin", center)
        return self.wait_streaming([center], upstream)

    def stop_writes(self, center: str) -> dict[str, Any]:
        raise DrillStepError("with Patroni, writes stop through a switchover, never by stopping a member")

    def sync_names(self, primary: str) -> str:
        return ""

    def wait_sync(self, primary: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """Patroni manages synchronous_standby_names: wait until it names a streaming standby.
        Synchronous mode that a remote failover switched off comes back on first, once a
        standby of the primary's own site streams."""
        marker = hosts.work_dir(self.config) / SYNC_OFF_MARKER
        site = self.members[primary].site
        peers = [c for c, m in self.members.items() if c != primary and m.site == site]
        if marker.exists() and any(self.streams_from(c, primary) for c in peers):
            self.set_synchronous_mode(True)
            marker.unlink()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if any(m.get("role") == "sync_standby" for m in self.cluster().get("members", [])):
                    return {"center": primary, "degraded": False}
            except DrillStepError:
                pass
            time.sleep(0.2)
        return {"center": primary, "degraded": True}
