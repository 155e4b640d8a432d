"""SQLite writes in groups: the work a dialer process asks to write while its last write
waits for the lock or holds it runs in one transaction, each piece in a savepoint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from dialer.gateway import STORE_THREADS, WriteGroup, dialer_engine, writes_in_groups
from store.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = dialer_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    yield engine
    engine.dispose()


@pytest.fixture
def group(engine: Engine) -> Iterator[WriteGroup]:
    threads = ThreadPoolExecutor(STORE_THREADS)
    yield WriteGroup(engine, threads)
    threads.shutdown()


def note(body: str) -> Any:
    def write(session: Session) -> int:
        session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
        return int(session.scalar(text("SELECT count(*) FROM notes")) or 0)

    return write


def bodies(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT body FROM notes ORDER BY id")))


def commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_work_asked_for_while_a_write_runs_is_written_in_one_transaction(
    engine: Engine, group: WriteGroup
) -> None:
    seen = commits(engine)
    release = threading.Event()

    def slow(session: Session) -> int:
        release.wait(5)
        return int(note("first")(session))

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(group.run(slow))
        await asyncio.sleep(0.05)  # the first write holds the lock now
        rest = [asyncio.ensure_future(group.run(note(f"n{i}"))) for i in range(10)]
        await asyncio.sleep(0.05)
        release.set()
        return [await first, *[await r for r in rest]]

    counts = asyncio.run(scenario())
    assert counts == list(range(1, 12))  # in the order asked; each saw the ones before
    assert bodies(engine) == ["first", *[f"n{i}" for i in range(10)]]
    assert len(seen) == 2  # the first alone, then the ten together


def test_a_piece_that_fails_is_undone_alone_and_its_caller_gets_the_error(
    engine: Engine, group: WriteGroup
) -> None:
    def fails(session: Session) -> None:
        note("undone")(session)
        raise LookupError("no attempt 7")

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            group.run(note("kept 1")),
            group.run(fails),
            group.run(note("kept 2")),
            return_exceptions=True,
        )

    first, error, last = asyncio.run(scenario())
    assert isinstance(error, LookupError)
    assert (first, last) == (1, 2)
    assert bodies(engine) == ["kept 1", "kept 2"]


def test_when_the_commit_fails_every_caller_gets_the_error_and_nothing_is_written(
    engine: Engine, group: WriteGroup
) -> None:
    def refuse(_conn: Any) -> None:
        raise OSError("disk full")

    event.listen(engine, "commit", refuse)

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            *(group.run(note(f"n{i}")) for i in range(3)), return_exceptions=True
        )

    outcomes = asyncio.run(scenario())
    event.remove(engine, "commit", refuse)
    assert [type(outcome) for outcome in outcomes] == [OSError] * 3
    assert bodies(engine) == []

    async def again() -> int:
        return await group.run(note("after"))

    assert asyncio.run(again()) == 1  # the group writes on afterwards


def test_only_the_dialers_own_sqlite_engines_write_in_groups(
    engine: Engine, tmp_path: Path
) -> None:
    plain = make_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    assert writes_in_groups(engine)
    assert not writes_in_groups(plain)  # the driver begins on its own: no savepoints
    plain.dispose()
