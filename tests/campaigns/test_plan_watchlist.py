"""The watch list as a plan's candidates: anti-churn and follow-up lists choose from the
customers at risk by their latest survey, still screened by the contact policy."""

from __future__ import annotations

import pytest
from planner_base import ScoredBase, _entries, _request
from sqlalchemy import Engine, update
from watchlist_base import contact, survey

from campaigns.errors import CampaignError
from campaigns.planner import plan
from store.db import transaction
from store.models import CampaignKind, Customer, ExclusionReason


def _watched(engine: Engine, scored_base: ScoredBase) -> dict[str, int]:
    """Ten customers at the same high risk; five on the watch list, one of them already
    spoken with since the survey and one who gave no consent to calls."""
    ids = scored_base(10, p_churn=[0.4] * 10)
    who = dict(
        zip(["watch", "open", "hidden", "spoken", "no_consent"], ids[:5], strict=True),
        promoter=ids[5],
        better=ids[6],
    )
    survey(engine, who["watch"], 6, 10)
    survey(engine, who["open"], 2, 5)
    survey(engine, who["hidden"], 3, 5)
    survey(engine, who["spoken"], 1, 10)
    contact(engine, who["spoken"], days=2, spoken=True)
    survey(engine, who["no_consent"], 5, 10)
    survey(engine, who["promoter"], 10, 10)
    survey(engine, who["better"], 4, 10)
    survey(engine, who["better"], 7, 10, days=3)  # answered better since
    with transaction(engine) as session:
        session.execute(
            update(Customer).where(Customer.id == who["no_consent"]).values(call_consent=False)
        )
    return who


def test_an_anti_churn_list_from_the_watch_list(engine: Engine, scored_base: ScoredBase) -> None:
    who = _watched(engine, scored_base)
    everyone = plan(engine, _request(holdout=0.0, name="all"), dry_run=True).preview
    assert everyone["candidates_from"] == "all"
    assert everyone["treated"] == 9  # the one without consent is screened out

    result = plan(engine, _request(holdout=0.0, candidates="watchlist"))
    chosen = set(result.entries["customer_id"].tolist())
    assert chosen == {who["watch"], who["open"], who["hidden"]}
    preview = result.preview
    assert preview["candidates_from"] == "watchlist"
    assert preview["candidates"] == 4  # the spoken-with customer is no candidate
    assert preview["watch_list"] == {
        "not_spoken_with_since_survey": 4,
        "spoken_with_since_survey": 1,
    }
    # the contact policy screens the watch list as it screens every list
    assert preview["exclusions"] == {ExclusionReason.NO_CONSENT.value: 1}


def test_a_follow_up_list_from_the_watch_list(engine: Engine, scored_base: ScoredBase) -> None:
    who = _watched(engine, scored_base)
    result = plan(engine, _request(CampaignKind.FOLLOW_UP, holdout=0.0, candidates="watchlist"))
    assert result.campaign_id is not None
    entries = _entries(engine, result.campaign_id)
    assert {e.customer_id for e in entries} == {who["watch"], who["open"], who["hidden"]}
    assert {e.details["follow_up"] for e in entries} == {"dissatisfied_survey"}
    assert all(e.offer and e.offer.startswith("Satisfaction follow-up") for e in entries)


def test_only_anti_churn_and_follow_up_lists_take_the_watch_list(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(5)
    with pytest.raises(CampaignError, match="anti-churn or follow-up lists only"):
        plan(engine, _request(CampaignKind.CROSS_SELL, candidates="watchlist"))
