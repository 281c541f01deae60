"""Bulk writes through the driver's executemany, for both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Connection


def executemany(connection: Connection, table: Table, verb: str, rows: list[dict[str, Any]]) -> None:
    """Bulk write through the driver's executemany with each value bound once by its column
    type: SQLAlchemy's per-row parameter compilation costs more than the writes themselves."""
    if not rows:
        return
    dialect = connection.dialect
    names = [k for k in rows[0] if k != "fid"]
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}
    if dialect.paramstyle not in marks:  # pragma: no cover - drivers we do not ship
        stmt = insert(table) if verb == "INSERT" else update(table).where(table.c.id == bindparam("fid"))
        connection.execute(stmt, rows)
        return
    mark = marks[dialect.paramstyle]
    processors = [table.c[n].type._cached_bind_processor(dialect) for n in names]
    if verb == "INSERT":
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(mark for _ in names)})"
    else:
        names_sql = ", ".join(f"{n} = {mark}" for n in names)
        sql = f"UPDATE {table.name} SET {names_sql} WHERE id = {mark}"
    params = []
    for row in rows:
        values = [proc(row[n]) if proc else row[n] for n, proc in zip(names, processors, strict=True)]
        if verb == "UPDATE":
            values.append(row["fid"])
        params.append(tuple(values))
    connection.exec_driver_sql(sql, params)
