"""The planner: who is picked, the holdout, priority between lists, what is stored."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from planner_base import build_scored_base
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from campaigns.errors import CampaignError, NothingScoredError
from campaigns.export import export_list
from campaigns.lifecycle import move
from campaigns.offers import SCRIPTS
from campaigns.plan_request import PlanRequest
from campaigns.planner import plan
from store.db import transaction
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    DncChannel,
    DncEntry,
    EntryStatus,
    Exclusion,
    ExclusionReason,
    Group,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    Score,
)

ScoredBase = Callable[..., list[int]]  # the conftest's scored_base fixture
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _request(kind: CampaignKind = CampaignKind.ANTI_CHURN, **kw: object) -> PlanRequest:
    kw.setdefault("name", f"{kind.value}-list")
    kw.setdefault("seed", 1)
    kw.setdefault("now", NOW)
    return PlanRequest(kind=kind, **kw)  # type: ignore[arg-type]


def _entries(engine: Engine, campaign_id: int) -> list[ListEntry]:
    with transaction(engine) as session:
        return list(session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id)))


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

    def value(p: float, clv: float) -> float:
        gain = p * econ.save_rate if p * clv >= econ.min_value_at_risk else 0.0
        return gain * clv - econ.contact_cost - econ.offer_cost

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
        assert campaign.policy["window_start"].startswith("08:00")


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


def test_holdout_balance_within_two_points(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(1500, seed=3)
    result = plan(engine, _request(holdout=0.2))
    entries = _entries(engine, result.campaign_id)  # type: ignore[arg-type]
    held = [e.score_decile for e in entries if e.group is Group.HOLDOUT]
    treated = [e.score_decile for e in entries if e.group is Group.TREATMENT]
    assert abs(len(held) - 0.2 * len(entries)) <= 1
    for decile in range(1, 11):
        gap = abs(held.count(decile) / len(held) - treated.count(decile) / len(treated))
        assert gap * 100 <= 2.0, decile
    assert result.preview["holdout_balance_points"] <= 2.0


# -- the contact policy at planning time ---------------------------------------------


def test_policy_exclusions_are_stored_with_their_reason(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(30, p_churn=[0.4] * 30)
    with transaction(engine) as session:
        from store.models import Customer

        session.get_one(Customer, ids[0]).call_consent = False
        dnc_phone = session.get_one(Customer, ids[1]).phone
        session.add(DncEntry(phone=dnc_phone, channel=DncChannel.ALL, source="test"))
        session.get_one(Customer, ids[2]).phone = None
    result = plan(engine, _request(holdout=0.0))
    assert result.preview["exclusions"] == {"do_not_call": 1, "no_consent": 1, "no_phone": 1}
    chosen = {e.customer_id for e in _entries(engine, result.campaign_id)}  # type: ignore[arg-type]
    assert chosen.isdisjoint(ids[:3])
    assert len(chosen) == 27
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(Exclusion.customer_id, Exclusion.reason).where(
                    Exclusion.campaign_id == result.campaign_id
                )
            ).all()
        )
    assert stored == {
        ids[0]: ExclusionReason.NO_CONSENT,
        ids[1]: ExclusionReason.DO_NOT_CALL,
        ids[2]: ExclusionReason.NO_PHONE,
    }


# -- one active list per customer, by priority ---------------------------------------


def _closed_complaints(engine: Engine, ids: list[int]) -> None:
    closed = dt.datetime(2026, 10, 25, 12, tzinfo=dt.UTC)
    with transaction(engine) as session:
        session.add_all(
            Interaction(
                customer_id=cid,
                kind=InteractionKind.COMPLAINT,
                occurred_at=closed - dt.timedelta(days=3),
                closed_at=closed,
                topic="billing",
            )
            for cid in ids
        )


def test_lower_priority_list_skips_customers_on_active_lists(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(40, p_churn=[0.4] * 40)
    _closed_complaints(engine, ids)
    first = plan(engine, _request(size=10))
    follow = plan(engine, _request(CampaignKind.FOLLOW_UP, holdout=0.0))
    taken = {e.customer_id for e in _entries(engine, first.campaign_id)}  # type: ignore[arg-type]
    again = {e.customer_id for e in _entries(engine, follow.campaign_id)}  # type: ignore[arg-type]
    assert taken.isdisjoint(again)
    assert len(taken | again) == 40
    assert follow.preview["exclusions"] == {"on_active_list": len(taken)}


def test_higher_priority_list_takes_over_untouched_treated_entries(
    engine: Engine, scored_base: ScoredBase
) -> None:
    ids = scored_base(40, p_churn=[0.4] * 40)
    _closed_complaints(engine, ids)
    follow = plan(engine, _request(CampaignKind.FOLLOW_UP, holdout=0.25))
    follow_entries = _entries(engine, follow.campaign_id)  # type: ignore[arg-type]
    held = {e.customer_id for e in follow_entries if e.group is Group.HOLDOUT}
    started = next(e for e in follow_entries if e.group is Group.TREATMENT)
    with transaction(engine) as session:
        session.get_one(ListEntry, started.id).status = EntryStatus.IN_PROGRESS
    anti = plan(engine, _request(holdout=0.0))
    chosen = {e.customer_id for e in _entries(engine, anti.campaign_id)}  # type: ignore[arg-type]
    # the follow-up holdout stays measurable and a call in progress is not taken away
    assert chosen == set(ids) - held - {started.customer_id}
    assert anti.preview["taken_from_lower_lists"] == len(chosen)
    after = {e.customer_id: e.status for e in _entries(engine, follow.campaign_id)}  # type: ignore[arg-type]
    assert all(after[c] is EntryStatus.EXCLUDED for c in chosen)
    with engine.connect() as conn:
        moved = conn.execute(
            select(func.count()).where(
                Exclusion.campaign_id == follow.campaign_id,
                Exclusion.reason == ExclusionReason.HIGHER_PRIORITY_LIST,
            )
        ).scalar_one()
    assert moved == len(chosen)


def test_a_stopped_list_frees_its_customers(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(20, p_churn=[0.4] * 20)
    plan(engine, _request(name="first", holdout=0.0))
    assert plan(engine, _request(name="second"), dry_run=True).preview["treated"] == 0
    move(engine, "first", "stop")
    assert plan(engine, _request(name="second", holdout=0.0)).preview["treated"] == 20


# -- launch, export, scripts ---------------------------------------------------------


def test_launch_pause_resume_stop(engine: Engine, scored_base: ScoredBase) -> None:
    scored_base(10, p_churn=[0.4] * 10)
    plan(engine, _request(name="q4"))
    with pytest.raises(CampaignError, match="cannot resume 'q4': it is planned"):
        move(engine, "q4", "resume")
    assert move(engine, "q4", "launch").status is CampaignStatus.RUNNING
    assert move(engine, "q4", "pause").status is CampaignStatus.PAUSED
    assert move(engine, "q4", "resume").status is CampaignStatus.RUNNING
    stopped = move(engine, "q4", "stop")
    assert stopped.status is CampaignStatus.STOPPED
    assert stopped.ended_at is not None
    with pytest.raises(CampaignError, match="cannot launch"):
        move(engine, "q4", "launch")
    with pytest.raises(CampaignError, match="no campaign named 'nope'"):
        move(engine, "nope", "launch")


def test_export_writes_every_entry_with_its_group(
    engine: Engine, scored_base: ScoredBase, tmp_path: Path
) -> None:
    scored_base(60, p_churn=[0.3] * 60)
    result = plan(engine, _request(name="export-me", size=20))
    path = tmp_path / "out" / "list.csv"
    assert export_list(engine, "export-me", path) == result.preview["size"]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["group"] for r in rows} == {"treatment", "holdout"}
    assert rows[0]["reasons"] == "contract ends soon"
    assert rows[0]["phone"].startswith("+1212")
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("kind", list(CampaignKind))
def test_every_kind_has_a_script_that_renders(kind: CampaignKind) -> None:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=True
    )
    text = env.get_template(SCRIPTS[kind]).render(
        part_of_day="morning",
        agent={"first_name": "Ana"},
        company={"name": "Telco", "phone": "+1 800 555 0100"},
        customer={
            "name": "Jo Bloggs",
            "first_name": "Jo",
            "timezone": "America/New_York",
            "tenure_text": "4 years",
            "products_text": "Mobile S",
            "product_count": 1,
        },
        reasons=[{"text": "contract ends in 3 weeks"}],
        offer="An offer",
        product={"name": "Fiber 100", "family": "BROADBAND", "monthly_price": 35.0},
        exit_reason="price",
    )
    assert "Jo Bloggs" in text
    assert "An offer" in text


# -- property: nothing a plan puts on a list breaks the contact policy ----------------

CUSTOMER_FACTS = st.fixed_dictionaries(
    {
        "call_consent": st.booleans(),
        "phone": st.booleans(),
        "dnc": st.sampled_from([None, DncChannel.ALL, DncChannel.CALL, DncChannel.SMS]),
        "dnc_revoked": st.booleans(),
        "attempts": st.lists(
            st.tuples(st.sampled_from(list(Channel)), st.integers(0, 40)), max_size=4
        ),
        "abandoned_hours_ago": st.none() | st.integers(1, 120),
        "refused_days_ago": st.none() | st.integers(1, 120),
        "open_complaint": st.booleans(),
        "closed_complaint": st.booleans(),
    }
)


def _reset(engine: Engine) -> None:
    from store.models import Base

    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def _write_facts(engine: Engine, ids: list[int], facts: list[dict[str, object]]) -> None:
    from store.models import Attempt, AttemptStatus, Customer

    with transaction(engine) as session:
        old = Campaign(
            name="last-year", kind=CampaignKind.ANTI_CHURN, status=CampaignStatus.COMPLETED
        )
        session.add(old)
        session.flush()
        for cid, fact in zip(ids, facts, strict=True):
            customer = session.get_one(Customer, cid)
            customer.call_consent = bool(fact["call_consent"])
            if fact["dnc"] is not None:
                session.add(
                    DncEntry(
                        phone=customer.phone,
                        channel=fact["dnc"],
                        source="test",
                        revoked_at=NOW - dt.timedelta(days=1) if fact["dnc_revoked"] else None,
                    )
                )
            if not fact["phone"]:
                customer.phone = None
            for channel, days in fact["attempts"]:  # type: ignore[attr-defined]
                session.add(
                    Attempt(
                        customer_id=cid,
                        channel=channel,
                        phone="+12125550100",
                        status=AttemptStatus.COMPLETED
                        if channel is Channel.CALL
                        else AttemptStatus.DELIVERED,
                        created_at=NOW - dt.timedelta(days=days),
                        due_at=NOW - dt.timedelta(days=days),
                        started_at=NOW - dt.timedelta(days=days),
                    )
                )
            if fact["abandoned_hours_ago"] is not None:
                when = NOW - dt.timedelta(hours=fact["abandoned_hours_ago"])  # type: ignore[arg-type]
                session.add(
                    Attempt(
                        customer_id=cid,
                        channel=Channel.CALL,
                        phone="+12125550100",
                        status=AttemptStatus.ABANDONED,
                        created_at=when,
                        due_at=when,
                        started_at=when,
                    )
                )
            if fact["refused_days_ago"] is not None:
                days = int(fact["refused_days_ago"])  # type: ignore[call-overload]
                _disposed(session, old.id, cid, None, "refused", NOW - dt.timedelta(days=days))
            if fact["open_complaint"] or fact["closed_complaint"]:
                session.add(
                    Interaction(
                        customer_id=cid,
                        kind=InteractionKind.COMPLAINT,
                        occurred_at=dt.datetime(2026, 10, 20, tzinfo=dt.UTC),
                        closed_at=None
                        if fact["open_complaint"]
                        else dt.datetime(2026, 10, 28, tzinfo=dt.UTC),
                    )
                )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    facts=st.lists(CUSTOMER_FACTS, min_size=5, max_size=25),
    kind=st.sampled_from([CampaignKind.ANTI_CHURN, CampaignKind.FOLLOW_UP]),
)
def test_no_planned_entry_breaks_the_policy(
    engine: Engine, facts: list[dict[str, object]], kind: CampaignKind
) -> None:
    from campaigns.policy.check import check_contact
    from campaigns.policy.settings import ContactPolicy

    _reset(engine)
    ids = build_scored_base(engine, len(facts), p_churn=[0.4] * len(facts))
    _write_facts(engine, ids, facts)
    result = plan(engine, _request(kind, holdout=0.0))
    policy = ContactPolicy.for_kind(kind)
    with transaction(engine) as session:
        for entry in session.scalars(
            select(ListEntry).where(ListEntry.campaign_id == result.campaign_id)
        ):
            verdict = check_contact(
                session,
                policy,
                customer_id=entry.customer_id,
                channel=Channel.CALL,
                kind=kind,
                now=NOW,
                list_entry_id=entry.id,
                product_id=entry.product_id,
            )
            assert verdict.allowed, (entry.customer_id, verdict)


# -- sales and win-back lists ---------------------------------------------------------


def _starts(engine: Engine, ids: list[int], code: str, day: dt.date) -> None:
    from store.models import Product

    with transaction(engine) as session:
        product = session.scalars(select(Product.id).where(Product.code == code)).one()
        session.add_all(
            Holding(customer_id=c, product_id=product, start_date=day, monthly_revenue=35.0)
            for c in ids
        )


def _disposed(
    session: Session,
    campaign_id: int,
    customer_id: int,
    product_id: int | None,
    code: str,
    when: dt.datetime,
) -> None:
    """A past list entry of ``campaign_id`` and the disposition an agent gave it."""
    from store.models import Disposition

    entry = ListEntry(
        campaign_id=campaign_id,
        customer_id=customer_id,
        product_id=product_id,
        group=Group.TREATMENT,
        status=EntryStatus.DONE,
    )
    session.add(entry)
    session.flush()
    refused = code == "refused"
    session.add(
        Disposition(
            list_entry_id=entry.id,
            customer_id=customer_id,
            code=code,
            refusal_reason="price" if refused else None,
            created_at=when,
        )
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


def test_a_win_back_plan_with_nobody_lost_is_an_empty_preview(
    engine: Engine, scored_base: ScoredBase
) -> None:
    scored_base(5, p_churn=[0.2] * 5)  # everyone still a customer
    result = plan(engine, _request(CampaignKind.WIN_BACK, holdout=0.1), dry_run=True)
    assert (result.preview["size"], result.preview["holdout"]) == (0, 0)
    assert result.preview["by_segment"] == {}
