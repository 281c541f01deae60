"""/metrics and /healthz: the figures read from the store, the ASGI app for the API, and the
console's side server scraped by a real Prometheus (`up == 1`)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from console.observability import health, metrics_app
from inventory.config import load_config
from inventory.drill_models import DrillRun
from inventory.store import open_store
from inventory.sync import sync_all
from providers.errors import Unavailable
from security.cert_models import Certificate
from tests.fakes.provider import FakeCloud, factory, make_node


@pytest.fixture()
def estate(tmp_path: Path) -> Path:
    cfg = tmp_path / "ganyun.yaml"
    cfg.write_text(
        "database: sqlite:///obs.db\nproviders:\n  - {name: good, driver: fake}\n  - {name: flaky, driver: fake}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    store = open_store(config.database_url)
    clouds = {n: FakeCloud(nodes=[make_node(n, i) for i in range(3)]) for n in ("good", "flaky")}
    sync_all(config, store, factory=factory(clouds))
    clouds["flaky"].fail_nodes = Unavailable("flaky", "list_nodes", "HTTP 503")
    sync_all(config, store, factory=factory(clouds))
    now = datetime.now(UTC)
    with store.session() as session:
        for i, days in enumerate((-1, 3, 20, 60, 400, 500)):
            session.add(Certificate(sha256=f"{i:064x}", not_after=now + timedelta(days=days)))
        session.add(DrillRun(id="d1", scenario="switchover", status="failed", passed=False, started_at=now - timedelta(hours=2), finished_at=now - timedelta(hours=2)))  # fmt: skip
        session.add(DrillRun(id="d2", scenario="switchover", status="passed", passed=True, started_at=now - timedelta(hours=1), finished_at=now))  # fmt: skip
    store.dispose()
    return cfg


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _asgi_get(app: Any, path: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [], "root_path": ""}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_asgi_metrics_and_health_read_the_store(estate: Path) -> None:
    config = load_config(estate)
    status, body = _asgi_get(metrics_app(config), "/metrics")
    assert status == 200
    samples = _samples(body.decode())
    assert samples[("ganyun_store_up", ())] == 1
    assert samples[("ganyun_provider_up", (("provider", "good"),))] == 1
    assert samples[("ganyun_provider_up", (("provider", "flaky"),))] == 0
    assert samples[("ganyun_provider_sync_status", (("provider", "flaky"), ("status", "failed")))] == 1
    assert samples[("ganyun_provider_stale", (("provider", "flaky"),))] == 1
    assert samples[("ganyun_provider_records", (("kind", "node"), ("provider", "good")))] == 3
    assert 0 <= samples[("ganyun_provider_last_success_age_seconds", (("provider", "good"),))] < 300
    buckets = {dict(k[1])["expiry"]: v for k, v in samples.items() if k[0] == "ganyun_certificates"}
    assert buckets == {"expired": 1, "7d": 1, "30d": 1, "90d": 1, "later": 2}
    assert samples[("ganyun_drill_last_passed", (("scenario", "switchover"),))] == 1
    assert ("ganyun_audit_log_entries", ()) in samples and ("ganyun_audit_verification_ok", ()) in samples
    status, body = _asgi_get(metrics_app(config), "/healthz")
    assert status == 200 and json.loads(body) == health(config)
    assert json.loads(body)["status"] == "degraded" and json.loads(body)["failed"] == ["flaky"]
    assert _asgi_get(metrics_app(config), "/other")[0] == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus not installed")
def test_console_side_server_is_scraped_by_a_real_prometheus(estate: Path, tmp_path: Path) -> None:
    metrics_port = _free_port()
    console = subprocess.Popen(
        [sys.executable, "-m", "console", "--config", str(estate), "console", "--port", "0",
         "--metrics-port", str(metrics_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    prometheus = None
    try:
        base = f"http://127.0.0.1:{metrics_port}"
        _wait(lambda: _get(f"{base}/healthz")[0] == 200, 60, "the console's /healthz")
        code, text = _get(f"{base}/metrics")
        assert code == 200 and ("ganyun_provider_up", (("provider", "good"),)) in _samples(text)
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "ganyun", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
        }
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        prom_port = _free_port()
        prometheus = subprocess.Popen(
            [shutil.which("prometheus") or "prometheus", f"--config.file={prom_dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={prom_dir / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=prom_dir,
        )  # fmt: skip
        query = urllib.parse.urlencode({"query": 'up{job="ganyun"}'})

        def up() -> bool:
            _code, answer = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?{query}")
            result = json.loads(answer)["data"]["result"]
            return bool(result) and result[0]["value"][1] == "1"

        _wait(up, 60, "Prometheus to scrape the console: up == 1")
        stale = urllib.parse.urlencode({"query": 'ganyun_provider_stale{provider="flaky"}'})
        assert (
            json.loads(_get(f"http://127.0.0.1:{prom_port}/api/v1/query?{stale}")[1])["data"]["result"][0]["value"][1]
            == "1"
        )
    finally:
        if prometheus is not None:
            prometheus.send_signal(signal.SIGTERM)
            prometheus.wait(timeout=20)
        console.send_signal(signal.SIGTERM)
        console.wait(timeout=30)
    # The side server dies with the console.
    _wait(lambda: not _listening(metrics_port), 10, "the side server to stop")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_api_serves_metrics_and_health_without_a_token(estate: Path) -> None:
    """`ganyun api serve` answers a Prometheus scrape and a load balancer's probe like the
    console's side server, and its own 404s stay problem details."""
    from fastapi.testclient import TestClient

    from console.api.app import create_app

    config = load_config(estate)
    with TestClient(create_app(config)) as client:
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert _samples(metrics.text)[("ganyun_provider_up", (("provider", "good"),))] == 1
        healthz = client.get("/healthz")
        assert healthz.status_code == 200 and healthz.json()["failed"] == ["flaky"]
        missing = client.get("/api/v1/no-such-thing")
        assert missing.status_code in (401, 404)
        assert missing.headers["content-type"].startswith("application/problem+json")
