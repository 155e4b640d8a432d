"""The planner's run: the request's size from capacity, requests refused with what to fix,
nothing scored yet, unique names and a dry run that stores nothing, one plan at a time."""

from __future__ import annotations

import pytest
from planner_base import ScoredBase, _entries, _request
from sqlalchemy import Engine, func, select

from campaigns.errors import CampaignError, NothingScoredError
from campaigns.planner import plan
from store.models import Campaign


def test_size_from_capacity(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(400)
    preview = plan(engine, _request(agents=2, hours=4, contacts_per_hour=5)).preview
    assert preview["target"] == 40
    assert preview["treated"] == 40


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"size": 10, "agents": 2}, "either size or"),
        ({"agents": 2, "hours": 3}, "all of agents"),
        ({"size": 0}, "at least 1"),
        ({"holdout": 1.0}, "holdout"),
        ({"name": " "}, "give the campaign a name"),
    ],
)
def test_bad_requests_say_what_to_fix(
    engine: Engine, scored_base: ScoredBase, kw: dict[str, object], message: str
) -> None:
    scored_base(5)
    with pytest.raises(CampaignError, match=message):
        plan(engine, _request(**kw))


def test_nothing_scored(engine: Engine) -> None:
    with pytest.raises(NothingScoredError, match="telecampaign score"):
        plan(engine, _request())


def test_names_are_unique_and_a_dry_run_stores_nothing(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(50)
    dry = plan(engine, _request(size=5), dry_run=True)
    assert dry.campaign_id is None
    assert dry.preview["treated"] == 5
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Campaign)).scalar_one() == 0
    plan(engine, _request(size=5))
    with pytest.raises(CampaignError, match="exists already"):
        plan(engine, _request(size=5))


def test_two_plans_at_once_never_share_a_customer(engine: Engine, scored_base: ScoredBase) -> None:
    from concurrent.futures import ThreadPoolExecutor

    scored_base(120, p_churn=[0.4] * 120)
    names = ["north", "south", "east"]
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(lambda n: plan(engine, _request(name=n, holdout=0.1)), names))
    seen: list[int] = []
    for result in results:
        seen += [e.customer_id for e in _entries(engine, result.campaign_id)]  # type: ignore[arg-type]
    assert len(seen) == len(set(seen)) == 120  # the first takes everyone, the rest nobody
    assert sorted(r.preview["size"] for r in results) == [0, 0, 120]
