"""The web app on a migrated store and the embedded Redis, with a user of each role."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine

from runner.settings import Settings
from runner.web.app import create_app
from runner.web.users import hash_password
from store.db import transaction
from store.models import Role, User
from tests.runner.web_harness import INACTIVE, PASSWORD, SECRET, USERS, Client, RunWeb

Scenario = Callable[[Client], Awaitable[None]]


@pytest.fixture
def web_settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        TELECAMPAIGN_HOME=tmp_path / "home",
        DATABASE_URL=db_url,
        TELECAMPAIGN_SECRET_KEY=SECRET,
    )


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 takes a while: once per run, not per user


@pytest.fixture
def users(engine: Engine) -> dict[str, int]:
    """Username -> id of one active user per role and an inactive agent."""
    rows = [
        User(username=name, full_name=full, role=Role(role), password_hash=_password_hash())
        for role, (name, full) in USERS.items()
    ]
    name, full = INACTIVE
    rows.append(
        User(
            username=name,
            full_name=full,
            role=Role.AGENT,
            password_hash=_password_hash(),
            active=False,
        )
    )
    with transaction(engine) as session:
        session.add_all(rows)
        session.flush()
        return {user.username: user.id for user in rows}


@pytest.fixture
def run_web(
    web_settings: Settings, redis_url: str, redis_prefix: str, users: dict[str, int]
) -> RunWeb:
    """Run ``scenario(client)`` against a fresh app with ``users`` in its store;
    ``extend(app)`` may add routes first."""

    def run(
        scenario: Scenario,
        *,
        settings: Settings | None = None,
        extend: Callable[[web.Application], None] | None = None,
    ) -> None:
        async def main() -> None:
            app = create_app(
                settings or web_settings,
                redis_url=redis_url,
                prefix=redis_prefix,
                queue_name=f"{redis_prefix}:queue",
            )
            if extend is not None:
                extend(app)
            async with TestClient(TestServer(app)) as client:
                await scenario(client)

        asyncio.run(main())

    return run
