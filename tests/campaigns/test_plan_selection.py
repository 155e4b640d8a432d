"""Choosing a list's entries: the holdout draw, stratified by decile and seeded; the
contact policy screened at planning time; one active list per customer, by priority."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_base import NOW, ScoredBase, _disposed, _entries, _request, build_scored_base
from sqlalchemy import Engine, func, select

from campaigns.lifecycle import move
from campaigns.plan_selection import split_holdout
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
    Interaction,
    InteractionKind,
    ListEntry,
)

# -- the holdout draw ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    strata=st.lists(st.integers(1, 10), min_size=50, max_size=2000),
    fraction=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_holdout_keeps_each_deciles_share(strata: list[int], fraction: float, seed: int) -> None:
    labels = np.array(strata, dtype=np.int64)
    mask = split_holdout(labels, fraction, np.random.default_rng(seed))
    assert mask.sum() == round(fraction * len(labels))
    for label in np.unique(labels):
        members = labels == label
        # each stratum gets its quota rounded down or up, never further off
        assert abs(mask[members].sum() - fraction * members.sum()) < 1.0 + 1e-9


def test_holdout_is_seeded() -> None:
    labels = np.repeat(np.arange(1, 11), 100)
    one = split_holdout(labels, 0.1, np.random.default_rng(7))
    two = split_holdout(labels, 0.1, np.random.default_rng(7))
    other = split_holdout(labels, 0.1, np.random.default_rng(8))
    assert (one == two).all()
    assert not (one == other).all()


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
    from campaigns.settings.model import CampaignSettings

    _reset(engine)
    ids = build_scored_base(engine, len(facts), p_churn=[0.4] * len(facts))
    _write_facts(engine, ids, facts)
    result = plan(engine, _request(kind, holdout=0.0))
    policy = CampaignSettings.for_kind(kind)
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
