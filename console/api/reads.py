"""The read endpoints under /api/v1: each calls one function of console/services with the
caller's Viewer, which applies the account's scope. Nothing here filters by department."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from console.api import deps
from console.api.deps import ConfigDep, Page, PageSizeQuery, PageTokenQuery, StoreDep, ViewerDep, WhereQuery
from console.api.problems import Problem, documented
from console.services import capacity, certificates, compliance, drills, inventory, migration
from console.services.viewer import Viewer
from providers.errors import ConfigError

router = APIRouter()
ERRORS = documented(401, 422, 429)
LIST: dict[str, Any] = {"response_model": Page, "responses": ERRORS}
# The statuses a finding of an audit holds (security.compliance.types.Status).
FINDING_STATUSES = ("FAIL", "WAIVED", "MANUAL", "PASS")


def _page_of(items: list[dict[str, Any]], next_position: Any, request: Request, query: str) -> Response:
    token = deps.page_tokens(request).encode(query, next_position) if next_position is not None else None
    return deps.json_response({"items": items, "next_page_token": token})


def _offset(request: Request, query: str, page_token: str | None) -> int:
    if page_token is None:
        return 0
    position = deps.page_tokens(request).decode(query, page_token)
    if not isinstance(position, int) or position < 0:
        raise Problem(422, "page_token: not a page token of this listing")
    return position


def _matching(rows: Sequence[dict[str, Any]], where: dict[str, str]) -> list[dict[str, Any]]:
    """`--where` on records that are not inventory rows: equality on the record's fields, as
    `inventory list --kind certificates` filters."""
    return [r for r in rows if all(str(r.get(k, "")) == v for k, v in where.items())]


def _listing(
    request: Request, who: Viewer, where: list[str] | None, page_size: int, page_token: str | None,
    read: Callable[[dict[str, str]], list[dict[str, Any]]],
) -> Response:  # fmt: skip
    """A listing read whole from a service (few rows: certificates, runs, ...), paged by offset."""
    wanted = deps.filters(where)
    query = deps.query_digest(request, who, where=wanted)
    start = _offset(request, query, page_token)
    rows = read(wanted)
    end = start + page_size
    return _page_of(rows[start:end], end if end < len(rows) else None, request, query)


def _keyset(
    kind: str, request: Request, store: Any, who: Viewer, where: list[str] | None, page_size: int,
    page_token: str | None,
) -> Response:  # fmt: skip
    wanted = deps.filters(where)
    query = deps.query_digest(request, who, where=wanted)
    after = None
    if page_token is not None:
        position = deps.page_tokens(request).decode(query, page_token)
        if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
            raise Problem(422, "page_token: not a page token of this listing")
        after = (position[0], position[1])
    rows = inventory.page_after(store, who, kind, wanted, after, page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    last = [rows[-1]["provider"], rows[-1]["id"]] if more else None
    return _page_of(rows, last, request, query)


@router.get("/nodes", summary="Virtual machines and containers", **LIST)
def nodes(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
          page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _keyset("nodes", request, store, who, where, page_size, page_token)


@router.get("/hosts", summary="Hypervisors", **LIST)
def hosts(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
          page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _keyset("hosts", request, store, who, where, page_size, page_token)


@router.get("/volumes", summary="Block volumes", **LIST)
def volumes(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
            page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: inventory.records(store, who, "volumes", wanted))  # fmt: skip


@router.get("/certificates", summary="Certificates seen at TLS/TLCP endpoints, in files and secrets", **LIST)
def certificate_list(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
                     page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: inventory.records(store, who, "certificates", wanted))  # fmt: skip


@router.get("/tls-endpoints", summary="TLS and TLCP endpoints and what their last scan found", **LIST)
def tls_endpoints(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
                  page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(certificates.endpoints(store, who), wanted))  # fmt: skip


def _capacity(store: Any, who: Viewer, config: Any, *, forecast: bool = False) -> dict[str, Any]:
    return capacity.report(store, who, config, forecast=forecast, import_history=False)


@router.get("/capacity/pools", summary="Resource pools: shared capacity, as totals", **LIST)
def capacity_pools(request: Request, store: StoreDep, config: ConfigDep, who: ViewerDep, where: WhereQuery = None,
                   page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(_capacity(store, who, config)["pools"], wanted))  # fmt: skip


@router.get("/capacity/showback", summary="Allocation and showback per department (the caller's own)", **LIST)
def capacity_showback(request: Request, store: StoreDep, config: ConfigDep, who: ViewerDep,
                      where: WhereQuery = None, page_size: PageSizeQuery = 500,
                      page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(_capacity(store, who, config)["departments"], wanted))  # fmt: skip


@router.get("/capacity/xinchuang", summary="Xinchuang share (国产化率) of the caller's departments",
            response_model=dict[str, Any], responses=ERRORS)  # fmt: skip
def capacity_xinchuang(store: StoreDep, config: ConfigDep, who: ViewerDep) -> Response:
    return deps.json_response(_capacity(store, who, config)["xinchuang"])


@router.get("/capacity/forecasts", summary="Pool forecasts (shared pools, as totals)", **LIST)
def capacity_forecasts(request: Request, store: StoreDep, config: ConfigDep, who: ViewerDep,
                       where: WhereQuery = None, page_size: PageSizeQuery = 500,
                       page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(_capacity(store, who, config, forecast=True)["forecast"], wanted),
                    )  # fmt: skip


@router.get("/compliance/latest", summary="The latest compliance audit (scored on the caller's resources)",
            response_model=dict[str, Any], responses=documented(401, 404, 429))  # fmt: skip
def compliance_latest(store: StoreDep, who: ViewerDep) -> Response:
    audit = compliance.latest_audit(store, who)
    if audit is None:
        raise Problem(404, "no compliance audit has been run")
    return deps.json_response(audit)


@router.get("/compliance/findings", summary="Findings of the latest audit on the caller's resources", **LIST)
def compliance_findings(
    request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
    status: Annotated[list[str] | None, Query(description=f"Finding status ({', '.join(FINDING_STATUSES)})")] = None,
    page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None,
) -> Response:  # fmt: skip
    statuses = sorted(set(status or FINDING_STATUSES))
    unknown = set(statuses) - set(FINDING_STATUSES)
    if unknown:
        raise Problem(422, f"status: unknown status {sorted(unknown)[0]!r}")
    wanted = deps.filters(where)
    query = deps.query_digest(request, who, where=wanted, status=statuses)
    start = _offset(request, query, page_token)
    rows, matching, _total = compliance.findings_page(store, who, statuses, start, page_size, wanted)
    end = start + len(rows)
    return _page_of(rows, end if end < matching else None, request, query)


@router.get("/compliance/trend", summary="Scores of the last audits, oldest first", **LIST)
def compliance_trend(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
                     page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(compliance.trend(store, who), wanted))  # fmt: skip


@router.get("/drills", summary="DR drills that measured the caller's systems, newest first", **LIST)
def drill_history(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
                  page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(drills.history(store, who), wanted))  # fmt: skip


@router.get("/drills/{run_id}", summary="A drill report (the caller's systems only)",
            response_model=dict[str, Any], responses=documented(401, 404, 422, 429))  # fmt: skip
def drill_report(store: StoreDep, who: ViewerDep, run_id: Annotated[str, Path(max_length=128)]) -> Response:
    report = drills.report(store, who, run_id)
    if report is None:
        raise Problem(404, f"no drill {run_id!r}")
    return deps.json_response(report)


@router.get("/migration/runs", summary="Migration runs holding the caller's VMs, newest first", **LIST)
def migration_runs(request: Request, store: StoreDep, who: ViewerDep, where: WhereQuery = None,
                   page_size: PageSizeQuery = 500, page_token: PageTokenQuery = None) -> Response:  # fmt: skip
    return _listing(request, who, where, page_size, page_token,
                    lambda wanted: _matching(migration.runs(store, who), wanted))  # fmt: skip


@router.get("/migration/runs/{run_id}", summary="A migration run with the caller's VMs and their steps",
            response_model=dict[str, Any], responses=documented(401, 404, 422, 429))  # fmt: skip
def migration_run(store: StoreDep, who: ViewerDep,
                  run_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:  # fmt: skip
    try:
        return deps.json_response(migration.run_detail(store, who, run_id))
    except ConfigError as exc:
        raise Problem(404, str(exc)) from None
