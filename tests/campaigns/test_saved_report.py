"""The saved-customer and conversion reports count what the store holds, against the
holdout, with Newcombe's interval; conversions are attributed within the window only
and attribution can run again without changing anything."""

from __future__ import annotations

import pytest
from report_base import Member, build_list
from sqlalchemy import Engine, delete, func, select

from campaigns.outcomes import attribute, list_outcomes
from campaigns.reports import (
    NO_HOLDOUT,
    Costs,
    conversion_report,
    difference_ci,
    effect,
    saved_report,
)
from store.db import transaction
from store.models import CampaignKind, Conversion, Group, Holding, Product

T, H = Group.TREATMENT, Group.HOLDOUT
AS_OF_DAY = 120  # reports read the feed 120 days after the launch: the window is closed


def _as_of() -> object:
    from report_base import day

    return day(AS_OF_DAY)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 - 48/80;
    # method 10 (hybrid score) gives 0.0524 to 0.3339.
    low, high = difference_ci(56, 70, 48, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_an_effect_is_scaled_to_the_treated_group_and_signed_by_what_counts_as_good() -> None:
    churn = effect(10, 100, 25, 100, gain=-1)  # fewer lost in the treated group is good
    assert churn.per_customer == pytest.approx(0.15)
    assert churn.total == pytest.approx(15.0)
    low, high = difference_ci(25, 100, 10, 100)
    assert churn.ci95 == pytest.approx((low * 100, high * 100))
    sales = effect(12, 100, 4, 100)
    assert sales.total == pytest.approx(8.0)


def test_saved_customers_against_the_holdout(engine: Engine) -> None:
    # 40 treated: 20 reached (2 of them lost), 20 never reached (4 lost), 1 lost after the
    # window, 1 switching product the next day; 20 holdout: 8 lost.
    members = (
        [Member(T, tries=1, disposition="refused", ends_on=10) for _ in range(2)]
        + [Member(T, tries=2, disposition="accepted") for _ in range(18)]
        + [Member(T, tries=3, ends_on=30) for _ in range(4)]
        + [Member(T, tries=3, ends_on=100)]  # lost after the 90-day window: saved
        + [Member(T, ends_on=20, restart_on=21)]  # a switch, not churn
        + [Member(T) for _ in range(14)]
        + [Member(H, ends_on=5) for _ in range(8)]
        + [Member(H) for _ in range(12)]
    )
    built = build_list(engine, members)
    report = saved_report(engine, str(built["name"]), as_of=_as_of(), costs=Costs(2.0, 40.0))
    e = report.effect
    assert (e.treated, e.holdout) == (40, 20)
    assert e.rate_treated == pytest.approx(6 / 40)
    assert e.rate_holdout == pytest.approx(8 / 20)
    assert e.total == pytest.approx((8 / 20 - 6 / 40) * 40)
    low, high = difference_ci(8, 20, 6, 40)
    assert e.ci95 == pytest.approx((low * 40, high * 40))
    assert report.reached == 20
    assert report.reach_rate == pytest.approx(0.5)
    # the effect among those reached: the intention-to-treat effect over the share reached
    assert report.among_reached.per_customer == pytest.approx((8 / 20 - 6 / 40) / 0.5)
    assert report.revenue_kept == pytest.approx(e.total * 1000.0)
    contacts = 2 * 1 + 18 * 2 + 4 * 3 + 3
    assert report.contacts == contacts
    assert report.offers == 18
    assert report.cost == pytest.approx(contacts * 2.0 + 18 * 40.0)
    assert report.cost_per_save == pytest.approx(report.cost / e.total)
    assert report.complete
    data = report.to_json()
    assert list(data)[:8] == [
        "treated",
        "holdout",
        "churn_treated",
        "churn_holdout",
        "incremental_saves",
        "ci95",
        "revenue_kept",
        "cost_per_save",
    ]
    assert data["ci95"] == [round(low * 40, 2), round(high * 40, 2)]
    agents = [s for s in report.splits if s.by == "agent"]
    assert [(s.value, s.reached) for s in agents] == [("Anna Agent", 20)]
    assert agents[0].effect.rate_treated == pytest.approx(2 / 20)
    segments = [s for s in report.splits if s.by == "segment"]
    assert sum(s.effect.treated for s in segments) == 40
    assert sum(s.effect.holdout for s in segments) == 20


def test_interim_figures_before_the_window_closes(engine: Engine) -> None:
    from report_base import day

    built = build_list(engine, [Member(T, ends_on=50), Member(T), Member(H), Member(H)])
    report = saved_report(engine, str(built["name"]), as_of=day(30))
    assert not report.complete
    assert report.effect.rate_treated == 0.0  # the end on day 50 is not known on day 30
    assert any("interim" in note for note in report.notes)
    curve = report.curves["treatment"]
    assert len(curve) == 31
    assert curve[0] == 1.0


def test_no_holdout_no_incremental_claim(engine: Engine) -> None:
    built = build_list(engine, [Member(T, tries=1, disposition="accepted") for _ in range(5)])
    report = saved_report(engine, str(built["name"]), as_of=_as_of())
    assert report.effect.total is None
    assert report.effect.ci95 is None
    assert report.cost_per_save is None
    assert NO_HOLDOUT in report.notes
    data = report.to_json()
    assert data["incremental_saves"] is None
    assert data["ci95"] is None
    assert data["holdout"] == 0


def test_attribution_window_edges(engine: Engine) -> None:
    # the anchor is the first attempt (launch day) for tried customers, the launch otherwise
    members = [
        Member(T, tries=1, disposition="accepted", starts_offer_on=30),  # last day: counts
        Member(T, tries=1, disposition="accepted", starts_offer_on=31),  # a day late
        Member(T, tries=1, disposition="refused", starts_offer_on=-1),  # before the contact
        Member(T, tries=1, disposition="refused", starts_offer_on=3),  # no call credit
        Member(T),
        Member(H, starts_offer_on=30),  # the holdout is watched the same way
        Member(H, starts_offer_on=45),
        Member(H),
    ]
    built = build_list(
        engine, members, kind=CampaignKind.CROSS_SELL, offer_product="MOB_L", name="add mobile"
    )
    outcome = list_outcomes(engine, "add mobile", as_of=_as_of())
    converted = outcome.frame["converted"].tolist()
    assert converted == [True, False, False, True, False, True, False, False]
    done = attribute(engine, "add mobile", as_of=_as_of())
    assert (done.confirmed, done.claimed, done.added, done.holdout) == (1, 1, 2, 1)
    report = conversion_report(engine, "add mobile", as_of=_as_of())
    assert report.effect.rate_treated == pytest.approx(2 / 5)
    assert report.effect.rate_holdout == pytest.approx(1 / 3)
    assert (report.claimed, report.confirmed, report.added) == (2, 1, 1)
    assert built["campaign"]


def _conversions(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    Conversion.customer_id,
                    Conversion.product_id,
                    Conversion.list_entry_id,
                    Conversion.revenue,
                    Conversion.occurred_at,
                    Conversion.source,
                    Conversion.confirmed,
                ).order_by(Conversion.customer_id)
            )
        ]


def test_attribution_runs_again_without_changing_anything(engine: Engine) -> None:
    members = [
        Member(T, tries=1, disposition="accepted", starts_offer_on=5),
        Member(T, tries=1, disposition="accepted"),
        Member(H, starts_offer_on=2),
        Member(H),
    ]
    build_list(engine, members, kind=CampaignKind.CROSS_SELL, offer_product="MOB_L", name="x")
    attribute(engine, "x", as_of=_as_of())
    first = _conversions(engine)
    assert [row[5:] for row in first] == [
        ("disposition", True),
        ("disposition", False),
        ("feed", True),
    ]
    attribute(engine, "x", as_of=_as_of())
    assert _conversions(engine) == first
    # the feed withdraws the holdout's product: its conversion goes; the claimed one stays
    with transaction(engine) as session:
        mob_l = session.scalars(select(Product.id).where(Product.code == "MOB_L")).one()
        holdout_customer = first[2][0]
        session.execute(
            delete(Holding).where(
                Holding.customer_id == holdout_customer, Holding.product_id == mob_l
            )
        )
    attribute(engine, "x", as_of=_as_of())
    assert [row[5:] for row in _conversions(engine)] == [
        ("disposition", True),
        ("disposition", False),
    ]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Conversion)).scalar_one() == 2


def test_an_interval_across_zero_is_said_plainly(engine: Engine) -> None:
    members = [Member(T, ends_on=9)] + [Member(T) for _ in range(9)]
    members += [Member(H, ends_on=9) for _ in range(2)] + [Member(H) for _ in range(8)]
    build_list(engine, members)
    report = saved_report(engine, "spring retention", as_of=_as_of())
    assert report.effect.ci95 is not None
    assert report.effect.ci95[0] < 0 < report.effect.ci95[1]
    assert any("too small to tell whether the calls changed churn" in n for n in report.notes)
