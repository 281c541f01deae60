"""The API's one factory: `create_app(config)` builds the FastAPI application with its routes,
authentication and problem-details errors. Endpoints of other areas mount on what it returns."""

from __future__ import annotations

from fastapi import FastAPI

from console.api import actions, problems, reads
from console.api.auth import Authenticator
from console.api.cursor import PageTokens
from console.observability import metrics_app
from inventory.config import GanyunConfig
from inventory.store import Store, open_store

PREFIX = "/api/v1"


def create_app(config: GanyunConfig, store: Store | None = None, *, page_key: bytes | None = None) -> FastAPI:
    """The API over `config`'s database (or the given store); `page_key` signs page tokens (a
    random key per process by default)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("ganyun")
    except PackageNotFoundError:
        release = "dev"
    app = FastAPI(title="ganyun API", version=release, openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  description="Read ganyun's inventory, capacity, certificates, compliance, drills and migrations "
                              "within the caller's scope, and start a sync or a compliance audit.")  # fmt: skip
    app.state.config = config
    app.state.store = store if store is not None else open_store(config.database_url)
    app.state.auth = Authenticator(app.state.store, config)
    app.state.page_tokens = PageTokens(page_key)
    problems.install(app)
    app.include_router(reads.router, prefix=PREFIX, tags=["read"])
    app.include_router(actions.router, prefix=PREFIX, tags=["actions"])
    # Outside /api/v1 and without a token, as a Prometheus server and a load balancer ask.
    observed = metrics_app(config, app.state.store)
    app.mount("/metrics", observed)
    app.mount("/healthz", observed)
    return app
