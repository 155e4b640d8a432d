"""Callbacks that are not the attempt's live call: a replayed answer for a call that
ended, callbacks naming another call, an answer heard before the worker kept the call's
SID; and the reaper, for agents a replayed answer once left held on an ended call."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from sqlalchemy.orm import Session

from store.models import Attempt, AttemptStatus, ListEntry
from tests.dialer.webhook_client import (
    NOON,
    Hooks,
    S,
    Scenario,
    _attempt,
    _events,
    _ready_agent,
    call_sid,
)


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


def test_a_repeated_answer_gets_the_agent_only_while_the_carrier_has_the_call_up(
    run_hooks: Callable[[Scenario], None],
) -> None:
    """The store may not know a call ended (its end's callbacks lost): a repeated answer
    request, the fallback after a failed answer or a replay, asks the carrier first."""

    async def scenario(h: Hooks) -> None:
        agent = await _ready_agent(h)
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        assert await h.call(attempt_id, "ringing") == 204
        assert f"<Client>agent-{agent}</Client>" in await h.answer(attempt_id)
        carrier = {"status": "in-progress"}

        async def call_status(sid: str) -> tuple[str, int | None]:
            assert sid == call_sid(attempt_id)
            return carrier["status"], None

        h.dialer.provider.call_status = call_status  # type: ignore[method-assign]
        # the fallback while the call is up: the same agent
        assert f"<Client>agent-{agent}</Client>" in await h.answer(attempt_id)
        # a replay once the carrier has it over, its end not heard yet: no agent
        carrier["status"] = "completed"
        assert _hangs_up(await h.answer(attempt_id))
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert (attempt.status, attempt.agent_id) == (S.IN_PROGRESS, agent)

    run_hooks(scenario)
