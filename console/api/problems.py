"""RFC 9457 problem details for every error the API returns, internals never included.

Each error is `application/problem+json` with type, title, status and detail. A 500 says only
that the server failed and gives the id under which the log holds the traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from console.services.viewer import CityWideOnly
from providers.errors import ConfigError

MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("ganyun.api")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ProblemModel(BaseModel):
    """The body of every error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None


class Problem(Exception):
    """Raised anywhere in a request: becomes the problem document of its status."""

    def __init__(self, status: int, detail: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def response(status: int, detail: str, headers: Mapping[str, str] | None = None, instance: str = "") -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail}  # fmt: skip
    if instance:
        body["instance"] = instance
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=dict(headers or {}))


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Turn every error into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return response(exc.status, exc.detail, exc.headers, request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        return response(exc.status_code, detail, exc.headers, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return response(422, _validation_detail(exc), instance=request.url.path)

    async def on_config(request: Request, exc: Exception) -> Response:
        # ConfigError is ganyun's "bad input": a filter on an unknown field, a bad value.
        return response(422, str(exc)[:300], instance=request.url.path)

    async def on_city_wide(request: Request, exc: Exception) -> Response:
        return response(403, str(exc), instance=request.url.path)

    async def on_error(request: Request, exc: Exception) -> Response:
        incident = secrets.token_hex(6)
        _log.error("API request %s %s failed (incident %s)", request.method, request.url.path, incident,
                   exc_info=exc)  # fmt: skip
        return response(500, f"the server failed; incident {incident} is in its log", instance=request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ConfigError, on_config)
    app.add_exception_handler(CityWideOnly, on_city_wide)
    app.add_exception_handler(Exception, on_error)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a route, for its OpenAPI document."""
    return {s: {"model": ProblemModel, "description": TITLES[s],
                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemModel"}}}}
            for s in statuses}  # fmt: skip
