"""Keystone v3: password authentication and the catalog that names every lab service."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lab.api.cloud import CloudRuntime
from lab.api.http import Reply, Request
from lab.api.tokens import Tokens


def handle(
    rt: CloudRuntime, req: Request, rest: list[str], passwords_sha256: Mapping[str, str], tokens: Tokens
) -> Reply:
    if rest in ([], ["v3"]):
        version = {
            "id": "v3.14",
            "status": "stable",
            "links": [{"rel": "self", "href": rt.lab.url(rt.name, "identity/v3")}],
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
    want = passwords_sha256.get(rt.name, "")
    given = hashlib.sha256(password.encode()).hexdigest()
    if (
        name != cloud.user
        or domain.lower() not in (cloud.domain.lower(), "default")
        or not (want and hmac.compare_digest(want, given))
    ):
        return Reply.error(401, "The request you have made requires authentication.")
    if project and project.get("name") not in (None, cloud.project_name):
        return Reply.error(401, f"project {project.get('name')} not found for user {name}")
    token, expires = tokens.issue(rt.name)
    now = datetime.now(UTC)

    def service(kind: str, name: str, path: str) -> dict[str, Any]:
        url = rt.lab.url(rt.name, path)
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
