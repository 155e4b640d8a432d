"""Reads of the web app that take no write lock.

The dialer's ``store`` runs each piece of work in a transaction, and on SQLite every
transaction takes the database's write lock when it begins (``BEGIN IMMEDIATE``, see
``dialer.context.dialer_engine``), so a page's read waits behind the workers' writes and
holds them up in turn. The console and the auth middleware read far more than they write
(every request reads its user, every open event stream reads its call twice a second), so
their reads go through ``read_store``:

    SQLite      a second engine on the same file, read-only (``PRAGMA query_only``), in
                the driver's autocommit for reads: WAL readers wait for no writer
    PostgreSQL  the dialer's autocommitting connections (``store_one``): no BEGIN and
                COMMIT round trips; at READ COMMITTED each statement sees the latest
                committed data either way

Each statement sees the data committed when it runs, as at READ COMMITTED. Work given
to ``read_store`` must not write: on SQLite it would fail (query_only).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from dialer.context import STORE_THREADS
from dialer.webhooks import DIALER
from store.db import make_engine

__all__ = ["READER", "read_app", "read_store", "reader_context"]

T = TypeVar("T")

# set on SQLite stores with a file: the read-only engine
READER = web.AppKey("store_reader", Engine)


def reader_engine(engine: Engine) -> Engine | None:
    """A read-only engine on ``engine``'s SQLite file; None for other stores (and for an
    in-memory database, which a second engine would not see)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    reader = make_engine(
        url.render_as_string(hide_password=False), pool_size=STORE_THREADS, max_overflow=2
    )

    @event.listens_for(reader, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return reader


async def reader_context(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` entry, after the dialer's: the reader while the app runs."""
    reader = reader_engine(app[DIALER].engine)
    if reader is not None:
        app[READER] = reader
    yield
    if reader is not None:
        reader.dispose()


async def read_store(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run read-only ``work`` on a store thread, taking no write lock."""
    return await read_app(request.app, work)


async def read_app(app: web.Application, work: Callable[[Session], T]) -> T:
    """``read_store`` for work that no request asked for (the app's own background reads)."""
    dialer = app[DIALER]
    reader = app.get(READER)
    if reader is None:
        return await dialer.store_one(work)

    def run() -> T:
        with Session(reader, expire_on_commit=False) as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(dialer.threads, run)
