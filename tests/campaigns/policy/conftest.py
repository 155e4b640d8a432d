"""The ``world`` fixture: policy test rows in one session, rolled back after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_world import World
from sqlalchemy import Engine
from sqlalchemy.orm import Session


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    with Session(engine) as session:
        yield World(session)
        session.rollback()
