"""The one way async code reaches the store: explicit modes, each on the store's threads.

The store's API is synchronous; each mode runs a piece of work (a function of a
``Session``) off the event loop and says what transaction it gets:

    write       one transaction. On SQLite it begins with ``BEGIN IMMEDIATE`` and runs
                in a savepoint of the process's next group of writes (``WriteGroup``)
    write_one   a single statement, atomic on its own: on PostgreSQL an autocommitting
                connection, no BEGIN and COMMIT round trips; on SQLite as ``write``
    read        read-only, outside any transaction: each statement sees what was
                committed when it ran, and on SQLite takes no write lock
    read_apart  read-only, on a reader set aside for the web app's reads
                (``runner.web.reads``), so a page's read never queues behind the workers'
                writes; without one, as ``write_one``
    batch       synchronous work that opens its own transactions on the engine (a plan,
                a report, an export), on a thread of its own, so it holds no store thread
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session

from store.db import make_engine
from store.dialect import is_sqlite
from store.writer_lock import WriterLockConnection

__all__ = [
    "PEEK",
    "STORE_THREADS",
    "StoreGateway",
    "StoreReader",
    "WriteGroup",
    "dialer_engine",
    "ping_when_idle",
    "writes_in_groups",
]

T = TypeVar("T")
P = ParamSpec("P")
# threads for store work, and pooled connections for them
STORE_THREADS = 6
# execution option: a connection that reads outside any transaction (``StoreGateway.read``)
PEEK = "telecampaign_peek"
# a pooled connection unused this long (seconds) is pinged before it is handed out
PING_IDLE_AFTER = 2.0


class StoreReader(Protocol):
    """Read-only work on an engine and threads of its own (``read_apart``)."""

    async def read(self, work: Callable[[Session], T], *, quick: bool = False) -> T: ...


class StoreGateway:
    """The store work of one process, on ``STORE_THREADS`` threads: as many as the
    engine's pooled connections, so no transaction waits for a connection or opens one
    outside the pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.threads = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store")
        # SQLite: the process's write transactions, run together (``write``)
        self.writes = WriteGroup(engine, self.threads) if writes_in_groups(engine) else None
        # the engine's connections, autocommitting (``write_one``)
        self.autocommit: Engine | None = None
        # and for reads outside a transaction (``read``)
        self.peeking: Engine | None = None
        # the web app's reader, while the app runs (``read_apart``)
        self.reader: StoreReader | None = None

    async def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on a store thread.

        On SQLite the work runs in a savepoint of the process's next group of writes
        (``WriteGroup``): atomic on its own still, committed with the others.
        """
        if self.writes is not None:
            return await self.writes.run(work)

        def run() -> T:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(self.threads, run)

    async def write_one(self, work: Callable[[Session], T]) -> T:
        """``write`` for work that is a single statement, atomic on its own.

        On PostgreSQL it runs on an autocommitting connection: no BEGIN and COMMIT round
        trips around it. SQLite takes its write lock in a transaction as ever.
        """
        if is_sqlite(self.engine):
            return await self.write(work)
        if self.autocommit is None:
            self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return await self._untransacted(self.autocommit, work)

    async def read(self, work: Callable[[Session], T]) -> T:
        """Run read-only ``work`` on a store thread outside any transaction.

        Each statement sees what was committed when it ran. On SQLite nothing begins, so
        the read takes no write lock and waits for no writer (``BEGIN IMMEDIATE`` is for
        work that writes); on PostgreSQL it autocommits, as ``write_one``.
        """
        if self.peeking is None:
            if is_sqlite(self.engine):  # the driver autocommits already
                self.peeking = self.engine.execution_options(**{PEEK: True})
            else:
                self.peeking = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return await self._untransacted(self.peeking, work)

    async def read_apart(self, work: Callable[[Session], T], *, quick: bool = False) -> T:
        """Run read-only ``work`` on the reader set aside for it, taking no write lock.

        ``quick`` work reads a few rows by key (see ``runner.web.reads``). Without a reader
        (an in-memory SQLite database, which a second engine would not see) the work
        runs as ``write_one``.
        """
        if self.reader is None:
            return await self.write_one(work)
        return await self.reader.read(work, quick=quick)

    async def batch(
        self, work: Callable[Concatenate[Engine, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work(engine, ...)``, which opens its own transactions, on a thread apart
        from the store threads: long work (a plan, a report) holds none of them."""
        return await asyncio.to_thread(work, self.engine, *args, **kwargs)

    async def _untransacted(self, engine: Engine, work: Callable[[Session], T]) -> T:
        """``work`` on a store thread, in a session on ``engine`` that begins nothing."""

        def run() -> T:
            with Session(engine, expire_on_commit=False) as session:
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(self.threads, run)

    def close(self) -> None:
        self.threads.shutdown(wait=True)


class WriteGroup:
    """One process's write transactions on SQLite, run one group at a time.

    SQLite lets one writer in at a time, so the store's writes from every process queue
    for its lock. Here, the work that arrives while this process waits for the lock or
    holds it is kept and runs in the next transaction, together: each piece in a
    savepoint of its own (one that fails rolls back alone and its caller gets the
    error), one lock taken and one commit made for all of them.
    """

    def __init__(self, engine: Engine, threads: ThreadPoolExecutor, most: int = 64) -> None:
        self.engine = engine
        self.threads = threads
        self.most = most  # pieces of work in one transaction at most
        self.waiting: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self.writing: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self.waiting.append((work, done))
        if self.writing is None:
            self.writing = loop.create_task(self._write_all())
        return await done

    async def _write_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.waiting:
                group, self.waiting = self.waiting[: self.most], self.waiting[self.most :]
                try:
                    outcomes = await loop.run_in_executor(
                        self.threads, self._write, [work for work, _ in group]
                    )
                except Exception as error:  # the commit failed: nothing was written
                    outcomes = [(False, error)] * len(group)
                except BaseException:  # the loop is shutting down
                    for _, done in group:
                        done.cancel()
                    raise
                for (_, done), (ok, value) in zip(group, outcomes, strict=True):
                    if done.done():
                        continue
                    if ok:
                        done.set_result(value)
                    else:
                        done.set_exception(value)
        finally:
            self.writing = None

    def _write(self, group: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.engine.connect() as connection, connection.begin():
            for work in group:
                with Session(
                    connection, join_transaction_mode="create_savepoint", expire_on_commit=False
                ) as session:
                    try:
                        value = work(session)
                        session.commit()
                    except Exception as error:
                        session.rollback()
                        outcomes.append((False, error))
                    else:
                        outcomes.append((True, value))
        return outcomes


def dialer_engine(url: str) -> Engine:
    """An engine whose pool fits the store threads.

    On SQLite every transaction takes the write lock when it begins (BEGIN IMMEDIATE):
    several dialer processes write to one file, and a transaction that read first and
    then wants to write cannot wait for the lock in WAL mode, it fails at once.
    """
    if not url.startswith("sqlite"):
        # pinged only after an idle spell rather than on every checkout: a busy dialer
        # would pay a round trip per transaction for a check that almost never fails
        engine = create_engine(url, pool_size=STORE_THREADS, max_overflow=2)
        ping_when_idle(engine)
        return engine
    database = make_url(url).database
    on_file = database not in (None, "", ":memory:") and not database.startswith("file:")
    # on a file, writers queue for SQLite's lock on a lock file of their own, which hands
    # it over as soon as it is free rather than when a busy handler next looks (see
    # store.writer_lock): shorter and fairer waits for the web app's writes and the workers'
    extra = {"connect_args": {"timeout": 30, "factory": WriterLockConnection}} if on_file else {}
    engine = make_engine(url, pool_size=STORE_THREADS, max_overflow=2, **extra)

    event.listen(engine, "connect", _no_implicit_begin)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the driver leaves BEGIN to us


def _begin_immediate(conn: Any) -> None:
    if conn.get_execution_options().get(PEEK):
        return
    dbapi_conn = conn.connection.dbapi_connection
    if isinstance(dbapi_conn, WriterLockConnection):
        dbapi_conn.begin_immediate()
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def writes_in_groups(engine: Engine) -> bool:
    """Whether ``StoreGateway.write`` runs the engine's writes in groups (``WriteGroup``): a
    SQLite engine of ``dialer_engine``'s, whose transactions begin when asked to, so
    that savepoints nest inside them."""
    return is_sqlite(engine) and event.contains(engine, "begin", _begin_immediate)


def ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection on checkout when it sat unused for ``PING_IDLE_AFTER``
    seconds; one the server dropped is replaced (``DisconnectionError``) before use."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_IDLE_AFTER:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise exc.DisconnectionError(str(error)) from error
