"""Keeps capacity rollups honest: a write to what they summarize, other than sync's, drops them.

Sync rewrites a provider's rollup in the transaction that writes its nodes, hosts,
utilization and daily history, and marks its session with `maintain`. Any other session that
inserts, updates or deletes those rows (the ORM unit of work or an INSERT/UPDATE/DELETE
statement run through the session) drops every rollup in the same transaction, so the report
computes those figures live until the providers' next sync. inventory/store.py installs the guard on every
Store's sessions.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from inventory.capacity.models import CapacityRollup
from inventory.models import HostRow, NodeRow, UtilizationDayRow, UtilizationRow

_WATCHED = (NodeRow, HostRow, UtilizationRow, UtilizationDayRow)
_WATCHED_TABLES = frozenset(model.__tablename__ for model in _WATCHED)
_MAINTAINED = "ganyun.rollups_maintained"


def maintain(session: Session) -> None:
    """This session keeps the rollups of what it writes current itself (sync does)."""
    session.info[_MAINTAINED] = True


def _drop_all(session: Session) -> None:
    # Through the connection: no ORM events, no autoflush from inside a flush.
    session.connection().execute(delete(CapacityRollup))


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_flush", _objects_written)
    event.listen(sessions, "do_orm_execute", _statement_written)


def _objects_written(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_MAINTAINED):
        return
    if any(isinstance(obj, _WATCHED) for obj in chain(session.new, session.dirty, session.deleted)):
        _drop_all(session)


def _statement_written(state: ORMExecuteState) -> None:
    if state.session.info.get(_MAINTAINED) or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        _drop_all(state.session)
