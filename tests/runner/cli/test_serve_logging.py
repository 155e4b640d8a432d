"""`telecampaign serve` logs at the level asked for, with an access log that leaves out
query strings (where a phone number or a name could be)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
from aiohttp.abc import AbstractAccessLogger
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from runner.cli.dialer import serve_logging
from runner.cli.main import app as cli
from runner.settings import Settings
from runner.web.app import create_app

PHONE = "12125550123"


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """The root logger as it was, back after the test: serve reconfigures it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def test_the_access_log_leaves_out_query_strings(
    web_settings: Settings,
    redis_url: str,
    redis_prefix: str,
    root_logging: logging.Logger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    access_log = serve_logging("INFO")
    root_logging.addHandler(caplog.handler)  # serve_logging replaced the root's handlers

    async def main() -> None:
        app = create_app(
            web_settings, redis_url=redis_url, prefix=redis_prefix, queue_name=f"{redis_prefix}:q"
        )
        server = TestServer(app)
        await server.start_server(
            access_log_class=access_log, access_log=logging.getLogger("aiohttp.access")
        )
        async with TestClient(server) as client:
            probe = await client.get("/healthz", params={"phone": f"+{PHONE}"})
            assert probe.status == 200
            page = await client.get("/login", params={"next": f"/retention?phone=%2B{PHONE}"})
            assert page.status == 200

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("127.0.0.1 GET /healthz 200 ")
    assert lines[1].startswith("127.0.0.1 GET /login 200 ")
    assert lines[1].endswith("ms")
    for line in lines:
        assert PHONE not in line
        assert "?" not in line
        assert "phone" not in line


def test_serve_takes_its_log_level_from_the_option_or_the_environment(
    tmp_path: Path,
    db_url: str,
    redis_url: str,
    root_logging: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[dict[str, Any]] = []

    def run_app(app: aiohttp.web.Application, **options: Any) -> None:
        served.append(options)

    monkeypatch.setattr(aiohttp.web, "run_app", run_app)
    env = {
        "TELECAMPAIGN_HOME": str(tmp_path / "home"),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "TELECAMPAIGN_SECRET_KEY": "a-serve-test-secret-0123456789-abcdefgh",
        "TWILIO_AUTH_TOKEN": "a-serve-test-account-token",  # real Twilio needs its own
    }
    result = CliRunner().invoke(cli, ["serve", "--port", "9999", "--log-level", "debug"], env=env)
    assert result.exit_code == 0, result.output
    (options,) = served
    assert options["port"] == 9999
    assert issubclass(options["access_log_class"], AbstractAccessLogger)
    assert options["access_log"].name == "aiohttp.access"
    assert root_logging.level == logging.DEBUG

    result = CliRunner().invoke(cli, ["serve"], env={**env, "TELECAMPAIGN_LOG_LEVEL": "warning"})
    assert result.exit_code == 0, result.output
    assert root_logging.level == logging.WARNING

    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert root_logging.level == logging.INFO  # the default

    result = CliRunner().invoke(cli, ["serve", "--log-level", "loud"], env=env)
    assert result.exit_code == 1
    assert "use one of DEBUG, INFO, WARNING, ERROR" in result.output
    assert len(served) == 3
