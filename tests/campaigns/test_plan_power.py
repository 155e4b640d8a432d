"""The preview's power block: figures read from the list the planner drew, the manager's
expected effect, and a warning that names a fix the planner then makes good on."""

from __future__ import annotations

import pytest
from planner_base import ScoredBase, _request
from sqlalchemy import Engine

from campaigns.errors import CampaignError
from campaigns.planner import plan
from campaigns.power import minimum_detectable_effect


def test_the_preview_carries_the_lists_power(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(300, p_churn=[0.3] * 300)
    preview = plan(engine, _request(size=100, holdout=0.1), dry_run=True).preview
    power = preview["power"]
    assert power["baseline"] == pytest.approx(0.3)
    assert power["baseline_source"] == "churn model"
    # no uplift model: a call is assumed to remove a fifth of the risk
    assert power["expected_effect"] == pytest.approx(0.06)
    assert "20% of the churn risk" in power["effect_source"]
    mde = minimum_detectable_effect(0.7, preview["treated"], preview["holdout"])
    assert mde is not None
    assert power["mde"] == pytest.approx(mde, abs=1e-4)
    assert power["power"] < 0.8
    assert power["holdout_needed"] is None  # 100 called can never show 6 points
    assert "underpowered" in power["warning"]
    assert f"about {power['treated_needed']:,} customers to call" in power["warning"]
    assert "more than the 300 worth a call" in power["warning"]


def test_the_holdout_share_it_names_is_enough(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(2000, p_churn=[0.3] * 2000)
    asked = {"size": 400, "expected_effect": 0.15}
    first = plan(engine, _request(holdout=0.05, **asked), dry_run=True).preview["power"]
    assert first["effect_source"] == "set by the manager"
    assert first["expected_effect"] == 0.15
    needed = first["holdout_needed"]
    assert needed is not None
    assert needed > 0.05
    assert f"holding out {needed:.0%} of the list would detect it" in first["warning"]
    again = plan(engine, _request(holdout=needed, **asked), dry_run=True).preview
    assert again["treated"] == 400
    assert again["power"]["power"] >= 0.8
    assert again["power"]["warning"] is None
    assert again["power"]["mde"] <= 0.15


def test_no_holdout_is_said_plainly(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(200, p_churn=[0.3] * 200)
    power = plan(engine, _request(size=50, holdout=0.0), dry_run=True).preview["power"]
    assert power["mde"] is None
    assert power["warning"].startswith("no holdout")


def test_an_expected_effect_out_of_bounds_is_refused(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(5)
    with pytest.raises(CampaignError, match="expected_effect: a change per customer called"):
        plan(engine, _request(expected_effect=1.5))


def test_a_list_with_nobody_on_it_expects_nothing(engine: Engine, scored_base: ScoredBase) -> None:
    from store.models import CampaignKind

    scored_base(20)
    preview = plan(engine, _request(CampaignKind.WIN_BACK), dry_run=True).preview
    assert preview["size"] == 0
    power = preview["power"]
    assert power["expected_effect"] is None
    assert power["outcome"] == "still gone after 90 days"
    assert power["warning"] == "no effect is expected from this list, so no holdout can show one"


def test_a_sales_lists_baseline_is_the_recent_organic_take_up(
    engine: Engine, scored_base: ScoredBase
) -> None:
    import datetime as dt

    from sqlalchemy import select

    from scoring.features import data_end
    from store.db import transaction
    from store.models import CampaignKind, Holding, Product

    ids = scored_base(100)
    as_of = data_end(engine)
    assert as_of is not None
    with transaction(engine) as session:
        fiber = session.scalars(select(Product.id).where(Product.code == "BB_1")).one()
        # one customer in a hundred started a product of their own accord in the window;
        # another only renewed the one they had
        session.add(
            Holding(customer_id=ids[0], product_id=fiber, start_date=as_of, monthly_revenue=35)
        )
        session.add(
            Holding(
                customer_id=ids[1],
                product_id=session.scalars(select(Product.id).where(Product.code == "MOB_S")).one(),
                start_date=as_of - dt.timedelta(days=3),
                monthly_revenue=30,
            )
        )
    power = plan(engine, _request(CampaignKind.CROSS_SELL), dry_run=True).preview["power"]
    assert power["outcome"] == "take-up within 30 days"
    assert power["baseline"] == pytest.approx(0.01)
    # an acceptance is per offer made: until our own lists have ended, half are reached
    assert power["effect_source"] == (
        "assumed: 9% of those reached take the offer up, x 50% reached "
        "(assumed until our lists have called more)"
    )
    assert power["expected_effect"] == pytest.approx(0.045)


def test_the_share_reached_comes_from_our_ended_lists(
    engine: Engine, scored_base: ScoredBase
) -> None:
    import datetime as dt

    from planner_base import _disposed

    from store.db import transaction
    from store.models import Campaign, CampaignKind, CampaignStatus, Group, ListEntry

    ids = scored_base(200)
    when = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    with transaction(engine) as session:
        old = Campaign(
            name="spring",
            kind=CampaignKind.CROSS_SELL,
            status=CampaignStatus.STOPPED,
            launched_at=when,
        )
        session.add(old)
        session.flush()
        for customer_id in ids[:150]:  # spoken with
            _disposed(session, old.id, customer_id, None, "refused", when)
        for customer_id in ids[150:]:  # never reached
            session.add(
                ListEntry(campaign_id=old.id, customer_id=customer_id, group=Group.TREATMENT)
            )
    power = plan(engine, _request(CampaignKind.CROSS_SELL), dry_run=True).preview["power"]
    assert power["effect_source"].endswith("x 75% reached (on our ended lists, 200 called)")
    assert power["expected_effect"] == pytest.approx(0.09 * 0.75)


def test_an_effect_beyond_what_the_outcome_allows_is_questioned(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(100, p_churn=[0.1] * 100)
    power = plan(engine, _request(size=50, expected_effect=0.2), dry_run=True).preview["power"]
    assert power["warning"] == (
        "the expected effect of 20.0 points is more than the outcome can change from its "
        "baseline of 10.0% (at most 10.0 points): check the expected effect"
    )
