"""Fixtures of the dialer's tests: the webhook routes run with a scenario against them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from tests.dialer.webhook_client import Scenario, hooks


@pytest.fixture
def run_hooks(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> Callable[[Scenario], None]:
    def run(scenario: Scenario) -> None:
        async def main() -> None:
            async with hooks(engine, db_url, redis_url, redis_prefix) as h:
                await scenario(h)

        asyncio.run(main())

    return run
