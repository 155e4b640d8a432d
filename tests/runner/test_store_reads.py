"""The web app's reads: on their own engine, read-only on SQLite, on the event loop itself
on PostgreSQL, and seeing what the store holds either way."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dialer.context import dialer_engine
from runner.reads import READER, read_app, reader_engine
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

        seen["username"] = await read_app(app, work)
        seen["on_loop"] = reader.on_loop is not None

    run_web(scenario)
    assert seen["username"] == USERS["agent"][0]
    on_postgresql = db_url.startswith("postgresql")
    assert seen["on_loop"] is on_postgresql
    # on the loop the work runs in the event loop's own thread; else on a read thread
    assert seen["thread"] is on_postgresql


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
