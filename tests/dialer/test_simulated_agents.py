"""The simulated agents on the calls the webhooks hand them: nothing recorded for a call
that never reached them, and carrying on when the board or the store moved under them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from dialer.outcomes import apply_status
from store.models import Disposition
from tests.dialer.webhook_client import NOON, Hooks, S, Scenario, _attempt, _ready_agent


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
