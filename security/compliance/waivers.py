"""Waivers: a finding accepted for a reason, approved by someone else, until an expiry date.

A waiver applies only while approved and unexpired; an expired one simply stops matching,
so the next audit reports the finding as FAIL again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from inventory.config import format_validation_error
from inventory.store import Store
from providers.errors import ConfigError
from security.compliance.models import ComplianceWaiver
from security.compliance.timeutil import aware, now

MAX_DAYS = 366
ALL_RESOURCES = "*"


class WaiverRequest(BaseModel):
    """What a user writes when asking for a waiver: validated before anything is stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_id: str = Field(min_length=1)
    # a finding's resource key, "system:NAME" for one system, or "*" for every resource
    resource_key: str = Field(default=ALL_RESOURCES, min_length=1, max_length=400)
    reason: str = Field(min_length=5, max_length=2000)
    requested_by: str = Field(min_length=1, max_length=128)
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime) -> datetime:
        value = aware(value)
        if value <= now():
            raise ValueError("must be in the future")
        if value > now() + timedelta(days=MAX_DAYS):
            raise ValueError(f"must be within {MAX_DAYS} days: waivers are reviewed at least yearly")
        return value


@dataclass(frozen=True)
class ActiveWaiver:
    id: int
    check_id: str
    resource_key: str
    approver: str
    expires_at: datetime
    reason: str

    def matches(self, check_id: str, resource_key: str, system: str) -> bool:
        if self.check_id != check_id:
            return False
        return self.resource_key in (ALL_RESOURCES, resource_key) or (
            bool(system) and self.resource_key == f"system:{system}"
        )


def request(store: Store, data: dict[str, Any], known_checks: set[str]) -> int:
    try:
        req = WaiverRequest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    if req.check_id not in known_checks:
        raise ConfigError(f"check_id: unknown check '{req.check_id}'")
    with store.write_lock, store.session() as session:
        row = ComplianceWaiver(
            check_id=req.check_id,
            resource_key=req.resource_key,
            reason=req.reason,
            requested_by=req.requested_by,
            state="requested",
            created_at=now(),
            expires_at=req.expires_at,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def _get(session: Any, waiver_id: int) -> ComplianceWaiver:
    row = session.get(ComplianceWaiver, waiver_id)
    if row is None:
        raise ConfigError(f"no waiver #{waiver_id}")
    return row  # type: ignore[no-any-return]


def same_person(actor: str, other: str) -> bool:
    """`cli:alice` (an OS account) and `console:alice` (a console account) count as one person:
    the two-person rule must not be passed by requesting on one channel and approving on another."""

    def person(name: str) -> str:
        return name.split(":", 1)[-1].strip().casefold()

    return person(actor) == person(other)


def decide(store: Store, waiver_id: int, approver: str, approve: bool) -> None:
    """Approve or reject a requested waiver; the requester cannot approve their own."""
    with store.write_lock, store.session() as session:
        row = _get(session, waiver_id)
        if row.state != "requested":
            raise ConfigError(f"waiver #{waiver_id} is {row.state}, not requested")
        if approve and same_person(approver, row.requested_by):
            raise ConfigError(f"waiver #{waiver_id}: the requester cannot approve their own waiver")
        row.state = "approved" if approve else "rejected"
        row.approver = approver
        row.approved_at = now()


def revoke(store: Store, waiver_id: int, actor: str) -> None:
    with store.write_lock, store.session() as session:
        row = _get(session, waiver_id)
        row.state = "revoked"
        row.approver = row.approver or actor


def effective_state(row: ComplianceWaiver, at: datetime | None = None) -> str:
    if row.state == "approved" and aware(row.expires_at) <= (at or now()):
        return "expired"
    return row.state


def active(store: Store, at: datetime | None = None) -> list[ActiveWaiver]:
    moment = at or now()
    with store.session() as session:
        rows = session.scalars(select(ComplianceWaiver).where(ComplianceWaiver.state == "approved")).all()
        return [
            ActiveWaiver(r.id, r.check_id, r.resource_key, r.approver, aware(r.expires_at), r.reason)
            for r in rows
            if aware(r.expires_at) > moment
        ]


def list_all(store: Store, at: datetime | None = None) -> list[dict[str, Any]]:
    with store.session() as session:
        rows = session.scalars(select(ComplianceWaiver).order_by(ComplianceWaiver.id.desc())).all()
        return [
            {
                "id": r.id,
                "check_id": r.check_id,
                "resource_key": r.resource_key,
                "reason": r.reason,
                "requested_by": r.requested_by,
                "approver": r.approver,
                "state": effective_state(r, at),
                "created_at": aware(r.created_at).isoformat(),
                "expires_at": aware(r.expires_at).isoformat(),
            }
            for r in rows
        ]
