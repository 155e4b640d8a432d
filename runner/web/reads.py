"""Reads of the web app that take no write lock and wait for no write.

The dialer's ``StoreGateway.write`` runs each piece of work in a transaction, and on
SQLite every transaction takes the database's write lock when it begins (``BEGIN
IMMEDIATE``, see ``dialer.gateway.dialer_engine``), so a page's read waits behind the
workers' writes and holds them up in turn. The console and the auth middleware read far
more than they write (every request reads its user, every open event stream's call is
read twice a second), so their reads go through the gateway's ``read_apart`` to the
``Reader`` set here, on an engine and threads of their own: a read never queues for a
thread behind writes waiting for the lock.

    SQLite      a second engine on the same file, read-only (``PRAGMA query_only``), in
                the driver's autocommit for reads: WAL readers wait for no writer.
                ``quick`` reads (a few rows by key) run on the event loop itself
                through a third, one-connection engine that never waits
    PostgreSQL  a second engine, autocommitting: no BEGIN and COMMIT round trips; at
                READ COMMITTED each statement sees the latest committed data either way.
                It is psycopg's asynchronous driver, on the event loop itself: the same
                work runs through ``AsyncSession.run_sync``, so a read is a socket the
                loop waits on, not a thread that, its answer in, queues for Python's
                lock behind the loop's own work. Under the console benchmark's load
                this halved the reads' tails; the dialer's transactions, measured the
                same way, were slower on the loop and stay on threads (BENCHMARKS.md)

Each statement sees the data committed when it runs, as at READ COMMITTED. Work given
to ``read_apart`` must not write: on SQLite it would fail (query_only). An in-memory
SQLite database, which a second engine would not see, is read through the gateway's
``write_one``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from dialer.gateway import ping_when_idle
from dialer.webhooks import DIALER
from store.db import make_engine

__all__ = ["READER", "Reader", "reader_context", "reader_engine"]

T = TypeVar("T")


READ_THREADS = 4  # threads (and pooled connections) for the web app's reads
LOOP_CONNECTIONS = 8  # pooled connections for the reads on the event loop (PostgreSQL)


@dataclass
class Reader:
    """The read engine and the threads its reads run on, or an asynchronous engine."""

    engine: Engine | None = None
    threads: ThreadPoolExecutor | None = None
    on_loop: AsyncEngine | None = None
    inline: Engine | None = None  # SQLite: quick reads on the loop, never waiting

    async def read(self, work: Callable[[Session], T], *, quick: bool = False) -> T:
        """Run read-only ``work`` on a read thread, taking no write lock.

        ``quick`` work reads a few rows by key (the user of every request, the polled
        call): on SQLite it runs on the event loop itself, where it takes tens of
        microseconds. Handed to a thread, the same read waited for Python's lock behind the
        loop twice (to start, and again after each step of the driver, which lets the lock
        go), and under the console's polling load those waits, not the reads, made the
        latency's tail."""
        if self.on_loop is not None:
            async with AsyncSession(self.on_loop, expire_on_commit=False) as on_loop:
                return await on_loop.run_sync(work)
        if quick and self.inline is not None:
            try:
                return _run(self.inline, work)
            except OperationalError as error:  # the one connection would have had to wait
                if not _busy(error):
                    raise
        engine = self.engine
        assert engine is not None
        return await asyncio.get_running_loop().run_in_executor(self.threads, _run, engine, work)

    async def close(self) -> None:
        if self.threads is not None:
            self.threads.shutdown(wait=True)
        if self.engine is not None:
            self.engine.dispose()
        if self.inline is not None:
            self.inline.dispose()
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


def reader_engine(engine: Engine, *, connections: int = READ_THREADS) -> Engine | None:
    """A read engine on ``engine``'s database; None for an in-memory SQLite database.

    On SQLite, ``connections=1`` is the engine of the quick reads on the loop: its busy
    timeout is 0, so a read that would wait (rare in WAL: a reader waits only while the
    write-ahead log's index is being rebuilt) fails at once and is done on a thread."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=connections, max_overflow=0)
        ping_when_idle(engine)  # as the dialer's: not a round trip on every read
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    if url.database in (None, "", ":memory:"):
        return None
    options: dict[str, Any] = {"pool_size": connections, "max_overflow": 0}
    if connections == 1:
        options["connect_args"] = {"timeout": 0}
    reader = make_engine(url.render_as_string(hide_password=False), **options)

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
        threads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read")
        inline = (
            reader_engine(store, connections=1)
            if store.url.get_backend_name() == "sqlite"
            else None
        )
        reader = Reader(engine, threads, inline=inline)
    gateway = app[DIALER].gateway
    if reader is not None:
        app[READER] = reader
        gateway.reader = reader
    yield
    if reader is not None:
        gateway.reader = None
        await reader.close()


def _run(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return work(session)


def _busy(error: OperationalError) -> bool:
    """SQLite's "database is locked" or "database table is locked", by their codes (the
    low byte: the extended codes, such as SQLITE_BUSY_SNAPSHOT, keep it)."""
    if not isinstance(error.orig, sqlite3.OperationalError):
        return False
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
