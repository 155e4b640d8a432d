"""The database specifics answer alike for every way of naming the database, and the
statements they build work on it.

Run on SQLite by default; with TEST_DATABASE_URL the ``engine`` tests run on PostgreSQL
too, and only there does ``insert_many`` take its COPY path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.db import make_engine
from store.dialect import (
    conflict_insert,
    has_advisory_locks,
    insert_many,
    is_in_memory_sqlite,
    is_postgresql,
    is_sqlite,
    unindexed,
)
from store.models import Customer, Product
from store.types import UTCDateTime


def test_every_way_of_naming_a_sqlite_database_answers_alike(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn, Session(engine) as session:
        for bind in (engine, conn, session, engine.dialect):
            assert is_sqlite(bind)
            assert not is_postgresql(bind)
            assert not has_advisory_locks(bind)
    engine.dispose()


def test_a_postgresql_dialect_is_told_apart_without_a_server() -> None:
    dialect = postgresql.dialect()
    assert is_postgresql(dialect)
    assert has_advisory_locks(dialect)
    assert not is_sqlite(dialect)


def test_only_a_sqlite_database_in_memory_counts_as_one(tmp_path: Path) -> None:
    assert is_in_memory_sqlite(create_engine("sqlite://"))
    assert is_in_memory_sqlite(create_engine("sqlite:///:memory:"))
    assert not is_in_memory_sqlite(create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    assert not is_in_memory_sqlite(create_engine("postgresql+psycopg://u@localhost/db"))


def test_conflict_insert_is_the_databases_own_insert() -> None:
    assert isinstance(conflict_insert(sqlite.dialect(), Product), sqlite.Insert)
    assert isinstance(conflict_insert(postgresql.dialect(), Product), postgresql.Insert)


def _product(code: str, price: float) -> dict[str, object]:
    return {"code": code, "name": code.title(), "family": "tv", "monthly_price": price}


def test_conflict_insert_skips_or_updates_the_row_already_there(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(conflict_insert(conn, Product).values(_product("tv-s", 10.0)))
        skipped = conflict_insert(conn, Product).values(_product("tv-s", 12.0))
        conn.execute(skipped.on_conflict_do_nothing(index_elements=["code"]))
        assert conn.scalar(select(Product.monthly_price)) == 10.0
        stmt = conflict_insert(conn, Product).values(_product("tv-s", 14.0))
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["code"], set_={"monthly_price": stmt.excluded.monthly_price}
            )
        )
        assert conn.execute(select(Product.code, Product.monthly_price)).all() == [("tv-s", 14.0)]


def test_insert_many_fills_python_side_defaults(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_many(conn, Product.__table__, [_product("a", 1.0), _product("b", 2.5)])  # type: ignore[arg-type]
        insert_many(conn, Product.__table__, [])  # type: ignore[arg-type]
        rows = conn.execute(select(Product.code, Product.tier, Product.monthly_price)).all()
    assert sorted(rows) == [("a", 1, 1.0), ("b", 1, 2.5)]


def test_unindexed_hides_the_index_on_sqlite_only() -> None:
    column = Customer.id
    on_sqlite = unindexed(sqlite.dialect(), column).compile(dialect=sqlite.dialect())
    on_postgresql = unindexed(postgresql.dialect(), column).compile(dialect=postgresql.dialect())
    assert str(on_sqlite) == "customers.id + 0"
    assert str(on_postgresql) == "customers.id"


def test_timestamps_are_stored_without_offset_on_sqlite_only() -> None:
    at = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    column = UTCDateTime()
    stored = column.process_bind_param(at, sqlite.dialect())
    assert stored == dt.datetime(2026, 3, 1, 10, 0)
    assert column.process_bind_param(at, postgresql.dialect()) == at.astimezone(dt.UTC)


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_no_other_module_asks_for_the_databases_name(name: str) -> None:
    """Database names are compared here only (and in the migrations' set-up)."""
    root = Path(__file__).resolve().parents[2]
    packages = ("campaigns", "dialer", "runner", "scoring", "store")
    asking = [
        path.relative_to(root)
        for package in packages
        for path in (root / package).rglob("*.py")
        if f'dialect.name == "{name}"' in path.read_text()
        or f'dialect.name != "{name}"' in path.read_text()
    ]
    allowed = {Path("store/dialect.py"), Path("store/migrations/env.py")}
    assert set(asking) <= allowed
