"""The OpenStack APIs of the lab, as pure request -> Reply functions (no sockets here).

Shapes follow what libcloud's OpenStack driver reads (compute/drivers/openstack.py) plus the
estate conventions the adapter relies on (metadata tags, flavor extra specs, image
properties, hypervisor cpu_info, rack aggregates). Paths, under one server:
  /<cloud>/identity/v3/auth/tokens       Keystone v3 password auth, catalog
  /<cloud>/compute/v2.1/...              Nova
  /<cloud>/image/v2/...                  Glance
  /<cloud>/volume/v2/<project>/...       Cinder v2
  /<cloud>/network/v2.0/...              Neutron
  /<cloud>/metric/v1/aggregates/servers  30-day utilization (lab-only, Gnocchi-style)
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import operator
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lab import disks
from lab.faults import FailureCounter, Faults
from lab.seed import (
    Cloud,
    Estate,
    Image,
    Server,
    Volume,
    utilization,
)
from lab.state import StateStore

TOKEN_TTL = timedelta(hours=12)
NOVA_MAX_LIMIT = 1000
GLANCE_DEFAULT_LIMIT = 25
BUILD_SECONDS = 0.3
JSON = "application/json"
_VM_STATE = {
    "ACTIVE": ("active", 1),
    "SHUTOFF": ("stopped", 4),
    "PAUSED": ("paused", 3),
    "SUSPENDED": ("suspended", 7),
    "ERROR": ("error", 0),
    "BUILD": ("building", 0),
    "DELETED": ("deleted", 0),
}


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # streamed instead of body

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, _dumps(payload), {"Content-Type": JSON, **(headers or {})})

    @classmethod
    def listing(cls, key: str, items: Iterable[bytes], extra: Mapping[str, Any]) -> Reply:
        """{"<key>": [...pre-rendered items...], **extra} without re-encoding the items."""
        tail = b"".join(b"," + _dumps(k) + b":" + _dumps(v) for k, v in extra.items())
        body = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]" + tail + b"}"
        return cls(200, body, {"Content-Type": JSON})

    @classmethod
    def error(cls, status: int, message: str) -> Reply:
        names = {
            400: "badRequest",
            401: "unauthorized",
            403: "forbidden",
            404: "itemNotFound",
            409: "conflictingRequest",
        }
        return cls.json(status, {names.get(status, "computeFault"): {"code": status, "message": message}})


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return None


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> str:
    return _ts(datetime.now(UTC))


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
        sub = head.replace("-", "_")
        return {"networks", sub} if sub in ("subnets", "ports", "security_groups") else {"networks"}
    if service == "metric":
        return {"metrics"}
    return set()


class CloudRuntime:
    """One cloud's live, mutable view of the estate plus its overlay of changes."""

    def __init__(self, lab: LabRuntime, cloud: Cloud) -> None:
        self.lab = lab
        self.cloud = cloud
        self.name = cloud.name
        self.lock = threading.RLock()
        self.faults = Faults()
        self.failures = FailureCounter()
        self.flavors = {f.id: f for f in cloud.flavors}
        self.hypervisors = {h.id: h for h in cloud.hypervisors}
        self.hv_order = [h.id for h in cloud.hypervisors]
        self.hv_by_name = {h.hostname: h for h in cloud.hypervisors}
        self.networks = cloud.networks
        self.internal = cloud.networks[1:]
        self.sg_by_name = {g.name: g for g in cloud.security_groups}
        self.volume_types = {t.id: t for t in cloud.volume_types}
        self.servers: dict[str, Server] = {s.id: s for s in cloud.servers}
        self.images: dict[str, Image] = {i.id: i for i in cloud.images}
        self.volumes: dict[str, Volume] = {v.id: v for v in cloud.volumes}
        self.build_until: dict[str, tuple[float, str]] = {}
        # Deleted servers, kept as Nova keeps soft-deleted rows: `changes-since` reports them.
        self.tombstones: dict[str, Server] = {}
        self._apply_overlay(lab.state)
        self._server_order: list[str] | None = None
        self._usage: dict[str, tuple[int, int, int, int]] | None = None
        self._host_ids: dict[str, str] = {}
        self._digests: dict[str, tuple[float, int, str, str]] = {}
        # Rendered JSON per record: a 100,000-node listing then costs joins, not encoding.
        self._server_json: dict[str, bytes] = {}
        self._volume_json: dict[str, bytes] = {}
        self._vols: dict[str, list[str]] | None = None
        # Whole-cloud listings rebuilt per request otherwise (one dict per server): kept until
        # a server changes. Only the lab's own CPU is saved; answers stay the same.
        self.ports_cache: list[dict[str, Any]] | None = None
        self.metrics_cache: bytes | None = None

    # -- persistence

    def _apply_overlay(self, state: StateStore) -> None:
        for kind, table, cls in (
            ("servers", self.servers, Server),
            ("images", self.images, Image),
            ("volumes", self.volumes, Volume),
            ("tombstones", self.tombstones, Server),
        ):
            target: dict[str, Any] = table
            for record_id, record in state.overlay(self.name, kind).items():
                if record is None:
                    target.pop(record_id, None)
                else:
                    if kind in ("servers", "tombstones"):
                        record = {**record, "security_groups": tuple(record.get("security_groups", ()))}
                    target[record_id] = cls(**record)
        for server in self.servers.values():
            if server.status == "BUILD":
                # A restart mid-build: finish the build as the original request asked.
                wanted = "ERROR" if server.fault else "ACTIVE"
                self.build_until[server.id] = (0.0, wanted)

    def _persist(self, kind: str, record_id: str, record: Any | None) -> None:
        data = dataclasses.asdict(record) if record is not None else None
        self.lab.state.put(self.name, kind, record_id, data)
        if kind == "servers":
            self._server_json.pop(record_id, None)
            self.ports_cache = self.metrics_cache = None
        elif kind == "volumes":
            self._volume_json.pop(record_id, None)
            self._vols = None
            # The attached server's JSON lists its volumes: drop what may mention this one.
            if record is None:
                self._server_json.clear()
            else:
                self._server_json.pop(record.server_id or "", None)

    def _changed(self) -> None:
        self._server_order = None
        self._usage = None
        self._vols = None
        self.ports_cache = self.metrics_cache = None

    def server_bytes(self, server: Server) -> bytes:
        self.settle(server)
        cached = self._server_json.get(server.id)
        if cached is None:
            with self.lock:  # a concurrent change must not be overwritten by a stale render
                cached = _dumps(_server_json(self.lab, self, server, self.volumes_of()))
                if server.id in self.servers:
                    self._server_json[server.id] = cached
        return cached

    def volume_bytes(self, volume: Volume) -> bytes:
        cached = self._volume_json.get(volume.id)
        if cached is None:
            with self.lock:
                cached = _dumps(_volume_json(self, volume))
                self._volume_json[volume.id] = cached
        return cached

    def warm(self) -> None:
        """Render every server and volume once, before the lab says it is ready."""
        for server in list(self.servers.values()):
            self.server_bytes(server)
        for volume in list(self.volumes.values()):
            self.volume_bytes(volume)

    # -- derived views

    def server_order(self) -> list[str]:
        with self.lock:
            if self._server_order is None:
                self._server_order = list(self.servers)
            return self._server_order

    def usage(self) -> dict[str, tuple[int, int, int, int]]:
        """Per host: (vcpus_used, ram_mb_used, disk_gb_used, running_vms)."""
        with self.lock:
            if self._usage is None:
                usage: dict[str, list[int]] = {h: [0, 0, 0, 0] for h in self.hv_by_name}
                for s in self.servers.values():
                    f = self.flavors.get(s.flavor_id)
                    u = usage.get(s.host)
                    if f is None or u is None:
                        continue
                    u[0] += f.vcpus
                    u[1] += f.ram_mb
                    u[2] += f.disk_gb
                    u[3] += 1
                self._usage = {h: (u[0], u[1], u[2], u[3]) for h, u in usage.items()}
            return self._usage

    def settle(self, server: Server) -> None:
        """BUILD -> ACTIVE (or ERROR) once the build time has passed."""
        pending = self.build_until.get(server.id)
        if pending is None or time.monotonic() < pending[0]:
            return
        with self.lock:
            if server.status == "BUILD":
                server.status = pending[1]
                server.updated = _now()
                self._persist("servers", server.id, server)
            self.build_until.pop(server.id, None)

    def volumes_of(self) -> dict[str, list[str]]:
        vols = self._vols
        if vols is None:
            vols = {}
            for v in list(self.volumes.values()):
                if v.server_id:
                    vols.setdefault(v.server_id, []).append(v.id)
            self._vols = vols
        return vols

    def image_file(self, image: Image) -> Path:
        return disks.image_path(self.lab.lab_dir, self.name, image.id, image.disk_format)

    def image_digests(self, image: Image) -> tuple[int, str, str] | None:
        path = self.image_file(image)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._digests.get(image.id)
        if cached is None or cached[0] != mtime:
            size, md5, sha = disks.file_digests(path)
            cached = (mtime, size, md5, sha)
            self._digests[image.id] = cached
        return cached[1], cached[2], cached[3]


class LabRuntime:
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
        self.estate = estate
        self.lab_dir = lab_dir
        self.passwords_sha256 = dict(passwords_sha256)
        self.token_secret = token_secret
        self.admin_token = admin_token
        self.base_latency_ms = base_latency_ms
        self.base_url = "http://127.0.0.1"
        self.state = StateStore(lab_dir)
        self.clouds = {c.name: CloudRuntime(self, c) for c in estate.clouds}
        saved = self.state.faults()
        for name, runtime in self.clouds.items():
            spec = saved.get(name, (initial_faults or {}).get(name))
            if spec:
                runtime.faults = Faults.from_dict(spec)

    # -- tokens: HMAC-signed so they survive a restart, like Fernet tokens do

    def issue_token(self, cloud: str) -> tuple[str, datetime]:
        expires = datetime.now(UTC).replace(microsecond=0) + TOKEN_TTL
        stamp = str(int(expires.timestamp()))
        mac = hmac.new(self.token_secret, f"{cloud}|{stamp}".encode(), hashlib.sha256).hexdigest()[:40]
        return f"gAAAA{stamp}.{mac}", expires

    def token_ok(self, cloud: str, token: str) -> bool:
        if not token.startswith("gAAAA") or "." not in token:
            return False
        stamp, _, mac = token[5:].partition(".")
        if not stamp.isdigit() or int(stamp) < time.time():
            return False
        want = hmac.new(self.token_secret, f"{cloud}|{stamp}".encode(), hashlib.sha256).hexdigest()[:40]
        return hmac.compare_digest(want, mac)

    # -- dispatch

    def handle(self, req: Request) -> tuple[Reply, float]:
        """The reply and how long to wait before sending it (latency and timeout faults)."""
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return Reply.json(200, {"lab": "ganyun", "clouds": sorted(self.clouds)}), 0.0
        if parts[0] == "_lab":
            return self._admin(req, parts[1:]), 0.0
        runtime = self.clouds.get(parts[0])
        if runtime is None or len(parts) < 2:
            return Reply.error(404, f"no lab cloud '{parts[0]}'"), 0.0
        service, rest = parts[1], parts[2:]
        faults = runtime.faults
        delay = (self.base_latency_ms + faults.latency_ms) / 1000.0
        if faults.unauthorized:
            return Reply.error(401, "The request you have made requires authentication."), delay
        if service == "identity":
            return _identity(self, runtime, req, rest), delay
        if not self.token_ok(runtime.name, req.headers.get("X-Auth-Token", "")):
            return Reply.error(401, "The request you have made requires authentication."), delay
        if faults.timeout > 0:
            delay += faults.timeout
        kinds = _kinds_of(service, _service_parts(service, rest))
        if kinds & set(faults.forbidden):
            return Reply.error(403, "Policy doesn't allow this operation to be performed."), delay
        if kinds & set(faults.missing):
            return Reply.error(404, "The resource could not be found."), delay
        if runtime.failures.should_fail(faults.http500):
            return Reply.error(500, "Unexpected API Error. Please report this at http://bugs.launchpad.net/"), delay
        try:
            reply = _route(self, runtime, service, rest, req)
        except ApiError as exc:
            reply = Reply.error(exc.status, str(exc))
        if faults.garbage and reply.status == 200 and reply.file is None:
            reply = Reply(
                200, reply.body[: max(1, len(reply.body) // 3)] + b"<html>502 Bad Gat", {"Content-Type": JSON}
            )
        if faults.truncated and reply.status == 200 and req.method == "GET" and reply.file is None:
            reply = _truncate(req, reply)
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
        from lab.faults import FaultError

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

    def url(self, cloud: str, service: str) -> str:
        return f"{self.base_url}/{cloud}/{service}"


def _service_parts(service: str, rest: list[str]) -> list[str]:
    """Path parts after the version (and the project id for Cinder)."""
    skip = 2 if service == "volume" else 1
    return rest[skip:]


def _truncate(req: Request, reply: Reply) -> Reply:
    """First page gets a next link even when complete; later pages are cut mid-body."""
    if "marker" in req.query:
        return Reply(200, reply.body[: len(reply.body) // 2], {"Content-Type": JSON})
    try:
        payload = json.loads(reply.body)
    except ValueError:
        return reply
    if not isinstance(payload, dict):
        return reply
    for key, value in list(payload.items()):
        if isinstance(value, list) and value and isinstance(value[0], dict) and "id" in value[0]:
            query = urlencode({"limit": len(value), "marker": value[-1]["id"]})
            payload[f"{key}_links"] = [{"rel": "next", "href": f"{req.path}?{query}"}]
            if key == "images":
                payload["next"] = f"/v2/images?{query}"
            return Reply.json(200, payload)
    return reply


# --------------------------------------------------------------------------- identity


def _identity(lab: LabRuntime, rt: CloudRuntime, req: Request, rest: list[str]) -> Reply:
    if rest in ([], ["v3"]):
        version = {
            "id": "v3.14",
            "status": "stable",
            "links": [{"rel": "self", "href": lab.url(rt.name, "identity/v3")}],
        }
        return Reply.json(200, {"version": version} if rest else {"versions": {"values": [version]}})
    if rest != ["v3", "auth", "tokens"] or req.method != "POST":
        return Reply.error(404, "The resource could not be found.")
    body = req.json()
    try:
        user = body["auth"]["identity"]["password"]["user"]
        name, password = str(user["name"]), str(user["password"])
        domain = str(user.get("domain", {}).get("name") or user.get("domain", {}).get("id") or "")
        project = body["auth"].get("scope", {}).get("project", {})
    except (KeyError, TypeError, AttributeError):
        return Reply.error(400, "Expecting to find auth.identity.password.user in request body.")
    cloud = rt.cloud
    want = lab.passwords_sha256.get(rt.name, "")
    given = hashlib.sha256(password.encode()).hexdigest()
    if (
        name != cloud.user
        or domain.lower() not in (cloud.domain.lower(), "default")
        or not (want and hmac.compare_digest(want, given))
    ):
        return Reply.error(401, "The request you have made requires authentication.")
    if project and project.get("name") not in (None, cloud.project_name):
        return Reply.error(401, f"project {project.get('name')} not found for user {name}")
    token, expires = lab.issue_token(rt.name)
    now = datetime.now(UTC)

    def service(kind: str, name: str, path: str) -> dict[str, Any]:
        url = lab.url(rt.name, path)
        return {
            "type": kind,
            "name": name,
            "id": hashlib.md5(f"{rt.name}{kind}".encode(), usedforsecurity=False).hexdigest(),
            "endpoints": [
                {
                    "id": f"{kind}-{iface}",
                    "interface": iface,
                    "region": cloud.region,
                    "region_id": cloud.region,
                    "url": url,
                }
                for iface in ("public", "internal", "admin")
            ],
        }

    catalog = [
        service("identity", "keystone", "identity/v3"),
        service("compute", "nova", "compute/v2.1"),
        service("image", "glance", "image"),
        service("volumev2", "cinderv2", f"volume/v2/{cloud.project_id}"),
        service("volumev3", "cinderv3", f"volume/v3/{cloud.project_id}"),
        service("network", "neutron", "network"),
        service("metric", "gnocchi", "metric"),
    ]
    domain_ref = {"id": "default", "name": cloud.domain}
    payload = {
        "token": {
            "methods": ["password"],
            "expires_at": expires.isoformat().replace("+00:00", ".000000Z"),
            "issued_at": now.isoformat().replace("+00:00", "Z"),
            "user": {"id": hashlib.md5(name.encode(), usedforsecurity=False).hexdigest(), "name": name,
                     "domain": domain_ref},
            "project": {"id": cloud.project_id, "name": cloud.project_name, "domain": domain_ref},
            "roles": [{"id": "admin", "name": "admin"}, {"id": "member", "name": "member"}],
            "catalog": catalog,
        }
    }  # fmt: skip
    return Reply.json(201, payload, {"X-Subject-Token": token})


# --------------------------------------------------------------------------- cinder

_TIME_FILTERS = ("created_at", "updated_at")
_TIME_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
}


def _volume_microversion(req: Request) -> tuple[int, int]:
    """`OpenStack-API-Version: volume 3.60` (the header name is case-insensitive); 3.0 if absent."""
    value = next((v for k, v in req.headers.items() if k.lower() == "openstack-api-version"), "")
    service, _, number = value.strip().partition(" ")
    if service != "volume" or not number:
        return (3, 0)
    major, _, minor = number.partition(".")
    try:
        return (int(major), int(minor or 0))
    except ValueError:
        raise ApiError(400, f"Version {number} is not supported by the API.") from None


def _volumes_in_time_window(rt: CloudRuntime, req: Request, version: str) -> list[str]:
    """Volume ids in listing order, narrowed by Cinder 3.60's `created_at` / `updated_at`
    filters (`?updated_at=gte:2026-11-29T08:00:00Z`); a volume never updated does not match
    an `updated_at` filter, as in Cinder where the column is NULL."""
    asked = [(key, req.arg(key)) for key in _TIME_FILTERS if key in req.query]
    if not asked:
        return list(rt.volumes)
    if version != "v3" or _volume_microversion(req) < (3, 60):
        keys = ", ".join(key for key, _ in asked)
        raise ApiError(400, f"Invalid filters {keys} are found in query options.")
    tests = []
    for key, raw in asked:
        name, _, moment = raw.partition(":")
        if name not in _TIME_OPERATORS or not moment:
            raise ApiError(400, f"Invalid {key} filter: {raw}")
        tests.append((key, _TIME_OPERATORS[name], _cutoff(moment)))
    with rt.lock:
        volumes = list(rt.volumes.values())
    out = []
    for v in volumes:
        stamps = {"created_at": v.created, "updated_at": v.updated}
        if all(stamps[key] and compare(stamps[key], cutoff) for key, compare, cutoff in tests):
            out.append(v.id)
    return out


# --------------------------------------------------------------------------- routing


def _route(lab: LabRuntime, rt: CloudRuntime, service: str, rest: list[str], req: Request) -> Reply:
    if service == "compute" and rest[:1] == ["v2.1"]:
        return _compute(lab, rt, rest[1:], req)
    if service == "image" and rest[:1] == ["v2"]:
        return _image(lab, rt, rest[1:], req)
    if service == "volume" and rest[:1] in (["v2"], ["v3"]) and len(rest) >= 2:
        if rest[1] != rt.cloud.project_id:
            raise ApiError(403, "project id in URL does not match the token")
        return _volume(lab, rt, rest[2:], req, rest[0])
    if service == "network" and rest[:1] == ["v2.0"]:
        return _network(lab, rt, rest[1:], req)
    if service == "metric" and rest == ["v1", "aggregates", "servers"]:
        return _metrics(rt, req)
    raise ApiError(404, "The resource could not be found.")


def _paginate(
    req: Request, order: list[str], default_limit: int, max_limit: int = NOVA_MAX_LIMIT
) -> tuple[list[str], str | None]:
    """(ids of this page, marker for the next page or None)."""
    try:
        limit = int(req.arg("limit", str(default_limit)))
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    if limit < 0:
        raise ApiError(400, "limit must be >= 0")
    limit = min(limit or max_limit, max_limit)
    start = 0
    marker = req.arg("marker")
    if marker:
        try:
            start = order.index(marker) + 1
        except ValueError:
            raise ApiError(400, f"marker [{marker}] not found") from None
    page = order[start : start + limit]
    more = start + limit < len(order)
    return page, (page[-1] if more and page else None)


def _links(lab: LabRuntime, rt: CloudRuntime, path: str, req: Request, marker: str | None, key: str) -> dict[str, Any]:
    if marker is None:
        return {}
    # Every value of repeated parameters (Neutron's `fields=a&fields=b`) carries over.
    query = {k: v for k, v in req.query.items() if k != "marker"}
    query["marker"] = [marker]
    query.setdefault("limit", [str(NOVA_MAX_LIMIT)])
    href = f"{lab.url(rt.name, path)}?{urlencode(query, doseq=True)}"
    return {f"{key}_links": [{"rel": "next", "href": href}]}


def _filtered(items: Iterable[dict[str, Any]], req: Request, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Neutron-style equality filters on top-level scalar fields (?device_id=..., ?name=...)."""
    filters = {k: v[0] for k, v in req.query.items() if k not in ("limit", "marker", "fields", *skip)}
    out = list(items)
    for key, want in filters.items():
        out = [i for i in out if str(i.get(key, "")).lower() == want.lower() or i.get(key) == want]
    return out


# --------------------------------------------------------------------------- nova


def _server_json(lab: LabRuntime, rt: CloudRuntime, s: Server, vols: Mapping[str, list[str]]) -> dict[str, Any]:
    rt.settle(s)
    cloud = rt.cloud
    base = lab.url(rt.name, "compute/v2.1")
    net = rt.internal[min(s.network_index, len(rt.internal) - 1)]
    host_id = rt._host_ids.get(s.host)
    if host_id is None:
        host_id = hashlib.sha224(f"{cloud.project_id}{s.host}".encode()).hexdigest()
        rt._host_ids[s.host] = host_id
    vm_state, power = _VM_STATE.get(s.status, ("error", 0))
    out: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "tenant_id": cloud.project_id,
        "user_id": cloud.user,
        "metadata": s.metadata,
        "hostId": host_id,
        "image": {"id": s.image_id},
        "flavor": {"id": s.flavor_id},
        "created": s.created,
        "updated": s.updated or s.created,
        "addresses": {
            net.name: [
                {
                    "version": 4,
                    "addr": s.ip,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": _mac(s.port_id),
                }
            ]
        },
        "accessIPv4": "",
        "accessIPv6": "",
        "links": [
            {"rel": "self", "href": f"{base}/servers/{s.id}"},
            {"rel": "bookmark", "href": f"{base}/servers/{s.id}"},
        ],
        "key_name": None,
        "config_drive": "",
        "progress": 0 if s.status == "BUILD" else 100,
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.az,
        "OS-EXT-SRV-ATTR:host": s.host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{s.id[:8]}",
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power,
        "OS-EXT-STS:task_state": "spawning" if s.status == "BUILD" else None,
        "OS-SRV-USG:launched_at": s.created,
        "os-extended-volumes:volumes_attached": [{"id": v, "delete_on_termination": False} for v in vols.get(s.id, [])],
        "security_groups": [{"name": g} for g in s.security_groups],
    }
    if s.status == "ERROR" and s.fault:
        out["fault"] = {**s.fault, "created": s.updated or s.created}
    return out


def _mac(port_id: str) -> str:
    h = port_id.replace("-", "")
    return f"fa:16:3e:{h[0:2]}:{h[2:4]}:{h[4:6]}"


def _flavor_json(lab: LabRuntime, rt: CloudRuntime, flavor_id: str) -> dict[str, Any]:
    f = rt.flavors[flavor_id]
    href = f"{lab.url(rt.name, 'compute/v2.1')}/flavors/{f.id}"
    return {
        "id": f.id,
        "name": f.name,
        "vcpus": f.vcpus,
        "ram": f.ram_mb,
        "disk": f.disk_gb,
        "swap": "",
        "rxtx_factor": 1.0,
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "os-flavor-access:is_public": True,
        "OS-FLV-WITH-EXT-SPECS:extra_specs": dict(f.extra_specs),
        "extra_specs": dict(f.extra_specs),
        "description": None,
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
    }


def _hypervisor_json(rt: CloudRuntime, hv_id: str, detail: bool = True) -> dict[str, Any]:
    h = rt.hypervisors[hv_id]
    out: dict[str, Any] = {"id": h.id, "hypervisor_hostname": h.hostname, "state": "up", "status": "enabled"}
    if not detail:
        return out
    vcpus_used, ram_used, disk_used, running = rt.usage().get(h.hostname, (0, 0, 0, 0))
    cpu_info = {
        "arch": h.arch,
        "model": h.model,
        "vendor": h.vendor,
        "topology": {"sockets": h.sockets, "cores": h.cores, "threads": h.threads},
        "features": [],
    }
    out.update(
        {
            "hypervisor_type": "QEMU",
            "hypervisor_version": 6002000,
            "host_ip": h.host_ip,
            "vcpus": h.vcpus,
            "vcpus_used": vcpus_used,
            "memory_mb": h.memory_mb,
            "memory_mb_used": ram_used + 8192,  # the host itself keeps 8 GiB
            "free_ram_mb": h.memory_mb - ram_used - 8192,
            "local_gb": h.local_gb,
            "local_gb_used": disk_used,
            "free_disk_gb": h.local_gb - disk_used,
            "disk_available_least": h.local_gb - disk_used,
            "running_vms": running,
            "current_workload": 0,
            "cpu_info": json.dumps(cpu_info),
            "service": {"host": h.hostname, "id": h.id, "disabled_reason": None},
        }
    )
    return out


def _compute(lab: LabRuntime, rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    head = parts[0] if parts else ""
    method = req.method
    if head == "servers":
        return _servers(lab, rt, parts[1:], req)
    if head == "flavors" and method == "GET":
        if parts[1:] in (["detail"], []):
            detail = bool(parts[1:])
            items = [_flavor_json(lab, rt, f) for f in rt.flavors]
            if not detail:
                items = [{k: f[k] for k in ("id", "name", "links")} for f in items]
            return Reply.json(200, {"flavors": items})
        flavor_id = parts[1]
        if flavor_id not in rt.flavors:
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        if parts[2:] == ["os-extra_specs"]:
            return Reply.json(200, {"extra_specs": dict(rt.flavors[flavor_id].extra_specs)})
        if len(parts) == 2:
            return Reply.json(200, {"flavor": _flavor_json(lab, rt, flavor_id)})
    if head == "os-hypervisors" and method == "GET":
        sub = parts[1:]
        if sub in ([], ["detail"]):
            page, marker = _paginate(req, rt.hv_order, NOVA_MAX_LIMIT)
            items = [_hypervisor_json(rt, h, detail=bool(sub)) for h in page]
            path = "compute/v2.1/os-hypervisors" + ("/detail" if sub else "")
            return Reply.json(200, {"hypervisors": items, **_links(lab, rt, path, req, marker, "hypervisors")})
        hv_id = sub[0]
        if hv_id not in rt.hypervisors:
            raise ApiError(404, f"Hypervisor with ID {hv_id} could not be found.")
        if sub[1:] == ["uptime"]:
            h = rt.hypervisors[hv_id]
            load = ", ".join(f"{x:.2f}" for x in h.load)
            uptime = f" 08:32:11 up {h.uptime_days} days,  3:05,  0 users,  load average: {load}"
            return Reply.json(200, {"hypervisor": {**_hypervisor_json(rt, hv_id, detail=False), "uptime": uptime}})
        if len(sub) == 1:
            return Reply.json(200, {"hypervisor": _hypervisor_json(rt, hv_id)})
    if head == "os-aggregates" and method == "GET" and len(parts) == 1:
        created = _ts(lab.estate.now - timedelta(days=500))
        items = [
            {
                "id": a.id,
                "uuid": f"00000000-0000-4000-8000-{a.id:012d}",
                "name": a.name,
                "availability_zone": a.az,
                "hosts": list(a.hosts),
                "metadata": dict(a.metadata),
                "created_at": created,
                "updated_at": None,
                "deleted": False,
                "deleted_at": None,
            }
            for a in rt.cloud.aggregates
        ]
        return Reply.json(200, {"aggregates": items})
    if head == "os-availability-zone" and method == "GET":
        zones = sorted({h.az for h in rt.cloud.hypervisors})
        return Reply.json(
            200,
            {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in zones]},
        )
    if head == "" and method == "GET":
        return Reply.json(
            200, {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.79", "min_version": "2.1"}}
        )
    raise ApiError(404, "The resource could not be found.")


def _get_server(rt: CloudRuntime, server_id: str) -> Server:
    server = rt.servers.get(server_id)
    if server is None:
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return server


def _servers(lab: LabRuntime, rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    method = req.method
    if parts in ([], ["detail"]) and method == "GET":
        order = rt.server_order()
        status, name = req.arg("status").upper(), req.arg("name")
        since = req.arg("changes-since")
        tombs: dict[str, Server] = {}
        if since:
            cutoff = _cutoff(since)
            order = [i for i in order if (rt.servers[i].updated or rt.servers[i].created) >= cutoff]
            tombs = {t.id: t for t in list(rt.tombstones.values()) if t.updated >= cutoff}
            order = order + list(tombs)
        if status or name:
            order = [
                i
                for i in order
                if i in rt.servers
                and (not status or rt.servers[i].status == status)
                and (not name or name in rt.servers[i].name)
            ]
        page, marker = _paginate(req, order, NOVA_MAX_LIMIT)
        servers = [s for s in (rt.servers.get(i) or tombs.get(i) for i in page) if s is not None]
        if parts:
            vols = rt.volumes_of()
            items = [
                rt.server_bytes(s) if s.id in rt.servers else _dumps(_server_json(lab, rt, s, vols)) for s in servers
            ]
        else:
            items = [_dumps({"id": s.id, "name": s.name}) for s in servers]
        path = "compute/v2.1/servers" + ("/detail" if parts else "")
        return Reply.listing("servers", items, _links(lab, rt, path, req, marker, "servers"))
    if parts == [] and method == "POST":
        return _create_server(lab, rt, req)
    server = _get_server(rt, parts[0])
    sub = parts[1:]
    if not sub:
        if method == "GET":
            return Reply.json(200, {"server": _server_json(lab, rt, server, rt.volumes_of())})
        if method == "DELETE":
            _delete_server(rt, server)
            return Reply(204)
        if method == "PUT":
            body = req.json() or {}
            new_name = (body.get("server") or {}).get("name")
            if new_name:
                with rt.lock:
                    server.name = str(new_name)
                    server.updated = _now()
                    rt._persist("servers", server.id, server)
            return Reply.json(200, {"server": _server_json(lab, rt, server, rt.volumes_of())})
    if sub == ["action"] and method == "POST":
        return _server_action(lab, rt, server, req)
    if sub[:1] == ["metadata"]:
        return _metadata(rt, server, sub[1:], req)
    raise ApiError(404, "The resource could not be found.")


def _metadata(rt: CloudRuntime, server: Server, sub: list[str], req: Request) -> Reply:
    method = req.method
    if method == "GET":
        if sub:
            if sub[0] not in server.metadata:
                raise ApiError(404, f"Metadata item was not found: {sub[0]}")
            return Reply.json(200, {"meta": {sub[0]: server.metadata[sub[0]]}})
        return Reply.json(200, {"metadata": server.metadata})
    body = req.json()
    with rt.lock:
        if method == "DELETE" and sub:
            if server.metadata.pop(sub[0], None) is None:
                raise ApiError(404, f"Metadata item was not found: {sub[0]}")
            result: Reply = Reply(204)
        elif method == "PUT" and sub:
            item = (body or {}).get("meta")
            if not isinstance(item, dict) or list(item) != [sub[0]]:
                raise ApiError(400, "Request body and URI mismatch")
            server.metadata = {**server.metadata, **_str_map(item)}
            result = Reply.json(200, {"meta": _str_map(item)})
        elif method in ("PUT", "POST") and not sub:
            meta = (body or {}).get("metadata")
            if not isinstance(meta, dict):
                raise ApiError(400, "Malformed request body: metadata must be an object")
            server.metadata = _str_map(meta) if method == "PUT" else {**server.metadata, **_str_map(meta)}
            result = Reply.json(200, {"metadata": server.metadata})
        else:
            raise ApiError(405, "Method not allowed")
        server.updated = _now()
        rt._persist("servers", server.id, server)
    return result


def _str_map(data: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ApiError(400, f"Invalid metadata value for key '{key}': must be a string")
        out[str(key)] = value
    return out


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "os-start": (("SHUTOFF",), "ACTIVE"),
    "os-stop": (("ACTIVE", "PAUSED", "SUSPENDED", "ERROR"), "SHUTOFF"),
    "reboot": (("ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR"), "ACTIVE"),
    "pause": (("ACTIVE",), "PAUSED"),
    "unpause": (("PAUSED",), "ACTIVE"),
    "suspend": (("ACTIVE",), "SUSPENDED"),
    "resume": (("SUSPENDED",), "ACTIVE"),
}


def _server_action(lab: LabRuntime, rt: CloudRuntime, server: Server, req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise ApiError(400, "Malformed request body: exactly one action expected")
    action, args = next(iter(body.items()))
    rt.settle(server)
    if action == "createImage":
        return _create_image(lab, rt, server, args if isinstance(args, dict) else {})
    if action not in _TRANSITIONS:
        raise ApiError(400, f"Unsupported server action '{action}'")
    allowed, target = _TRANSITIONS[action]
    with rt.lock:
        if server.status not in allowed:
            raise ApiError(
                409, f"Cannot '{action}' instance {server.id} while it is in vm_state {server.status.lower()}"
            )
        server.status = target
        server.updated = _now()
        rt._persist("servers", server.id, server)
    return Reply(202)


def _cutoff(since: str) -> str:
    """`changes-since` as our timestamp format, so that the strings compare in time order."""
    try:
        moment = datetime.fromisoformat(since.replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"Invalid changes-since value: {since}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _ts(moment)


def _delete_server(rt: CloudRuntime, server: Server) -> None:
    with rt.lock:
        rt.servers.pop(server.id, None)
        tomb = dataclasses.replace(server, status="DELETED", updated=_now(), metadata=dict(server.metadata))
        rt.tombstones[server.id] = tomb
        rt._persist("tombstones", server.id, tomb)
        rt.build_until.pop(server.id, None)
        for volume in rt.volumes.values():
            if volume.server_id == server.id:
                volume.server_id = None
                volume.device = ""
                volume.updated = _now()
                rt._persist("volumes", volume.id, volume)
        rt._persist("servers", server.id, None)
        rt._changed()


def _choose_host(rt: CloudRuntime, vcpus: int, ram_mb: int) -> str | None:
    """Most free RAM among hosts where the flavor fits (RAM 1.0, CPU per-pool overcommit)."""
    ratio = 4.0 if rt.cloud.pool == "legacy" else 2.0
    best, best_free = None, -1
    usage = rt.usage()
    for h in rt.cloud.hypervisors:
        used_cpu, used_ram, _disk, _n = usage.get(h.hostname, (0, 0, 0, 0))
        free_ram = h.memory_mb - 8192 - used_ram
        if free_ram >= ram_mb and used_cpu + vcpus <= h.vcpus * ratio and free_ram > best_free:
            best, best_free = h.hostname, free_ram
    return best


def _create_server(lab: LabRuntime, rt: CloudRuntime, req: Request) -> Reply:
    body = req.json()
    spec = body.get("server") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or not spec.get("name"):
        raise ApiError(400, "Invalid input for field/attribute server: 'name' is a required property")
    flavor = rt.flavors.get(str(spec.get("flavorRef", "")).rsplit("/", 1)[-1])
    if flavor is None:
        raise ApiError(400, f"Flavor {spec.get('flavorRef')} could not be found.")
    image_id = str(spec.get("imageRef", "")).rsplit("/", 1)[-1]
    image = rt.images.get(image_id)
    if image is None or image.status != "active":
        raise ApiError(400, f"Image {image_id} could not be found or is not active.")
    if image.architecture != rt.cloud.arch:
        raise ApiError(400, f"Image {image_id} is {image.architecture}; this cloud's hosts are {rt.cloud.arch}")
    metadata = _str_map(spec.get("metadata") or {})
    networks = spec.get("networks") or []
    net_index, fixed_ip = 0, ""
    if isinstance(networks, list) and networks and isinstance(networks[0], dict):
        wanted = networks[0].get("uuid")
        ids = [n.id for n in rt.internal]
        if wanted and wanted not in ids:
            raise ApiError(400, f"Network {wanted} could not be found.")
        net_index = ids.index(wanted) if wanted else 0
        fixed_ip = str(networks[0].get("fixed_ip") or "")
    groups = tuple(str(g.get("name")) for g in spec.get("security_groups") or [] if isinstance(g, dict)) or ("default",)
    unknown = [g for g in groups if g not in rt.sg_by_name]
    if unknown:
        raise ApiError(400, f"Security group {unknown[0]} not found.")
    rng_id = secrets.token_hex(16)
    server_id = f"{rng_id[:8]}-{rng_id[8:12]}-4{rng_id[13:16]}-a{rng_id[17:20]}-{rng_id[20:32]}"
    now = _now()
    with rt.lock:
        used = {s.ip for s in rt.servers.values() if s.network_index == net_index}
        if fixed_ip and fixed_ip in used:
            raise ApiError(409, f"Fixed IP address {fixed_ip} is already in use on instance.")
        if not fixed_ip:
            import ipaddress

            net = ipaddress.ip_network(rt.internal[net_index].cidr)
            fixed_ip = next(str(a) for a in list(net.hosts())[9:] if str(a) not in used)
        host = _choose_host(rt, flavor.vcpus, flavor.ram_mb)
        fault = None
        if host is None:
            fault = {"code": "500", "message": "No valid host was found. There are not enough hosts available."}
        elif rt.faults.boot_error:
            fault = {"code": "500", "message": "Build of instance aborted: Failed to allocate the network(s)."}
        h = rt.hv_by_name.get(host or "")
        server = Server(
            id=server_id,
            name=str(spec["name"]),
            flavor_id=flavor.id,
            image_id=image.id,
            host=host or "",
            az=h.az if h else str(spec.get("availability_zone") or ""),
            status="BUILD",
            created=now,
            metadata=metadata,
            network_index=net_index,
            ip=fixed_ip,
            port_id=secrets.token_hex(16),
            security_groups=groups,
            role=metadata.get("role", ""),
            updated=now,
            fault=fault,
        )
        rt.servers[server.id] = server
        rt.build_until[server.id] = (time.monotonic() + BUILD_SECONDS, "ERROR" if fault else "ACTIVE")
        rt._persist("servers", server.id, server)
        rt._changed()
    admin_pass = secrets.token_urlsafe(12)
    href = f"{lab.url(rt.name, 'compute/v2.1')}/servers/{server.id}"
    return Reply.json(
        202,
        {
            "server": {
                "id": server.id,
                "adminPass": admin_pass,
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": g} for g in groups],
                "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
            }
        },
        {"Location": href},
    )


def _create_image(lab: LabRuntime, rt: CloudRuntime, server: Server, args: Mapping[str, Any]) -> Reply:
    name = str(args.get("name") or "")
    if not name:
        raise ApiError(400, "createImage needs a name")
    source = rt.images.get(server.image_id)
    base = None
    if source is not None and rt.image_file(source).exists():
        base = (rt.image_file(source), source.disk_format)
    try:
        disk = disks.ensure_server_disk(lab.lab_dir, rt.name, server.id, base)
    except disks.DiskError as exc:
        raise ApiError(500, f"snapshot failed: {exc}") from None
    rng_id = secrets.token_hex(16)
    image_id = f"{rng_id[:8]}-{rng_id[8:12]}-4{rng_id[13:16]}-b{rng_id[17:20]}-{rng_id[20:32]}"
    props = {"image_type": "snapshot", "instance_uuid": server.id, "base_image_ref": server.image_id}
    props.update(_str_map(args.get("metadata") or {}))
    now = _now()
    image = Image(
        id=image_id,
        name=name,
        architecture=source.architecture if source else rt.cloud.arch,
        os_distro=source.os_distro if source else "",
        os_version=source.os_version if source else "",
        os_family=source.os_family if source else "",
        disk_format="qcow2",
        created=now,
        min_disk=source.min_disk if source else 0,
        visibility="private",
        properties=props,
    )
    dest = rt.image_file(image)
    disks.convert(disk, "qcow2", dest, "qcow2")
    with rt.lock:
        rt.images[image.id] = image
        rt._persist("images", image.id, image)
    location = f"{lab.url(rt.name, 'image')}/v2/images/{image.id}"
    return Reply.json(202, {"image_id": image.id}, {"Location": location})


# --------------------------------------------------------------------------- glance


_IMAGE_CORE = (
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "min_disk",
    "min_ram",
    "protected",
    "tags",
    "id",
)
_IMAGE_READONLY = ("status", "size", "checksum", "created_at", "updated_at", "file", "self", "schema", "owner")


def _image_json(rt: CloudRuntime, image: Image) -> dict[str, Any]:
    digests = rt.image_digests(image)
    size, md5, sha = digests if digests else (image.size, image.checksum, image.os_hash_value)
    out: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": False,
        "tags": [],
        "container_format": "bare",
        "disk_format": image.disk_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "size": size,
        "virtual_size": disks.DISK_BYTES if digests else None,
        "checksum": md5,
        "os_hash_algo": "sha512" if sha else None,
        "os_hash_value": sha,
        "owner": rt.cloud.project_id,
        "created_at": image.created,
        "updated_at": image.created,
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
        "architecture": image.architecture,
        "os_distro": image.os_distro,
        "os_version": image.os_version,
    }
    for key, value in image.properties.items():
        out.setdefault(key, value)
    return out


def _image(lab: LabRuntime, rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    method = req.method
    if parts == ["images"] and method == "GET":
        order = list(rt.images)
        page, marker = _paginate(req, order, GLANCE_DEFAULT_LIMIT)
        payload: dict[str, Any] = {
            "images": [_image_json(rt, rt.images[i]) for i in page],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if marker:
            payload["next"] = (
                f"/v2/images?{urlencode({'marker': marker, 'limit': req.arg('limit', str(GLANCE_DEFAULT_LIMIT))})}"
            )
        return Reply.json(200, payload)
    if parts == ["images"] and method == "POST":
        return _register_image(rt, req)
    if len(parts) < 2 or parts[0] != "images":
        raise ApiError(404, "The resource could not be found.")
    image = rt.images.get(parts[1])
    if image is None:
        raise ApiError(404, f"No image found with ID {parts[1]}")
    sub = parts[2:]
    if not sub and method == "GET":
        return Reply.json(200, _image_json(rt, image))
    if not sub and method == "DELETE":
        with rt.lock:
            rt.images.pop(image.id, None)
            rt.image_file(image).unlink(missing_ok=True)
            rt._persist("images", image.id, None)
        return Reply(204)
    if not sub and method == "PATCH":
        return _patch_image(rt, image, req)
    if sub == ["file"] and method == "PUT":
        return _upload(rt, image, req)
    if sub == ["file"] and method == "GET":
        if image.status != "active":
            return Reply(204)
        try:
            path = disks.ensure_image_file(lab.lab_dir, rt.name, image.id, image.disk_format)
        except disks.DiskError as exc:
            raise ApiError(503, str(exc)) from None
        digests = rt.image_digests(image)
        headers = {"Content-Type": "application/octet-stream"}
        if digests:
            headers["Content-MD5"] = digests[1]
        return Reply(200, headers=headers, file=path)
    raise ApiError(404, "The resource could not be found.")


def _register_image(rt: CloudRuntime, req: Request) -> Reply:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    fmt = str(body.get("disk_format") or "")
    if fmt and fmt not in disks.FORMATS:
        raise ApiError(400, f"Invalid disk format '{fmt}' (lab supports {', '.join(disks.FORMATS)})")
    image_id = str(body.get("id") or "")
    if not image_id:
        h = secrets.token_hex(16)
        image_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-9{h[17:20]}-{h[20:32]}"
    if image_id in rt.images:
        raise ApiError(409, f"Image with identifier {image_id} already exists!")
    props = {k: str(v) for k, v in body.items() if k not in (*_IMAGE_CORE, *_IMAGE_READONLY)}
    image = Image(
        id=image_id,
        name=str(body.get("name") or ""),
        architecture=props.pop("architecture", ""),
        os_distro=props.pop("os_distro", ""),
        os_version=props.pop("os_version", ""),
        os_family="",
        disk_format=fmt or "raw",
        created=_now(),
        min_disk=int(body.get("min_disk") or 0),
        min_ram=int(body.get("min_ram") or 0),
        status="queued",
        visibility=str(body.get("visibility") or "private"),
        properties=props,
    )
    with rt.lock:
        rt.images[image.id] = image
        rt._persist("images", image.id, image)
    return Reply.json(201, _image_json(rt, image), {"Location": f"/v2/images/{image.id}"})


def _patch_image(rt: CloudRuntime, image: Image, req: Request) -> Reply:
    ops = req.json()
    if not isinstance(ops, list):
        raise ApiError(400, "body must be a JSON patch (a list of operations)")
    with rt.lock:
        for op in ops:
            key = str(op.get("path", "")).lstrip("/")
            if key in _IMAGE_READONLY or not key:
                raise ApiError(403, f"Attribute '{key}' is read-only.")
            if op.get("op") in ("add", "replace"):
                value = op.get("value")
                if key in ("name", "architecture", "os_distro", "os_version", "visibility"):
                    setattr(image, key, str(value))
                elif key in ("min_disk", "min_ram"):
                    setattr(image, key, int(value))
                else:
                    image.properties[key] = str(value)
            elif op.get("op") == "remove":
                image.properties.pop(key, None)
        rt._persist("images", image.id, image)
    return Reply.json(200, _image_json(rt, image))


def _upload(rt: CloudRuntime, image: Image, req: Request) -> Reply:
    if image.status not in ("queued", "saving"):
        raise ApiError(409, f"Image {image.id} already has data (status {image.status}).")
    upload = req.body
    dest = rt.image_file(image)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.upload")
    tmp.write_bytes(upload)
    tmp.replace(dest)
    size, md5, sha = disks.file_digests(dest)
    with rt.lock:
        image.status, image.size, image.checksum, image.os_hash_value = "active", size, md5, sha
        rt._persist("images", image.id, image)
    return Reply(204)


# --------------------------------------------------------------------------- cinder


def _volume_json(rt: CloudRuntime, v: Volume) -> dict[str, Any]:
    server = rt.servers.get(v.server_id or "")
    vtype = next((t for t in rt.cloud.volume_types if t.name == v.volume_type), None)
    attachments = []
    if server is not None:
        attachments.append(
            {
                "id": v.id,
                "attachment_id": hashlib.md5(f"{v.id}{server.id}".encode(), usedforsecurity=False).hexdigest(),
                "volume_id": v.id,
                "server_id": server.id,
                "host_name": server.host,
                "device": v.device,
                "attached_at": v.created,
            }
        )
    return {
        "id": v.id,
        "name": v.name,
        "status": "in-use" if attachments else "available",
        "size": v.size_gb,
        "volume_type": v.volume_type,
        "availability_zone": v.az,
        "bootable": "true" if v.bootable else "false",
        "encrypted": bool(vtype and vtype.encryption_provider),
        "multiattach": False,
        "attachments": attachments,
        "metadata": v.metadata,
        "created_at": v.created,
        "updated_at": v.updated or None,
        "description": None,
        "snapshot_id": None,
        "source_volid": None,
        "replication_status": "disabled",
        "user_id": rt.cloud.user,
        "os-vol-tenant-attr:tenant_id": rt.cloud.project_id,
        "os-vol-host-attr:host": f"cinder-{rt.name}@ceph#{v.volume_type}",
        "links": [{"rel": "self", "href": f"{rt.lab.url(rt.name, 'volume/v2')}/{rt.cloud.project_id}/volumes/{v.id}"}],
    }


def _volume(lab: LabRuntime, rt: CloudRuntime, parts: list[str], req: Request, version: str = "v2") -> Reply:
    if req.method != "GET":
        raise ApiError(405, "The lab's Cinder is read-only")
    head = parts[0] if parts else ""
    base = f"volume/{version}/{rt.cloud.project_id}"
    if head == "volumes":
        if parts[1:] in ([], ["detail"]):
            order = _volumes_in_time_window(rt, req, version)
            page, marker = _paginate(req, order, NOVA_MAX_LIMIT)
            volumes = [v for v in (rt.volumes.get(i) for i in page) if v is not None]
            if parts[1:]:
                items = [rt.volume_bytes(v) for v in volumes]
            else:
                items = [_dumps({"id": v.id, "name": v.name}) for v in volumes]
            path = f"{base}/volumes" + ("/detail" if parts[1:] else "")
            return Reply.listing("volumes", items, _links(lab, rt, path, req, marker, "volumes"))
        volume = rt.volumes.get(parts[1])
        if volume is None or len(parts) > 2:
            raise ApiError(404, f"Volume {parts[1]} could not be found.")
        return Reply.json(200, {"volume": _volume_json(rt, volume)})
    if head == "snapshots":
        snaps = {s.id: s for s in rt.cloud.snapshots if s.volume_id in rt.volumes}
        snap_items: list[dict[str, Any]] = [
            {
                "id": s.id,
                "name": s.name,
                "status": "available",
                "size": s.size_gb,
                "volume_id": s.volume_id,
                "created_at": s.created,
                "updated_at": None,
                "description": None,
                "metadata": {},
                "progress": "100%",
                "os-extended-snapshot-attributes:project_id": rt.cloud.project_id,
            }
            for s in snaps.values()
        ]
        if parts[1:] in ([], ["detail"]):
            page, marker = _paginate(req, [i["id"] for i in snap_items], NOVA_MAX_LIMIT)
            wanted = set(page)
            path = f"{base}/snapshots" + ("/detail" if parts[1:] else "")
            return Reply.json(
                200,
                {
                    "snapshots": [i for i in snap_items if i["id"] in wanted],
                    **_links(lab, rt, path, req, marker, "snapshots"),
                },
            )
        found = [i for i in snap_items if i["id"] == parts[1]]
        if not found:
            raise ApiError(404, f"Snapshot {parts[1]} could not be found.")
        return Reply.json(200, {"snapshot": found[0]})
    if head == "types":

        def type_json(t: Any) -> dict[str, Any]:
            return {"id": t.id, "name": t.name, "is_public": True, "description": None,
                    "extra_specs": {"volume_backend_name": f"ceph-{t.name}"}}  # fmt: skip

        if len(parts) == 1:
            return Reply.json(200, {"volume_types": [type_json(t) for t in rt.cloud.volume_types]})
        vtype = rt.volume_types.get(parts[1])
        if vtype is None:
            raise ApiError(404, f"Volume type {parts[1]} could not be found.")
        if parts[2:] == ["encryption"]:
            if not vtype.encryption_provider:
                return Reply.json(200, {})
            return Reply.json(
                200,
                {
                    "volume_type_id": vtype.id,
                    "encryption_id": vtype.encryption_id,
                    "provider": vtype.encryption_provider,
                    "cipher": vtype.encryption_cipher,
                    "key_size": 256,
                    "control_location": "front-end",
                    "deleted": False,
                    "created_at": _ts(lab.estate.now - timedelta(days=500)),
                    "updated_at": None,
                    "deleted_at": None,
                },
            )
        if len(parts) == 2:
            return Reply.json(200, {"volume_type": type_json(vtype)})
    raise ApiError(404, "The resource could not be found.")


# --------------------------------------------------------------------------- neutron


def _network(lab: LabRuntime, rt: CloudRuntime, parts: list[str], req: Request) -> Reply:
    if req.method != "GET":
        raise ApiError(405, "The lab's Neutron is read-only")
    cloud = rt.cloud
    owner = {"tenant_id": cloud.project_id, "project_id": cloud.project_id}
    created = _ts(lab.estate.now - timedelta(days=500))
    head = parts[0] if parts else ""
    builders: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "networks": lambda: [
            {"id": n.id, "name": n.name, "status": "ACTIVE", "admin_state_up": True, "shared": n.shared,
             "router:external": n.external, "subnets": [n.subnet_id], "mtu": 1500,
             "provider:network_type": "flat" if n.external else "vlan", "availability_zones": ["nova"],
             "port_security_enabled": True, "is_default": n.external, "description": "", "tags": [],
             "created_at": created, "updated_at": created, **owner}
            for n in rt.networks
        ],
        "subnets": lambda: [
            {"id": n.subnet_id, "name": f"{n.name}-subnet", "network_id": n.id, "cidr": n.cidr, "ip_version": 4,
             "gateway_ip": n.gateway, "enable_dhcp": not n.external, "dns_nameservers": [], "host_routes": [],
             "allocation_pools": [{"start": _offset(n.cidr, 2), "end": _offset(n.cidr, -2)}],
             "created_at": created, "updated_at": created, **owner}
            for n in rt.networks
        ],
        "ports": lambda: _ports(rt, owner),
        "security-groups": lambda: [
            {"id": g.id, "name": g.name, "description": g.description, "stateful": True, "tags": [],
             "created_at": created, "updated_at": created, **owner,
             "security_group_rules": [_rule_json(r, g.id, owner) for r in g.rules]}
            for g in cloud.security_groups
        ],
        "security-group-rules": lambda: [_rule_json(r, g.id, owner) for g in cloud.security_groups for r in g.rules],
    }  # fmt: skip
    build = builders.get(head)
    if build is None:
        raise ApiError(404, "The resource could not be found.")
    key = head.replace("-", "_")
    items = build()
    if len(parts) == 2:
        found = [i for i in items if i["id"] == parts[1]]
        if not found:
            raise ApiError(404, f"{key[:-1]} {parts[1]} could not be found.")
        return Reply.json(200, {key[:-1]: found[0]})
    items = _filtered(items, req)
    # Neutron's `?fields=a&fields=b`: only those attributes of each item.
    fields = req.query.get("fields")
    project = (lambda i: {k: i[k] for k in fields if k in i}) if fields else (lambda i: i)
    if "limit" in req.query:
        page, marker = _paginate(req, [i["id"] for i in items], NOVA_MAX_LIMIT)
        wanted = set(page)
        items = [project(i) for i in items if i["id"] in wanted]
        return Reply.json(200, {key: items, **_links(lab, rt, f"network/v2.0/{head}", req, marker, key)})
    return Reply.json(200, {key: [project(i) for i in items]})


def _offset(cidr: str, k: int) -> str:
    import ipaddress

    net = ipaddress.ip_network(cidr)
    return str(net.network_address + k if k >= 0 else net.broadcast_address + k + 1)


def _rule_json(r: Any, group_id: str, owner: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": r.id,
        "direction": r.direction,
        "protocol": r.protocol,
        "port_range_min": r.port_min,
        "port_range_max": r.port_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "remote_group_id": None,
        "ethertype": r.ethertype,
        "security_group_id": group_id,
        **owner,
    }


def _ports(rt: CloudRuntime, owner: Mapping[str, str]) -> list[dict[str, Any]]:
    cached = rt.ports_cache
    if cached is None:
        cached = rt.ports_cache = _build_ports(rt, owner)
    return cached


def _build_ports(rt: CloudRuntime, owner: Mapping[str, str]) -> list[dict[str, Any]]:
    groups = {g.name: g.id for g in rt.cloud.security_groups}
    out = []
    for s in list(rt.servers.values()):
        net = rt.internal[min(s.network_index, len(rt.internal) - 1)]
        out.append(
            {
                "id": s.port_id,
                "name": "",
                "network_id": net.id,
                "device_id": s.id,
                "device_owner": f"compute:{s.az}",
                "mac_address": _mac(s.port_id),
                "fixed_ips": [{"subnet_id": net.subnet_id, "ip_address": s.ip}],
                "status": "ACTIVE" if s.status == "ACTIVE" else "DOWN",
                "admin_state_up": True,
                "security_groups": [groups[g] for g in s.security_groups if g in groups],
                "binding:host_id": s.host,
                "binding:vnic_type": "normal",
                **owner,
            }
        )
    return out


# --------------------------------------------------------------------------- metric


def _metrics(rt: CloudRuntime, req: Request) -> Reply:
    wanted = req.arg("server_id")
    if not wanted and rt.metrics_cache is not None:
        return Reply(200, rt.metrics_cache, {"Content-Type": JSON})
    items = []
    for server_id in rt.server_order():
        if wanted and server_id != wanted:
            continue
        cpu_avg, cpu_p95, ram_avg = utilization(server_id)
        items.append(
            {
                "server_id": server_id,
                "cpu_avg_pct": cpu_avg,
                "cpu_p95_pct": cpu_p95,
                "ram_avg_pct": ram_avg,
                "window_days": 30,
            }
        )
    reply = Reply.json(200, items)
    if not wanted:
        rt.metrics_cache = reply.body
    return reply
