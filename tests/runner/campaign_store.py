"""Stores for the web tests, built with the campaign tests' own helpers.

``tests/campaigns`` keeps its helpers as top-level modules (its tests import
``planner_base`` and ``report_base`` by name), so its folder goes on ``sys.path`` here
rather than copying the helpers.
"""

from __future__ import annotations

import sys
from pathlib import Path

_CAMPAIGN_TESTS = str(Path(__file__).resolve().parents[1] / "campaigns")
if _CAMPAIGN_TESTS not in sys.path:
    sys.path.insert(0, _CAMPAIGN_TESTS)

from planner_base import build_scored_base  # noqa: E402
from report_base import Member, agent_waiting, build_list  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from watchlist_base import contact, survey  # noqa: E402

from store.models import Group  # noqa: E402

__all__ = [
    "Member",
    "build_scored_base",
    "contact",
    "launched_list",
    "survey",
    "waiting_list",
]


def launched_list(engine: Engine, name: str = "spring retention") -> dict[str, object]:
    """A launched anti-churn list with calls, dispositions and customers lost and kept."""
    t, h = Group.TREATMENT, Group.HOLDOUT
    members = (
        [Member(t, tries=1, disposition="refused", ends_on=10) for _ in range(3)]
        + [Member(t, tries=2, disposition="accepted") for _ in range(12)]
        + [Member(t, tries=1, ends_on=30) for _ in range(3)]
        + [Member(t) for _ in range(6)]
        + [Member(h, ends_on=5) for _ in range(5)]
        + [Member(h) for _ in range(3)]
    )
    return build_list(engine, members, name=name)


def waiting_list(engine: Engine, name: str = "autumn retention") -> dict[str, object]:
    """A launched anti-churn list whose agent is ready, with no call talked yet."""
    t, h = Group.TREATMENT, Group.HOLDOUT
    built = build_list(engine, [Member(t), Member(t), Member(h)], name=name)
    agent_waiting(engine, built)
    return built
