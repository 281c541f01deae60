"""Error translation at the adapter boundary, against a served Keystone + Nova (pytest-httpserver).

Each failure must come out as the right ProviderError subclass naming the provider and the
call, never as an empty listing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from providers.base import ProviderSpec
from providers.errors import AuthError, BadResponse, NotFound, ProviderError, Throttled, Unavailable
from providers.registry import create_provider
from tests.providers.replay_server import catalog

SERVERS = "/compute/v2.1/servers/detail"


def _server(i: int) -> dict[str, object]:
    return {
        "id": f"srv-{i}",
        "name": f"vm-{i}",
        "status": "ACTIVE",
        "flavor": {"id": "f1"},
        "image": {"id": "img-1"},
        "addresses": {},
        "metadata": {"department": "市公安局"},
        "created": "2026-01-01T00:00:00Z",
    }


@pytest.fixture()
def cloud(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    base = httpserver.url_for("").rstrip("/")

    def token(request: Request) -> Response:
        body = {
            "token": {
                "expires_at": "2999-01-01T00:00:00.000000Z",
                "catalog": catalog(base),
                "project": {"id": "p1", "name": "demo"},
                "user": {"id": "u1", "name": "demo"},
            }
        }
        return Response(
            json.dumps(body), status=201, headers={"X-Subject-Token": "tok"}, content_type="application/json"
        )

    httpserver.expect_request("/identity/v3/auth/tokens", method="POST").respond_with_handler(token)
    # Enrichment calls answer "empty" so that only the call under test can fail.
    flavor = {"id": "f1", "name": "c2m4", "vcpus": 2, "ram": 4096, "disk": 40, "swap": ""}
    httpserver.expect_request("/compute/v2.1/flavors/detail").respond_with_json({"flavors": [flavor]})
    httpserver.expect_request("/compute/v2.1/flavors/f1/os-extra_specs").respond_with_json(
        {"extra_specs": {"capabilities:cpu_info:arch": "aarch64", "capabilities:cpu_info:vendor": "Kunpeng"}}
    )
    httpserver.expect_request("/image/v2/images").respond_with_json({"images": []})
    hypervisors: dict[str, tuple[int, object]] = {"answer": (200, {"hypervisors": []})}

    def hyp(request: Request) -> Response:
        status, body = hypervisors["answer"]
        return Response(json.dumps(body), status=status, content_type="application/json")

    httpserver.expect_request("/compute/v2.1/os-hypervisors/detail").respond_with_handler(hyp)
    httpserver.hypervisors = hypervisors  # type: ignore[attr-defined]
    yield httpserver


def _adapter(server: HTTPServer, timeout_s: float = 5.0) -> object:
    spec = ProviderSpec(
        name="gov-test",
        driver="openstack",
        key="demo",
        secret="s3cret-value",
        options={
            "ex_force_auth_url": server.url_for("/identity").rstrip("/"),
            "ex_force_auth_version": "3.x_password",
            "ex_tenant_name": "demo",
            "ex_domain_name": "Default",
        },
        timeout_s=timeout_s,
    )
    return create_provider(spec)


def _fails_with(adapter: object, kind: type[ProviderError]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        adapter.list_nodes()  # type: ignore[attr-defined]
    err = info.value
    assert type(err) is kind, f"{type(err).__name__}: {err}"
    assert err.provider == "gov-test" and err.call == "list_nodes"
    assert str(err).startswith("gov-test: list_nodes: ")
    assert "s3cret-value" not in str(err)
    return err


def test_ok_baseline(cloud: HTTPServer) -> None:
    cloud.expect_request(SERVERS).respond_with_json({"servers": [_server(1), _server(2)]})
    nodes = _adapter(cloud).list_nodes()  # type: ignore[attr-defined]
    assert [n.id for n in nodes] == ["srv-1", "srv-2"]
    assert nodes[0].department == "市公安局"
    assert (nodes[0].vcpus, nodes[0].ram_mb, nodes[0].arch, nodes[0].cpu_vendor) == (2, 4096, "aarch64", "Kunpeng")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, AuthError), (403, AuthError), (404, NotFound), (429, Throttled), (500, Unavailable), (503, Unavailable)],
)
def test_http_status(cloud: HTTPServer, status: int, kind: type[ProviderError]) -> None:
    cloud.expect_request(SERVERS).respond_with_json({"error": {"message": "nope", "code": status}}, status=status)
    err = _fails_with(_adapter(cloud), kind)
    assert str(status) in err.detail


def test_keystone_rejects_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/v3/auth/tokens", method="POST").respond_with_json(
        {"error": {"code": 401, "message": "The request you have made requires authentication."}}, status=401
    )
    _fails_with(_adapter(httpserver), AuthError)


@pytest.mark.parametrize(("status", "kind"), [(500, Unavailable), (503, Unavailable), (403, AuthError)])
def test_keystone_failures(httpserver: HTTPServer, status: int, kind: type[ProviderError]) -> None:
    httpserver.expect_request("/identity/v3/auth/tokens", method="POST").respond_with_json(
        {"error": {"code": status, "message": "keystone says no"}}, status=status
    )
    _fails_with(_adapter(httpserver), kind)


def test_timeout(cloud: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response(json.dumps({"servers": []}), content_type="application/json")

    cloud.expect_request(SERVERS).respond_with_handler(slow)
    err = _fails_with(_adapter(cloud, timeout_s=0.3), Unavailable)
    assert "timed out" in err.detail


def test_connection_refused() -> None:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    url = server.url_for("/identity").rstrip("/")
    server.stop()  # nothing listens there any more
    spec = ProviderSpec(
        name="gov-test",
        driver="openstack",
        key="u",
        secret="p",
        timeout_s=2,
        options={
            "ex_force_auth_url": url,
            "ex_force_auth_version": "3.x_password",
            "ex_tenant_name": "demo",
            "ex_domain_name": "Default",
        },
    )
    _fails_with(create_provider(spec), Unavailable)


def test_garbage_json(cloud: HTTPServer) -> None:
    cloud.expect_request(SERVERS).respond_with_data("<html>oops{", content_type="application/json")
    _fails_with(_adapter(cloud), BadResponse)


def test_truncated_body(cloud: HTTPServer) -> None:
    whole = json.dumps({"servers": [_server(i) for i in range(20)]})
    cloud.expect_request(SERVERS).respond_with_data(whole[: len(whole) // 2], content_type="application/json")
    _fails_with(_adapter(cloud), BadResponse)


def test_malformed_page_shape(cloud: HTTPServer) -> None:
    cloud.expect_request(SERVERS).respond_with_json({"servers": {"not": "a list"}})
    _fails_with(_adapter(cloud), BadResponse)


def test_missing_required_field(cloud: HTTPServer) -> None:
    broken = _server(1)
    del broken["status"]
    cloud.expect_request(SERVERS).respond_with_json({"servers": [broken]})
    err = _fails_with(_adapter(cloud), BadResponse)
    assert "status" in err.detail


def test_broken_second_page_is_a_failure_not_a_short_list(cloud: HTTPServer) -> None:
    base = cloud.url_for("").rstrip("/")

    def paged(request: Request) -> Response:
        if "marker" not in request.args:
            body = {
                "servers": [_server(1)],
                "servers_links": [{"rel": "next", "href": f"{base}{SERVERS}?marker=srv-1&limit=1"}],
            }
            return Response(json.dumps(body), content_type="application/json")
        return Response('{"servers": [{"id": "srv-2", "na', content_type="application/json")

    cloud.expect_request(SERVERS).respond_with_handler(paged)
    _fails_with(_adapter(cloud), BadResponse)


def test_pagination_follows_next_links(cloud: HTTPServer) -> None:
    base = cloud.url_for("").rstrip("/")
    pages = {None: [1, 2], "srv-2": [3, 4], "srv-4": [5]}

    def paged(request: Request) -> Response:
        marker = request.args.get("marker")
        body: dict[str, object] = {"servers": [_server(i) for i in pages[marker]]}
        if marker != "srv-4":
            last = f"srv-{pages[marker][-1]}"
            body["servers_links"] = [{"rel": "next", "href": f"{base}{SERVERS}?marker={last}"}]
        return Response(json.dumps(body), content_type="application/json")

    cloud.expect_request(SERVERS).respond_with_handler(paged)
    nodes = _adapter(cloud).list_nodes()  # type: ignore[attr-defined]
    assert [n.id for n in nodes] == [f"srv-{i}" for i in range(1, 6)]


def test_forbidden_optional_kind_is_auth_error_for_sync(cloud: HTTPServer) -> None:
    cloud.hypervisors["answer"] = (  # type: ignore[attr-defined]
        403,
        {"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-hypervisors"}},
    )
    cloud.expect_request("/compute/v2.1/os-aggregates").respond_with_json({"aggregates": []})
    adapter = _adapter(cloud)
    with pytest.raises(AuthError) as info:
        adapter.list_hosts()  # type: ignore[attr-defined]
    assert info.value.call == "list_hosts"
    # ...while nodes still list, without host CPU data.
    cloud.expect_request(SERVERS).respond_with_json({"servers": [_server(1)]})
    assert [n.id for n in adapter.list_nodes()] == ["srv-1"]  # type: ignore[attr-defined]


def test_unknown_driver_is_config_error() -> None:
    from providers.errors import ConfigError

    with pytest.raises(ConfigError, match="no-such-cloud"):
        create_provider(ProviderSpec(name="x", driver="no-such-cloud"))


def test_an_error_answer_keeps_its_message_in_any_language(cloud: HTTPServer) -> None:
    """The body is kept as bytes and decoded only for an error: the cloud's own words arrive."""
    cloud.expect_request(SERVERS).respond_with_json(
        {"computeFault": {"message": "计算服务暂不可用", "code": 500}}, status=500
    )
    err = _fails_with(_adapter(cloud), Unavailable)
    assert "计算服务暂不可用" in err.detail


def test_bytes_that_are_not_utf8_are_a_bad_answer(cloud: HTTPServer) -> None:
    cloud.expect_request(SERVERS).respond_with_data(b'{"servers": [\xff\xfe]}', content_type="application/json")
    _fails_with(_adapter(cloud), BadResponse)


def test_a_listing_in_chinese_parses_from_the_bytes(cloud: HTTPServer) -> None:
    named = {**_server(1), "name": "市政务服务网-数据库-01", "metadata": {"department": "市数据局", "system": "赣服通"}}
    cloud.expect_request(SERVERS).respond_with_data(
        json.dumps({"servers": [named]}, ensure_ascii=False).encode(), content_type="application/json"
    )
    (node,) = _adapter(cloud).list_nodes()  # type: ignore[attr-defined]
    assert (node.name, node.department, node.tags["system"]) == ("市政务服务网-数据库-01", "市数据局", "赣服通")
