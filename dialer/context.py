"""What a dialer process holds: the store, Redis, the agent board, the provider, the clock.

Workers and the web app (its webhooks) open one ``Dialer`` each from the settings and
share nothing else: every state they both need is in the database or in Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from dialer.agents import AgentBoard
from dialer.clock import DialerClock, load_clock
from dialer.provider import CallbackUrls, TwilioProvider
from store.db import make_engine
from store.dialect import is_sqlite
from store.writer_lock import WriterLockConnection

__all__ = ["DEFAULT_QUEUE", "Dialer", "DialerConfig", "open_dialer", "ping_when_idle"]

T = TypeVar("T")
DEFAULT_QUEUE = "telecampaign:dialer"
# threads for store work, and pooled connections for them
STORE_THREADS = 6
# 0.1 s doubling to 2 s between tries: about 25 s in all, a restart or a Sentinel failover
REDIS_RETRIES = 15
# execution option: a connection that reads outside any transaction (``Dialer.peek``)
PEEK = "telecampaign_peek"
# a pooled connection unused this long (seconds) is pinged before it is handed out
PING_IDLE_AFTER = 2.0


@dataclass(frozen=True)
class DialerConfig:
    """Everything a dialer process needs to know, taken from the settings."""

    database_url: str
    redis_url: str
    account_sid: str
    auth_token: str
    api_base: str | None
    from_number: str
    public_base_url: str
    company: str
    callback_number: str
    prefix: str = "tc"
    queue_name: str = DEFAULT_QUEUE

    @classmethod
    def from_settings(cls, settings: Any, redis_url: str, **overrides: Any) -> DialerConfig:
        values = {
            "database_url": settings.database_url,
            "redis_url": redis_url,
            "account_sid": settings.twilio_account_sid,
            "auth_token": settings.twilio_auth_token.get_secret_value(),
            "api_base": settings.twilio_api_base,
            "from_number": settings.twilio_from_number,
            "public_base_url": settings.public_base_url.rstrip("/"),
            "company": settings.company_name,
            "callback_number": settings.callback_number,
            "prefix": settings.redis_prefix,
            "queue_name": settings.queue_name,
        }
        return cls(**{**values, **overrides})


@dataclass
class Dialer:
    config: DialerConfig
    engine: Engine
    redis: ArqRedis
    board: AgentBoard
    provider: TwilioProvider
    clock: DialerClock
    validator: RequestValidator
    own_engine: bool = True
    threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store")
    )
    # the last tick each campaign was nudged in from this process
    nudged: dict[int, int] = field(default_factory=dict)
    # the engine's connections, autocommitting (``store_one``)
    autocommit: Engine | None = None
    # and for reads outside a transaction (``peek``)
    peeking: Engine | None = None
    # SQLite: the process's write transactions, run together (``store``)
    writes: WriteGroup | None = None

    def __post_init__(self) -> None:
        if self.writes is None and writes_in_groups(self.engine):
            self.writes = WriteGroup(self.engine, self.threads)

    @property
    def prefix(self) -> str:
        return self.config.prefix

    async def store(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on a store thread (the store API is sync).

        The threads are as many as the engine's pooled connections, so no transaction
        waits for a connection or opens one outside the pool. On SQLite the work runs in
        a savepoint of the process's next group of writes (``WriteGroup``): atomic on its
        own still, committed with the others.
        """
        if self.writes is not None:
            return await self.writes.run(work)

        def run() -> T:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(self.threads, run)

    async def store_one(self, work: Callable[[Session], T]) -> T:
        """``store`` for work that is a single statement, atomic on its own.

        On PostgreSQL it runs on an autocommitting connection: no BEGIN and COMMIT round
        trips around it. SQLite takes its write lock in a transaction as ever.
        """
        if is_sqlite(self.engine):
            return await self.store(work)
        if self.autocommit is None:
            self.autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return await self._untransacted(self.autocommit, work)

    async def peek(self, work: Callable[[Session], T]) -> T:
        """Run read-only ``work`` on a store thread outside any transaction.

        Each statement sees what was committed when it ran. On SQLite nothing begins, so
        the read takes no write lock and waits for no writer (``BEGIN IMMEDIATE`` is for
        work that writes); on PostgreSQL it autocommits, as ``store_one``.
        """
        if self.peeking is None:
            if is_sqlite(self.engine):  # the driver autocommits already
                self.peeking = self.engine.execution_options(**{PEEK: True})
            else:
                self.peeking = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return await self._untransacted(self.peeking, work)

    async def _untransacted(self, engine: Engine, work: Callable[[Session], T]) -> T:
        """``work`` on a store thread, in a session on ``engine`` that begins nothing."""

        def run() -> T:
            with Session(engine, expire_on_commit=False) as session:
                return work(session)

        return await asyncio.get_running_loop().run_in_executor(self.threads, run)

    def job_id(self, name: str) -> str:
        """arq keys jobs by id across the whole Redis: ours carry the key prefix, so two
        deployments sharing a server never refuse each other's jobs."""
        return f"{self.prefix}:{name}"

    async def enqueue(self, function: str, *args: Any, job_id: str, delay: float = 0.0) -> bool:
        """Queue a job once: arq refuses a second job with the same id; whether it was
        queued now.

        ``delay`` is in clock seconds, turned into real seconds for arq.
        """
        kwargs: dict[str, Any] = {
            "_job_id": self.job_id(job_id),
            "_queue_name": self.config.queue_name,
        }
        if delay > 0:
            kwargs["_defer_by"] = self.clock.real(delay)
        return await self.redis.enqueue_job(function, *args, **kwargs) is not None

    async def after_change(self, texts: Sequence[int], campaign_id: int | None) -> None:
        """What an outcome asks for: its texts queued, and a pacing pass."""
        for text_id in texts:
            await self.enqueue("send_sms", text_id, job_id=f"sms:{text_id}")
        await self.nudge(campaign_id)

    async def nudge(self, campaign_id: int | None) -> None:
        """Ask for a pacing pass soon (an agent freed up, a line ended); bursts fold into one."""
        if campaign_id is None:
            return
        tick = int(time.time() * 10)
        if self.nudged.get(campaign_id) == tick:
            return  # queued from here this tick already: arq would refuse the same job id
        self.nudged[campaign_id] = tick
        await self.enqueue("pace_campaign", campaign_id, job_id=f"pace:{campaign_id}:{tick}")

    async def close(self) -> None:
        await self.provider.close()
        await self.redis.aclose()
        self.threads.shutdown(wait=True)
        if self.own_engine:
            self.engine.dispose()


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


def redis_settings(url: str) -> RedisSettings:
    """arq's settings for ``url``, riding out a Redis restart or failover: a command that
    meets a refused or dropped connection is tried again for about 25 seconds, so a
    worker or web process waits for Redis to come back instead of exiting."""
    return dataclasses.replace(
        RedisSettings.from_dsn(url),
        conn_retries=10,
        conn_retry_delay=1,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), REDIS_RETRIES),
        # OSError: a refused connect, which redis-py raises outside its command retries
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
    )


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
    """Whether ``Dialer.store`` runs the engine's writes in groups (``WriteGroup``): a
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


async def open_dialer(config: DialerConfig, *, engine: Engine | None = None) -> Dialer:
    redis = await create_pool(
        redis_settings(config.redis_url), default_queue_name=config.queue_name
    )
    clock = await load_clock(redis, prefix=config.prefix)
    provider = TwilioProvider(
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        from_number=config.from_number,
        callbacks=CallbackUrls(config.public_base_url),
        api_base=config.api_base,
    )
    return Dialer(
        config=config,
        engine=engine if engine is not None else dialer_engine(config.database_url),
        redis=redis,
        board=AgentBoard(redis, prefix=config.prefix),
        provider=provider,
        clock=clock,
        validator=RequestValidator(config.auth_token),
        own_engine=engine is None,
    )
