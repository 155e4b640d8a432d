"""Reads of the web app that take no write lock and wait for no write.

The dialer's ``store`` runs each piece of work in a transaction, and on SQLite every
transaction takes the database's write lock when it begins (``BEGIN IMMEDIATE``, see
``dialer.context.dialer_engine``), so a page's read waits behind the workers' writes and
holds them up in turn. The console and the auth middleware read far more than they write
(every request reads its user, every open event stream's call is read twice a second),
so their reads go through ``read_store``, on an engine and threads of their own: a read
never queues for a thread behind writes waiting for the lock.

    SQLite      a second engine on the same file, read-only (``PRAGMA query_only``), in
                the driver's autocommit for reads: WAL readers wait for no writer
    PostgreSQL  a second engine, autocommitting: no BEGIN and COMMIT round trips; at
                READ COMMITTED each statement sees the latest committed data either way.
                It is psycopg's asynchronous driver, on the event loop itself: the same
                work runs through ``AsyncSession.run_sync``, so a read is a socket the
                loop waits on, not a thread that, its answer in, queues for Python's
                lock behind the loop's own work. Under the console benchmark's load
                this halved the reads' tails; the dialer's transactions, measured the
                same way, were slower on the loop and stay on threads (BENCHMARKS.md)

Each statement sees the data committed when it runs, as at READ COMMITTED. Work given
to ``read_store`` must not write: on SQLite it would fail (query_only). An in-memory
SQLite database, which a second engine would not see, is read through the dialer's
``store_one``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from dialer.context import ping_when_idle
from dialer.webhooks import DIALER
from store.db import make_engine

__all__ = ["READER", "read_app", "read_store", "reader_context"]

T = TypeVar("T")


READ_THREADS = 4  # threads (and pooled connections) for the web app's reads
LOOP_CONNECTIONS = 8  # pooled connections for the reads on the event loop (PostgreSQL)


@dataclass
class Reader:
    """The read engine and the threads its reads run on, or an asynchronous engine."""

    engine: Engine | None = None
    threads: ThreadPoolExecutor | None = None
    on_loop: AsyncEngine | None = None

    async def close(self) -> None:
        if self.threads is not None:
            self.threads.shutdown(wait=True)
        if self.engine is not None:
            self.engine.dispose()
        if self.on_loop is not None:
            await self.on_loop.dispose()


# set while the app runs, unless the store is an in-memory SQLite database
READER = web.AppKey("store_reader", Reader)


def async_reader_engine(engine: Engine) -> AsyncEngine | None:
    """An autocommitting engine on the event loop for ``engine``'s PostgreSQL database
    through psycopg; None for other databases and drivers."""
    url = engine.url
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
        return None
    on_loop = create_async_engine(
        url, pool_size=LOOP_CONNECTIONS, max_overflow=0, isolation_level="AUTOCOMMIT"
    )
    ping_when_idle(on_loop.sync_engine)  # as the dialer's: not a round trip on every read
    return on_loop


def reader_engine(engine: Engine) -> Engine | None:
    """A read engine on ``engine``'s database; None for an in-memory SQLite database."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=READ_THREADS, max_overflow=0)
        ping_when_idle(engine)  # as the dialer's: not a round trip on every read
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if url.database in (None, "", ":memory:"):
        return None
    reader = make_engine(
        url.render_as_string(hide_password=False), pool_size=READ_THREADS, max_overflow=0
    )

    @event.listens_for(reader, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return reader


async def reader_context(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` entry, after the dialer's: the reader while the app runs."""
    store = app[DIALER].engine
    reader = None
    on_loop = async_reader_engine(store)
    if on_loop is not None:
        reader = Reader(on_loop=on_loop)
    elif (engine := reader_engine(store)) is not None:
        reader = Reader(engine, ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read"))
    if reader is not None:
        app[READER] = reader
    yield
    if reader is not None:
        await reader.close()


async def read_store(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run read-only ``work`` on a read thread, taking no write lock."""
    return await read_app(request.app, work)


async def read_app(app: web.Application, work: Callable[[Session], T]) -> T:
    """``read_store`` for work that no request asked for (the app's own background reads)."""
    reader = app.get(READER)
    if reader is None:
        return await app[DIALER].store_one(work)
    if reader.on_loop is not None:
        async with AsyncSession(reader.on_loop, expire_on_commit=False) as on_loop:
            return await on_loop.run_sync(work)
    engine = reader.engine

    def run() -> T:
        with Session(engine, expire_on_commit=False) as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(reader.threads, run)
