"""With real Twilio, `serve` and `worker` start only with the account's own auth token.

The default token is the carrier simulator's, printed in this repository: with it anyone
could sign a forged webhook (a STOP, a call's status) that the web app would accept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
from typer.testing import CliRunner

import dialer.worker
from runner.cli.main import app
from runner.settings import SIMULATOR_AUTH_TOKEN, Settings, SettingsError

SIMULATOR = "http://127.0.0.1:8765"


@pytest.fixture
def env(tmp_path: Path, db_url: str, redis_url: str) -> dict[str, str | None]:
    """Real Twilio (no TWILIO_API_BASE) and no TWILIO_AUTH_TOKEN."""
    return {
        "TELECAMPAIGN_HOME": str(tmp_path / "home"),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "TELECAMPAIGN_SECRET_KEY": "a-token-test-secret-0123456789-abcdefgh",
        "TWILIO_API_BASE": None,
        "TWILIO_AUTH_TOKEN": None,
    }


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What began to serve or to work: nothing does, here, beyond being recorded. The
    root logger's handlers are put back after, as serve replaces them."""
    began: list[str] = []
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    class Worker:
        def run(self) -> None:
            began.append("worker")
            asyncio.get_event_loop().close()  # the one worker_command set for arq's Worker
            asyncio.set_event_loop(None)

    def make_worker(*args: Any, **kwargs: Any) -> Worker:
        return Worker()

    def run_app(*args: Any, **kwargs: Any) -> None:
        began.append("serve")

    monkeypatch.setattr(aiohttp.web, "run_app", run_app)
    monkeypatch.setattr(dialer.worker, "make_worker", make_worker)
    yield began
    root.handlers[:] = handlers
    root.setLevel(level)


def _settings(**env: str) -> Settings:
    return Settings(**env)  # type: ignore[arg-type]


def test_real_twilio_needs_a_token_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_API_BASE", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for refused in (_settings(), _settings(TWILIO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN)):
        with pytest.raises(SettingsError, match=r"^TWILIO_AUTH_TOKEN is not set") as caught:
            refused.check_twilio_token()
        assert "TWILIO_API_BASE" in str(caught.value)
    _settings(TWILIO_AUTH_TOKEN="the-account-s-own-token").check_twilio_token()
    _settings(TWILIO_API_BASE=SIMULATOR).check_twilio_token()  # the simulator's own token


# real Twilio, its regional edges, and any public host (one could forward to Twilio)
TWILIO_BASES = [
    "https://api.twilio.com",
    "https://api.dublin.ie1.twilio.com",
    "https://API.Twilio.com/",
    "http://203.0.113.9:8765",
    "http://[2001:db8::1]:8765",
    "http://127.0.0.1.example.com:8765",
    "http://localhost.example.com",
]
# the carrier simulator: on this machine or a private network
SIMULATOR_BASES = [
    SIMULATOR,
    "http://localhost:8765",
    "http://LOCALHOST:8765/",
    "http://127.10.0.3:8765",
    "http://[::1]:8765",
    "http://10.1.2.3:8765",
    "http://172.20.0.2:8765",
    "http://192.168.1.20:8765",
]


@pytest.mark.parametrize("api_base", TWILIO_BASES)
@pytest.mark.parametrize("token", ["", SIMULATOR_AUTH_TOKEN])
def test_a_twilio_api_base_needs_a_token_of_its_own(
    monkeypatch: pytest.MonkeyPatch, api_base: str, token: str
) -> None:
    """Setting TWILIO_API_BASE does not make the public token safe: only the simulator's
    address does."""
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    settings = _settings(TWILIO_API_BASE=api_base, TWILIO_AUTH_TOKEN=token)
    assert settings.uses_real_twilio
    with pytest.raises(SettingsError, match=r"^TWILIO_AUTH_TOKEN is not set"):
        settings.check_twilio_token()
    _settings(TWILIO_API_BASE=api_base, TWILIO_AUTH_TOKEN="own-token").check_twilio_token()


@pytest.mark.parametrize("api_base", SIMULATOR_BASES)
def test_the_simulator_on_a_loopback_or_private_address_takes_its_own_token(
    monkeypatch: pytest.MonkeyPatch, api_base: str
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    settings = _settings(TWILIO_API_BASE=api_base)
    assert not settings.uses_real_twilio
    settings.check_twilio_token()


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    "api_base", [None, "https://api.twilio.com", "https://api.dublin.ie1.twilio.com"]
)
@pytest.mark.parametrize("token", [None, SIMULATOR_AUTH_TOKEN])
def test_serve_and_worker_refuse_real_twilio_with_the_simulator_token(
    env: dict[str, str | None],
    started: list[str],
    command: str,
    api_base: str | None,
    token: str | None,
) -> None:
    result = CliRunner().invoke(
        app, [command], env={**env, "TWILIO_API_BASE": api_base, "TWILIO_AUTH_TOKEN": token}
    )
    assert result.exit_code == 1
    assert started == []
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: TWILIO_AUTH_TOKEN is not set")
    assert "set TWILIO_AUTH_TOKEN to the Twilio account's auth token" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_start_with_a_token_or_the_simulator(
    env: dict[str, str | None], started: list[str], command: str
) -> None:
    runner = CliRunner()
    with_token = runner.invoke(app, [command], env={**env, "TWILIO_AUTH_TOKEN": "own-token"})
    assert with_token.exit_code == 0, with_token.output
    for api_base in (SIMULATOR, "http://localhost:8765"):
        simulated = runner.invoke(app, [command], env={**env, "TWILIO_API_BASE": api_base})
        assert simulated.exit_code == 0, simulated.output
    assert started == [command] * 3
