"""Outcomes in the store: retries by outcome with the campaign's delays, max attempts,
the SMS fallback, and dispositions from the agent."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from campaigns.settings.model import CampaignSettings
from dialer.dispositions import DispositionError, NoConversation, record_disposition
from dialer.entry_taking import take_entries
from dialer.outcomes import apply_status, move_on, unchanged
from dialer.states import rank
from simulation.agents import ensure_agents
from store.db import transaction
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Channel,
    Disposition,
    DispositionCode,
    DncChannel,
    DncEntry,
    EntryStatus,
    ListEntry,
)
from tests.dialer.dial_base import build_running_campaign

S = AttemptStatus
AT = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
DIALING = {"retry_minutes": {"busy": 15, "no-answer": 90}, "sms_after_failed_calls": 3}


def _dial(engine: Engine, campaign_id: int, at: dt.datetime) -> int:
    with transaction(engine) as session:
        (attempt_id,) = take_entries(session, campaign_id, 1, now=at)
        apply_status(session, attempt_id, S.INITIATED, now=at)
    return attempt_id


def _entry(engine: Engine, campaign_id: int) -> ListEntry:
    with transaction(engine) as session:
        return session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id)).one()


def test_each_outcome_waits_its_campaign_delay_then_texts_after_three_unreached(
    engine: Engine,
) -> None:
    campaign_id, _ = build_running_campaign(engine, 1, settings=DIALING)
    at = AT
    for outcome, minutes in ((S.BUSY, 15), (S.NO_ANSWER, 90)):
        attempt_id = _dial(engine, campaign_id, at)
        with transaction(engine) as session:
            change = apply_status(session, attempt_id, outcome, now=at)
        assert change.became_final
        assert change.texts == []
        entry = _entry(engine, campaign_id)
        assert entry.status is EntryStatus.PENDING
        assert entry.due_at == at + dt.timedelta(minutes=minutes)
        with transaction(engine) as session:
            assert take_entries(session, campaign_id, 1, now=at + dt.timedelta(minutes=1)) == []
        at = at + dt.timedelta(minutes=minutes)
    attempt_id = _dial(engine, campaign_id, at)
    with transaction(engine) as session:
        change = apply_status(session, attempt_id, S.NO_ANSWER, now=at)
    (text_id,) = change.texts
    with transaction(engine) as session:
        text = session.get(Attempt, text_id)
        assert text is not None
        assert (text.channel, text.status) == (Channel.SMS, S.SCHEDULED)
        # settling again (a duplicated final callback) queues no second text
        assert apply_status(session, attempt_id, S.NO_ANSWER, now=at).texts == []
        texts = session.scalar(select(func.count()).where(Attempt.channel == Channel.SMS))
        assert texts == 1
    assert _entry(engine, campaign_id).status is EntryStatus.DONE


def test_max_attempts_ends_the_entry(engine: Engine) -> None:
    campaign_id, _ = build_running_campaign(
        engine,
        1,
        settings={
            "sms_after_failed_calls": 0,
            "retry_minutes": {"busy": 1},
            "max_attempts": {"total": 2},
        },
    )
    at = AT
    for _ in range(2):
        attempt_id = _dial(engine, campaign_id, at)
        with transaction(engine) as session:
            apply_status(session, attempt_id, S.BUSY, now=at)
        at += dt.timedelta(minutes=5)
    assert _entry(engine, campaign_id).status is EntryStatus.DONE


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([s for s in S if s not in (S.SENT, S.DELIVERED, S.UNDELIVERED)])))
def test_a_status_never_moves_back(statuses: list[AttemptStatus]) -> None:
    from dialer.states import advance

    current = S.QUEUED
    for incoming in statuses:
        after = advance(Channel.CALL, current, incoming)
        assert rank(Channel.CALL, after) >= rank(Channel.CALL, current)
        current = after


def test_dispositions_close_call_back_or_retry_and_are_recorded_once(engine: Engine) -> None:
    campaign_id, _ = build_running_campaign(engine, 4, kind=CampaignKind.CROSS_SELL)
    attempts = []
    with transaction(engine) as session:
        attempts = take_entries(session, campaign_id, 4, now=AT)
        (agent,) = ensure_agents(session, 1)
        for attempt_id in attempts:
            apply_status(session, attempt_id, S.IN_PROGRESS, now=AT)
            session.get(Attempt, attempt_id).agent_id = agent  # type: ignore[union-attr]
    accepted, callback, dnc, voicemail = attempts
    later = AT + dt.timedelta(minutes=5)
    with transaction(engine) as session:
        first, _ = record_disposition(
            session, attempt_id=accepted, agent_id=None, code="accepted", now=later
        )
        again, _ = record_disposition(
            session, attempt_id=accepted, agent_id=None, code="refused", now=later
        )
        assert again.id == first.id
        assert again.code == DispositionCode.ACCEPTED.value
        with pytest.raises(DispositionError, match="callback_at"):
            record_disposition(
                session, attempt_id=callback, agent_id=None, code="callback", now=later
            )
        with pytest.raises(DispositionError, match="future"):
            record_disposition(
                session,
                attempt_id=callback,
                agent_id=None,
                code="callback",
                now=later,
                callback_at=AT,
            )
        with pytest.raises(DispositionError, match="refusal_reason"):
            record_disposition(session, attempt_id=dnc, agent_id=None, code="refused", now=later)
        with pytest.raises(DispositionError, match="one of"):
            record_disposition(session, attempt_id=dnc, agent_id=None, code="maybe", now=later)
        back = AT + dt.timedelta(days=6)  # a Tuesday; the day after is Thanksgiving
        record_disposition(
            session,
            attempt_id=callback,
            agent_id=None,
            code="callback",
            now=later,
            callback_at=back,
            callback_shared=True,
        )
        record_disposition(session, attempt_id=dnc, agent_id=None, code="do_not_call", now=later)
        record_disposition(
            session, attempt_id=voicemail, agent_id=None, code="voicemail", now=later
        )
    with transaction(engine) as session:
        status = {
            a: session.get(ListEntry, session.get(Attempt, a).list_entry_id)  # type: ignore[union-attr]
            for a in attempts
        }
        assert status[accepted].status is EntryStatus.DONE  # type: ignore[union-attr]
        assert status[callback].status is EntryStatus.CALLBACK  # type: ignore[union-attr]
        assert status[callback].due_at == back  # type: ignore[union-attr]
        assert status[dnc].status is EntryStatus.DONE  # type: ignore[union-attr]
        assert status[voicemail].status is EntryStatus.PENDING  # type: ignore[union-attr]
        minutes = CampaignSettings().retry_minutes["machine"]
        assert status[voicemail].due_at == later + dt.timedelta(minutes=minutes)  # type: ignore[union-attr]
        phone = session.get(Attempt, dnc).phone  # type: ignore[union-attr]
        listed = session.scalars(select(DncEntry).where(DncEntry.phone == phone)).one()
        assert listed.channel is DncChannel.ALL
        assert session.scalar(select(func.count()).select_from(Disposition)) == 4
    # the call-back comes first once it is due, before the entry still never tried
    callback_entry = status[callback].id  # type: ignore[union-attr]
    with transaction(engine) as session:
        (next_call,) = take_entries(session, campaign_id, 1, now=back)
        assert session.get(Attempt, next_call).list_entry_id == callback_entry  # type: ignore[union-attr]


def test_a_final_status_keeps_the_first_facts_and_refreshes_the_loaded_attempt(
    engine: Engine,
) -> None:
    campaign_id, _ = build_running_campaign(engine, 1, settings=DIALING)
    attempt_id = _dial(engine, campaign_id, AT)
    later = AT + dt.timedelta(seconds=30)
    with transaction(engine) as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        assert attempt.status is S.INITIATED
        change = apply_status(
            session,
            attempt_id,
            S.BUSY,
            now=later,
            provider_sid="CA" + "7" * 32,
            duration_s=0,
            error_code="486",
        )
        assert change.became_final
        # the object this session holds reads what the UPDATE wrote
        assert attempt.status is S.BUSY
        assert (attempt.provider_sid, attempt.duration_s, attempt.error_code) == (
            "CA" + "7" * 32,
            0,
            "486",
        )
        assert attempt.ended_at == later
        # a different final outcome later changes nothing and settles nothing
        again = apply_status(
            session, attempt_id, S.NO_ANSWER, now=later, duration_s=9, error_code="487"
        )
        assert not again.became_final
        assert again.texts == []
        assert (attempt.status, attempt.duration_s, attempt.error_code) == (S.BUSY, 0, "486")
    entry = _entry(engine, campaign_id)
    assert entry.status is EntryStatus.PENDING
    assert entry.due_at == later + dt.timedelta(minutes=15)


def test_an_accepted_offer_is_a_conversion_claim_at_once(engine: Engine) -> None:
    from sqlalchemy import update

    from store.models import Conversion, Product

    campaign_id, _ = build_running_campaign(engine, 2, kind=CampaignKind.CROSS_SELL)
    with transaction(engine) as session:
        fiber = Product(code="BB_1", name="Fiber", family="BROADBAND", tier=1, monthly_price=35)
        session.add(fiber)
        session.flush()
        session.execute(
            update(ListEntry)
            .where(ListEntry.campaign_id == campaign_id)
            .values(product_id=fiber.id)
        )
        accepted, refused = take_entries(session, campaign_id, 2, now=AT)
        (agent,) = ensure_agents(session, 1)
        for attempt_id in (accepted, refused):
            apply_status(session, attempt_id, S.IN_PROGRESS, now=AT)
            session.get(Attempt, attempt_id).agent_id = agent  # type: ignore[union-attr]
    later = AT + dt.timedelta(minutes=4)
    with transaction(engine) as session:
        record_disposition(session, attempt_id=accepted, agent_id=None, code="accepted", now=later)
        record_disposition(
            session, attempt_id=refused, agent_id=None, code="refused", now=later,
            refusal_reason="price",
        )  # fmt: skip
        record_disposition(session, attempt_id=accepted, agent_id=None, code="accepted", now=later)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Conversion.product_id,
                Conversion.revenue,
                Conversion.source,
                Conversion.confirmed,
                Conversion.occurred_at,
            )
        ).all()
    assert [tuple(r) for r in rows] == [(fiber.id, 35.0, "disposition", False, later)]


def test_a_progress_update_that_changes_nothing_is_told_apart_by_a_read(engine: Engine) -> None:
    campaign_id, _ = build_running_campaign(engine, 1)
    attempt_id = _dial(engine, campaign_id, AT)  # initiated, as the worker leaves it
    sid = "CA" + "1" * 32
    with transaction(engine) as session:
        # the carrier's "initiated" brings the SID the store does not have yet: a write
        assert unchanged(session, attempt_id, S.INITIATED, provider_sid=sid) is None
        assert unchanged(session, attempt_id, S.RINGING) is None, "ringing moves it on"
        assert move_on(session, attempt_id, S.INITIATED, now=AT, provider_sid=sid) is not None
    with transaction(engine) as session:
        same = unchanged(session, attempt_id, S.INITIATED, provider_sid=sid)
        assert same is not None
        assert (same.before, same.after, same.campaign_id) == (
            S.INITIATED,
            S.INITIATED,
            campaign_id,
        )
        assert not same.moved
        assert not same.became_final
        assert unchanged(session, attempt_id, S.IN_PROGRESS, answered_by=AnsweredBy.HUMAN) is None
        apply_status(session, attempt_id, S.NO_ANSWER, now=AT)
    with transaction(engine) as session:
        late = unchanged(session, attempt_id, S.RINGING, provider_sid=sid)
        assert late is not None, "a late ringing for an ended call changes nothing"
        assert late.after is S.NO_ANSWER
        assert unchanged(session, attempt_id + 1000, S.RINGING) is None, "no such attempt"
        with pytest.raises(ValueError, match="final"):
            unchanged(session, attempt_id, S.COMPLETED)


@pytest.mark.parametrize(
    ("channel", "status", "with_agent"),
    [
        (Channel.CALL, S.MACHINE, True),  # connected, then the machine's verdict freed the agent
        (Channel.CALL, S.NO_ANSWER, True),  # as a replayed answer once left it
        (Channel.CALL, S.BUSY, False),
        (Channel.CALL, S.FAILED, False),
        (Channel.CALL, S.ABANDONED, False),
        (Channel.CALL, S.COMPLETED, False),  # hung up before an agent took it
        (Channel.CALL, S.IN_PROGRESS, False),  # still waiting for an agent
        (Channel.SMS, S.DELIVERED, False),
    ],
)
def test_a_disposition_needs_a_call_an_agent_talked_on(
    engine: Engine, channel: Channel, status: AttemptStatus, with_agent: bool
) -> None:
    campaign_id, _ = build_running_campaign(engine, 2, kind=CampaignKind.CROSS_SELL)
    with transaction(engine) as session:
        untouched, talked = take_entries(session, campaign_id, 2, now=AT)
        (agent,) = ensure_agents(session, 1)
        for attempt_id in (untouched, talked):
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None
            attempt.channel, attempt.status = channel, status
            attempt.agent_id = agent if with_agent else None
        talking = session.get(Attempt, talked)
        assert talking is not None
        talking.channel, talking.status, talking.agent_id = Channel.CALL, S.COMPLETED, agent
    later = AT + dt.timedelta(minutes=3)
    with transaction(engine) as session:
        with pytest.raises(DispositionError, match="never reached an agent") as refused:
            record_disposition(
                session,
                attempt_id=untouched,
                agent_id=agent,
                code="refused",
                now=later,
                refusal_reason="price",
            )
        assert isinstance(refused.value, NoConversation)
        record_disposition(
            session, attempt_id=talked, agent_id=agent, code="refused", now=later,
            refusal_reason="price",
        )  # fmt: skip
    with transaction(engine) as session:
        coded = session.execute(select(Disposition.attempt_id, Disposition.code)).all()
        assert [tuple(row) for row in coded] == [(talked, "refused")]
        entry = session.scalars(
            select(ListEntry)
            .join(Attempt, Attempt.list_entry_id == ListEntry.id)
            .where(Attempt.id == untouched)
        ).one()
        assert entry.status is EntryStatus.IN_PROGRESS, "the refusal counted for no one"
