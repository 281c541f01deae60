"""What a Prometheus server answers is data: garbage, errors, odd shapes and hostile label values
end as one error of the tree (or are kept as plain text), never as a crash of ours."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from providers.errors import BadResponse, GanyunError, ProviderError
from providers.prometheus import PrometheusSource, read_utilization

HOSTILE_ID = "{{ lookup('pipe','id') }}\n$(id);`id`/../../etc/passwd=HYPERLINK(\"x\")"


def _vector(*series: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": list(series)}}


def _serve(server: HTTPServer, body: bytes | dict[str, Any], status: int = 200) -> PrometheusSource:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    server.expect_request("/api/v1/query").respond_with_data(data, status=status, content_type="application/json")
    return PrometheusSource(url=server.url_for("/"), timeout_s=5)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\xff garbage \xfe",
        b"<html>proxy error</html>",
        b"[1, 2, 3]",
        json.dumps({"status": "success", "data": "nope"}).encode(),
        json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode(),
        json.dumps(_vector("not a series")).encode(),
        json.dumps(_vector({"metric": "uuid", "value": [0, "1"]})).encode(),
        json.dumps(_vector({"metric": {"uuid": "a"}, "value": [0, {"x": 1}]})).encode(),
        json.dumps(_vector({"metric": {"uuid": "a"}, "value": [0]})).encode(),
        json.dumps(_vector({"metric": {"uuid": "a"}, "value": [0, "not a number"]})).encode(),
    ],
    ids=["bytes", "html", "list", "data", "matrix", "series", "metric", "value-dict", "value-short", "value-text"],
)
def test_garbage_is_a_bad_response_naming_the_provider(httpserver: HTTPServer, body: bytes) -> None:
    source = _serve(httpserver, body)
    with pytest.raises(BadResponse) as caught:
        read_utilization("gov-huawei", source)
    assert "gov-huawei" in str(caught.value) and "prometheus query" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_http_errors_are_errors_of_the_tree(httpserver: HTTPServer, status: int) -> None:
    source = _serve(httpserver, b"<html>" + b"x" * 100_000 + b"</html>", status=status)
    with pytest.raises(ProviderError) as caught:
        read_utilization("gov-huawei", source)
    assert len(str(caught.value)) < 2_000  # a huge error page is not repeated whole


def test_refused_query_says_why(httpserver: HTTPServer) -> None:
    source = _serve(httpserver, {"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400)
    with pytest.raises(GanyunError, match="refused the query: parse error"):
        read_utilization("gov-huawei", source)


def test_hostile_ids_stay_text_and_huge_values_are_dropped(httpserver: HTTPServer) -> None:
    answer = _vector(
        {"metric": {"uuid": HOSTILE_ID}, "value": [0, "12.5"]},
        {"metric": {"uuid": "huge"}, "value": [0, "1e400"]},
        {"metric": {"uuid": "nan"}, "value": [0, "NaN"]},
        {"metric": {"uuid": 7}, "value": [0, "3"]},
        {"metric": {}, "value": [0, "3"]},
    )
    [row] = read_utilization("gov-huawei", _serve(httpserver, answer))
    assert row.node_id == HOSTILE_ID and row.cpu_avg_pct == 12.5
