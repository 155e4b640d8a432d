"""Campaign and agent KPIs, and the monthly churn report, count what the store holds."""

from __future__ import annotations

import datetime as dt

import pytest
from planner_base import build_scored_base
from report_base import LAUNCH, Member, agent_waiting, build_list, day
from sqlalchemy import Engine, select, update

from campaigns.kpis import kpi_report
from campaigns.monthly import monthly_report
from store.db import transaction
from store.models import (
    AgentEvent,
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Channel,
    Group,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
)

T, H = Group.TREATMENT, Group.HOLDOUT


def _attempt(session: object, entry: ListEntry, status: AttemptStatus, **values: object) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    attempt = Attempt(
        campaign_id=entry.campaign_id,
        list_entry_id=entry.id,
        customer_id=entry.customer_id,
        channel=values.pop("channel", Channel.CALL),
        phone="+12125550100",
        provider_sid=values.pop("sid", f"CA{entry.id:032d}{status.value[:2]}"),
        status=status,
        created_at=LAUNCH,
        due_at=LAUNCH,
        **values,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def test_campaign_kpis(engine: Engine) -> None:
    members = [
        Member(T, tries=1, disposition="accepted"),
        Member(T, tries=1, disposition="refused"),
        Member(T, tries=1, disposition="voicemail"),
        Member(T),
        Member(T),
        Member(H),
    ]
    built = build_list(engine, members)
    agent = int(str(built["agent"]))
    at = LAUNCH
    with transaction(engine) as session:
        entries = session.scalars(select(ListEntry).order_by(ListEntry.id)).all()
        # an abandoned live answer, a machine, a queued call never placed, a text sent
        _attempt(session, entries[3], AttemptStatus.ABANDONED, answered_at=at)
        _attempt(
            session,
            entries[4],
            AttemptStatus.MACHINE,
            answered_by=AnsweredBy.MACHINE,
            answered_at=at,
        )
        _attempt(session, entries[4], AttemptStatus.QUEUED, sid=None)
        _attempt(session, entries[4], AttemptStatus.DELIVERED, channel=Channel.SMS, sid="SM1")
        # the agent's day: ready 10 min, talk 5 + wrap 1, ready 2, a customer's card
        # previewed 2 before the dial, talk 3 + wrap 1, paused 6, then offline
        attempts = session.scalars(
            select(Attempt.id).where(Attempt.agent_id == agent).order_by(Attempt.id)
        ).all()
        timeline = [
            ("ready", 0, None),
            ("talk", 10, attempts[0]),
            ("wrap", 15, attempts[0]),
            ("ready", 16, None),
            ("preview", 18, None),
            ("talk", 20, attempts[1]),
            ("wrap", 23, attempts[1]),
            ("paused", 24, None),
            ("offline", 30, None),
        ]
        for state, minute, attempt_id in timeline:
            session.add(
                AgentEvent(
                    agent_id=agent,
                    campaign_id=built["campaign"],
                    attempt_id=attempt_id,
                    state=state,
                    at=at + dt.timedelta(minutes=minute),
                )
            )
        # the two talks start when the calls were answered, well within 20 s
        for minute, attempt_id in ((10, attempts[0]), (20, attempts[1])):
            session.execute(
                update(Attempt)
                .where(Attempt.id == attempt_id)
                .values(answered_at=at + dt.timedelta(minutes=minute, seconds=-1))
            )
    kpis = kpi_report(engine, str(built["name"]), abandon_limit=0.01, as_of=day(120))
    assert kpis.dials == 5  # three answered by the agent, the abandoned one, the machine
    assert kpis.texts == 1
    assert kpis.live_answers == 4
    assert kpis.connects == 3
    assert kpis.machines == 1
    assert kpis.abandoned == 1
    assert kpis.abandon_rate == pytest.approx(1 / 4)
    assert kpis.contacts == 2  # accepted and refused; a voicemail is not a conversation
    assert kpis.conversions == 1
    assert kpis.conversion_rate == pytest.approx(0.5)
    assert kpis.seconds == {
        "talk": 480.0,
        "wrap": 120.0,
        "preview": 120.0,
        "wait": 720.0,
        "pause": 360.0,
    }
    assert kpis.handled == 2
    assert kpis.handle_time == pytest.approx(300.0)
    assert kpis.occupancy == pytest.approx(720 / 1440)  # previewing is work, not waiting
    assert kpis.contacts_per_hour == pytest.approx(2 / 0.5)
    assert kpis.refusals_by_reason == {"price": 1}
    # two connects took their agent within 20 s; the third, with no talk event, was
    # connected at answer all the same (the agent_id is set within the 2 s grace); the
    # abandoned call counts as missed
    assert kpis.service_level == pytest.approx(3 / 4)
    (anna,) = kpis.agents
    assert (anna.agent, anna.calls, anna.contacts, anna.new_sales, anna.repeat_sales) == (
        "Anna Agent",
        2,
        2,
        1,
        0,
    )
    data = kpis.to_json()
    assert data["abandon_limit"] == 0.01
    assert (data["agents"][0]["talk_s"], data["agents"][0]["preview_s"]) == (480.0, 120.0)


def test_kpis_of_a_launched_list_with_no_talk_yet(engine: Engine) -> None:
    built = build_list(engine, [Member(T), Member(T), Member(H)])
    agent_waiting(engine, built)
    kpis = kpi_report(engine, str(built["name"]), abandon_limit=0.03, as_of=day(1))
    assert (kpis.dials, kpis.live_answers, kpis.connects, kpis.contacts) == (1, 0, 0, 0)
    assert (kpis.service_level, kpis.handle_time, kpis.occupancy) == (None, None, 0.0)
    assert kpis.seconds["wait"] == 60.0
    (anna,) = kpis.agents
    assert (anna.agent, anna.calls, anna.seconds["wait"]) == ("Anna Agent", 0, 60.0)


def test_monthly_churn_report(engine: Engine) -> None:
    ids = build_scored_base(engine, 100, seed=3)  # holdings since 2022, open
    with transaction(engine) as session:
        # 4 customers leave in January 2026, 2 in February, 1 switches product in February
        for n, end in enumerate(
            [dt.date(2026, 1, d) for d in (3, 9, 20, 31)] + [dt.date(2026, 2, 14)] * 2
        ):
            session.execute(
                update(Holding).where(Holding.customer_id == ids[n]).values(end_date=end)
            )
        session.execute(
            update(Holding)
            .where(Holding.customer_id == ids[50])
            .values(end_date=dt.date(2026, 2, 10))
        )
        product = session.scalars(select(Holding.product_id)).first()
        session.add(
            Holding(
                customer_id=ids[50],
                product_id=product,
                start_date=dt.date(2026, 2, 11),
                monthly_revenue=20,
            )
        )
        for n, (kind, score, scale) in enumerate(
            [
                (InteractionKind.COMPLAINT, None, None),
                (InteractionKind.SURVEY, 3, 5),  # hidden dissatisfaction: counts
                (InteractionKind.SURVEY, 4, 5),  # satisfied: does not
                (InteractionKind.SURVEY, 6, 10),  # watch list: counts
            ]
        ):
            session.add(
                Interaction(
                    customer_id=ids[60 + n],
                    kind=kind,
                    occurred_at=dt.datetime(2026, 2, 5, 12, tzinfo=dt.UTC),
                    score=score,
                    scale=scale,
                )
            )
    report = monthly_report(
        engine, months=3, as_of=dt.date(2026, 3, 15), annual_target=0.05, acquisition_cost=300
    )
    months = {p.label: p for p in report.months}
    assert list(months) == ["2026-01", "2026-02", "2026-03"]
    assert (months["2026-01"].active, months["2026-01"].lost) == (100, 4)
    # the customer whose holding ended on 31 January held nothing from that day
    assert (months["2026-02"].active, months["2026-02"].lost) == (96, 2)
    assert months["2026-02"].churn_rate == pytest.approx(2 / 96)
    assert months["2026-02"].complaints == 3
    assert months["2026-01"].target == pytest.approx(1 - 0.95 ** (1 / 12))
    assert months["2026-01"].on_target is False
    (q1,) = report.quarters
    assert (q1.label, q1.active, q1.lost) == ("2026-Q1", 100, 6)
    assert q1.target == pytest.approx(1 - 0.95**0.25)
    (year,) = report.years
    assert (year.label, year.lost, year.complaints) == ("2026", 6, 3)
    data = report.to_json()
    assert data["months"][1]["money_saved"] == 0.0


def _feed_ending(engine: Engine, ends: list[dt.date]) -> None:
    """A base whose holdings feed's latest dates are ``ends`` (holdings ending then)."""
    ids = build_scored_base(engine, 50, seed=3)  # holdings since 2022, billed 2026-10
    with transaction(engine) as session:
        for n, end in enumerate(ends):
            session.execute(
                update(Holding).where(Holding.customer_id == ids[n]).values(end_date=end)
            )


def test_monthly_report_stops_where_the_feed_ends(engine: Engine) -> None:
    _feed_ending(engine, [dt.date(2026, 8, 12), dt.date(2026, 10, 20)])
    today = dt.date(2026, 12, 7)
    report = monthly_report(engine, months=3, annual_target=0.05, today=today)
    assert report.as_of == dt.date(2026, 10, 20)  # the feed's last day, not today
    assert (report.data.first, report.data.last) == (dt.date(2022, 1, 1), dt.date(2026, 10, 20))
    judged = {p.label: (p.complete, p.on_target) for p in report.months + report.quarters}
    judged |= {p.label: (p.complete, p.on_target) for p in report.years}
    assert judged == {
        "2026-08": (True, False),  # one of 50 lost: above a month's share of 5%
        "2026-09": (True, True),
        "2026-10": (False, None),  # the feed ends on the 20th
        "2026-Q3": (True, False),
        "2026-Q4": (False, None),
        "2026": (False, None),
    }
    october = report.to_json()["months"][2]
    assert (october["complete"], october["on_target"], october["lost"]) == (False, None, 1)
    # a later day asked for is cut to the data, and the report says so
    later = monthly_report(engine, months=3, as_of=dt.date(2027, 1, 31), today=today)
    assert later.as_of == dt.date(2026, 10, 20)
    assert later.notes[0].startswith("asked for 2027-01-31: a report does not run past")


def test_monthly_report_never_runs_past_today(engine: Engine) -> None:
    _feed_ending(engine, [dt.date(2027, 1, 31)])  # a drawn or scheduled future
    report = monthly_report(engine, months=2, as_of=dt.date(2027, 1, 31), today=day(280))
    assert report.as_of == day(280) == dt.date(2026, 12, 7)
    assert [p.label for p in report.years] == ["2026"]
    assert [(p.label, p.complete, p.on_target) for p in report.months] == [
        ("2026-11", True, True),
        ("2026-12", False, None),
    ]
    assert report.years[0].on_target is None


def test_periods_before_the_data_starts_are_incomplete(engine: Engine) -> None:
    _feed_ending(engine, [dt.date(2026, 10, 20)])
    report = monthly_report(engine, months=60, today=dt.date(2026, 12, 7))
    first = {p.label: p.complete for p in report.months[:4]}
    assert first == {"2021-11": False, "2021-12": False, "2022-01": True, "2022-02": True}
    assert [(p.label, p.complete) for p in report.years[:2]] == [("2021", False), ("2022", True)]


def test_monthly_report_counts_the_saves_of_lists_launched_in_the_month(engine: Engine) -> None:
    members = (
        [Member(T) for _ in range(30)]
        + [Member(H, ends_on=10) for _ in range(3)]
        + [Member(H) for _ in range(7)]
    )
    build_list(engine, members)
    report = monthly_report(engine, months=4, as_of=day(120), acquisition_cost=300)
    march = next(p for p in report.months if p.label == "2026-03")
    assert march.saved == pytest.approx(0.3 * 30)
    assert march.saved_ci95 is not None
    assert march.to_json(300)["acquisition_cost_avoided"] == pytest.approx(9 * 300)
