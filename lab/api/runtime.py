"""The lab's request dispatch: which cloud, which service, which faults apply, and the admin calls.

Paths, under one server:
  /<cloud>/identity/v3/auth/tokens       Keystone v3 password auth, catalog     identity.py
  /<cloud>/compute/v2.1/...              Nova                                   compute.py
  /<cloud>/image/v2/...                  Glance                                 image.py
  /<cloud>/volume/v2|v3/<project>/...    Cinder                                 volume.py
  /<cloud>/network/v2.0/...              Neutron                                network.py
  /_exporter/<cloud>/metrics             libvirt exporter metrics per cloud      exporter.py
  /_lab/health, /_lab/status, /_lab/faults  the lab's own admin calls
Shapes follow what libcloud's OpenStack driver reads plus the estate conventions the adapter
relies on (metadata tags, flavor extra specs, image properties, hypervisor cpu_info, racks).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lab.api import compute, exporter, identity, image, network, volume
from lab.api.cloud import CloudRuntime, LabBase
from lab.api.http import JSON, ApiError, Reply, Request, truncate
from lab.api.tokens import Tokens
from lab.faults import RENAME_HOLD_S, FailureCounter, FaultError, Faults
from lab.seed import Estate


def _kinds_of(service: str, parts: list[str]) -> set[str]:
    """The resource kinds a request touches, for the forbidden/missing faults."""
    head = parts[0] if parts else ""
    if service == "compute":
        if head == "os-hypervisors":
            return {"hypervisors"}
        if head == "os-aggregates":
            return {"hypervisors", "aggregates"}
        return {"flavors"} if head == "flavors" else {"servers"}
    if service == "image":
        return {"images"}
    if service == "volume":
        return {"volumes", {"snapshots": "snapshots", "types": "volume_types"}.get(head, "volumes")}
    if service == "network":
        sub = {"floatingips": "floating_ips"}.get(head, head.replace("-", "_"))
        return {"networks", sub} if sub in ("subnets", "ports", "security_groups", "floating_ips") else {"networks"}
    return set()


def _service_parts(service: str, rest: list[str]) -> list[str]:
    """Path parts after the version (and the project id for Cinder)."""
    skip = 2 if service == "volume" else 1
    return rest[skip:]


def _route(rt: CloudRuntime, service: str, rest: list[str], req: Request) -> Reply:
    if service == "compute" and rest[:1] == ["v2.1"]:
        return compute.handle(rt, rest[1:], req)
    if service == "image" and rest[:1] == ["v2"]:
        return image.handle(rt, rest[1:], req)
    if service == "volume" and rest[:1] in (["v2"], ["v3"]) and len(rest) >= 2:
        if rest[1] != rt.cloud.project_id:
            raise ApiError(403, "project id in URL does not match the token")
        return volume.handle(rt, rest[2:], req, rest[0])
    if service == "network" and rest[:1] == ["v2.0"]:
        return network.handle(rt, rest[1:], req)
    raise ApiError(404, "The resource could not be found.")


class LabRuntime(LabBase):
    """All clouds of one lab, with the secrets that authenticate them."""

    def __init__(
        self,
        estate: Estate,
        lab_dir: Path,
        passwords_sha256: Mapping[str, str],
        token_secret: bytes,
        admin_token: str,
        base_latency_ms: int = 0,
        initial_faults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(estate, lab_dir)
        self.passwords_sha256 = dict(passwords_sha256)
        self.tokens = Tokens(token_secret)
        self.admin_token = admin_token
        self.base_latency_ms = base_latency_ms
        self.clouds = {c.name: CloudRuntime(self, c) for c in estate.clouds}
        self.started = time.time()  # the exporters' CPU counters count from here
        saved = self.state.faults()
        for name, runtime in self.clouds.items():
            spec = saved.get(name, (initial_faults or {}).get(name))
            if spec:
                runtime.faults = Faults.from_dict(spec)

    def warm(self) -> None:
        """Render every server and volume once, before the lab says it is ready (links carry
        base_url, so only once it is known)."""
        for runtime in self.clouds.values():
            compute.warm(runtime)
            volume.warm(runtime)

    # -- dispatch

    def handle(self, req: Request) -> tuple[Reply, float]:
        """The reply and how long to wait before sending it (latency and timeout faults)."""
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return Reply.json(200, {"lab": "ganyun", "clouds": sorted(self.clouds)}), 0.0
        if parts[0] == "_lab":
            return self._admin(req, parts[1:]), 0.0
        if parts[0] == "_exporter" and len(parts) == 3 and parts[2] == "metrics" and parts[1] in self.clouds:
            # What node_exporter-style scrapers reach: no token, as on a compute node's port.
            return exporter.handle(self.clouds[parts[1]], self.started), 0.0
        runtime = self.clouds.get(parts[0])
        if runtime is None or len(parts) < 2:
            return Reply.error(404, f"no lab cloud '{parts[0]}'"), 0.0
        service, rest = parts[1], parts[2:]
        faults = runtime.faults
        delay = (self.base_latency_ms + faults.latency_ms) / 1000.0
        if faults.unauthorized:
            return Reply.error(401, "The request you have made requires authentication."), delay
        if service == "identity":
            return identity.handle(runtime, req, rest, self.passwords_sha256, self.tokens), delay
        if not self.tokens.valid(runtime.name, req.headers.get("X-Auth-Token", "")):
            return Reply.error(401, "The request you have made requires authentication."), delay
        if faults.timeout > 0:
            delay += faults.timeout
        kinds = _kinds_of(service, _service_parts(service, rest))
        if faults.rename_during and faults.rename_during in kinds:
            faults.rename_during = ""
            self.state.set_faults(runtime.name, faults.to_dict())
            compute.rename_first(runtime)
            delay += RENAME_HOLD_S
        if kinds & set(faults.forbidden):
            return Reply.error(403, "Policy doesn't allow this operation to be performed."), delay
        if kinds & set(faults.missing):
            return Reply.error(404, "The resource could not be found."), delay
        if runtime.failures.should_fail(faults.http500):
            return Reply.error(500, "Unexpected API Error. Please report this at http://bugs.launchpad.net/"), delay
        try:
            reply = _route(runtime, service, rest, req)
        except ApiError as exc:
            reply = Reply.error(exc.status, str(exc))
        if faults.garbage and reply.status == 200 and reply.file is None:
            reply = Reply(
                200, reply.body[: max(1, len(reply.body) // 3)] + b"<html>502 Bad Gat", {"Content-Type": JSON}
            )
        if faults.truncated and reply.status == 200 and req.method == "GET" and reply.file is None:
            reply = truncate(req, reply)
        return reply, delay

    def _admin(self, req: Request, parts: list[str]) -> Reply:
        if parts == ["health"]:
            return Reply.json(200, {"ok": True, "scale": self.estate.scale})
        supplied = req.headers.get("X-Lab-Admin", "")
        if not hmac.compare_digest(supplied, self.admin_token):
            return Reply.error(403, "lab admin token required")
        if parts == ["status"]:
            return Reply.json(200, self.status())
        if parts == ["faults"] and req.method == "GET":
            return Reply.json(200, {n: r.faults.active() for n, r in self.clouds.items()})
        if parts == ["faults"] and req.method == "POST":
            return self._set_faults(req)
        return Reply.error(404, "unknown lab admin call")

    def _set_faults(self, req: Request) -> Reply:
        body = req.json()
        if not isinstance(body, dict):
            return Reply.error(400, "body must be a JSON object")
        names = [body["cloud"]] if body.get("cloud") else list(self.clouds)
        unknown = [n for n in names if n not in self.clouds]
        if unknown:
            return Reply.error(404, f"no lab cloud '{unknown[0]}'")
        for name in names:
            runtime = self.clouds[name]
            faults = Faults() if body.get("clear") else Faults.from_dict(runtime.faults.to_dict())
            try:
                for kind, value in (body.get("set") or {}).items():
                    faults.set(kind, value)
            except FaultError as exc:
                return Reply.error(400, str(exc))
            runtime.faults = faults
            # A new setting counts its failing share afresh: 0.5 fails the 2nd, 4th, ... call from now.
            runtime.failures, runtime.image_failures, runtime.boot_failures = (
                FailureCounter(),
                FailureCounter(),
                FailureCounter(),
            )
            self.state.set_faults(name, faults.to_dict())
        return Reply.json(200, {n: self.clouds[n].faults.active() for n in names})

    def status(self) -> dict[str, Any]:
        return {
            "scale": self.estate.scale,
            "latency_ms": self.base_latency_ms,
            "clouds": {
                name: {
                    "center": r.cloud.center,
                    "pool": r.cloud.pool,
                    "servers": len(r.servers),
                    "hypervisors": len(r.hypervisors),
                    "images": len(r.images),
                    "volumes": len(r.volumes),
                    "faults": r.faults.active(),
                }
                for name, r in self.clouds.items()
            },
        }
