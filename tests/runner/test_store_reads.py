"""The web app's reads: on their own engine, read-only on SQLite, on the event loop itself
on PostgreSQL, and seeing what the store holds either way."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from runner.reads import READER, read_app
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


def test_reads_cannot_write(run_web: RunWeb, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL reads autocommit; SQLite's read engine is read-only")
    failed: list[str] = []

    async def scenario(client: Client) -> None:
        def write(session: Session) -> None:
            session.execute(text("UPDATE users SET full_name = 'x'"))

        try:
            await read_app(client.server.app, write)
        except OperationalError as error:
            failed.append(str(error))

    run_web(scenario)
    assert failed, "a write through the read engine went through"
    assert "readonly" in failed[0]
