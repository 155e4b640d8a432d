"""Who a list of each kind takes: anti-churn by the value a call is expected to save
(uplift when the model gives it), cross-sell a new family, up-sell the next tier, and
win-back the lost customers whose exit reason an offer can answer."""

from __future__ import annotations

import datetime as dt

from planner_base import ScoredBase, _disposed, _entries, _request
from sqlalchemy import Engine, select, update

from campaigns.offers import SCRIPTS
from campaigns.plan_request import PlanRequest
from campaigns.planner import plan
from campaigns.settings.model import CampaignSettings
from campaigns.settings.versions import history
from store.db import transaction
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Holding,
    Interaction,
    InteractionKind,
    Score,
)

# -- anti-churn ---------------------------------------------------------------------


def test_anti_churn_takes_the_best_expected_values(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(300)
    result = plan(engine, _request(size=50))
    preview = result.preview
    assert preview["treated"] == 50
    assert preview["holdout"] == 6
    assert preview["basis"] == "risk_value"
    entries = _entries(engine, result.campaign_id)  # type: ignore[arg-type]
    chosen = {e.customer_id for e in entries}
    values = sorted((e.expected_value for e in entries), reverse=True)
    assert all(v > 0 for v in values)
    # nobody left out is worth more than anyone taken (no policy exclusions here)
    with engine.connect() as conn:
        scores = conn.execute(select(Score.customer_id, Score.p_churn, Score.clv)).all()
    econ = PlanRequest(kind=CampaignKind.ANTI_CHURN, name="x").economics
    costs = CampaignSettings().costs  # the campaign's costs, as the reports count them

    def value(p: float, clv: float) -> float:
        gain = p * econ.save_rate if p * clv >= econ.min_value_at_risk else 0.0
        return gain * clv - econ.contact_cost(costs) - econ.offer_cost(costs)

    left_out = [value(p, c) for cid, p, c in scores if cid not in chosen]
    assert max(left_out) <= min(values) + 0.01
    entry = entries[0]
    assert entry.script_template == SCRIPTS[CampaignKind.ANTI_CHURN]
    assert entry.offer == "Early renewal at a loyalty price, 12 months"  # top reason: contract
    assert entry.details["basis"] == "risk_value"
    assert "p_churn" in entry.details
    assert entry.score_decile is not None
    assert 1 <= entry.score_decile <= 10
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, result.campaign_id)
        assert campaign.status is CampaignStatus.PLANNED
        assert campaign.seed == 1
        assert campaign.plan["preview"]["treated"] == 50
        # its settings, version 1, by who planned it, resolved for its list's countries
        assert campaign.settings_version == 1
        assert campaign.settings["calling_window"] == {"mon-sun": "08:00-21:00"}
        assert [v.changed_by for v in history(session, campaign)] == ["planner"]


def test_only_customers_with_value_at_risk(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(4, p_churn=[0.01, 0.04, 0.3, 0.45])
    with engine.begin() as conn:
        conn.execute(update(Score).values(clv=1000.0))  # at risk: 10, 40, 300, 450
    preview = plan(engine, _request(holdout=0.0)).preview
    assert preview["treated"] == 2
    assert preview["not_worth_calling"] == 2


def test_uplift_ranks_when_the_model_gives_it(engine: Engine, scored_base: ScoredBase) -> None:
    ids = scored_base(20)
    with transaction(engine) as session:
        for i, cid in enumerate(ids):
            score = session.scalars(select(Score).where(Score.customer_id == cid)).one()
            score.uplift = 0.2 if i < 3 else -0.05  # three persuadables, the rest pushed away
            score.clv = 1000.0
    result = plan(engine, _request(holdout=0.0))
    assert result.preview["basis"] == "uplift"
    assert {e.customer_id for e in _entries(engine, result.campaign_id)} == set(ids[:3])  # type: ignore[arg-type]


# -- sales and win-back lists ---------------------------------------------------------


def _starts(engine: Engine, ids: list[int], code: str, day: dt.date) -> None:
    from store.models import Product

    with transaction(engine) as session:
        product = session.scalars(select(Product.id).where(Product.code == code)).one()
        session.add_all(
            Holding(customer_id=c, product_id=product, start_date=day, monthly_revenue=35.0)
            for c in ids
        )


def _accepted(engine: Engine, customer_id: int, code: str) -> None:
    from store.models import Product

    with transaction(engine) as session:
        product = session.scalars(select(Product.id).where(Product.code == code)).one()
        old = Campaign(name="spring", kind=CampaignKind.CROSS_SELL, status=CampaignStatus.COMPLETED)
        session.add(old)
        session.flush()
        when = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
        _disposed(session, old.id, customer_id, product, "accepted", when)


def test_cross_sell_offers_a_new_family_and_skips_pending_acceptances(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(60, p_churn=[0.1] * 60)
    _starts(engine, ids[:20], "BB_1", dt.date(2026, 6, 1))  # a third took broadband this year
    _accepted(engine, ids[30], "BB_1")  # accepted on a call, not in the holdings feed yet
    with transaction(engine) as session:  # an open complaint keeps a customer off sales lists
        session.add(
            Interaction(
                customer_id=ids[31],
                kind=InteractionKind.COMPLAINT,
                occurred_at=dt.datetime(2026, 10, 30, tzinfo=dt.UTC),
            )
        )
    result = plan(engine, _request(CampaignKind.CROSS_SELL, holdout=0.0))
    assert result.preview["basis"] == "assumed_acceptance"
    entries = _entries(engine, result.campaign_id)  # type: ignore[arg-type]
    chosen = {e.customer_id for e in entries}
    assert chosen == set(ids[20:]) - {ids[30], ids[31]}
    assert result.preview["exclusions"] == {"open_complaint": 1}
    assert {e.offer for e in entries} == {"Add Fiber 100, first month free"}
    assert all(e.details["p_accept"] > 0 for e in entries)
    assert result.preview["expected"]["conversions"] > 0


def test_up_sell_offers_the_next_tier_of_a_held_family(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(40, p_churn=[0.1] * 40)
    _starts(engine, ids[:10], "MOB_L", dt.date(2026, 5, 1))  # some moved up this year
    result = plan(engine, _request(CampaignKind.UP_SELL, holdout=0.0))
    entries = _entries(engine, result.campaign_id)  # type: ignore[arg-type]
    # those already on the top tier have nothing to move up to
    assert {e.customer_id for e in entries} == set(ids[10:])
    assert {e.offer for e in entries} == {"Upgrade to Mobile L, first month free"}


def test_win_back_calls_lost_customers_with_an_answerable_reason(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(6, p_churn=[None, None, None, 0.2, 0.2, 0.2])
    with transaction(engine) as session:
        for cid, topic in zip(ids[:3], ["price", "moving", "competitor_offer"], strict=True):
            session.add(
                Interaction(
                    customer_id=cid,
                    kind=InteractionKind.EXIT,
                    occurred_at=dt.datetime(2026, 8, 1, tzinfo=dt.UTC),
                    topic=topic,
                )
            )
            for holding in session.scalars(select(Holding).where(Holding.customer_id == cid)):
                holding.end_date = dt.date(2026, 8, 1)
    result = plan(engine, _request(CampaignKind.WIN_BACK, holdout=0.0))
    entries = {e.customer_id: e for e in _entries(engine, result.campaign_id)}  # type: ignore[arg-type]
    assert set(entries) == {ids[0], ids[2]}  # moving away is not something an offer answers
    assert entries[ids[0]].offer == "Come-back price: 25% off for 12 months"
    assert entries[ids[2]].details["exit_reason"] == "competitor_offer"
    assert entries[ids[0]].details["former_arpu"] == 30.0


def test_a_win_back_plan_with_nobody_lost_is_an_empty_preview(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(5, p_churn=[0.2] * 5)  # everyone still a customer
    result = plan(engine, _request(CampaignKind.WIN_BACK, holdout=0.1), dry_run=True)
    assert (result.preview["size"], result.preview["holdout"]) == (0, 0)
    assert result.preview["by_segment"] == {}
