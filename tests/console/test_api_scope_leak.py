"""Scope leak test of the REST API, driven by its own OpenAPI document: a county account
(定南县) and a department account (市财政局) call every GET endpoint listed in /openapi.json,
every page of it, and no response names another department, its nodes, systems, certificates
or findings. A new endpoint is covered without editing this test; a new path parameter fails
until the test is told which values to try.

The same app is then fuzzed by Schemathesis from the same document (bounded example count):
no 5xx, and every response matches its documented status, content type and schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from console.api.app import create_app
from inventory.scope import Scope
from tests.console.api_support import account_token, bearer
from tests.console.scope_estate import COUNTY, DEPARTMENT, OTHER, ScopeEstate, build, forbidden, leaks

pytestmark = pytest.mark.xdist_group("api_scope_leak")

VIEWERS = {"county": (COUNTY,), "department": (DEPARTMENT,)}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScopeEstate]:
    built = build(tmp_path_factory.mktemp("api-scope"))
    yield built
    built.store.dispose()


@pytest.fixture(scope="module")
def api(estate: ScopeEstate) -> TestClient:
    return TestClient(create_app(estate.config, estate.store), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def tokens(estate: ScopeEstate) -> dict[str, str]:
    # Admin: the widest role, so that only the scope can keep anything out.
    out = {who: account_token(estate.store, f"api-{who}", "admin", Scope.of(d)) for who, d in VIEWERS.items()}
    out["city"] = account_token(estate.store, "api-city", "planner", Scope.city_wide())
    out["county_planner"] = account_token(estate.store, "api-county-planner", "planner", Scope.of([COUNTY]))
    return out


def _path_values(estate: ScopeEstate) -> dict[str, list[str]]:
    """Values to try for each path parameter: every department's, so that another department's
    id must answer 404 rather than its data."""
    return {"run_id": [*estate.drills.values(), *(str(r) for r in estate.runs)]}


def _get_paths(api: TestClient) -> list[str]:
    document = api.get("/openapi.json").json()
    return sorted(path for path, item in document["paths"].items() if "get" in item)


def _responses(api: TestClient, estate: ScopeEstate, token: str) -> Iterator[tuple[str, int, str]]:
    """(url, status, body) of every GET endpoint, each listing paged to its end (page size 3)."""
    values = _path_values(estate)
    for template in _get_paths(api):
        names = re.findall(r"{(\w+)}", template)
        unknown = [n for n in names if n not in values]
        assert not unknown, f"{template}: tell this test which values to try for {unknown}"
        urls = [template]
        for name in names:
            urls = [u.replace("{" + name + "}", v) for u in urls for v in values[name]]
        for url in urls:
            params: dict[str, Any] = {"page_size": 3} if not names else {}
            for _page in range(1000):
                response = api.get(url, params=params, headers=bearer(token))
                yield url, response.status_code, response.text
                body = response.json() if response.status_code == 200 else {}
                following = body.get("next_page_token") if isinstance(body, dict) else None
                if not following:
                    break
                params = {"page_size": 3, "page_token": following}


@pytest.mark.parametrize("who", sorted(VIEWERS))
def test_no_api_endpoint_returns_another_departments_data(
    api: TestClient, estate: ScopeEstate, tokens: dict[str, str], who: str
) -> None:
    banned = forbidden(estate, VIEWERS[who])
    seen = ""
    statuses: dict[str, set[int]] = {}
    for url, status, text in _responses(api, estate, tokens[who]):
        assert status < 500, (url, text)
        assert not leaks(text, banned), f"{url} returns {leaks(text, banned)[:10]}"
        statuses.setdefault(url, set()).add(status)
        seen += text
    # The test must be able to fail: the viewer's own things are in the answers.
    own = VIEWERS[who][0]
    assert own in seen and any(n in seen for n in estate.nodes[own])
    assert any(cn in seen for cn in estate.certificates[own])
    assert any(key in seen for key in estate.findings[own])
    assert statuses[f"/api/v1/drills/{estate.drills[own]}"] == {200}
    assert statuses[f"/api/v1/drills/{estate.drills[OTHER]}"] == {404}
    assert {s for u, ss in statuses.items() if not re.search(r"/(drills|runs)/", u) for s in ss} == {200}


def test_a_county_token_pages_through_exactly_its_nodes_and_a_city_token_through_all(
    api: TestClient, estate: ScopeEstate, tokens: dict[str, str]
) -> None:
    def every_node(token: str) -> list[str]:
        ids, params = [], {"page_size": 5}
        while True:
            body = api.get("/api/v1/nodes", params=params, headers=bearer(token)).json()
            ids += [n["id"] for n in body["items"]]
            if not body["next_page_token"]:
                return ids
            params = {"page_size": 5, "page_token": body["next_page_token"]}

    county = every_node(tokens["county"])
    assert len(county) == len(set(county))
    with estate.store.session() as session:
        from sqlalchemy import select

        from inventory.models import NodeRow

        all_nodes = dict(session.execute(select(NodeRow.id, NodeRow.department)).all())
    assert set(county) == {i for i, d in all_nodes.items() if d == COUNTY}
    assert sorted(every_node(tokens["city"])) == sorted(all_nodes)
    for headers in ({}, bearer("gyn_0_bad")):
        assert api.get("/api/v1/nodes", headers=headers).status_code == 401


def test_findings_take_the_where_filters_in_the_database(api: TestClient, tokens: dict[str, str]) -> None:
    every = []
    params: dict[str, Any] = {"page_size": 50}
    while True:
        body = api.get("/api/v1/compliance/findings", params=params, headers=bearer(tokens["county"])).json()
        every += body["items"]
        if not body["next_page_token"]:
            break
        params = {"page_size": 50, "page_token": body["next_page_token"]}
    failed = [f for f in every if f["status"] == "FAIL"]
    assert failed and {f["department"] for f in every} == {COUNTY}
    check = failed[0]["check_id"]
    only = api.get("/api/v1/compliance/findings", params={"where": f"check_id={check}", "status": "FAIL",
                                                           "page_size": 1000}, headers=bearer(tokens["county"]))  # fmt: skip
    assert sorted(f["resource_key"] for f in only.json()["items"]) == sorted(
        f["resource_key"] for f in failed if f["check_id"] == check
    )
    bad = api.get("/api/v1/compliance/findings", params={"where": "colour=red"}, headers=bearer(tokens["county"]))
    assert bad.status_code == 422 and bad.json()["detail"] == "--where: unknown field 'colour'"


def test_the_openapi_document_is_versioned_and_lists_the_read_endpoints(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert all(p.startswith("/api/v1/") for p in document["paths"])
    wanted = {"/api/v1/nodes", "/api/v1/hosts", "/api/v1/volumes", "/api/v1/certificates", "/api/v1/tls-endpoints",
              "/api/v1/capacity/pools", "/api/v1/capacity/showback", "/api/v1/capacity/xinchuang",
              "/api/v1/capacity/forecasts", "/api/v1/compliance/latest", "/api/v1/compliance/findings",
              "/api/v1/compliance/trend", "/api/v1/drills", "/api/v1/migration/runs"}  # fmt: skip
    assert wanted <= set(document["paths"])
    assert document["paths"]["/api/v1/sync"].keys() == {"post"}
    assert json.dumps(document["components"]["securitySchemes"]).count("bearer") >= 1


# --------------------------------------------------------------------------- Schemathesis


def test_the_api_keeps_to_its_own_openapi_document(api: TestClient, tokens: dict[str, str]) -> None:
    """Every operation of the document, 25 generated requests each (Schemathesis' strategies
    run by Hypothesis here: its pytest plugin does not load under this pytest)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    for operation in operations:
        # A scoped planner: every read answers, and neither action (sync, audit) may run, so
        # the fuzzing changes nothing in the estate the other tests read.
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            case.call_and_validate(headers=bearer(tokens["county_planner"]), checks=checks)

        call()
