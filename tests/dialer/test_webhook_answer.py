"""The answer webhook: the TwiML that connects an answered call to the longest-ready
agent, waits the grace for one to come free, or plays the abandon message; the count of
answered calls waiting that it keeps."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.policy.check import check_contact
from campaigns.settings.model import CampaignSettings
from store.models import AgentEvent, Attempt, CampaignKind, Channel, EntryStatus, ListEntry
from tests.dialer.webhook_client import NOON, Hooks, S, Scenario, _attempt, _ready_agent, hooks


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
        policy = CampaignSettings.for_kind(CampaignKind.ANTI_CHURN)
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


def test_a_board_redis_lost_is_put_back_from_the_store_before_the_caller_is_given_up(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        from simulation.agents import ensure_agents

        ready, paused = h.store(lambda s: ensure_agents(s, 2))
        board, now = h.dialer.board, h.dialer.clock.now()
        at = h.dialer.clock.utcnow()
        for agent, state, code in ((ready, "ready", None), (paused, "paused", "lunch")):
            h.store(
                lambda s, agent=agent, state=state, code=code: s.add(
                    AgentEvent(
                        agent_id=agent,
                        campaign_id=h.campaign_id,
                        state=state,
                        pause_code=code,
                        at=at,
                    )
                )
            )
        # Redis restarted with nothing on disk: the board is empty, the agents at work
        prefix = h.dialer.prefix
        keys = [key async for key in h.dialer.redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await h.dialer.redis.delete(*keys)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        twiml = await h.answer(attempt_id)
        assert f"<Client>agent-{ready}</Client>" in twiml
        assert (await board.status(paused)).pause_code == "lunch"
        assert await board.intact()
        assert now <= (await board.status(ready)).since

    run_hooks(scenario)


def test_the_board_put_back_leaves_no_wrap_up_on_a_call_whose_outcome_is_in(
    run_hooks: Callable[[Scenario], None],
) -> None:
    from dialer.board_restore import last_states
    from simulation.agents import ensure_agents
    from store.models import Disposition

    async def scenario(h: Hooks) -> None:
        talked, paused, talking = h.store(lambda s: ensure_agents(s, 3))
        done = h.store(lambda s: _attempt(s, h.campaign_id, status=S.COMPLETED))
        live = h.store(lambda s: _attempt(s, h.campaign_id, status=S.IN_PROGRESS))
        at = h.dialer.clock.utcnow()

        def history(s: Session) -> None:
            customer = s.get(Attempt, done).customer_id
            s.add(
                Disposition(attempt_id=done, customer_id=customer, code="voicemail", created_at=at)
            )
            for agent, state, attempt, code in (
                (talked, "talk", done, None),  # its wrap-up ended in the history's blind spot
                (paused, "paused", done, "lunch"),  # paused after that call's outcome
                (talking, "talk", live, None),
            ):
                s.add(
                    AgentEvent(
                        agent_id=agent,
                        campaign_id=h.campaign_id,
                        attempt_id=attempt,
                        state=state,
                        pause_code=code,
                        at=at,
                    )
                )

        h.store(history)
        states = {
            status.agent_id: (status.state.value, status.attempt_id, status.pause_code)
            for status in h.store(lambda s: last_states(s, at - dt.timedelta(hours=1)))
        }
        assert states == {
            talked: ("ready", None, None),
            paused: ("paused", None, "lunch"),
            talking: ("talk", live, None),
        }

    run_hooks(scenario)
