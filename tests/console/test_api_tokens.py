"""REST API tokens and the API's own rules, in process (create_app with a TestClient):
token life cycle (create, use, expire, revoke, hash only), 401/403/422/429/500 as problem
documents, signed page tokens, `--where` filters, actions in the audit log, OIDC tokens."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from console import accounts, clock
from console.api import tokens
from console.services import inventory as inventory_service
from inventory.config import GanyunConfig, parse_config
from inventory.models import NodeRow, ProviderStatus
from inventory.scope import Scope
from inventory.store import Store, open_store
from security import audit
from tests.console.api_support import account_token, bearer, client, every_item

DEPARTMENTS = ("定南县", "市财政局")


@pytest.fixture()
def config(tmp_path: Path) -> GanyunConfig:
    return parse_config({"database": f"sqlite:///{tmp_path / 'api.db'}",
                         "console": {"login_throttle": {"free_failures": 2, "base_delay_s": 30}}},
                        base_dir=str(tmp_path))  # fmt: skip


@pytest.fixture()
def store(config: GanyunConfig) -> Store:
    opened = open_store(config.database_url)
    now = clock.now()
    with opened.session() as session:
        session.execute(insert(ProviderStatus), [{"name": "gz1", "driver": "openstack", "center": "gz-prod",
                                                  "pool": "general", "status": "ok", "stale": False, "error": "",
                                                  "warnings": [], "counts": {}}])  # fmt: skip
        session.execute(insert(NodeRow), [
            {"provider": "gz1", "id": f"n{i:03d}", "name": f"vm-{i:03d}", "state": "running", "vcpus": 2,
             "ram_mb": 4096, "disk_gb": 40, "arch": "x86_64", "ips": [], "department": DEPARTMENTS[i % 2],
             "system": f"sys-{i % 2}", "tags": {}, "extra": {}, "fingerprint": "", "first_seen": now}
            for i in range(25)])  # fmt: skip
    yield opened
    opened.dispose()


def test_a_token_reads_within_its_accounts_scope_and_pages_through_every_node(config, store):
    api = client(config, store)
    county = account_token(store, "county-op", "operator", Scope.of(["定南县"]))
    city = account_token(store, "city-planner", "planner", Scope.city_wide())
    mine = every_item(api, "/api/v1/nodes", county, page_size=4)
    assert sorted(n["id"] for n in mine) == [f"n{i:03d}" for i in range(0, 25, 2)]
    assert {n["department"] for n in mine} == {"定南县"}
    everything = every_item(api, "/api/v1/nodes", city, page_size=7)
    assert sorted(n["id"] for n in everything) == [f"n{i:03d}" for i in range(25)]
    # The same records as `inventory list --json`, in another order.
    listed = inventory_service.records(store, inventory_service.Viewer("x", "planner", Scope.city_wide()), "nodes")
    assert sorted(map(str, everything)) == sorted(map(str, listed))


def test_where_filters_are_the_inventory_lists_and_unknown_fields_are_422(config, store):
    api = client(config, store)
    city = account_token(store, "city-planner", "planner", Scope.city_wide())
    found = every_item(api, "/api/v1/nodes", city, where=["department=市财政局", "system=sys-1"])
    assert found and {n["department"] for n in found} == {"市财政局"}
    bad = api.get("/api/v1/nodes", params={"where": "colour=red"}, headers=bearer(city))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["detail"] == "--where: unknown field 'colour'"
    malformed = api.get("/api/v1/nodes", params={"where": "no-equals-sign"}, headers=bearer(city))
    assert malformed.status_code == 422


def test_page_tokens_are_signed_and_bound_to_their_query_and_account(config, store):
    api = client(config, store)
    county = account_token(store, "county-op", "operator", Scope.of(["定南县"]))
    city = account_token(store, "city-planner", "planner", Scope.city_wide())
    first = api.get("/api/v1/nodes", params={"page_size": 2}, headers=bearer(city)).json()
    token = first["next_page_token"]
    assert token and "n001" not in token  # opaque: no readable key
    payload, signature = token.split(".")
    forged = payload[:-2] + ("AA" if not payload.endswith("AA") else "BB") + "." + signature
    for bad, params in ((forged, {}), (token, {"where": "state=running"}), ("x.y", {})):
        response = api.get("/api/v1/nodes", params={"page_size": 2, "page_token": bad, **params},
                           headers=bearer(city))  # fmt: skip
        assert response.status_code == 422, response.text
    # Another account cannot continue a city-wide account's listing.
    stolen = api.get("/api/v1/nodes", params={"page_size": 2, "page_token": token}, headers=bearer(county))
    assert stolen.status_code == 422


def test_token_life_cycle_create_use_expire_revoke(config, store, monkeypatch):
    api = client(config, store)
    token = account_token(store, "ops", "operator", Scope.city_wide(), days=2)
    assert api.get("/api/v1/nodes", headers=bearer(token)).status_code == 200
    (info,) = tokens.list_tokens(store, "ops")
    assert info.state(clock.now()) == "active" and info.last_used is not None

    later = clock.now() + timedelta(days=2, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    expired = api.get("/api/v1/nodes", headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["title"] == "Unauthorized"
    monkeypatch.undo()

    assert api.get("/api/v1/nodes", headers=bearer(token)).status_code == 200
    tokens.revoke(store, info.id)
    assert api.get("/api/v1/nodes", headers=bearer(token)).status_code == 401
    assert tokens.list_tokens(store, "ops")[0].state(clock.now()) == "revoked"


def test_a_disabled_account_and_a_changed_scope_take_effect_on_the_next_request(config, store):
    api = client(config, store)
    token = account_token(store, "ops", "operator", Scope.city_wide())
    assert len(every_item(api, "/api/v1/nodes", token)) == 25
    accounts.set_scope(store, "ops", Scope.of(["市财政局"]))
    assert {n["department"] for n in every_item(api, "/api/v1/nodes", token)} == {"市财政局"}
    accounts.set_active(store, "ops", False)
    assert api.get("/api/v1/nodes", headers=bearer(token)).status_code == 401


def test_missing_and_malformed_credentials_get_401_problem_documents(config, store):
    api = client(config, store)
    for headers in ({}, {"Authorization": "Basic b3BzOnB3"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer gyn_0000_not-a-token"}, {"Authorization": "Bearer eyJhbGciOi.x.y"}):  # fmt: skip
        response = api.get("/api/v1/nodes", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) >= {"type", "title", "status", "detail"}


def test_only_the_hash_of_a_token_is_stored(config, store, tmp_path):
    token = account_token(store, "ops", "operator", Scope.city_wide())
    store.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("api.db*"))
    assert token.encode() not in raw
    secret = token.rsplit("_", 1)[1]
    assert secret.encode() not in raw
    with sqlite3.connect(tmp_path / "api.db") as db:
        (stored,) = db.execute("select token_hash from api_tokens").fetchone()
    assert stored == tokens.digest(token)


def test_failed_attempts_are_throttled_like_console_sign_ins(config, store):
    api = client(config, store)
    good = account_token(store, "ops", "operator", Scope.city_wide())
    for _ in range(3):  # free_failures is 2: the third failure starts a 30 s delay
        assert api.get("/api/v1/nodes", headers=bearer("gyn_dead_beef")).status_code == 401
    throttled = api.get("/api/v1/nodes", headers=bearer("gyn_dead_beef"))
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert throttled.headers["content-type"] == "application/problem+json"
    # The address is blocked: a good token from it waits too, and is not looked at.
    assert api.get("/api/v1/nodes", headers=bearer(good)).status_code == 429


def test_actions_check_roles_and_are_audited_with_the_account_as_actor(config, store):
    api = client(config, store)
    planner = account_token(store, "planner1", "planner", Scope.city_wide())
    officer = account_token(store, "officer1", "security_officer", Scope.city_wide())
    scoped_operator = account_token(store, "county-op", "operator", Scope.of(["定南县"]))

    refused = api.post("/api/v1/compliance/audits", json={"level": 3}, headers=bearer(planner))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert api.post("/api/v1/sync", headers=bearer(scoped_operator)).status_code == 403
    assert api.post("/api/v1/sync", headers=bearer(planner)).status_code == 403

    ran = api.post("/api/v1/compliance/audits", json={"level": 2}, headers=bearer(officer))
    assert ran.status_code == 200, ran.text
    assert ran.json()["level"] == 2
    assert api.post("/api/v1/compliance/audits", json={"level": 9}, headers=bearer(officer)).status_code == 422

    _, entries = audit.search(store, action="comply.audit", actor="api:officer1")
    assert entries and entries[0]["details"]["level"] == 2 and entries[0]["details"]["ok"] is True
    _, denied = audit.search(store, action="api.denied")
    assert {e["actor"] for e in denied} == {"api:planner1", "api:county-op"}


def test_a_server_error_is_a_problem_document_without_internals(config, store, monkeypatch):
    api = client(config, store)
    token = account_token(store, "ops", "operator", Scope.city_wide())

    def broken(*args, **kwargs):
        raise RuntimeError("password=hunter2 at /srv/secret/path.py")

    monkeypatch.setattr(inventory_service, "page_after", broken)
    response = api.get("/api/v1/nodes", headers=bearer(token))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text and "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["status"] == 500


def test_unknown_paths_and_methods_are_problem_documents(config, store):
    api = client(config, store)
    token = account_token(store, "ops", "operator", Scope.city_wide())
    for method, path, status in (("get", "/api/v1/nothing", 404), ("delete", "/api/v1/nodes", 405),
                                 ("get", "/api/v1/drills/no-such-run", 404),
                                 ("get", "/api/v1/migration/runs/12345", 404),
                                 ("get", "/api/v1/nodes?page_size=0", 422)):  # fmt: skip
        response = api.request(method, path, headers=bearer(token))
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status


# --------------------------------------------------------------------------- OIDC access tokens


@pytest.fixture()
def identity_platform(httpserver):
    """A discovery document and a JWKS served over HTTP, and the key that signs the tokens."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    issuer = httpserver.url_for("/realms/city")
    httpserver.expect_request("/realms/city/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer, "jwks_uri": httpserver.url_for("/realms/city/certs")}
    )
    httpserver.expect_request("/realms/city/certs").respond_with_json({"keys": [key.as_dict(private=False)]})
    return issuer, key


def _oidc_config(tmp_path: Path, issuer: str) -> GanyunConfig:
    return parse_config({"database": f"sqlite:///{tmp_path / 'api.db'}", "console": {"oidc": {
        "server_metadata_url": f"{issuer}/.well-known/openid-configuration", "client_id": "ganyun",
        "client_secret": "env:GANYUN_TEST_OIDC", "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "role_map": {"yunwei": "operator"}, "scope_claim": "ganyun_scope"},
        "login_throttle": {"free_failures": 20}}}, base_dir=str(tmp_path))  # fmt: skip


def _access_token(key, issuer: str, **claims) -> str:
    from joserfc import jwt

    now = int(clock.now().timestamp())
    body = {"iss": issuer, "sub": "u-1", "preferred_username": "li.lei", "azp": "ganyun", "exp": now + 300,
            "iat": now, "roles": ["yunwei"], "ganyun_scope": ["定南县"], **claims}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "k1"}, body, key)


def test_an_oidc_access_token_reads_with_the_scope_of_its_claims(tmp_path, store, identity_platform):
    issuer, key = identity_platform
    api = client(_oidc_config(tmp_path, issuer), store)
    found = every_item(api, "/api/v1/nodes", _access_token(key, issuer))
    assert found and {n["department"] for n in found} == {"定南县"}
    account = accounts.get_account(store, "li.lei")
    assert account is not None and account.source == "oidc" and account.role == "operator"

    from joserfc.jwk import RSAKey

    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    past = int(clock.now().timestamp()) - 10
    for bad in (_access_token(stranger, issuer), _access_token(key, "https://other.example/realm"),
                _access_token(key, issuer, exp=past), _access_token(key, issuer, azp="someone-else"),
                _access_token(key, issuer, roles=["unmapped"])):  # fmt: skip
        assert api.get("/api/v1/nodes", headers=bearer(bad)).status_code == 401
    # An administrator disables the account: its claims never enable it again.
    with store.session() as session:
        from console.account_models import User

        session.get(User, "li.lei").active = False
    assert api.get("/api/v1/nodes", headers=bearer(_access_token(key, issuer))).status_code == 401
