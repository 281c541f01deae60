"""Helpers of the REST API tests: an in-process client of create_app and token making."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from console import accounts
from console.api import tokens
from console.api.app import create_app
from inventory.config import GanyunConfig
from inventory.scope import Scope
from inventory.store import Store


def client(config: GanyunConfig, store: Store) -> TestClient:
    # Errors must come back as the client sees them (problem documents), not as exceptions.
    return TestClient(create_app(config, store), raise_server_exceptions=False)


def account_token(store: Store, name: str, role: str, scope: Scope, days: int = 30) -> str:
    accounts.save_local(store, name, role, scope, "Correct-Horse-9-Battery", replace=True)
    return tokens.create(store, name, days)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def every_item(api: TestClient, path: str, token: str, **params: Any) -> list[dict[str, Any]]:
    """Follow next_page_token to the end of a listing."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = dict(params)
    for _ in range(10_000):
        response = api.get(path, params=query, headers=bearer(token))
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        items.extend(body["items"])
        if body["next_page_token"] is None:
            return items
        query = {**params, "page_token": body["next_page_token"]}
    raise AssertionError(f"{path}: no last page")
