"""What a check sees (facts) and returns (results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a password
    FAIL = "FAIL"
    MANUAL = "MANUAL"
    WAIVED = "WAIVED"


SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_WEIGHT = {"critical": 8, "high": 4, "medium": 2, "low": 1, "info": 0}


@dataclass(frozen=True, slots=True)
class Owner:
    """Which system a resource serves: the unit that scores are rolled up by."""

    provider: str = ""
    center: str = ""
    department: str = ""
    system: str = ""
    mlps_level: int | None = None


NO_OWNER = Owner()


@dataclass(frozen=True, slots=True)
class Result:
    resource_key: str
    resource_type: str
    resource_name: str
    status: Status
    owner: Owner = NO_OWNER
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CertFact:
    """One certificate as the SM engineer's certificate records describe it."""

    key: str  # SHA-256 fingerprint or a stable id
    subject: str
    issuer: str
    key_type: str  # SM2 | RSA | EC | ...
    key_bits: int
    signature_hash: str  # sm3 | sha256 | sha1 | md5 | ...
    not_after: datetime | None
    self_signed: bool
    chain_ok: bool | None  # None: not verified yet
    usage: str = ""  # sign | enc | "" (TLCP dual pairs)
    chain_error: str = ""


@dataclass(frozen=True, slots=True)
class EndpointFact:
    key: str  # host:port
    host: str
    port: int
    owner: Owner
    reachable: bool
    protocols: tuple[str, ...]  # e.g. TLSv1.0, TLSv1.2, TLSv1.3, TLCP, RFC8998
    weak_suites: tuple[str, ...] = ()
    cert_keys: tuple[str, ...] = ()  # certificates presented (signing first)
    tlcp_sign_cert: str = ""
    tlcp_enc_cert: str = ""


@dataclass(frozen=True, slots=True)
class VolumeFact:
    key: str
    name: str
    owner: Owner
    encrypted: bool | None
    cipher: str
    volume_type: str


@dataclass(frozen=True, slots=True)
class RuleFact:
    protocol: str
    port_min: int | None
    port_max: int | None
    remote_cidr: str


@dataclass(frozen=True, slots=True)
class GroupFact:
    key: str
    name: str
    owners: tuple[Owner, ...]
    rules: tuple[RuleFact, ...]
