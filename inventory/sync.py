"""Concurrent collection from every provider into the inventory.

Rules: each provider is collected in its own worker and written in
its own transaction; a provider that fails is marked failed with its error and keeps its last
good data, marked stale; "removed" only ever comes from a complete, successful answer: a full
listing, Nova's own list of servers deleted since, or Cinder's complete list of volume ids.

With several providers, collection runs in worker processes (inventory/collector.py) and this
process only writes; with few, on threads here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, insert, select

from inventory import diff
from inventory.bulk import executemany
from inventory.capacity import upkeep
from inventory.collect import Collected, collect, collect_outcome
from inventory.collector import process_count
from inventory.config import GanyunConfig, ProviderConfig
from inventory.credentials import CredentialSource, load_session, provider_spec, save_session
from inventory.models import CapacitySample, NodeRow, ProviderStatus, SyncRun, UtilizationDayRow, UtilizationRow
from inventory.store import Store
from providers.base import Host, Provider, ProviderSpec, State
from providers.errors import GanyunError
from providers.masking import mask

_log = logging.getLogger(__name__)
ProviderFactory = Callable[[ProviderSpec], Provider]
ProgressCallback = Callable[[str, str], None]


@dataclass
class ProviderResult:
    name: str
    status: str  # ok | partial | failed
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    added: int = 0
    changed: int = 0
    removed: int = 0
    duration_s: float = 0.0
    # Kinds read as changes since the last sync rather than listed in full.
    incremental: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.name,
            "status": self.status,
            "error": self.error,
            "warnings": self.warnings,
            "counts": self.counts,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "incremental": self.incremental,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class SyncReport:
    run_id: int
    started_at: datetime
    finished_at: datetime
    results: list[ProviderResult]

    @property
    def failed(self) -> list[ProviderResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def status(self) -> str:
        if not self.results or len(self.failed) == len(self.results):
            return "failed"
        return "partial" if self.failed or any(r.status == "partial" for r in self.results) else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": round((self.finished_at - self.started_at).total_seconds(), 3),
            "providers": [r.to_dict() for r in self.results],
        }


def _default_factory(spec: ProviderSpec) -> Provider:
    from providers.registry import create_provider

    provider: Provider = create_provider(spec)
    return provider


def sync_all(
    config: GanyunConfig,
    store: Store,
    *,
    only: Sequence[str] = (),
    factory: ProviderFactory | None = None,
    vault: CredentialSource | None = None,
    progress: ProgressCallback | None = None,
    full: bool = False,
) -> SyncReport:
    """Collect the configured providers in parallel (bounded) and write each one's result.

    After a provider's first complete listing, nodes are fetched as changes since the cloud's
    clock when its last successful collection began (less `sync.clock_margin_s`), or since the
    watermark it returned then (vSphere's collector version); every
    `sync.full_every`-th run (or `full=True`) lists everything again.
    """
    providers = [p for p in config.providers if not only or p.name in only]
    unknown = sorted(set(only) - {p.name for p in config.providers})
    if unknown:
        from providers.errors import ConfigError

        raise ConfigError(f"--only: no provider named {', '.join(unknown)}")
    make = factory or _default_factory
    started = datetime.now(UTC)
    with store.write_lock, store.session() as session:
        run = SyncRun(started_at=started, status="running", summary={})
        session.add(run)
        session.flush()
        run_id = run.id
        every = config.sync.full_every
        force_full = full or every <= 1 or run_id % every == 0
        since = {} if force_full else _last_successes(session, config.sync.clock_margin_s)

    def work(pc: ProviderConfig) -> ProviderResult:
        return _sync_one(config, store, pc, make, vault, run_id, progress, since.get(pc.name))

    # Injected factories (tests, embedding code) may not survive a trip to another process.
    processes = process_count(config.sync.processes, len(providers)) if factory is None else 0
    results: list[ProviderResult] = []
    if processes:
        results = _sync_in_processes(config, store, providers, vault, run_id, progress, since, processes)
    else:
        workers = max(1, min(config.sync.workers, len(providers)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            futures = [pool.submit(work, pc) for pc in providers]
            for future in as_completed(futures):
                results.append(future.result())
    results.sort(key=lambda r: r.name)
    finished = datetime.now(UTC)
    report = SyncReport(run_id=run_id, started_at=started, finished_at=finished, results=results)
    with store.write_lock, store.session() as session:
        row = session.get(SyncRun, run_id)
        if row is not None:
            row.finished_at = finished
            row.status = report.status
            row.summary = report.to_dict()
    _import_capacity_history(config, store)
    return report


def _import_capacity_history(config: GanyunConfig, store: Store) -> None:
    """Capacity area hook: a configured history file goes into capacity_samples once."""
    if not config.capacity.history_file:
        return
    try:
        upkeep.ensure_history(config, store)
    except GanyunError:
        # A missing or bad history file must not fail a sync; the capacity report reports it.
        return


def _sync_one(
    config: GanyunConfig,
    store: Store,
    pc: ProviderConfig,
    make: ProviderFactory,
    vault: CredentialSource | None,
    run_id: int,
    progress: ProgressCallback | None,
    changes_since: datetime | str | None = None,
) -> ProviderResult:
    t0 = time.monotonic()
    notify = progress or (lambda _name, _phase: None)
    notify(pc.name, "collecting")
    session = _session_of(vault, pc, changes_since)

    def work() -> Collected:
        spec = provider_spec(pc, vault)
        return collect(make(spec), changes_since, session, spec.prometheus)

    outcome = collect_outcome(pc.name, work)
    return _finish(vault, store, pc, outcome, run_id, t0, notify)


def _session_of(vault: CredentialSource | None, pc: ProviderConfig, changes_since: datetime | str | None) -> str | None:
    """The adapter session the last sync left in the vault, when this sync continues from that
    sync's own watermark (a time-based delta needs no session)."""
    return load_session(vault, pc.name) if isinstance(changes_since, str) else None


def _finish(
    vault: CredentialSource | None,
    store: Store,
    pc: ProviderConfig,
    outcome: Collected | str,
    run_id: int,
    t0: float,
    notify: ProgressCallback,
) -> ProviderResult:
    """Write what a provider returned, or mark it failed with the error message.

    Messages are masked again here, in the process that stores and prints them: it resolved
    the credentials, so it knows them even when a worker process collected."""
    if isinstance(outcome, str):
        result = ProviderResult(pc.name, "failed", error=mask(outcome), duration_s=time.monotonic() - t0)
        _mark_failed(store, pc, result)
        _log.warning("sync %s: failed: %s", pc.name, result.error)
    else:
        outcome.warnings = [mask(w) for w in outcome.warnings]
        notify(pc.name, "writing")
        result = _write(store, pc, outcome, run_id, t0)
        # After the write: a session whose watermark never landed would not be asked for again.
        if outcome.session_state is not None or isinstance(outcome.watermark, str):
            save_session(vault, pc.name, outcome.session_state)
        _log.info("sync %s: %s, %s", pc.name, result.status, result.counts)
    notify(pc.name, result.status)
    return result


def _sync_in_processes(
    config: GanyunConfig,
    store: Store,
    providers: Sequence[ProviderConfig],
    vault: CredentialSource | None,
    run_id: int,
    progress: ProgressCallback | None,
    since: dict[str, datetime | str],
    processes: int,
) -> list[ProviderResult]:
    """Collect in worker processes; write here, one provider at a time as each arrives."""
    from inventory.collector import Job, collect_in_processes

    notify = progress or (lambda _name, _phase: None)
    by_name = {pc.name: pc for pc in providers}
    started = {pc.name: time.monotonic() for pc in providers}
    results: list[ProviderResult] = []
    jobs: list[Job] = []
    for pc in providers:
        try:
            changes_since = since.get(pc.name)
            jobs.append(Job(pc.name, provider_spec(pc, vault), changes_since, _session_of(vault, pc, changes_since)))
        except GanyunError as exc:
            results.append(_finish(vault, store, pc, str(exc), run_id, started[pc.name], notify))
    if not jobs:
        return results
    threads = max(1, -(-config.sync.workers // processes))
    for message in collect_in_processes(jobs, processes, threads):
        if message.phase == "collecting":
            notify(message.name, "collecting")
            continue
        pc = by_name[message.name]
        results.append(_finish(vault, store, pc, message.payload, run_id, started[pc.name], notify))
    return results


def _status_row(session: Any, pc: ProviderConfig) -> ProviderStatus:
    row: ProviderStatus | None = session.get(ProviderStatus, pc.name)
    if row is None:
        row = ProviderStatus(
            name=pc.name, status="never", stale=False, error="", warnings=[], counts={}, duration_s=0.0
        )
        session.add(row)
    row.driver, row.center, row.pool = pc.driver, pc.center, pc.pool
    return row


def _mark_failed(store: Store, pc: ProviderConfig, result: ProviderResult) -> None:
    with store.write_lock, store.session() as session:
        row = _status_row(session, pc)
        row.status = "failed"
        row.error = result.error
        row.last_attempt = datetime.now(UTC)
        # Last good data stays; it is stale only if there is any.
        row.stale = row.last_success is not None
        row.duration_s = result.duration_s


def _write(store: Store, pc: ProviderConfig, collected: Collected, run_id: int, t0: float) -> ProviderResult:
    now = datetime.now(UTC)
    result = ProviderResult(pc.name, "partial" if collected.warnings else "ok", warnings=collected.warnings)
    result.incremental = sorted(kind.value for kind in collected.deltas)
    with store.write_lock, store.session() as session:
        upkeep.rollups_maintained_by(session)
        status = _status_row(session, pc)
        initial_import = status.last_success is None
        for kind, records in collected.listings.items():
            delta = collected.deltas.get(kind)
            outcome = diff.apply_listing(
                session,
                pc.name,
                kind,
                records,
                now=now,
                run_id=run_id,
                record_added=not initial_import,
                deleted=delta.deleted if delta else None,
                present=delta.present if delta else None,
            )
            result.counts[kind.value] = len(records) if delta is None else diff.count_stored(session, pc.name, kind)
            result.added += outcome.added
            result.changed += outcome.changed
            result.removed += outcome.removed
        rewritten = 0
        if collected.utilization:
            rewritten = _write_utilization(session, pc.name, collected.utilization, now)
            if collected.history is not None:
                rewritten += _write_history(session, pc.name, collected.history)
        if (
            result.added
            or result.changed
            or result.removed
            or rewritten
            or not upkeep.provider_rollup_is_current(session, pc.name)
        ):
            upkeep.refresh_provider_rollup(session, pc.name, now)
        _write_capacity_sample(session, pc, now)
        status.status = result.status
        status.error = ""
        status.stale = False
        status.warnings = list(collected.warnings)
        status.counts = dict(result.counts)
        status.last_attempt = now
        status.last_success = now
        status.watermark = collected.watermark
        status.collected_from = collected.started_at
        result.duration_s = status.duration_s = time.monotonic() - t0
    return result


def _write_utilization(session: Any, provider: str, samples: Iterable[Any], now: datetime) -> int:
    """Make the stored samples equal to `samples`, touching only the nodes whose figures moved:
    an unchanged estate then costs one read instead of rewriting every node's row per sync.
    Returns the rows deleted plus the rows written: 0 when nothing moved."""

    table: Table = UtilizationRow.__table__  # type: ignore[assignment]
    fresh = {
        str(s.node_id): (
            float(s.cpu_avg_pct),
            float(s.cpu_p95_pct),
            float(s.ram_avg_pct),
            int(s.window_days),
            None if s.disk_used_pct is None else float(s.disk_used_pct),
        )
        for s in samples
    }
    stored = {
        node_id: tuple(figures)
        for node_id, *figures in session.execute(
            select(
                table.c.node_id,
                table.c.cpu_avg_pct,
                table.c.cpu_p95_pct,
                table.c.ram_avg_pct,
                table.c.window_days,
                table.c.disk_used_pct,
            ).where(table.c.provider == provider)
        )
    }
    stale = [i for i, figures in stored.items() if fresh.get(i) != figures]
    for start in range(0, len(stale), 500):
        chunk = stale[start : start + 500]
        session.execute(delete(table).where(table.c.provider == provider, table.c.node_id.in_(chunk)))
    rows = [
        {
            "provider": provider,
            "node_id": node_id,
            "cpu_avg_pct": cpu_avg,
            "cpu_p95_pct": cpu_p95,
            "ram_avg_pct": ram_avg,
            "window_days": window,
            "disk_used_pct": disk,
            "sampled_at": now,
        }
        for node_id, (cpu_avg, cpu_p95, ram_avg, window, disk) in fresh.items()
        if stored.get(node_id) != (cpu_avg, cpu_p95, ram_avg, window, disk)
    ]
    executemany(session.connection(), table, "INSERT", rows)
    return len(stale) + len(rows)


def _write_history(session: Any, provider: str, days: Iterable[Any]) -> int:
    """Replace the provider's daily utilization with `days`: one DELETE and one executemany.
    Every day's figure moves with each sync (the days end at the sync's time), so comparing
    row by row would only add a read. Returns the rows deleted plus the rows written."""
    table: Table = UtilizationDayRow.__table__  # type: ignore[assignment]
    deleted = session.execute(delete(table).where(table.c.provider == provider)).rowcount or 0
    rows = [
        {
            "provider": provider,
            "node_id": str(d.node_id),
            "day": d.day,
            "cpu_avg_pct": float(d.cpu_avg_pct),
            "ram_avg_pct": None if d.ram_avg_pct is None else float(d.ram_avg_pct),
        }
        for d in days
    ]
    executemany(session.connection(), table, "INSERT", rows)
    return int(deleted) + len(rows)


def _write_capacity_sample(session: Any, pc: ProviderConfig, now: datetime) -> None:
    """One allocation sample per department, aggregated in SQL from what is now stored:
    the history behind forecasts and the Xinchuang-progress trend."""

    stmt = (
        select(
            NodeRow.department,
            func.count(),
            func.coalesce(func.sum(NodeRow.vcpus), 0),
            func.coalesce(func.sum(NodeRow.ram_mb), 0),
            func.coalesce(func.sum(NodeRow.disk_gb), 0),
        )
        .where(NodeRow.provider == pc.name, NodeRow.state.not_in((State.TERMINATED.value, State.ERROR.value)))
        .group_by(NodeRow.department)
    )
    rows = [
        {
            "at": now,
            "provider": pc.name,
            "center": pc.center,
            "pool": pc.pool,
            "department": dept,
            "nodes": int(n),
            "vcpus": int(vcpus),
            "ram_mb": int(ram),
            "disk_gb": int(disk),
        }
        for dept, n, vcpus, ram, disk in session.execute(stmt)
    ]
    if rows:
        with upkeep.writing_samples(session):
            session.execute(insert(CapacitySample), rows)


def _last_successes(session: Any, margin_s: float) -> dict[str, datetime | str]:
    """Per provider, where its next delta starts: its own watermark, else the cloud's clock
    when its last successful collection began, less `margin_s`. A provider with neither (its
    last success predates this record) is listed in full once."""

    out: dict[str, datetime | str] = {}
    stmt = select(
        ProviderStatus.name, ProviderStatus.last_success, ProviderStatus.watermark, ProviderStatus.collected_from
    )
    for name, at, watermark, began in session.execute(stmt):
        if at is None:
            continue
        if watermark:
            out[name] = watermark
        elif began is not None:
            # SQLite hands datetimes back naive; they were written in UTC.
            out[name] = (began if began.tzinfo else began.replace(tzinfo=UTC)) - timedelta(seconds=margin_s)
    return out


__all__ = ["Collected", "Host", "ProviderResult", "SyncReport", "collect", "sync_all"]
