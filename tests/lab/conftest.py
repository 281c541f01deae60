"""A small lab started once per worker for the tests that talk HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import control
from tests.lab.running import small_lab


@dataclass
class Lab:
    dir: Path
    config_path: Path
    config: dict[str, Any]

    def provider(self, name: str) -> dict[str, Any]:
        return next(p for p in self.config["providers"] if p["name"] == name)

    def credentials(self, name: str) -> tuple[str, str]:
        from inventory.config import load_config
        from security.vault import Vault

        return Vault.open(load_config(self.config_path)).get(name)

    def driver(self, name: str, timeout: float | None = None) -> Any:
        from libcloud.compute.providers import get_driver
        from libcloud.compute.types import Provider

        key, secret = self.credentials(name)
        cls = get_driver(Provider.OPENSTACK)
        kwargs = dict(self.provider(name)["options"])
        if timeout is not None:
            kwargs["timeout"] = timeout
        return cls(key, secret, api_version="2.2", **kwargs)

    def faults(self, cloud: str | None, clear: bool = False, **kinds: Any) -> dict[str, Any]:
        return control.set_faults(self.dir, cloud, kinds, clear=clear)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab_dir = tmp_path_factory.mktemp("lab")
    with small_lab(lab_dir) as path:
        yield Lab(lab_dir.resolve(), path, yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.fixture
def clean_faults(lab: Lab) -> Iterator[Lab]:
    lab.faults(None, clear=True)
    yield lab
    lab.faults(None, clear=True)


def token(lab: Lab, cloud: str) -> str:
    import requests

    key, secret = lab.credentials(cloud)
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": key, "domain": {"name": "Default"}, "password": secret}},
            },
            "scope": {"project": {"name": "gov-ops", "domain": {"id": "default"}}},
        }
    }
    resp = requests.post(lab.provider(cloud)["options"]["ex_force_auth_url"] + "/v3/auth/tokens", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def call(lab: Lab, cloud: str, method: str, path: str, **kwargs: Any) -> Any:
    """A raw request to /<cloud>/<path> with a fresh token."""
    import requests

    base = lab.provider(cloud)["options"]["ex_force_auth_url"].rsplit("/", 1)[0]
    headers = {"X-Auth-Token": token(lab, cloud), **kwargs.pop("headers", {})}
    return requests.request(method, f"{base}/{path}", headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)
