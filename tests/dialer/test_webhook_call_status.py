"""Call status and answering-machine callbacks: a machine frees the agent, a final
outcome stays final, callbacks shuffled and repeated end where the ordered ones do, and
an answered call no agent took is an abandoned one."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from store.models import AnsweredBy, Attempt, EntryStatus, ListEntry
from tests.dialer.webhook_client import (
    NOON,
    Hooks,
    S,
    Scenario,
    _attempt,
    _events,
    _ready_agent,
    hooks,
)


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
