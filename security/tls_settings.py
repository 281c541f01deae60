"""The `tls` section of ganyun.yaml, validated here because the certificate area owns it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.errors import ConfigError


class TlsEndpoint(BaseModel):
    model_config = ConfigDict(extra="allow")

    host: str
    port: int = Field(ge=1, le=65535)
    system: str = ""
    department: str = ""
    expect: str = ""  # what the lab planted there (tls, tlcp, rfc8998, expired, ...)


class TlsSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    endpoints: list[TlsEndpoint] = Field(default_factory=list)
    ca_dir: str = "ca"
    trust_anchors: list[str] = Field(default_factory=list)
    timeout: float = Field(default=3.0, gt=0, le=60)
    concurrency: int = Field(default=32, ge=1, le=512)

    def trust_anchor_paths(self, base_dir: str) -> list[Path]:
        return [_resolve(p, base_dir) for p in self.trust_anchors]

    def ca_path(self, base_dir: str) -> Path:
        return _resolve(self.ca_dir, base_dir)


def _resolve(path: str, base_dir: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def settings_of(config: Any) -> TlsSettings:
    """The validated `tls` section of a GanyunConfig; ConfigError names the bad field."""
    try:
        return TlsSettings.model_validate(config.tls or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"tls.{where}: {first['msg']}") from None
