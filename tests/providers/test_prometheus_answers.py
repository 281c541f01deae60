"""What a Prometheus server answers is data: garbage, errors, odd shapes and hostile label values
end as one error of the tree (or are kept as plain text), never as a crash of ours."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from providers.errors import BadResponse, GanyunError, ProviderError
from providers.prometheus import (
    MAX_POINTS_PER_SERIES,
    PrometheusSource,
    history_range,
    history_step_days,
    read_utilization,
)

HOSTILE_ID = "{{ lookup('pipe','id') }}\n$(id);`id`/../../etc/passwd=HYPERLINK(\"x\")"


def _vector(*series: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": list(series)}}


def _matrix(*series: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(series)}}


def _serve(
    server: HTTPServer, body: bytes | dict[str, Any], status: int = 200, history: bytes | dict[str, Any] | None = None
) -> PrometheusSource:
    """`body` for instant queries; `history` for range queries (by default the same series,
    each value as the one point of a one-day window)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if history is None and isinstance(body, dict) and body.get("data", {}).get("resultType") == "vector":
        history = _matrix(*({**s, "values": [s["value"]]} for s in body["data"]["result"]))
    ranged = data if history is None else history if isinstance(history, bytes) else json.dumps(history).encode()
    for path, answer in (("/api/v1/query", data), ("/api/v1/query_range", ranged)):
        server.expect_request(path).respond_with_data(answer, status=status, content_type="application/json")
    return PrometheusSource(url=server.url_for("/"), timeout_s=5, window_days=1)


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\xff garbage \xfe",
        b"<html>proxy error</html>",
        b"[1, 2, 3]",
        json.dumps({"status": "success", "data": "nope"}).encode(),
        json.dumps(_vector()).encode(),
        json.dumps(_matrix("not a series")).encode(),
        json.dumps(_matrix({"metric": "uuid", "values": [[0, "1"]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": "1"})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[0, {"x": 1}]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[0]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[0, "not a number"]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [["0", "1"]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[1e300, "1"]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[-1, "1"]]})).encode(),
        json.dumps(_matrix({"metric": {"uuid": "a"}, "values": [[True, "1"]]})).encode(),
    ],
    ids=["bytes", "html", "list", "data", "vector", "series", "metric", "values-text", "value-dict", "value-short",
         "value-text", "time-text", "time-huge", "time-negative", "time-bool"],
)  # fmt: skip
def test_garbage_is_a_bad_response_naming_the_provider(httpserver: HTTPServer, body: bytes) -> None:
    # The history's range query is asked first: the same garbage there fails the same way.
    source = _serve(httpserver, _vector(), history=body)
    with pytest.raises(BadResponse) as caught:
        read_utilization("gov-huawei", source)
    assert "gov-huawei" in str(caught.value) and "prometheus query_range" in str(caught.value)


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


@pytest.mark.parametrize(
    "series",
    [
        "not a series",
        {"metric": "uuid", "value": [0, "1"]},
        {"metric": {"uuid": "a"}, "value": [0, {"x": 1}]},
        {"metric": {"uuid": "a"}, "value": [0]},
        {"metric": {"uuid": "a"}, "value": [0, "not a number"]},
    ],
    ids=["series", "metric", "value-dict", "value-short", "value-text"],
)
def test_garbage_instant_answers_are_bad_responses(httpserver: HTTPServer, series: Any) -> None:
    history = _matrix({"metric": {"uuid": "a"}, "values": [[0, "1"]]})
    source = _serve(httpserver, _vector(series), history=history)
    with pytest.raises(BadResponse, match=r"gov-huawei.*prometheus query\b"):
        read_utilization("gov-huawei", source)


def test_hostile_ids_stay_text_and_huge_values_are_dropped(httpserver: HTTPServer) -> None:
    answer = _vector(
        {"metric": {"uuid": HOSTILE_ID}, "value": [0, "12.5"]},
        {"metric": {"uuid": "huge"}, "value": [0, "1e400"]},
        {"metric": {"uuid": "nan"}, "value": [0, "NaN"]},
        {"metric": {"uuid": 7}, "value": [0, "3"]},
        {"metric": {}, "value": [0, "3"]},
    )
    reading = read_utilization("gov-huawei", _serve(httpserver, answer))
    [row] = reading.utilization
    assert row.node_id == HOSTILE_ID and row.cpu_avg_pct == 12.5
    assert [(d.node_id, d.cpu_avg_pct) for d in reading.history] == [(HOSTILE_ID, 12.5)]


DAY = 86_400
NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC


def serve_history(server: HTTPServer, cpu: dict[str, list[Any]], ram: dict[str, list[Any]]) -> list[dict[str, str]]:
    """Range queries answered from `cpu` and `ram` ({uuid: [value per day, oldest first]}) at
    the times asked; instant queries answer p95 80 and disk 50 for every uuid. Returns the
    range queries' parameters as asked."""
    asked: list[dict[str, str]] = []

    def ranged(request: Request) -> Response:
        params = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        asked.append(params)
        start, end, step = float(params["start"]), float(params["end"]), int(params["step"].rstrip("s"))
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        figures = ram if "memory_usage" in params["query"] else cpu
        result = [
            {
                "metric": {"uuid": node, "job": "kvm"},
                "values": [[t, str(v)] for t, v in zip(times, values, strict=True)],
            }
            for node, values in figures.items()
        ]
        return Response(json.dumps(_matrix(*result)), content_type="application/json")

    def instant(request: Request) -> Response:
        query = parse_qs(request.query_string.decode())["query"][0]
        value = "80" if query.startswith("quantile_over_time") else "50"
        return Response(json.dumps(_vector(*({"metric": {"uuid": n}, "value": [NOW, value]} for n in cpu))))

    server.expect_request("/api/v1/query_range").respond_with_handler(ranged)
    server.expect_request("/api/v1/query").respond_with_handler(instant)
    return asked


def test_history_is_one_point_a_day_and_the_averages_are_its_means(httpserver: HTTPServer) -> None:
    cpu = {"busy-once": [1.0, 2.0, 90.0, 3.0], "quiet": [1.0, 1.0, 1.0, "NaN"]}
    asked = serve_history(httpserver, cpu, {"busy-once": [10, 20, 30, 40]})
    source = PrometheusSource(url=httpserver.url_for("/"), timeout_s=5, window_days=4, resolution="5m")
    reading = read_utilization("kvm", source, now=NOW)
    assert len(asked) == 2  # CPU and memory; the window's averages are not asked again
    assert all(a["step"] == "86400s" and float(a["end"]) == NOW and float(a["start"]) == NOW - 3 * DAY for a in asked)
    assert all(a["query"].startswith("avg_over_time((") and a["query"].endswith(")[1d:5m])") for a in asked)
    busy = [d for d in reading.history if d.node_id == "busy-once"]
    assert [d.day.isoformat() for d in busy] == ["2025-06-12", "2025-06-13", "2025-06-14", "2025-06-15"]
    assert [(d.cpu_avg_pct, d.ram_avg_pct) for d in busy] == [(1.0, 10.0), (2.0, 20.0), (90.0, 30.0), (3.0, 40.0)]
    quiet = [d for d in reading.history if d.node_id == "quiet"]
    assert [(d.cpu_avg_pct, d.ram_avg_pct) for d in quiet] == [(1.0, None)] * 3  # NaN day left out, no memory
    rows = {u.node_id: u for u in reading.utilization}
    assert rows["busy-once"].cpu_avg_pct == 24.0 and rows["busy-once"].ram_avg_pct == 25.0
    assert (rows["quiet"].cpu_avg_pct, rows["quiet"].ram_avg_pct) == (1.0, 0.0)
    assert rows["quiet"].cpu_p95_pct == 80.0 and rows["quiet"].disk_used_pct == 50.0
    assert rows["quiet"].window_days == 4


@pytest.mark.parametrize("window_days", [1, 30, 366, MAX_POINTS_PER_SERIES, MAX_POINTS_PER_SERIES + 1, 100_000])
def test_the_history_never_asks_more_points_than_prometheus_takes(window_days: int) -> None:
    start, end, step = history_range(window_days, NOW)
    points = round((end - start) / step) + 1
    assert points <= MAX_POINTS_PER_SERIES and step % DAY == 0
    # The points cover the window, and one step less would not.
    assert points * step >= window_days * DAY > (points - 1) * step
    assert step == DAY * history_step_days(window_days)
    assert (step == DAY) == (window_days <= MAX_POINTS_PER_SERIES)


def test_a_long_window_is_asked_with_a_longer_step(httpserver: HTTPServer) -> None:
    asked = serve_history(httpserver, {}, {})
    source = PrometheusSource(url=httpserver.url_for("/"), timeout_s=5, window_days=3 * MAX_POINTS_PER_SERIES)
    assert read_utilization("kvm", source, now=NOW).utilization == []
    step = 3 * DAY
    assert all(a["step"] == f"{step}s" and ")[3d:5m])" in a["query"] for a in asked)
    assert (NOW - float(asked[0]["start"])) / step + 1 == MAX_POINTS_PER_SERIES
