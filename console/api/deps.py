"""What every route depends on: the store, the configuration, the caller's Viewer and the page
tokens, all held on the app's state by create_app."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.responses import Response

from console.api.auth import Authenticator
from console.api.cursor import PageTokens
from console.services.viewer import Viewer
from inventory import query
from inventory.config import GanyunConfig
from inventory.store import Store

MAX_PAGE = 1000


def store(request: Request) -> Store:
    found: Store = request.app.state.store
    return found


def config(request: Request) -> GanyunConfig:
    found: GanyunConfig = request.app.state.config
    return found


# For the OpenAPI document (a bearer security scheme); the header itself is read below, so
# that every refusal is the same problem document.
BEARER = HTTPBearer(auto_error=False, description="An API token (`ganyun api token create`) or an OIDC access token")


def viewer(request: Request, _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> Viewer:
    authenticator: Authenticator = request.app.state.auth
    address = request.client.host if request.client else None
    return authenticator.viewer(request.headers.get("authorization"), address)


StoreDep = Annotated[Store, Depends(store)]
ConfigDep = Annotated[GanyunConfig, Depends(config)]
ViewerDep = Annotated[Viewer, Depends(viewer)]
WhereQuery = Annotated[
    list[str] | None, Query(description="KEY=VALUE filter, as `--where` of `ganyun inventory list` (repeatable)")
]
PageSizeQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page")]
PageTokenQuery = Annotated[str | None, Query(max_length=2048, description="`next_page_token` of the previous page")]


class Page(BaseModel):
    """One page of a listing; `next_page_token` is null on the last page."""

    items: list[dict[str, Any]]
    next_page_token: str | None


def filters(where: list[str] | None) -> dict[str, str]:
    return query.parse_filters(where or [])


def json_response(data: Any) -> Response:
    # orjson, as the CLI's JSON: a page of 1,000 nodes is not validated field by field again.
    return Response(orjson.dumps(data, default=str), media_type="application/json")


def page_tokens(request: Request) -> PageTokens:
    found: PageTokens = request.app.state.page_tokens
    return found


def query_digest(request: Request, who: Viewer, **params: Any) -> str:
    return PageTokens.query_digest(request.url.path, who.name, params)
