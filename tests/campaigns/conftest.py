"""Fixtures of the campaign tests: a scored base the planner can pick from."""

from __future__ import annotations

import pytest
from planner_base import ScoredBase, build_scored_base
from sqlalchemy import Engine


@pytest.fixture
def scored_base(engine: Engine) -> ScoredBase:
    """Build ``n`` scored customers in New York; returns their ids in insertion order."""

    def build(n: int = 200, seed: int = 0, p_churn: list[float] | None = None) -> list[int]:
        return build_scored_base(engine, n, seed, p_churn)

    return build
