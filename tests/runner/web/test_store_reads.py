"""The web app's reads: on their own engine, read-only on SQLite, on the event loop itself
on PostgreSQL, and seeing what the store holds either way."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dialer.gateway import dialer_engine
from dialer.webhooks import DIALER
from runner.web.reads import READER, Reader, reader_engine
from store.db import make_engine
from store.models import User
from tests.runner.web_harness import USERS, Client, RunWeb


def test_reads_see_the_store_and_run_where_the_backend_wants_them(
    run_web: RunWeb, db_url: str, users: dict[str, int]
) -> None:
    seen: dict[str, object] = {}

    async def scenario(client: Client) -> None:
        app = client.server.app
        reader = app[READER]

        def work(session: Session) -> str | None:
            seen["thread"] = threading.current_thread() is threading.main_thread()
            return session.scalar(select(User.username).where(User.id == users["ann"]))

        seen["username"] = await app[DIALER].gateway.read_apart(work)
        seen["on_loop"] = reader.on_loop is not None
        seen["plain_thread"] = seen["thread"]
        seen["quick_username"] = await app[DIALER].gateway.read_apart(work, quick=True)

    run_web(scenario)
    assert seen["username"] == seen["quick_username"] == USERS["agent"][0]
    on_postgresql = db_url.startswith("postgresql")
    assert seen["on_loop"] is on_postgresql
    # on the loop the work runs in the event loop's own thread; else on a read thread
    assert seen["plain_thread"] is on_postgresql
    # quick reads run on the loop on both backends
    assert seen["thread"] is True


def test_a_quick_read_that_would_wait_is_done_on_a_read_thread(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """A connection in SQLite's exclusive locking mode keeps every reader out, WAL or not:
    the quick read on the loop must not wait for it (its busy timeout is 0) but hand the
    work to a read thread, which waits until the lock is let go."""
    path = tmp_path / "store.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute(
        "INSERT INTO users (username, full_name, role, password_hash, active) "
        "VALUES ('held', 'Held', 'agent', 'x', 1)"
    )
    holder.execute("COMMIT")  # the exclusive lock stays until the connection closes
    store = make_engine(url)
    engine, inline = reader_engine(store), reader_engine(store, connections=1)
    assert engine is not None
    assert inline is not None
    threads = ThreadPoolExecutor(1, thread_name_prefix="read")
    app = web.Application()
    app[READER] = Reader(engine, threads, inline=inline)
    ran_on: list[bool] = []

    def work(session: Session) -> str | None:
        ran_on.append(threading.current_thread() is threading.main_thread())
        return session.scalar(select(User.full_name).where(User.username == "held"))

    async def scenario() -> str | None:
        asyncio.get_running_loop().call_later(0.3, holder.close)
        return await app[READER].read(work, quick=True)

    try:
        assert asyncio.run(scenario()) == "Held"
    finally:
        holder.close()
        asyncio.run(app[READER].close())
        store.dispose()
    assert ran_on == [True, False]  # tried on the loop, done on the read thread


def test_the_sqlite_read_engine_cannot_write(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    shutil.copy(sqlite_template, path)
    store = dialer_engine(f"sqlite:///{path}")
    reader = reader_engine(store)
    assert reader is not None
    try:
        with reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
            with pytest.raises(OperationalError, match="readonly"):
                conn.execute(text("UPDATE users SET full_name = 'x'"))
    finally:
        reader.dispose()
        store.dispose()
