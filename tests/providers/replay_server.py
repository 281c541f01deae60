"""Replay libcloud's own recorded OpenStack responses over real loopback HTTP.

libcloud ships real recorded API answers under libcloud/test/compute/fixtures/openstack_v1_1
(Nova, Glance v2, Cinder v2, Neutron) and libcloud/test/compute/fixtures/openstack (Keystone).
This server answers a Keystone v3 password login with a token whose catalog (nova, glance,
neutron, cinderv2) points back at itself, then serves those files by path, so libcloud's
OpenStack driver, and so ganyun, talk to it exactly as to a cloud.

What is recorded and what is not: every listing body is a libcloud fixture file, unchanged.
Synthesized: the token's catalog (it must point here), empty `extra_specs` for flavors whose
extra specs libcloud did not record, and 404 for APIs with no recording (os-hypervisors,
os-aggregates, volume types): a cloud that does not offer those to this account.

    url, stop = serve_openstack_fixtures()
    # ganyun.yaml: driver openstack, options {ex_force_auth_url: url,
    #   ex_force_auth_version: 3.x_password, ex_tenant_name: demo, ex_domain_name: Default}
    stop()

`python -m tests.providers.replay_server` serves until interrupted and prints the URL.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import libcloud

FIXTURES = Path(libcloud.__file__).parent / "test" / "compute" / "fixtures"
NOVA = FIXTURES / "openstack_v1_1"
KEYSTONE = FIXTURES / "openstack"
PROJECT = "9c4693dce56b493b9b83197d900f7fba"
REGION = "RegionOne"
TOKEN = "gAAAAABreplayedtoken000000000000"
WRONG_PASSWORD = "wrong-password"

Answer = tuple[int, dict[str, str], bytes]
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def _file(path: Path) -> Answer:
    return 200, dict(JSON), path.read_bytes()


def _not_found(path: str) -> Answer:
    body = {"itemNotFound": {"code": 404, "message": f"no recorded response for {path}"}}
    return 404, dict(JSON), json.dumps(body).encode()


def catalog(base: str) -> list[dict[str, Any]]:
    def entry(kind: str, name: str, url: str) -> dict[str, Any]:
        return {
            "type": kind,
            "name": name,
            "id": f"{name}-id",
            "endpoints": [{"id": f"{name}-public", "interface": "public", "region": REGION, "url": url}],
        }

    return [
        entry("identity", "keystone", f"{base}/identity/v3"),
        entry("compute", "nova", f"{base}/compute/v2.1"),
        entry("image", "glance", f"{base}/image"),
        entry("network", "neutron", f"{base}/network"),
        entry("volumev2", "cinderv2", f"{base}/volume/v2/{PROJECT}"),
    ]


def _token(base: str, body: bytes) -> Answer:
    try:
        password = json.loads(body)["auth"]["identity"]["password"]["user"]["password"]
    except (ValueError, KeyError, TypeError):
        return 400, dict(JSON), b'{"error": {"code": 400, "message": "malformed auth request"}}'
    if password == WRONG_PASSWORD:
        return (
            401,
            dict(JSON),
            b'{"error": {"code": 401, "message": "The request you have made requires authentication."}}',
        )
    recorded = json.loads((KEYSTONE / "_v3__auth.json").read_text())
    token = recorded["token"]
    token["expires_at"] = "2999-01-01T00:00:00.000000Z"
    token["catalog"] = catalog(base)
    return 201, {**JSON, "X-Subject-Token": TOKEN}, json.dumps(recorded).encode()


_FLAVOR_SPECS = re.compile(r"^/compute/v2\.1/flavors/([^/]+)/os-extra_specs$")
_SERVER = re.compile(r"^/compute/v2\.1/servers/([^/]+)$")
_IMAGE = re.compile(r"^/image/v2/images/([^/]+)$")
_VOLUME_ROOT = f"/volume/v2/{PROJECT}"

_LISTINGS = {
    "/compute/v2.1/servers/detail": "_servers_detail.json",
    "/compute/v2.1/flavors/detail": "_flavors_detail.json",
    f"{_VOLUME_ROOT}/volumes/detail": "_v2_0__volumes.json",
    f"{_VOLUME_ROOT}/snapshots/detail": "_v2_0__snapshots.json",
    "/network/v2.0/networks": "_v2_0__networks.json",
    "/network/v2.0/subnets": "_v2_0__subnets.json",
    "/network/v2.0/security-groups": "_v2_0__security_groups.json",
    "/network/v2.0/ports": "_ports_v2.json",
}


def openstack_route(method: str, url: str, body: bytes, base: str) -> Answer:
    """The recorded answer for one request (shared by the HTTP server and in-process tests)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    query = parse_qs(parts.query)
    if method == "POST" and path == "/identity/v3/auth/tokens":
        return _token(base, body)
    if method != "GET":
        return 405, dict(JSON), b'{"error": {"code": 405, "message": "the replay server is read-only"}}'
    if path in _LISTINGS:
        return _file(NOVA / _LISTINGS[path])
    if path == "/image/v2/images":
        # Glance pagination as recorded: page 1 names page 2 through `next` (marker=...).
        return _file(NOVA / ("_images_v2_page2.json" if "marker" in query else "_images_v2.json"))
    if m := _FLAVOR_SPECS.match(path):
        if m.group(1) == "7":
            return _file(NOVA / "_flavor_extra_specs.json")
        flavors = json.loads((NOVA / "_flavors_detail.json").read_text())["flavors"]
        if any(str(f["id"]) == m.group(1) for f in flavors):
            return 200, dict(JSON), b'{"extra_specs": {}}'
        return _not_found(path)
    if m := _SERVER.match(path):
        candidate = NOVA / f"_servers_{m.group(1)}.json"
        return _file(candidate) if candidate.exists() else _not_found(path)
    if m := _IMAGE.match(path):
        candidate = NOVA / f"_images_{m.group(1)}.json"
        return _file(candidate) if candidate.exists() else _not_found(path)
    return _not_found(path)


Route = Callable[[str, str, bytes, str], Answer]


def serve(route: Route, overrides: Mapping[str, Answer] | None = None) -> tuple[str, Callable[[], None]]:
    """Serve `route` on 127.0.0.1 (any free port); `overrides` answer chosen paths instead."""
    fixed = dict(overrides or {})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without TCP_NODELAY, Nagle + delayed ACK
        # add ~40 ms to every small keep-alive answer.
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path.rstrip("/")
            if path in fixed:
                status, headers, data = fixed[path]
            else:
                status, headers, data = route(self.command, self.path, body, base)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="openstack-replay", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return base, stop


def serve_openstack_fixtures(overrides: Mapping[str, Answer] | None = None) -> tuple[str, Callable[[], None]]:
    """Start the replay server; returns (Keystone auth URL, stop)."""
    base, stop = serve(openstack_route, overrides)
    return f"{base}/identity", stop


def driver_options(auth_url: str) -> dict[str, str]:
    """The `options:` of a ganyun openstack provider pointing at this server."""
    return {
        "ex_force_auth_url": auth_url,
        "ex_force_auth_version": "3.x_password",
        "ex_tenant_name": "demo",
        "ex_domain_name": "Default",
        "ex_force_service_region": REGION,
    }


if __name__ == "__main__":
    import time

    auth_url, _stop = serve_openstack_fixtures()
    print(auth_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _stop()
