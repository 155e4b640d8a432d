"""What differs between SQLite and PostgreSQL, in one place.

The store runs on both. Code above it asks here, by what it needs (an insert that can
skip conflicts, advisory locks, a column that no index serves), rather than by the
database's name, so each difference is stated once.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Engine, Integer, Table, insert, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.sql.elements import ColumnElement

__all__ = [
    "Bind",
    "conflict_insert",
    "has_advisory_locks",
    "insert_many",
    "is_in_memory_sqlite",
    "is_postgresql",
    "is_sqlite",
    "unindexed",
]

Bind = Engine | Connection | Session | Dialect
"""Anything that knows which database it talks to."""


def _dialect(bind: Bind) -> Dialect:
    if isinstance(bind, Dialect):  # first: column types ask per value bound
        return bind
    if isinstance(bind, Session):
        return bind.get_bind().dialect
    return bind.dialect


def is_sqlite(bind: Bind) -> bool:
    return _dialect(bind).name == "sqlite"


def is_postgresql(bind: Bind) -> bool:
    return _dialect(bind).name == "postgresql"


def is_in_memory_sqlite(engine: Engine) -> bool:
    """A SQLite database in memory: each connection, so each thread, sees its own."""
    return is_sqlite(engine) and engine.url.database in (None, "", ":memory:")


def has_advisory_locks(bind: Bind) -> bool:
    """Whether the database offers transaction-scoped advisory locks (PostgreSQL's
    ``pg_advisory_xact_lock``). SQLite lets one writer in at a time instead."""
    return is_postgresql(bind)


def conflict_insert(bind: Bind, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The database's own INSERT, which offers ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (both databases spell them alike)."""
    if is_postgresql(bind):
        return postgresql.insert(table)
    return sqlite.insert(table)


def unindexed(bind: Bind, column: Any) -> ColumnElement[Any]:
    """On SQLite the column as an expression, ``id + 0``, so no index is used for it.

    Lacking statistics, SQLite would otherwise walk the column's index through most of
    a table, one random read per row, to filter or to group in its order. PostgreSQL
    plans by its statistics, which the expression would hide from it.
    """
    if not is_sqlite(bind):
        return cast("ColumnElement[Any]", column.expression)
    return cast("ColumnElement[Any]", column + literal_column("0", Integer))


def insert_many(conn: Connection, table: Table, records: list[dict[str, Any]]) -> None:
    """Insert many rows of one shape: through COPY on PostgreSQL; elsewhere a Core
    executemany, several times faster than the ORM's bulk path, which fills the
    columns' Python-side defaults the same way."""
    if not records:
        return
    if is_postgresql(conn):
        _copy_into(conn, table, records)
    else:
        conn.execute(insert(table), records)


def _copy_into(conn: Connection, table: Table, records: list[dict[str, Any]]) -> None:
    """Insert through PostgreSQL's COPY, inside the connection's transaction.

    Columns no record sets keep their database defaults; Python-side scalar defaults
    are filled in here, as Core's executemany would.
    """
    columns = [c for c in table.columns if c.name in records[0]]
    names = [c.name for c in columns]
    fill = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in records[0] and isinstance(c.default, ScalarElementColumnDefault)
    }
    names += list(fill)
    dbapi = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
    quoted = ", ".join(f'"{n}"' for n in names)
    with (
        dbapi.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
    ):
        for record in records:
            copy.write_row([_plain(record[c.name]) for c in columns] + list(fill.values()))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
