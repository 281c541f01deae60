"""ganyun observed: `/metrics` in the Prometheus exposition format and `/healthz`.

`metrics_app(config)` is an ASGI app serving both paths (for `ganyun api serve` to mount);
`wsgi_app(config)` the same for the console's side server (`serve`), which `ganyun console`
starts on `--metrics-port` (default 9851) because Streamlit cannot add routes. Figures are read
from the store at each scrape by one collector:

- per provider: last sync status, up (ok or partial), stale, duration, last success and its age,
  last attempt, record counts per kind;
- the audit log's length, and the result and time of the last verification (run here at most
  every `AUDIT_VERIFY_EVERY_S`, since a verification checks signatures);
- certificates by expiry bucket (expired, within 7, 30, 90 days, later);
- the last drill per scenario: passed, status, when it finished.

`health(config)` says whether the store answers and which providers failed or are stale:
`ok`, `degraded` (some provider failed or stale) or `failed` (the store does not answer, HTTP 503).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from inventory.config import GanyunConfig
from inventory.drill_models import DrillRun
from inventory.models import ProviderStatus
from inventory.store import Store, open_store
from providers.errors import GanyunError
from security.audit_models import AuditEntry
from security.cert_models import Certificate

AUDIT_VERIFY_EVERY_S = 300.0
# (label, days until expiry below which a certificate falls in the bucket), checked in order.
EXPIRY_BUCKETS: tuple[tuple[str, float], ...] = (("expired", 0.0), ("7d", 7.0), ("30d", 30.0), ("90d", 90.0))
_UP_STATUSES = ("ok", "partial")


def _aware(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class _AuditVerification:
    """The last verification of the audit log, redone at most every AUDIT_VERIFY_EVERY_S."""

    def __init__(self, config: GanyunConfig, store: Store) -> None:
        self.config, self.store = config, store
        self.lock = threading.Lock()
        self.at: float | None = None
        self.ok = False

    def current(self) -> tuple[float | None, bool]:
        with self.lock:
            if self.at is None or time.time() - self.at >= AUDIT_VERIFY_EVERY_S:
                from security.audit import verify_config

                try:
                    self.ok = verify_config(self.config, store=self.store).ok
                except GanyunError:
                    self.ok = False
                self.at = time.time()
            return self.at, self.ok


class StoreCollector(Collector):
    """Every ganyun figure, read from the store at each scrape."""

    def __init__(self, config: GanyunConfig, store: Store | None = None) -> None:
        self.config = config
        self._store = store
        self._audit: _AuditVerification | None = None
        self._lock = threading.Lock()

    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.config.database_url)
            return self._store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ganyun_store_up", "1 when ganyun's database answered this scrape")
        try:
            families = list(self._families())
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterable[Metric]:
        store = self.store()
        now = datetime.now(UTC)
        with store.session() as session:
            providers = list(session.scalars(select(ProviderStatus).order_by(ProviderStatus.name)))
            entries = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
            expiries = [_aware(at) for at in session.scalars(select(Certificate.not_after))]
            drills = list(session.scalars(select(DrillRun).order_by(DrillRun.started_at)))
        yield from _provider_families(providers, now)
        yield from self._audit_families(store, int(entries))
        yield _certificate_family(expiries, now)
        yield from _drill_families(drills)

    def _audit_families(self, store: Store, entries: int) -> Iterable[Metric]:
        length = GaugeMetricFamily("ganyun_audit_log_entries", "Entries in the audit log")
        length.add_metric([], entries)
        yield length
        if self._audit is None:
            self._audit = _AuditVerification(self.config, store)
        at, ok = self._audit.current()
        verified = GaugeMetricFamily("ganyun_audit_verification_ok", "1 when the last verification of the log passed")
        verified.add_metric([], 1 if ok else 0)
        when = GaugeMetricFamily(
            "ganyun_audit_last_verification_timestamp_seconds", "When the audit log was last verified"
        )
        when.add_metric([], at or 0)
        yield from (verified, when)


def _provider_families(providers: list[ProviderStatus], now: datetime) -> Iterable[Metric]:
    labels = ["provider"]
    status = GaugeMetricFamily(
        "ganyun_provider_sync_status", "1 for the status of the provider's last sync", labels=["provider", "status"]
    )
    up = GaugeMetricFamily("ganyun_provider_up", "1 when the last sync of the provider succeeded", labels=labels)
    stale = GaugeMetricFamily("ganyun_provider_stale", "1 when the provider's data is last good data", labels=labels)
    duration = GaugeMetricFamily(
        "ganyun_provider_sync_duration_seconds", "Duration of the provider's last sync", labels=labels
    )
    success = GaugeMetricFamily(
        "ganyun_provider_last_success_timestamp_seconds", "When the provider last synced successfully", labels=labels
    )
    age = GaugeMetricFamily(
        "ganyun_provider_last_success_age_seconds", "Seconds since the provider last synced successfully", labels=labels
    )
    attempt = GaugeMetricFamily(
        "ganyun_provider_last_attempt_timestamp_seconds", "When the provider's last sync ran", labels=labels
    )
    records = GaugeMetricFamily(
        "ganyun_provider_records", "Records of each kind from the provider's last sync", labels=["provider", "kind"]
    )
    for row in providers:
        status.add_metric([row.name, row.status], 1)
        up.add_metric([row.name], 1 if row.status in _UP_STATUSES else 0)
        stale.add_metric([row.name], 1 if row.stale else 0)
        duration.add_metric([row.name], float(row.duration_s or 0.0))
        last = _aware(row.last_success)
        if last is not None:
            success.add_metric([row.name], last.timestamp())
            age.add_metric([row.name], max(0.0, (now - last).total_seconds()))
        tried = _aware(row.last_attempt)
        if tried is not None:
            attempt.add_metric([row.name], tried.timestamp())
        for kind, count in sorted((row.counts or {}).items()):
            if isinstance(count, int):
                records.add_metric([row.name, str(kind)], count)
    return (status, up, stale, duration, success, age, attempt, records)


def _certificate_family(expiries: list[datetime | None], now: datetime) -> Metric:
    counts = {label: 0 for label, _days in EXPIRY_BUCKETS} | {"later": 0}
    for at in expiries:
        if at is None:
            continue
        days = (at - now).total_seconds() / 86400.0
        label = next((name for name, limit in EXPIRY_BUCKETS if days < limit), "later")
        counts[label] += 1
    family = GaugeMetricFamily(
        "ganyun_certificates", "Certificates in the inventory by time left until expiry", labels=["expiry"]
    )
    for label, count in counts.items():
        family.add_metric([label], count)
    return family


def _drill_families(drills: list[DrillRun]) -> Iterable[Metric]:
    latest = {run.scenario: run for run in drills}  # ordered by start: the last one wins
    passed = GaugeMetricFamily(
        "ganyun_drill_last_passed", "1 when the scenario's last drill passed", labels=["scenario"]
    )
    result = GaugeMetricFamily(
        "ganyun_drill_last_result", "1 for the status of the scenario's last drill", labels=["scenario", "status"]
    )
    finished = GaugeMetricFamily(
        "ganyun_drill_last_finished_timestamp_seconds", "When the scenario's last drill finished", labels=["scenario"]
    )
    for scenario, run in sorted(latest.items()):
        passed.add_metric([scenario], 1 if run.passed else 0)
        result.add_metric([scenario, run.status], 1)
        done = _aware(run.finished_at)
        if done is not None:
            finished.add_metric([scenario], done.timestamp())
    return (passed, result, finished)


def registry_for(config: GanyunConfig, store: Store | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(config, store))
    return registry


def health(config: GanyunConfig, store: Store | None = None) -> dict[str, Any]:
    """{"status": ok | degraded | failed, "store": bool, "failed": [...], "stale": [...]}."""
    try:
        with (store or open_store(config.database_url)).session() as session:
            rows = list(session.execute(select(ProviderStatus.name, ProviderStatus.status, ProviderStatus.stale)))
    except Exception as exc:
        return {"status": "failed", "store": False, "error": type(exc).__name__, "failed": [], "stale": []}
    failed = sorted(name for name, status, _stale in rows if status == "failed")
    stale = sorted(name for name, _status, is_stale in rows if is_stale)
    return {
        "status": "degraded" if failed or stale else "ok",
        "store": True,
        "providers": len(rows),
        "failed": failed,
        "stale": stale,
    }


def _health_body(config: GanyunConfig, store: Store | None) -> tuple[int, bytes]:
    answer = health(config, store)
    return (503 if answer["status"] == "failed" else 200), json.dumps(answer).encode()


# The ASGI interface spelled out (starlette.types.ASGIApp) so any ASGI server or framework takes it.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def metrics_app(config: GanyunConfig, store: Store | None = None) -> AsgiApp:
    """An ASGI app: `/metrics` (exposition format) and `/healthz` (JSON); 404 elsewhere."""
    metrics = make_asgi_app(registry_for(config, store))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope.get("type") == "http" and path.rstrip("/").endswith("/metrics"):
            await metrics(scope, receive, send)
            return
        code, body = _health_body(config, store) if path.rstrip("/").endswith("/healthz") else (404, b"not found")
        kind = b"application/json" if code != 404 else b"text/plain"
        await send({"type": "http.response.start", "status": code, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": body})

    return app


def wsgi_app(config: GanyunConfig, store: Store | None = None) -> Callable[..., Iterable[bytes]]:
    """The same two paths as a WSGI app, for the console's side server."""
    metrics = make_wsgi_app(registry_for(config, store))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            code, body = _health_body(config, store)
            start_response(
                f"{code} {'OK' if code == 200 else 'Service Unavailable'}", [("Content-Type", "application/json")]
            )
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app
