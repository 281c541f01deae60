"""A hostile tenant of the lab: renames and re-tags its own VMs through the cloud's Nova API,
with its own Keystone token, exactly as a tenant of a real OpenStack cloud would."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inventory.config import load_config
from inventory.credentials import provider_spec
from security.vault import VaultCredentials


def payloads(markers: Path) -> dict[str, str]:
    """Text that executes something on the control node if anything treats it as code.

    Each payload would create a file in `markers`: the tests assert that directory stays empty.
    """
    m = str(markers)
    return {
        "jinja_pipe": f"web{{{{ lookup('pipe','id > {m}/pwned-jinja.txt') }}}}",
        "jinja_stmt": f"{{% set x = lookup('pipe','touch {m}/jinja-stmt') %}}{{{{ 7*7 }}}}",
        "jinja_raw": "{{ 7*7 }}{# c #}{% raw %}",
        "shell": f"$(touch {m}/shell-subst) `touch {m}/shell-backtick`; touch {m}/shell-semi",
        "newline": "line1\nrestore = evil\r\n[evil]\x00\x1b[31m\x85\u2028end",
        "path": "../../../../tmp/'quoted\"/x",
    }


class Tenant:
    """One cloud of the lab seen by its tenant (user, password and project from the vault)."""

    def __init__(self, config_path: Path, cloud: str) -> None:
        config = load_config(config_path)
        spec = provider_spec(config.provider(cloud), VaultCredentials(config))
        auth_url = str(spec.options["ex_force_auth_url"]).rstrip("/")
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": spec.key, "password": spec.secret, "domain": {"name": "Default"}}},
                },
                "scope": {"project": {"name": spec.options["ex_tenant_name"], "domain": {"name": "Default"}}},
            }
        }
        request = urllib.request.Request(
            f"{auth_url}/v3/auth/tokens",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            self.token = resp.headers["X-Subject-Token"]
            catalog = json.load(resp)["token"]["catalog"]
        compute = next(s for s in catalog if s["type"] == "compute")
        self.compute = next(e["url"] for e in compute["endpoints"] if e["interface"] == "public").rstrip("/")

    def _call(self, method: str, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            f"{self.compute}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Auth-Token": self.token},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.load(resp)

    def rename(self, server_id: str, name: str) -> None:
        """PUT /servers/{id} {"server": {"name": ...}}"""
        got = self._call("PUT", f"/servers/{server_id}", {"server": {"name": name}})
        assert got["server"]["name"] == name

    def tag(self, server_id: str, metadata: Mapping[str, str]) -> None:
        """POST /servers/{id}/metadata: merged into the server's metadata."""
        got = self._call("POST", f"/servers/{server_id}/metadata", {"metadata": dict(metadata)})
        assert all(got["metadata"][k] == v for k, v in metadata.items())
