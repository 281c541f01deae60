"""The actions of the API, each with a role check and written to the audit log with the
account as actor (`api:<name>`), whether it ran, failed or was refused.

Roles are the console's (admin holds every role; the auditor runs audits, as on the
compliance page). A sync reaches every department's providers, so it is open to city-wide
accounts only; an audit covers the whole city too, but its answer is scored on the caller's own
resources (console.services.compliance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field
from starlette.responses import Response

from console.actions import record_action
from console.api import deps
from console.api.deps import ConfigDep, StoreDep, ViewerDep
from console.api.problems import Problem, documented
from console.services import compliance
from console.services.viewer import Viewer
from inventory.config import GanyunConfig
from providers.errors import GanyunError

router = APIRouter()
T = TypeVar("T")

SYNC_ROLES = ("operator",)
AUDIT_ROLES = ("security_officer", "auditor")


def actor(who: Viewer) -> str:
    return f"api:{who.name}"


def _allowed(who: Viewer, roles: Sequence[str]) -> bool:
    return who.role == "admin" or who.role in roles


def run_action(
    config: GanyunConfig, who: Viewer, action: str, roles: Sequence[str], details: dict[str, Any],
    handler: Callable[[], T], *, city_wide: bool = False,
) -> T:  # fmt: skip
    """Check the role (and scope), run the handler, record what happened."""
    if not _allowed(who, roles) or (city_wide and not who.city_wide):
        record_action(config, "api.denied", {"action": action, "role": who.role, "city_wide": who.city_wide},
                      actor=actor(who))  # fmt: skip
        needed = " or ".join((*roles, "admin"))
        raise Problem(403, f"{action} needs the role {needed}" + (" and a city-wide account" if city_wide else ""))
    try:
        result = handler()
    except GanyunError as exc:
        record_action(config, action, {**details, "ok": False, "error": str(exc)[:300]}, actor=actor(who))
        raise Problem(422, f"{action} failed: {str(exc)[:300]}") from None
    return result


class AuditRequest(BaseModel):
    level: int = Field(default=3, ge=1, le=4, description="MLPS level (等保级别) to audit against")


@router.post("/sync", summary="Sync every provider now (city-wide operators)",
             response_model=dict[str, Any], responses=documented(401, 403, 422, 429))  # fmt: skip
def start_sync(store: StoreDep, config: ConfigDep, who: ViewerDep) -> Response:
    from inventory.sync import sync_all
    from security.vault import VaultCredentials

    report = run_action(config, who, "sync", SYNC_ROLES, {},
                        lambda: sync_all(config, store, vault=VaultCredentials(config)), city_wide=True)  # fmt: skip
    record_action(config, "sync", {"run_id": report.run_id, "status": report.status, "ok": True}, actor=actor(who))
    return deps.json_response(report.to_dict())


@router.post("/compliance/audits", summary="Run a compliance audit; the answer is scored on the caller's resources",
             response_model=dict[str, Any], responses=documented(401, 403, 422, 429))  # fmt: skip
def run_audit(store: StoreDep, config: ConfigDep, who: ViewerDep,
              request: Annotated[AuditRequest, Body()] = AuditRequest()) -> Response:  # fmt: skip
    from security.compliance import engine

    level = request.level
    report = run_action(config, who, "comply.audit", AUDIT_ROLES, {"level": level},
                        lambda: engine.run_audit(config, store, level, actor=actor(who)))  # fmt: skip
    record_action(config, "comply.audit", {"audit_id": report.audit_id, "level": level, "score": report.score,
                                           "ok": True}, actor=actor(who))  # fmt: skip
    return deps.json_response(compliance.latest_audit(store, who))
