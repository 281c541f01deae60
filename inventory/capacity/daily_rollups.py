"""Daily rollups of capacity_samples: the Xinchuang trend's groups and each provider's daily
allocation, kept in capacity_trend_days and capacity_provider_days.

The live queries pick each provider's last sample of every day and group the samples on the
days (31,000 sample rows behind 6,700 trend groups on the large lab's year); the rollups
hold their results. capacity_samples only grows, so the number of samples and the highest id
identify what the tables were computed from (capacity_rollup_state): readers use the tables
only when that still matches, and compute live otherwise (samples written by anything that
did not call `refresh`, or a database from before the rollups).

Writers of samples (sync, the history import) write inside `writing(session)`: it serializes
them, takes the signature before the write and refreshes the tables after it, in the same
transaction. When the tables matched that signature, only the days of the new samples are
recomputed; otherwise everything is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from inventory.capacity.models import ProviderDay, RollupState, TrendDay
from inventory.capacity.queries import DayWindow, ProviderDayRow, TrendGroup, provider_day_rows, trend_groups
from inventory.models import CapacitySample

STATE = "capacity_samples"
# pg_advisory_xact_lock key for writers of samples: "gysample" in ASCII.
_PG_LOCK = 0x677973616D706C65
Signature = tuple[int, int]  # (samples, highest id)


@contextmanager
def writing(session: Session) -> Iterator[None]:
    """Write capacity samples in the block; the daily rollups follow in the same transaction."""
    # Serialize writers of samples until the transaction ends. PostgreSQL runs providers'
    # writes in parallel: two refreshes of the same day would each miss the other's samples
    # and collide on the rows they rewrite. SQLite has one writer at a time already.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
    before = signature(session)
    yield
    refresh(session, before)


def signature(session: Session) -> Signature:
    count, highest = session.execute(select(func.count(), func.max(CapacitySample.id))).one()
    return int(count), int(highest or 0)


def _stored(session: Session) -> str | None:
    return session.scalar(select(RollupState.value).where(RollupState.name == STATE))


def _text(sig: Signature) -> str:
    return f"{sig[0]}:{sig[1]}"


def is_current(session: Session) -> bool:
    return _stored(session) == _text(signature(session))


def _window_after(session: Session, highest: int) -> DayWindow | None:
    """The days that samples with an id above `highest` fall on."""
    newer = CapacitySample.id > highest
    first, last = session.execute(select(func.min(CapacitySample.at), func.max(CapacitySample.at)).where(newer)).one()
    if first is None:
        return None
    days = session.scalars(select(func.date(CapacitySample.at)).where(newer).distinct()).all()
    return DayWindow(tuple(days), first, last)


def refresh(session: Session, before: Signature) -> None:
    """Bring the daily rollups up to date after samples were written (`before`: the samples'
    signature before the write)."""
    after = signature(session)
    if after == before and _stored(session) == _text(after):
        return
    if _stored(session) == _text(before):
        window = _window_after(session, before[1])
        if window is not None:
            _rebuild(session, window)
    else:
        _rebuild(session, None)
    session.execute(delete(RollupState).where(RollupState.name == STATE))
    session.execute(insert(RollupState).values(name=STATE, value=_text(after)))


def _rebuild(session: Session, window: DayWindow | None) -> None:
    """Recompute the days of `window` (None: every day) in both tables."""
    for table in (TrendDay, ProviderDay):
        stmt = delete(table)
        session.execute(stmt if window is None else stmt.where(table.day.in_([str(d) for d in window.days])))
    keys = ("day", "center", "department", "vcpus", "xc_vcpus", "nodes", "xc_nodes")
    groups = [dict(zip(keys, g, strict=True)) for g in trend_groups(session, window)]
    columns = ("provider", "day", "at", "vcpus", "ram_mb", "disk_gb")
    days = [dict(zip(columns, row, strict=True)) for row in provider_day_rows(session, window)]
    for table, rows in ((TrendDay, groups), (ProviderDay, days)):
        if rows:
            session.execute(insert(table), rows)


def trend(session: Session, departments: Sequence[str] | None = None) -> list[TrendGroup]:
    """The Xinchuang trend's groups (of `departments`, or every department): from the rollup
    when current, else from the samples."""
    if not is_current(session):
        return trend_groups(session, None, departments)
    stmt = select(
        TrendDay.day, TrendDay.center, TrendDay.department, TrendDay.vcpus, TrendDay.xc_vcpus, TrendDay.nodes,
        TrendDay.xc_nodes,
    )  # fmt: skip
    if departments is not None:
        stmt = stmt.where(TrendDay.department.in_(list(departments)))
    return [tuple(row) for row in session.connection().execute(stmt)]  # type: ignore[misc]


def provider_days(session: Session) -> list[ProviderDayRow]:
    """Each provider's last daily allocation: from the rollup when current, else from the samples."""
    if not is_current(session):
        return provider_day_rows(session)
    stmt = select(
        ProviderDay.provider, ProviderDay.day, ProviderDay.at, ProviderDay.vcpus, ProviderDay.ram_mb,
        ProviderDay.disk_gb,
    )  # fmt: skip
    return [tuple(row) for row in session.connection().execute(stmt)]  # type: ignore[misc]
