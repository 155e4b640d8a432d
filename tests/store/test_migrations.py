"""Migrations build the schema from empty, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy import inspect

from store.db import make_engine
from store.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from store.models import Base

needs_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="set TEST_DATABASE_URL to a PostgreSQL server to run this against PostgreSQL",
)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[needs_postgres, pytest.mark.postgres])]
)
def empty_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database with no tables at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()


def test_upgrade_from_empty_creates_every_table(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert current_revision(engine) is None
    upgrade(empty_url)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()


def test_models_and_migrations_agree(empty_url: str) -> None:
    upgrade(empty_url)
    # alembic check fails when autogenerate would emit any operation.
    command.check(alembic_config(empty_url))


def test_downgrade_to_base_and_up_again(empty_url: str) -> None:
    upgrade(empty_url)
    downgrade(empty_url, "base")
    engine = make_engine(empty_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_lookup_columns_are_indexed_or_unique(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    inspector = inspect(engine)

    def covered(table: str, columns: list[str]) -> bool:
        found = [ix["column_names"] for ix in inspector.get_indexes(table)]
        found += [uq["column_names"] for uq in inspector.get_unique_constraints(table)]
        return any(list(c[: len(columns)]) == columns for c in found)

    assert covered("customers", ["phone"])
    assert covered("customers", ["external_id"])
    assert covered("list_entries", ["campaign_id", "status"])
    assert covered("attempts", ["campaign_id", "status"])
    assert covered("dnc_entries", ["phone", "channel"])
    assert covered("attempts", ["provider_sid"])
    engine.dispose()


def test_unknown_revision_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        upgrade(f"sqlite:///{tmp_path / 'x.db'}", "nope")
