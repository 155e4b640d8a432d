"""Reports that add up: the saved-customer and the monthly report give one campaign the
same saves and interval, an effect per reached customer needs enough reached, and a
win-back list values the customers who came back by their new CLV."""

from __future__ import annotations

import pytest
from report_base import Member, build_list, day
from sqlalchemy import Engine

from campaigns.effects import MIN_REACHED, Effect, among_reached, effect, sum_intervals
from campaigns.monthly import monthly_report
from campaigns.reports import saved_report
from store.models import CampaignKind, Group

T, H = Group.TREATMENT, Group.HOLDOUT
AS_OF = day(120)  # the 90-day window is closed


def test_saved_and_monthly_reports_give_one_campaign_the_same_saves(engine: Engine) -> None:
    members = (
        [Member(T, tries=1, disposition="refused", ends_on=10) for _ in range(2)]
        + [Member(T, tries=2, disposition="accepted") for _ in range(18)]
        + [Member(T, tries=3, ends_on=30) for _ in range(4)]
        + [Member(T) for _ in range(16)]
        + [Member(H, ends_on=5) for _ in range(8)]
        + [Member(H) for _ in range(12)]
    )
    build_list(engine, members)
    saved = saved_report(engine, "spring retention", as_of=AS_OF)
    monthly = monthly_report(engine, months=4, as_of=AS_OF, today=AS_OF)
    march = next(p for p in monthly.months if p.label == "2026-03")
    assert saved.effect.ci95 is not None
    assert march.saved_ci95 is not None
    low, high = saved.effect.ci95
    assert high - saved.effect.total != pytest.approx(saved.effect.total - low)  # asymmetric
    assert march.saved == pytest.approx(saved.effect.total)
    assert march.saved_ci95 == pytest.approx(saved.effect.ci95)
    assert saved.to_json()["ci95"] == march.to_json(300)["saved_ci95"]


def test_intervals_of_several_lists_add_side_by_side() -> None:
    assert sum_intervals([]) is None
    assert sum_intervals([(2.0, (-1.0, 6.0))]) == (2.0, (-1.0, 6.0))
    total, (low, high) = sum_intervals([(2.0, (-1.0, 6.0)), (1.0, (-3.0, 4.0))]) or (0, (0, 0))
    assert total == 3.0
    assert (low, high) == pytest.approx((3.0 - 5.0, 3.0 + (16 + 9) ** 0.5))


def _main() -> Effect:
    return effect(300, 1000, 160, 400, gain=-1)


def test_no_effect_per_reached_customer_when_nobody_was_reached() -> None:
    among = among_reached(_main(), 0)
    assert (among.per_customer, among.per_customer_ci95) == (None, None)
    assert among.note is not None
    assert "no treated customer was reached" in among.note


def test_too_few_reached_give_no_interval_and_say_why() -> None:
    among = among_reached(_main(), 20)  # 2% of the list: the interval would span -500 pts
    assert (among.per_customer, among.per_customer_ci95) == (None, None)
    assert among.note is not None
    assert "only 20 treated customers (2%) were reached" in among.note
    few = MIN_REACHED - 1
    half_reached = among_reached(effect(12, 2 * few, 16, 40, gain=-1), few)
    assert half_reached.per_customer_ci95 is None  # half the list, but too few people


def test_the_interval_per_reached_customer_stays_within_a_share() -> None:
    among = among_reached(effect(5, 40, 12, 40, gain=-1), 10)  # a quarter reached
    assert among.per_customer_ci95 is not None
    low, high = among.per_customer_ci95
    assert -1.0 <= low < high <= 1.0


def test_a_report_with_few_reached_prints_no_interval_for_them(engine: Engine) -> None:
    members = (
        [Member(T, tries=1, disposition="accepted") for _ in range(2)]
        + [Member(T, tries=2, ends_on=20) for _ in range(8)]
        + [Member(T, tries=1) for _ in range(40)]
        + [Member(H, ends_on=5) for _ in range(8)]
        + [Member(H) for _ in range(12)]
    )
    build_list(engine, members)
    report = saved_report(engine, "spring retention", as_of=AS_OF)
    assert report.reached == 2
    assert report.among_reached.per_customer_ci95 is None
    assert report.to_json()["among_reached"]["ci95"] is None
    assert any(n.startswith("effect per reached customer: not estimated") for n in report.notes)


def test_a_win_back_list_values_the_customers_who_came_back_by_their_new_clv(
    engine: Engine,
) -> None:
    # lost a month before the launch; back from day 10 with a product billed 39 a month
    members = (
        [Member(T, tries=1, disposition="accepted", ends_on=-30, restart_on=10) for _ in range(10)]
        + [Member(T, tries=1, ends_on=-30) for _ in range(30)]
        + [Member(H, ends_on=-30, restart_on=12) for _ in range(2)]
        + [Member(H, ends_on=-30) for _ in range(18)]
    )
    build_list(engine, members, kind=CampaignKind.WIN_BACK, name="come back")
    report = saved_report(engine, "come back", as_of=AS_OF)
    assert report.effect.total == pytest.approx((18 / 20 - 30 / 40) * 40)
    new_clv = 39 * 12.0  # the monthly revenue held at the window's end x 12 months
    assert report.mean_clv == pytest.approx(new_clv)
    assert report.revenue_kept == pytest.approx(report.effect.total * new_clv)
    assert report.revenue_kept > 0
