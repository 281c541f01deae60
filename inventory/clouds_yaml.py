"""OpenStack's own `clouds.yaml` as ganyun provider entries.

Each selected cloud becomes one `driver: openstack` provider whose password goes to the vault
(`credentials: vault:<name>`), never into ganyun.yaml. What ganyun reads, as openstacksdk does:
`clouds.<name>.auth` (auth_url, username, password, project_name or project_id, user and project
domain names), `region_name`, and `secure.yaml` beside the file (the split-out secrets). Only
password authentication maps onto libcloud's Keystone v3 login; other auth types are refused
by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from providers.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PASSWORD_AUTH = ("password", "v3password", "")


@dataclass(frozen=True)
class ImportedCloud:
    """One provider entry and the credential that goes with it into the vault."""

    entry: dict[str, Any]
    username: str
    password: str = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.entry["name"])


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a YAML mapping with `clouds:`")
    return data


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
        )
    return out


def _auth_url(value: str) -> str:
    """libcloud appends /v3/auth/tokens itself: the Keystone root, without a version."""
    return re.sub(r"/v3/?$", "", value.rstrip("/"))


def read_clouds(path: Path) -> dict[str, dict[str, Any]]:
    """Every cloud of clouds.yaml, with secure.yaml's secrets merged in."""
    data = _read(path)
    clouds = data.get("clouds")
    if not isinstance(clouds, dict) or not clouds:
        raise ConfigError(f"{path}: no `clouds:` mapping")
    secure_path = path.with_name("secure.yaml")
    secure = _read(secure_path).get("clouds", {}) if secure_path.exists() else {}
    out: dict[str, dict[str, Any]] = {}
    for name, cloud in clouds.items():
        if not isinstance(cloud, dict):
            raise ConfigError(f"{path}: clouds.{name} must be a mapping")
        extra = secure.get(name) if isinstance(secure, dict) else None
        out[str(name)] = _merge(cloud, extra) if isinstance(extra, dict) else dict(cloud)
    return out


def to_provider(name: str, cloud: Mapping[str, Any], center: str = "", pool: str = "legacy") -> ImportedCloud:
    """One cloud as a provider entry; ConfigError naming what is missing or unsupported."""
    where = f"clouds.{name}"
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: '{name}' is not a usable provider name (letters, digits, '_', '.', '-')")
    auth_type = str(cloud.get("auth_type") or "").lower()
    if auth_type not in _PASSWORD_AUTH:
        raise ConfigError(f"{where}: auth_type '{auth_type}' is not supported (password authentication only)")
    auth = cloud.get("auth")
    if not isinstance(auth, dict):
        raise ConfigError(f"{where}.auth: missing")
    missing = [k for k in ("auth_url", "username", "password") if not auth.get(k)]
    if missing:
        raise ConfigError(f"{where}.auth: missing {', '.join(missing)}")
    version = str(cloud.get("identity_api_version") or "3")
    if not version.startswith("3"):
        raise ConfigError(f"{where}: identity_api_version {version} is not supported (Keystone v3 only)")
    options: dict[str, Any] = {
        "ex_force_auth_url": _auth_url(str(auth["auth_url"])),
        "ex_force_auth_version": "3.x_password",
        "ex_domain_name": str(auth.get("user_domain_name") or auth.get("domain_name") or "Default"),
    }
    project = auth.get("project_name") or auth.get("tenant_name")
    if not project:
        # libcloud scopes its Keystone token by project name only.
        raise ConfigError(f"{where}.auth: project_name is needed (a project_id alone cannot be used)")
    options["ex_tenant_name"] = str(project)
    if auth.get("project_domain_id"):
        options["ex_tenant_domain_id"] = str(auth["project_domain_id"])
    region = cloud.get("region_name")
    if isinstance(region, str) and region:
        options["ex_force_service_region"] = region
    entry: dict[str, Any] = {
        "name": name,
        "driver": "openstack",
        "center": center,
        "pool": pool,
        "credentials": f"vault:{name}",
        "options": options,
    }
    return ImportedCloud(entry, str(auth["username"]), str(auth["password"]))


def select(clouds: Mapping[str, dict[str, Any]], wanted: Sequence[str]) -> list[str]:
    unknown = [w for w in wanted if w not in clouds]
    if unknown:
        raise ConfigError(f"no cloud named {', '.join(unknown)} (clouds.yaml has {', '.join(sorted(clouds))})")
    return list(wanted) or sorted(clouds)


def merged_config(raw: Mapping[str, Any], imported: Sequence[ImportedCloud]) -> dict[str, Any]:
    """`raw` (ganyun.yaml as read) with the imported providers added, or replacing the entries
    of the same name."""
    out = dict(raw)
    names = {c.name for c in imported}
    kept = [p for p in out.get("providers") or [] if not (isinstance(p, dict) and p.get("name") in names)]
    out["providers"] = [*kept, *(c.entry for c in imported)]
    return out
