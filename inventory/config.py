"""The one configuration file: a pydantic model with one clear message per bad field.

Each area owns one section (capacity, dr, tls, vault, console, migration); unknown keys
are refused so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from inventory.dr_config import DrConfig
from providers.errors import ConfigError

DEFAULT_CONFIG_NAME = "ganyun.yaml"
CONFIG_ENV = "GANYUN_CONFIG"
MAX_CONFIG_BYTES = 16 * 2**20

CenterRole = Literal["production", "same-city-dr", "remote-dr"]
Pool = Literal["legacy", "xinchuang"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CenterConfig(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    role: CenterRole
    site: str = Field(min_length=1)


class PrometheusQueriesConfig(_Strict):
    """PromQL per figure, `$labels` standing for the configured matchers; unset: the libvirt
    exporter's metrics (providers/prometheus.py DEFAULT_QUERIES)."""

    cpu: str = ""
    memory: str = ""
    disk: str = ""


class PrometheusConfig(_Strict):
    """The Prometheus server that measures this provider's VMs (providers/prometheus.py)."""

    url: str = Field(pattern=r"^https?://[^\s]+$")
    labels: dict[str, str] = Field(default_factory=dict)
    id_label: str = Field(default="uuid", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    window_days: int = Field(default=30, ge=1, le=366)
    resolution: str = Field(default="5m", pattern=r"^[0-9]+[smhd]$")
    timeout_s: float = Field(default=30.0, gt=0)
    queries: PrometheusQueriesConfig = Field(default_factory=PrometheusQueriesConfig)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        if bad:
            raise ValueError(f"not a Prometheus label name: {bad[0]}")
        return value


class ProviderConfig(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    driver: str = Field(min_length=1)
    center: str = ""
    pool: Pool = "legacy"
    # Never inline: `vault:NAME` or `env:PREFIX` (-> $PREFIX_KEY, $PREFIX_SECRET).
    credentials: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0)
    # Ports probed by `certs scan --from-inventory` on this provider's nodes.
    tls_ports: list[int] = Field(default_factory=list)
    # Utilization from this Prometheus server instead of the adapter's own source.
    prometheus: PrometheusConfig | None = None

    @field_validator("credentials")
    @classmethod
    def _credentials_are_references(cls, value: str) -> str:
        if value and not (value.startswith("vault:") or value.startswith("env:")):
            raise ValueError("must be 'vault:NAME' or 'env:PREFIX'; secrets are never written inline")
        if value in ("vault:", "env:"):
            raise ValueError("names no vault entry or environment prefix")
        return value


class ResourceRatio(_Strict):
    cpu: float = Field(default=4.0, gt=0)
    ram: float = Field(default=1.0, gt=0)
    disk: float = Field(default=1.0, gt=0)


class VmUnit(_Strict):
    vcpus: int = Field(default=4, gt=0)
    ram_mb: int = Field(default=8192, gt=0)
    disk_gb: int = Field(default=100, gt=0)


class RackDesign(_Strict):
    hosts_per_rack: int = Field(default=16, gt=0)
    kw_per_rack: float | None = Field(default=None, gt=0)
    kw_per_host: float | None = Field(default=None, gt=0)


class CapacityConfig(_Strict):
    # Overcommit per pool name (legacy, xinchuang) or provider name; "default" for the rest.
    overcommit: dict[str, ResourceRatio] = Field(default_factory=lambda: {"default": ResourceRatio()})
    vm_unit: VmUnit = Field(default_factory=VmUnit)
    rack: RackDesign = Field(default_factory=RackDesign)
    history_file: str = ""


class SystemConfig(_Strict):
    """A business system's DR targets and placement (topology)."""

    name: str = Field(min_length=1)
    center: str = ""
    rto_s: float = Field(default=600.0, gt=0)
    rpo_s: float = Field(default=0.0, ge=0)
    move_with: list[str] = Field(default_factory=list)


class VaultConfig(_Strict):
    path: str = "vault.json"
    key_file: str = ""
    key_env: str = "GANYUN_VAULT_KEY"


WITNESS_FORMS = "a file path, syslog://HOST:PORT (UDP) or unix:///PATH (e.g. unix:///dev/log)"


class AuditConfig(_Strict):
    """Where the audit log's signed heads are also written, out of the database's reach."""

    # A file path (relative to the config file), syslog://HOST:PORT (UDP) or unix:///PATH.
    witness: str = ""
    # For a syslog witness: the file its receiver writes, which `audit verify` reads back.
    witness_file: str = ""

    @field_validator("witness")
    @classmethod
    def _witness_form(cls, value: str) -> str:
        if "://" not in value:
            return value
        scheme, _, rest = value.partition("://")
        if scheme == "syslog":
            host, _, port = rest.rpartition(":")
            if not host or "/" in rest or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"'{value}' is not syslog://HOST:PORT")
            return value
        if scheme == "unix":
            if not rest.startswith("/"):
                raise ValueError(f"'{value}' is not unix:///ABSOLUTE/PATH")
            return value
        raise ValueError(f"must be {WITNESS_FORMS}")

    @model_validator(mode="after")
    def _witness_file_only_for_syslog(self) -> AuditConfig:
        if self.witness_file and "://" not in self.witness:
            raise ValueError("witness_file: only for a syslog witness (a file witness is read directly)")
        return self


class SyncConfig(_Strict):
    workers: int = Field(default=16, ge=1, le=128)
    # Nodes are fetched as changes since the last success; every Nth run lists everything.
    full_every: int = Field(default=12, ge=1)
    # Subtracted from the cloud's clock at the start of the last collection to get the next
    # `changes-since`: covers the Date header's one-second resolution, commit delays and API
    # nodes whose clocks disagree. Re-reading a minute of changes costs little.
    clock_margin_s: float = Field(default=60.0, ge=1.0, le=86400.0)
    # Worker processes collecting providers (CPU-bound parsing escapes the GIL); unset: one
    # per core once there are several providers, 0: threads in this process only.
    processes: int | None = Field(default=None, ge=0, le=64)


class GanyunConfig(_Strict):
    database: str = "sqlite:///ganyun.db"
    centers: list[CenterConfig] = Field(default_factory=list)
    providers: list[ProviderConfig] = Field(default_factory=list)
    systems: list[SystemConfig] = Field(default_factory=list)
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    vault: VaultConfig = Field(default_factory=VaultConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    dr: DrConfig = Field(default_factory=DrConfig)
    # Sections whose content is validated by the package that uses them (security, playbooks, console),
    # so that inventory does not import those layers.
    tls: dict[str, Any] = Field(default_factory=dict)
    migration: dict[str, Any] = Field(default_factory=dict)
    console: dict[str, Any] = Field(default_factory=dict)
    lab: dict[str, Any] = Field(default_factory=dict)
    # Compliance declarations an assessor relies on (key custody, ...), read by security/compliance.
    compliance: dict[str, Any] = Field(default_factory=dict)
    # Directory of the config file; relative paths in the file are resolved against it.
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> GanyunConfig:
        center_ids = [c.id for c in self.centers]
        if len(set(center_ids)) != len(center_ids):
            raise ValueError("centers: ids must be unique")
        names = [p.name for p in self.providers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"providers: duplicate name(s) {', '.join(dupes)}")
        for p in self.providers:
            if p.center and center_ids and p.center not in center_ids:
                raise ValueError(f"providers[{p.name}].center: unknown center '{p.center}'")
        return self

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if p.name == name:
                return p
        raise ConfigError(f"no provider named '{name}' in the configuration")

    def center(self, center_id: str) -> CenterConfig | None:
        return next((c for c in self.centers if c.id == center_id), None)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def database_url(self) -> str:
        """SQLite URLs with relative paths are taken relative to the config file."""
        prefix = "sqlite:///"
        if self.database.startswith(prefix) and not self.database.startswith(prefix + "/"):
            rel = self.database[len(prefix) :]
            if rel and rel != ":memory:":
                return prefix + str(self.resolve_path(rel).resolve())
        return self.database


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config, else $GANYUN_CONFIG, else ./ganyun.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG_NAME)


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad field: `providers.0.credentials: must be ...`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, base_dir: str = ".") -> GanyunConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("configuration must be a YAML mapping at the top level")
    try:
        return GanyunConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(explicit: str | os.PathLike[str] | None = None) -> GanyunConfig:
    path = config_path(explicit)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)  # bounded: /dev/zero or a huge file never hangs us
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"configuration {path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration {path} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(data, base_dir=str(path.resolve().parent))
