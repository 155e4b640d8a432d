"""The reaper settles from the carrier what callbacks left unsaid, never on a guess, and
queues again the work a flushed Redis lost."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from dialer.agents import AgentState, AgentStatus
from dialer.clock import DialerClock
from dialer.context import Dialer
from dialer.jobs import place_call
from dialer.reaper import QUIET_AFTER, REQUEUE_AFTER, SILENT_AFTER, reap
from store.db import transaction
from store.models import Attempt, AttemptStatus, Channel
from tests.dialer.test_place_call import CREATED, NOON, _attempt, dialing

S = AttemptStatus
CARRIER = web.AppKey("carrier", dict[str, Any])


def _carrier() -> web.Application:
    """A carrier whose API can be down, and which says what ``state`` holds."""
    app = web.Application()
    state: dict[str, Any] = {"up": True, "call": "in-progress", "message": "sent"}
    app[CARRIER] = state

    async def create(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response(CREATED, status=201)

    async def fetch_call(request: web.Request) -> web.Response:
        if not state["up"]:
            return web.json_response({"code": 20500, "status": 503}, status=503)
        sid = request.match_info["sid_"]
        return web.json_response({"sid": sid, "status": state["call"], "duration": "42"})

    async def fetch_message(request: web.Request) -> web.Response:
        sid = request.match_info["sid_"]
        return web.json_response({"sid": sid, "status": state["message"]})

    account = "/2010-04-01/Accounts/{sid}"
    app.router.add_post(f"{account}/Calls.json", create)
    app.router.add_get(f"{account}/Calls/{{sid_}}.json", fetch_call)
    app.router.add_get(f"{account}/Messages/{{sid_}}.json", fetch_message)
    return app


def _at(dialer: Dialer, seconds: float) -> None:
    dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=seconds))


def test_a_call_the_carrier_cannot_speak_of_stays_open_until_it_can(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        carrier = _carrier()
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (dialer, a):
            assert await place_call({"dialer": dialer, "job_try": 1}, a) == "dialled"
            carrier[CARRIER]["up"] = False
            _at(dialer, SILENT_AFTER + 1)
            await reap({"dialer": dialer})
            # hours of silence are no outcome: a guess could be contradicted later
            assert _attempt(engine, a).status is S.INITIATED
            carrier[CARRIER].update(up=True, call="completed")
            assert await reap({"dialer": dialer}) == 1
            attempt = _attempt(engine, a)
            assert (attempt.status, attempt.duration_s) == (S.COMPLETED, 42)

    asyncio.run(main())


def test_a_quiet_text_is_settled_from_the_carrier(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        carrier = _carrier()
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (dialer, a):
            call = _attempt(engine, a)
            with transaction(engine) as session:
                text = Attempt(
                    campaign_id=call.campaign_id,
                    list_entry_id=call.list_entry_id,
                    customer_id=call.customer_id,
                    channel=Channel.SMS,
                    phone=call.phone,
                    provider_sid="SM" + "a" * 32,
                    status=S.QUEUED,  # claimed and handed over; no callback since
                    created_at=NOON,
                    started_at=NOON,
                )
                session.add(text)
            carrier[CARRIER]["message"] = "delivered"
            _at(dialer, QUIET_AFTER - 1)
            await reap({"dialer": dialer})
            assert _attempt(engine, text.id).status is S.QUEUED, "not quiet yet"
            _at(dialer, QUIET_AFTER + 1)
            await reap({"dialer": dialer})
            assert _attempt(engine, text.id).status is S.DELIVERED

    asyncio.run(main())


def test_a_call_whose_job_redis_lost_is_queued_again_once(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        async with dialing(engine, db_url, redis_url, redis_prefix, _carrier()) as (dialer, a):
            job = f"arq:job:{dialer.job_id(f'call:{a}')}"
            assert not await dialer.redis.exists(job), "the pacer's job is gone"
            _at(dialer, REQUEUE_AFTER - 1)
            assert await reap({"dialer": dialer}) == 0, "a job may still be on its way"
            _at(dialer, REQUEUE_AFTER + 1)
            assert await reap({"dialer": dialer}) == 1
            assert await dialer.redis.exists(job)
            assert await reap({"dialer": dialer}) == 0, "one job per attempt"

    asyncio.run(main())


def test_an_agent_left_in_wrap_up_on_a_call_whose_outcome_is_in_goes_ready(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    """A board put back from a history read just before the outcome was written holds the
    agent in a wrap-up nobody will end: the reaper ends it, with the move in the history."""
    from sqlalchemy import select

    from dialer.reaper import HELD_AFTER_END
    from simulation.agents import ensure_agents
    from store.models import AgentEvent, Disposition

    async def main() -> None:
        async with dialing(engine, db_url, redis_url, redis_prefix, _carrier()) as (dialer, a):
            call = _attempt(engine, a)
            with transaction(engine) as session:
                (agent,) = ensure_agents(session, 1)
                session.add(
                    Disposition(
                        attempt_id=a,
                        customer_id=call.customer_id,
                        agent_id=agent,
                        code="refused",
                        refusal_reason="price",
                        funnel_stage="offer",
                        created_at=NOON,
                    )
                )
            board, now = dialer.board, dialer.clock.now()
            await board.restore(
                [AgentStatus(agent, AgentState.WRAP, call.campaign_id, a, now, None)]
            )
            await reap({"dialer": dialer})
            assert (await board.status(agent)).state is AgentState.WRAP, "its outcome is new"
            _at(dialer, HELD_AFTER_END + 1)
            await reap({"dialer": dialer})
            assert (await board.status(agent)).state is AgentState.READY
            with transaction(engine) as session:
                events = session.scalars(
                    select(AgentEvent.state).where(AgentEvent.agent_id == agent)
                ).all()
            assert events == ["ready"]

    asyncio.run(main())
