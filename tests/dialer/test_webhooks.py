"""Twilio's webhooks: signatures, answer-time connection or abandon, AMD, callbacks in any
order, inbound STOP/START/HELP; against the store and the agent board as they run."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from campaigns.policy.check import check_contact
from campaigns.policy.settings import ContactPolicy
from dialer.context import Dialer
from dialer.outcomes import apply_status
from dialer.webhooks import _signature_holds
from store.models import (
    AgentEvent,
    AnsweredBy,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Channel,
    Disposition,
    DncChannel,
    DncEntry,
    EntryStatus,
    InboundMessage,
    ListEntry,
)
from tests.dialer.webhook_client import BASE, NOON, TOKEN, Hooks, call_sid, hooks

S = AttemptStatus
ROUTES = (
    "/twilio/voice/status",
    "/twilio/voice/answer",
    "/twilio/voice/amd",
    "/twilio/sms/status",
    "/twilio/sms/inbound",
)


def _attempt(session: Session, campaign_id: int, *, status: AttemptStatus = S.INITIATED) -> int:
    entry = session.scalars(
        select(ListEntry)
        .where(ListEntry.campaign_id == campaign_id, ListEntry.status == EntryStatus.PENDING)
        .order_by(ListEntry.id)
    ).first()
    assert entry is not None
    entry.status = EntryStatus.IN_PROGRESS
    phone = f"+1212555{entry.customer_id:04d}"
    attempt = Attempt(
        campaign_id=campaign_id,
        list_entry_id=entry.id,
        customer_id=entry.customer_id,
        channel=Channel.CALL,
        phone=phone,
        status=status,
        created_at=NOON,
        started_at=NOON,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


Scenario = Callable[[Hooks], Awaitable[None]]


@pytest.fixture
def run_hooks(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> Callable[[Scenario], None]:
    def run(scenario: Scenario) -> None:
        async def main() -> None:
            async with hooks(engine, db_url, redis_url, redis_prefix) as h:
                await scenario(h)

        asyncio.run(main())

    return run


def test_every_route_refuses_a_missing_wrong_or_misplaced_signature(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        params = {
            "CallSid": "CA" + "1" * 32,
            "CallStatus": "completed",
            "MessageSid": "SM" + "1" * 32,
            "MessageStatus": "delivered",
            "From": "+12125550000",
            "Body": "STOP",
            "AnsweredBy": "machine_end_beep",
        }
        for route in ROUTES:
            path = f"{route}?attempt={attempt_id}"
            elsewhere = h.validator.compute_signature("https://evil.example.com" + path, params)
            forged = RequestValidator("not-the-token").compute_signature(BASE + path, params)
            for signature in ("", "bm9wZQ==", elsewhere, forged):
                code, _ = await h.post(path, params, signature=signature)
                assert code == 403, (route, signature)
            # a valid signature over other parameters does not cover these
            tampered = h.validator.compute_signature(BASE + path, {**params, "Body": "START"})
            code, _ = await h.post(path, params, signature=tampered)
            assert code == 403, route
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert attempt.status is S.INITIATED
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(DncEntry))) == 0
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(InboundMessage))) == 0

    run_hooks(scenario)


def test_an_answered_call_goes_to_the_longest_ready_agent_then_wraps_up(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        from simulation.agents import ensure_agents

        first, second = h.store(lambda s: ensure_agents(s, 2))
        board, now = h.dialer.board, h.dialer.clock.now()
        await board.login(second, h.campaign_id, now - 5)
        await board.login(first, h.campaign_id, now)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(attempt_id, "ringing") == 204
        twiml = await h.answer(attempt_id)
        assert f"<Client>agent-{second}</Client>" in twiml
        assert await h.answer(attempt_id) == twiml, "a repeated request gets the same agent"
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.agent_id) == (S.IN_PROGRESS, second)
        assert await h.call(attempt_id, "completed", CallDuration="95") == 204
        assert (await board.status(second)).state.value == "wrap"
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.duration_s) == (S.COMPLETED, 95)
        events = h.store(
            lambda s: s.scalars(
                select(AgentEvent.state).where(AgentEvent.attempt_id == attempt_id)
            ).all()
        )
        assert events == ["talk", "wrap"]
        entry = h.store(lambda s: s.get(ListEntry, attempt.list_entry_id))
        assert entry.status is EntryStatus.IN_PROGRESS, "waits for the agent's disposition"

    run_hooks(scenario)


def test_with_no_agent_free_within_the_grace_the_caller_hears_the_abandon_message(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        twiml = await h.answer(attempt_id)
        assert "Northwind Telecom" in twiml
        assert "<Hangup" in twiml
        assert "<Dial" not in twiml
        for sales_word in ("offer", "discount", "deal", "price"):
            assert sales_word not in twiml.lower()
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert attempt.status is S.ABANDONED
        # the carrier's "completed" afterwards keeps it abandoned
        await h.call(attempt_id, "completed", CallDuration="9")
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert attempt.status is S.ABANDONED
        entry = h.store(lambda s: s.get(ListEntry, attempt.list_entry_id))
        assert entry.status is EntryStatus.PENDING
        assert entry.due_at == NOON.replace(microsecond=0) + dt.timedelta(hours=72) or (
            entry.due_at is not None and entry.due_at > NOON + dt.timedelta(hours=71)
        )
        # and the contact policy keeps the customer out for the abandon cooldown
        policy = ContactPolicy.for_kind(CampaignKind.ANTI_CHURN)
        verdict = h.store(
            lambda s: check_contact(
                s,
                policy,
                customer_id=attempt.customer_id,
                channel=Channel.CALL,
                kind=CampaignKind.ANTI_CHURN,
                now=NOON + dt.timedelta(hours=1),
            )
        )
        assert verdict.reason is not None
        assert verdict.reason.value == "abandon_cooldown"

    run_hooks(scenario)


def test_an_agent_freed_within_the_grace_takes_the_waiting_call(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        from simulation.agents import ensure_agents

        # the real clock: the call may wait 2 s for an agent
        async with hooks(engine, db_url, redis_url, redis_prefix, scale=1.0) as h:
            (agent,) = h.store(lambda s: ensure_agents(s, 1))
            attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
            answering = asyncio.create_task(h.answer(attempt_id))
            for _ in range(100):
                if (await h.dialer.board.campaign_agents(h.campaign_id)).waiting_calls:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the answered call never waited for an agent")
            await h.dialer.board.login(agent, h.campaign_id, h.dialer.clock.now())
            assert f"<Client>agent-{agent}</Client>" in await answering
            assert (await h.dialer.board.campaign_agents(h.campaign_id)).waiting_calls == 0

    asyncio.run(main())


def test_a_machine_frees_the_agent_and_the_entry_is_tried_later(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        from simulation.agents import ensure_agents

        (agent,) = h.store(lambda s: ensure_agents(s, 1))
        await h.dialer.board.login(agent, h.campaign_id, h.dialer.clock.now())
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        await h.answer(attempt_id)
        params = {"CallSid": f"CA{attempt_id:032x}", "AnsweredBy": "machine_end_beep"}
        code, _ = await h.post(f"/twilio/voice/amd?attempt={attempt_id}", params)
        assert code == 204
        assert (await h.dialer.board.status(agent)).state.value == "ready"
        await h.call(attempt_id, "completed", CallDuration="30")
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.answered_by) == (S.MACHINE, AnsweredBy.MACHINE)
        entry = h.store(lambda s: s.get(ListEntry, attempt.list_entry_id))
        assert entry.status is EntryStatus.PENDING
        assert entry.due_at is not None
        assert entry.due_at > NOON + dt.timedelta(minutes=200)

    run_hooks(scenario)


def _events(h: Hooks, attempt_id: int) -> list[str]:
    return list(
        h.store(
            lambda s: s.scalars(
                select(AgentEvent.state)
                .where(AgentEvent.attempt_id == attempt_id)
                .order_by(AgentEvent.id)
            ).all()
        )
    )


async def _ready_agent(h: Hooks) -> int:
    from simulation.agents import ensure_agents

    (agent,) = h.store(lambda s: ensure_agents(s, 1))
    await h.dialer.board.login(agent, h.campaign_id, h.dialer.clock.now())
    return int(agent)


def _hangs_up(twiml: str) -> bool:
    return "<Hangup" in twiml and "<Dial" not in twiml and "<Say" not in twiml


def test_a_replayed_answer_for_a_call_that_rang_out_claims_no_agent_and_abandons_nothing(
    run_hooks: Callable[[Scenario], None],
) -> None:
    """Twilio's signature has no timestamp: a captured answer request is still valid
    after the call ended. It must neither put an agent on the dead call nor make it an
    abandoned one."""

    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(attempt_id, "ringing") == 204
        assert await h.call(attempt_id, "no-answer", CallDuration="0") == 204
        ended = h.store(lambda s: s.get(Attempt, attempt_id))
        entry = h.store(lambda s: s.get(ListEntry, ended.list_entry_id))

        assert _hangs_up(await h.answer(attempt_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.agent_id, attempt.answered_at) == (S.NO_ANSWER, None, None)
        assert (await h.dialer.board.status(agent)).state.value == "ready"
        assert _events(h, attempt_id) == []
        assert await h.call(attempt_id, "completed", CallDuration="40") == 204
        assert (await h.dialer.board.status(agent)).state.value == "ready"

        # with no agent to claim, the replay waits for none and counts no abandon
        await h.dialer.board.logout(agent, h.dialer.clock.now())
        assert _hangs_up(await h.answer(attempt_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.ended_at, attempt.duration_s) == (
            S.NO_ANSWER,
            ended.ended_at,
            0,
        )
        after = h.store(lambda s: s.get(ListEntry, ended.list_entry_id))
        assert (after.status, after.due_at) == (entry.status, entry.due_at)
        assert (await h.dialer.board.campaign_agents(h.campaign_id)).waiting_calls == 0

    run_hooks(scenario)


def test_callbacks_naming_another_call_change_nothing(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(attempt_id, "ringing") == 204
        other = "CA" + "e" * 32
        assert _hangs_up(await h.answer(attempt_id, sid=other))
        assert await h.call(attempt_id, "in-progress", sid=other) == 204
        assert await h.amd(attempt_id, "machine_end_beep", sid=other) == 204
        assert await h.call(attempt_id, "completed", sid=other, CallDuration="12") == 204
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.provider_sid) == (S.RINGING, call_sid(attempt_id))
        assert (attempt.answered_at, attempt.answered_by, attempt.ended_at) == (None, None, None)
        assert (attempt.agent_id, attempt.duration_s) == (None, None)
        assert (await h.dialer.board.status(agent)).state.value == "ready"
        assert _events(h, attempt_id) == []
        # the attempt's own call goes on as if nothing came
        assert f"<Client>agent-{agent}</Client>" in await h.answer(attempt_id)
        assert await h.call(attempt_id, "completed", CallDuration="75") == 204
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.agent_id, attempt.duration_s) == (S.COMPLETED, agent, 75)
        assert (await h.dialer.board.status(agent)).state.value == "wrap"
        assert _events(h, attempt_id) == ["talk", "wrap"]

    run_hooks(scenario)


def test_a_callback_must_name_its_call(run_hooks: Callable[[Scenario], None]) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        for route, params in (
            ("/twilio/voice/status", {"CallStatus": "completed"}),
            ("/twilio/voice/answer", {"CallStatus": "in-progress"}),
            ("/twilio/voice/amd", {"AnsweredBy": "human"}),
            ("/twilio/sms/status", {"MessageStatus": "delivered"}),
        ):
            code, body = await h.post(f"{route}?attempt={attempt_id}", params)
            assert code == 400, (route, body)
        assert h.store(lambda s: s.get(Attempt, attempt_id)).status is S.INITIATED

    run_hooks(scenario)


def test_an_answer_before_the_worker_kept_the_sid_is_the_call_and_keeps_it(
    run_hooks: Callable[[Scenario], None],
) -> None:
    """The carrier may answer the call before the dial's own answer is stored: the first
    CallSid the attempt hears is kept, by compare-and-set, and any other is refused."""
    from dialer.jobs import _keep_sid

    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))  # initiated, no SID yet
        assert h.store(lambda s: s.get(Attempt, attempt_id)).provider_sid is None
        assert f"<Client>agent-{agent}</Client>" in await h.answer(attempt_id)
        await _keep_sid(h.dialer, attempt_id, call_sid(attempt_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.provider_sid) == (S.IN_PROGRESS, call_sid(attempt_id))
        assert await h.call(attempt_id, "completed", sid="CA" + "d" * 32) == 204
        assert h.store(lambda s: s.get(Attempt, attempt_id)).status is S.IN_PROGRESS
        assert (await h.dialer.board.status(agent)).state.value == "talk"
        assert await h.call(attempt_id, "completed", CallDuration="33") == 204
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.agent_id) == (S.COMPLETED, agent)
        assert (await h.dialer.board.status(agent)).state.value == "wrap"

    run_hooks(scenario)


def test_a_final_outcome_is_never_replaced_by_a_later_one(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        talked = h.store(lambda s: _attempt(s, h.campaign_id))
        await h.answer(talked)
        assert await h.call(talked, "completed", CallDuration="80") == 204
        # answering-machine detection reporting after the end, and another outcome: the
        # outcome stays, and who answered is kept (no live answer to count on)
        assert await h.amd(talked, "machine_end_beep") == 204
        assert await h.call(talked, "busy") == 204
        attempt = h.store(lambda s: s.get(Attempt, talked))
        assert (attempt.status, attempt.answered_by, attempt.agent_id) == (
            S.COMPLETED,
            AnsweredBy.MACHINE,
            agent,
        )
        assert (await h.dialer.board.status(agent)).state.value == "wrap"
        assert _events(h, talked) == ["talk", "wrap"]

        # no agent: abandoned; the machine's verdict still says who it was, nothing more
        await h.dialer.board.logout(agent, h.dialer.clock.now())
        abandoned = h.store(lambda s: _attempt(s, h.campaign_id))
        assert "Northwind Telecom" in await h.answer(abandoned)
        assert await h.amd(abandoned, "machine_end_beep") == 204
        assert await h.call(abandoned, "completed", CallDuration="9") == 204
        attempt = h.store(lambda s: s.get(Attempt, abandoned))
        assert (attempt.status, attempt.answered_by) == (S.ABANDONED, AnsweredBy.MACHINE)
        assert _events(h, abandoned) == []

    run_hooks(scenario)


def test_a_text_status_for_another_message_or_after_the_outcome_changes_nothing(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        call_id = h.store(lambda s: _attempt(s, h.campaign_id))
        sid = "SM" + "5" * 32

        def text(session: Session) -> int:
            call = session.get(Attempt, call_id)
            assert call is not None
            attempt = Attempt(
                campaign_id=call.campaign_id,
                list_entry_id=call.list_entry_id,
                customer_id=call.customer_id,
                channel=Channel.SMS,
                phone=call.phone,
                status=S.QUEUED,
                provider_sid=sid,
                created_at=NOON,
                started_at=NOON,
            )
            session.add(attempt)
            session.flush()
            return attempt.id

        text_id = h.store(text)
        path = f"/twilio/sms/status?attempt={text_id}"
        other = {"MessageSid": "SM" + "6" * 32, "MessageStatus": "undelivered", "ErrorCode": "1"}
        assert (await h.post(path, other))[0] == 204
        assert h.store(lambda s: s.get(Attempt, text_id)).status is S.QUEUED
        assert (await h.post(path, {"MessageSid": sid, "MessageStatus": "delivered"}))[0] == 204
        replay = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30003"}
        assert (await h.post(path, replay))[0] == 204
        attempt = h.store(lambda s: s.get(Attempt, text_id))
        assert (attempt.status, attempt.error_code) == (S.DELIVERED, None)

    run_hooks(scenario)


def test_the_reaper_frees_an_agent_held_on_a_call_that_ended(
    run_hooks: Callable[[Scenario], None],
) -> None:
    """Agents a replayed answer left on a finished call (before replays were refused) go
    where the call's end would have sent them; an agent on a live call stays."""
    from dialer.reaper import reap
    from simulation.agents import ensure_agents

    async def scenario(h: Hooks) -> None:
        rang_out, talked, live = h.store(lambda s: ensure_agents(s, 3))
        board, now = h.dialer.board, h.dialer.clock.now()
        long_ago = NOON - dt.timedelta(minutes=5)

        def call(session: Session, status: AttemptStatus, agent: int) -> int:
            attempt_id = _attempt(session, h.campaign_id, status=status)
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None
            attempt.agent_id, attempt.answered_at = agent, long_ago
            attempt.ended_at = long_ago if status is not S.IN_PROGRESS else None
            return attempt_id

        held = {}
        ends = {rang_out: S.NO_ANSWER, talked: S.COMPLETED, live: S.IN_PROGRESS}
        for agent, status in ends.items():
            await board.login(agent, h.campaign_id, now)
            held[agent] = h.store(functools.partial(call, status=status, agent=agent))
            assert await board.claim(h.campaign_id, held[agent], now) == agent
        # the attempt's own record of its agent may have expired: the agent's state names it
        await h.dialer.redis.delete(f"{h.dialer.config.prefix}:attempt-agent:{held[talked]}")

        assert await reap({"dialer": h.dialer}) == 2
        assert (await board.status(rang_out)).state.value == "ready"
        assert (await board.status(talked)).state.value == "wrap"
        assert (await board.status(live)).state.value == "talk"
        assert _events(h, held[rang_out]) == ["ready"]
        assert _events(h, held[talked]) == ["wrap"]
        assert await reap({"dialer": h.dialer}) == 0

    run_hooks(scenario)


def test_a_simulated_agent_records_nothing_for_a_call_that_never_reached_them(
    run_hooks: Callable[[Scenario], None],
) -> None:
    from simulation.agents import SimulatedAgents

    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        await h.answer(attempt_id)
        # the machine's verdict comes once the agent is already in wrap-up
        await h.dialer.board.end_call(attempt_id, h.dialer.clock.now())
        h.store(lambda s: apply_status(s, attempt_id, S.MACHINE, now=NOON))
        pool = SimulatedAgents(h.dialer, [agent], seed=1)
        await pool._dispose(agent, attempt_id)
        assert pool.dispositions == 0
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(Disposition))) == 0
        assert (await h.dialer.board.status(agent)).state.value == "ready"

    run_hooks(scenario)


CALL_SEQUENCE = (
    ("initiated", {}),
    ("ringing", {}),
    ("in-progress", {}),
    ("completed", {"CallDuration": "61"}),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations(range(len(CALL_SEQUENCE))),
    repeats=st.lists(st.integers(0, len(CALL_SEQUENCE) - 1), max_size=4),
)
def test_shuffled_and_duplicated_callbacks_end_where_the_ordered_ones_do(
    engine: Engine, db_url: str, redis_url: str, order: list[int], repeats: list[int]
) -> None:
    prefix = f"tctest:{uuid.uuid4().hex[:10]}"

    async def main() -> None:
        async with hooks(engine, db_url, redis_url, prefix) as h:
            attempt_id = h.store(lambda s: _attempt(s, h.campaign_id, status=S.QUEUED))
            # a call an agent talked on (one nobody took would be an abandoned call)
            from simulation.agents import ensure_agents

            (agent,) = h.store(lambda s: ensure_agents(s, 1))
            h.store(lambda s: setattr(s.get(Attempt, attempt_id), "agent_id", agent))
            seen = [S.QUEUED]
            for index in [*order, *repeats]:
                word, extra = CALL_SEQUENCE[index]
                assert await h.call(attempt_id, word, **extra) == 204
                status = h.store(lambda s: s.get(Attempt, attempt_id)).status
                ranks = [list(S).index(x) for x in seen]
                assert list(S).index(status) >= max(ranks), "a status never moves back"
                seen.append(status)
            attempt = h.store(lambda s: s.get(Attempt, attempt_id))
            assert attempt.status is S.COMPLETED
            assert attempt.duration_s == 61
            assert attempt.provider_sid == f"CA{attempt_id:032x}"
            assert attempt.started_at is not None

    asyncio.run(main())


def test_stop_opts_out_of_texts_at_once_start_opts_back_in_help_answers(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        customer, phone = (
            attempt.customer_id,
            h.store(
                lambda s: s.scalar(
                    select(ListEntry.customer_id).where(ListEntry.id == attempt.list_entry_id)
                )
            ),
        )
        from store.models import Customer

        phone = h.store(lambda s: s.get(Customer, customer)).phone

        async def text(sid: str, body: str) -> str:
            code, reply = await h.post(
                "/twilio/sms/inbound", {"MessageSid": sid, "From": phone, "Body": body}
            )
            assert code == 200
            return reply

        def sms_verdict() -> str | None:
            verdict = h.store(
                lambda s: check_contact(
                    s,
                    ContactPolicy.for_kind(CampaignKind.ANTI_CHURN),
                    customer_id=customer,
                    channel=Channel.SMS,
                    kind=CampaignKind.ANTI_CHURN,
                    now=NOON,
                )
            )
            return verdict.reason.value if verdict.reason else None

        assert sms_verdict() is None
        reply = await text("SM" + "a" * 32, " stop! ")
        assert "no more texts" in reply
        assert sms_verdict() == "opted_out"
        assert await text("SM" + "a" * 32, " stop! ") == reply, "a retried delivery: same answer"
        rows = h.store(lambda s: s.scalar(select(func.count()).select_from(InboundMessage)))
        assert rows == 1
        dnc = h.store(lambda s: s.scalars(select(DncEntry).where(DncEntry.phone == phone)).one())
        assert dnc.channel is DncChannel.SMS
        assert "customer care" in await text("SM" + "b" * 32, "HELP")
        assert "restarted" in await text("SM" + "c" * 32, "unstop")
        assert sms_verdict() is None
        assert "<Message" not in await text("SM" + "d" * 32, "thanks, call me tomorrow")
        keywords = h.store(
            lambda s: s.scalars(select(InboundMessage.keyword).order_by(InboundMessage.id)).all()
        )
        assert keywords == ["stop", "help", "start", None]

    run_hooks(scenario)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=24), max_size=8),
    st.sampled_from(
        [
            BASE + "/twilio/voice/status?attempt=7",
            "https://dialer.example.com:443/twilio/voice/status?attempt=7",
            "http://127.0.0.1:8080/twilio/sms/inbound",
        ]
    ),
)
def test_the_signature_check_agrees_with_twilios_validator(
    params: dict[str, str], url: str
) -> None:
    validator = RequestValidator(TOKEN)
    dialer = cast(
        Dialer, SimpleNamespace(config=SimpleNamespace(auth_token=TOKEN), validator=validator)
    )
    parts = urlsplit(url)
    portless = urlunsplit(parts._replace(netloc=parts.hostname or ""))
    forged = RequestValidator("not-the-token")
    for signed_url in (url, portless):
        for signature in (
            validator.compute_signature(signed_url, params),
            forged.compute_signature(signed_url, params),
            validator.compute_signature(signed_url, {**params, "Extra": "1"}),
        ):
            expected = validator.validate(url, params, signature)
            assert _signature_holds(dialer, url, params, signature) is expected


async def _work_until_ready(h: Hooks, pool: Any, agent: int) -> None:
    """Run one simulated agent's loop until the board has it ready (or four seconds)."""
    stop = asyncio.Event()
    working = asyncio.create_task(pool._agent(agent, [h.campaign_id], 0, stop))
    for _ in range(200):
        await asyncio.sleep(0.02)
        if (await h.dialer.board.status(agent)).state.value == "ready":
            break
    stop.set()
    await working


def test_a_simulated_agent_carries_on_when_the_board_moved_under_it(
    run_hooks: Callable[[Scenario], None],
) -> None:
    from simulation.agents import SimulatedAgents

    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        await h.answer(attempt_id)
        assert await h.call(attempt_id, "completed", CallDuration="30") == 204
        assert (await h.dialer.board.status(agent)).state.value == "wrap"
        pool = SimulatedAgents(h.dialer, [agent], seed=1)
        dispose = pool._dispose

        async def after_a_redis_restart(agent_id: int, attempt: int) -> None:
            # Redis lost the board during the wrap-up: finishing it now is refused
            keys = [k async for k in h.dialer.redis.scan_iter(f"{h.dialer.config.prefix}:*")]
            await h.dialer.redis.delete(*keys)
            await dispose(agent_id, attempt)

        pool._dispose = after_a_redis_restart  # type: ignore[method-assign]
        await _work_until_ready(h, pool, agent)  # no BoardError escaped: it logged in again
        assert (await h.dialer.board.status(agent)).state.value == "ready"
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(Disposition))) == 1

    run_hooks(scenario)


def test_a_simulated_agent_carries_on_when_the_store_drops_its_connection(
    run_hooks: Callable[[Scenario], None],
) -> None:
    from sqlalchemy.exc import OperationalError

    from simulation.agents import SimulatedAgents, ensure_agents

    async def scenario(h: Hooks) -> None:
        (agent,) = h.store(lambda s: ensure_agents(s, 1))
        pool = SimulatedAgents(h.dialer, [agent], seed=1)
        find = pool._campaign_for
        failures = [OperationalError("SELECT", {}, Exception("terminating connection"))]

        async def dropped_once(campaigns: list[int], n: int) -> int | None:
            if failures:
                raise failures.pop()
            return await find(campaigns, n)

        pool._campaign_for = dropped_once  # type: ignore[method-assign]
        await _work_until_ready(h, pool, agent)
        assert not failures
        assert (await h.dialer.board.status(agent)).state.value == "ready"

    run_hooks(scenario)


def test_an_answered_call_no_agent_took_is_abandoned_unless_hung_up_within_the_grace(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        # the answer webhook never ran (the web process was down): a person waited
        waited = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(waited, "in-progress") == 204
        assert await h.call(waited, "completed", CallDuration="14") == 204
        # hung up within the 2 s grace: no abandon
        quick = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(quick, "in-progress") == 204
        assert await h.call(quick, "completed", CallDuration="1") == 204
        # a machine answered: no abandon either
        machine = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(machine, "in-progress") == 204
        assert await h.amd(machine, "machine_end_beep") == 204
        assert await h.call(machine, "completed", CallDuration="20") == 204
        statuses = [
            h.store(lambda s, a=a: s.get(Attempt, a).status) for a in (waited, quick, machine)
        ]
        assert statuses == [S.ABANDONED, S.COMPLETED, S.MACHINE]

    run_hooks(scenario)


def test_a_waiting_count_left_behind_by_a_killed_process_holds_no_line_back(
    run_hooks: Callable[[Scenario], None],
) -> None:
    from dialer.pacing_pass import _pace

    async def scenario(h: Hooks) -> None:
        await _ready_agent(h)
        # a web process killed while three calls waited never counted them down again
        for _ in range(3):
            await h.dialer.board.call_waiting(h.campaign_id, +1)
        # the store knows no answered call waiting: the ready agent gets a line
        assert await _pace(h.dialer, h.campaign_id) == 1

    run_hooks(scenario)


def test_a_stalled_board_makes_an_abandoned_call_with_its_message_not_a_silent_one(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))

        async def stalled(*args: object, **kwargs: object) -> int | None:
            await asyncio.sleep(60)  # Redis restarting: its commands retry for seconds
            return None

        h.dialer.board.claim = stalled  # type: ignore[method-assign]
        twiml = await asyncio.wait_for(h.answer(attempt_id), timeout=10)
        assert "Northwind Telecom" in twiml  # the information message, within the grace
        assert h.store(lambda s: s.get(Attempt, attempt_id)).status is S.ABANDONED

    run_hooks(scenario)
