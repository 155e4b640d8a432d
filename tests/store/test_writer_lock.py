"""Writers of one SQLite file queue on its lock file: the next one is let in as soon as
the holder's transaction ends, however it ends, and never while it lasts."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dialer.gateway import PEEK, dialer_engine
from store.writer_lock import WriterLockConnection, lock_path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    plain = sqlite3.connect(path)
    plain.execute("PRAGMA journal_mode=WAL")
    plain.execute("CREATE TABLE t (v INTEGER)")
    plain.commit()
    plain.close()
    return path


def connect(path: Path) -> WriterLockConnection:
    conn = sqlite3.connect(path, timeout=5, isolation_level=None, factory=WriterLockConnection)
    assert isinstance(conn, WriterLockConnection)
    return conn


def lock_is_free(path: Path) -> bool:
    """Whether a writer could take the lock file now (asked without waiting)."""
    with open(lock_path(str(path)), "ab") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True


@pytest.fixture
def first(database: Path) -> Iterator[WriterLockConnection]:
    conn = connect(database)
    yield conn
    conn.close()


def begin_in_thread(path: Path, began: threading.Event) -> threading.Thread:
    def run() -> None:
        conn = connect(path)
        conn.begin_immediate()
        began.set()
        conn.execute("INSERT INTO t VALUES (2)")
        conn.commit()
        conn.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_to_commit(
    database: Path, first: WriterLockConnection
) -> None:
    first.begin_immediate()
    first.execute("INSERT INTO t VALUES (1)")
    began = threading.Event()
    second = begin_in_thread(database, began)
    assert not began.wait(0.5), "the second writer began while the first held the lock"
    committed = time.perf_counter()
    first.commit()
    assert began.wait(5.0)
    second.join(5.0)
    waited = time.perf_counter() - committed
    assert waited < 1.0, f"let in {waited:.3f} s after the commit"
    assert first.execute("SELECT count(*) FROM t").fetchone() == (2,)


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_every_end_of_a_transaction_lets_the_lock_go(database: Path, end: str) -> None:
    conn = connect(database)
    conn.begin_immediate()
    assert not lock_is_free(database)
    getattr(conn, end)()
    assert lock_is_free(database)
    if end != "close":
        conn.close()


def test_a_begin_that_fails_lets_the_lock_go(database: Path) -> None:
    outsider = sqlite3.connect(database, isolation_level=None)  # a writer not queued here
    outsider.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(database, timeout=0, isolation_level=None, factory=WriterLockConnection)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.begin_immediate()  # type: ignore[attr-defined]
    assert lock_is_free(database)
    outsider.rollback()
    outsider.close()
    conn.close()


def test_the_dialer_engine_holds_the_lock_for_its_transactions_only(database: Path) -> None:
    engine = dialer_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session, session.begin():
            dbapi = session.connection().connection.dbapi_connection
            assert isinstance(dbapi, WriterLockConnection)
            session.execute(text("INSERT INTO t VALUES (3)"))
            assert not lock_is_free(database)
        assert lock_is_free(database)
        with Session(engine.execution_options(**{PEEK: True})) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
            assert lock_is_free(database), "a peek takes no write lock"
    finally:
        engine.dispose()
