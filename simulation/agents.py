"""Simulated agents: a pool that works campaigns as telemarketers would, for the demo,
the benchmarks and the tests.

Each one logs in to a running campaign (ready), is claimed by the answer webhook for an
answered call (talk), goes to wrap-up when the carrier says the call ended, and after a
wrap-up time drawn around the mean records a disposition and is ready again. They use
the same agent board and the same ``record_outcome`` as the agent console, so the
dialer cannot tell them from people. Who accepts is drawn from the figures the entry was
planned on (the acceptance propensity of an offer), else from a rate per campaign kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from dialer.agents import AgentState, BoardError
from dialer.context import Dialer
from dialer.dispositions import Outcome, Unreached, record_outcome
from store.models import (
    AgentEvent,
    Attempt,
    Campaign,
    CampaignStatus,
    DispositionCode,
    ListEntry,
    Role,
    User,
)

__all__ = ["AgentProfile", "SimulatedAgents", "ensure_agents"]

log = logging.getLogger("telecampaign.sim_agents")
D = DispositionCode
# a share of conversations that end each way besides accepted/refused
_OTHER = ((D.CALLBACK, 0.06), (D.WRONG_PERSON, 0.03), (D.DO_NOT_CALL, 0.01))
_REFUSALS = (
    ("price", "offer"),
    ("not interested", "needs"),
    ("happy with current plan", "needs"),
    ("switching to a competitor", "objection"),
    ("no time to talk", "contact"),
)
_POLL = 0.02  # real seconds between looks at the board
# no argon2 hash: no password ever matches it, so a simulated agent cannot log in
LOCKED = "!"


@dataclass(frozen=True)
class AgentProfile:
    mean_wrap_seconds: float = 30.0
    # acceptance when the entry carries no acceptance propensity of its own
    accept_rate: dict[str, float] = field(
        default_factory=lambda: {
            "anti-churn": 0.25,
            "win-back": 0.15,
            "cross-sell": 0.09,
            "up-sell": 0.10,
            "follow-up": 0.05,
        }
    )


def ensure_agents(session: Session, count: int) -> list[int]:
    """User ids of ``count`` simulated agents, created when missing (they cannot log in)."""
    ids = []
    for n in range(1, count + 1):
        name = f"sim-agent-{n:03d}"
        user = session.scalars(select(User).where(User.username == name)).first()
        if user is None:
            user = User(
                username=name,
                full_name=f"Simulated agent {n}",
                role=Role.AGENT,
                password_hash=LOCKED,
            )
            session.add(user)
            session.flush()
        ids.append(user.id)
    return ids


class SimulatedAgents:
    """A pool of simulated agents spread over campaigns; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        dialer: Dialer,
        agent_ids: list[int],
        *,
        seed: int | None = None,
        profile: AgentProfile | None = None,
    ) -> None:
        self.dialer = dialer
        self.agent_ids = agent_ids
        self.random = random.Random(seed)
        self.profile = profile or AgentProfile()
        self.dispositions = 0

    async def run(self, campaign_ids: list[int], stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._agent(agent_id, campaign_ids, n, stop))
            for n, agent_id in enumerate(self.agent_ids)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            now = self.dialer.clock.now()
            for agent_id in self.agent_ids:
                status = await self.dialer.board.status(agent_id)
                if status.state in (AgentState.READY, AgentState.PAUSED):
                    with contextlib.suppress(BoardError):  # a call came meanwhile
                        await self.dialer.board.logout(agent_id, now)
                        await self._event(agent_id, "offline", status.campaign_id, None)

    async def _agent(
        self, agent_id: int, campaigns: list[int], n: int, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            try:
                await self._step(agent_id, campaigns, n)
            except BoardError as error:
                # the board moved under the agent (a call came as it logged out, Redis
                # restarted during a wrap-up): as a person would, look again
                log.info("agent %s: %s", agent_id, error)
            except (OperationalError, InterfaceError) as error:
                # the database dropped the connection (a restart, a failover): again
                log.warning("agent %s: the store failed (%s)", agent_id, type(error).__name__)
            except RedisError as error:
                # Redis restarting for longer than its client's retries: again, as a
                # console whose request failed asks once more
                log.warning("agent %s: the board failed (%s)", agent_id, type(error).__name__)
            await asyncio.sleep(_POLL)

    async def _step(self, agent_id: int, campaigns: list[int], n: int) -> None:
        board, clock = self.dialer.board, self.dialer.clock
        status = await board.status(agent_id)
        if status.state is AgentState.WRAP and status.attempt_id is not None:
            await clock.sleep(self.random.expovariate(1 / self.profile.mean_wrap_seconds))
            await self._dispose(agent_id, status.attempt_id)
            return
        if status.state in (AgentState.OFFLINE, AgentState.READY, AgentState.PAUSED):
            wanted = await self._campaign_for(campaigns, n)
            if wanted is None:
                if status.state is not AgentState.OFFLINE:
                    await board.logout(agent_id, clock.now())
                    await self._event(agent_id, "offline", status.campaign_id, None)
            elif wanted != status.campaign_id or status.state is not AgentState.READY:
                await board.login(agent_id, wanted, clock.now())
                await self._event(agent_id, "ready", wanted, None)
                await self.dialer.nudge(wanted)

    async def _campaign_for(self, campaigns: list[int], n: int) -> int | None:
        """The running campaign this agent works: spread evenly over those still running."""

        def running(session: Session) -> list[int]:
            return list(
                session.scalars(
                    select(Campaign.id).where(
                        Campaign.id.in_(campaigns), Campaign.status == CampaignStatus.RUNNING
                    )
                )
            )

        live = sorted(await self.dialer.gateway.write(running))
        return live[n % len(live)] if live else None

    async def _dispose(self, agent_id: int, attempt_id: int) -> None:
        dialer = self.dialer
        now = dialer.clock.utcnow()
        draw = self.random.random()
        reason = self.random.choice(_REFUSALS)
        back_in = dt.timedelta(hours=self.random.choice((2, 4, 24)))

        def decide(session: Session, attempt: Attempt) -> Outcome:
            campaign = session.get(Campaign, attempt.campaign_id)
            entry = session.get(ListEntry, attempt.list_entry_id) if attempt.list_entry_id else None
            kind = campaign.kind.value if campaign is not None else "cross-sell"
            accept = float((entry.details or {}).get("p_accept", 0.0)) if entry else 0.0
            accept = accept or self.profile.accept_rate.get(kind, 0.1)
            code, stage = _draw(draw, accept)
            return Outcome(
                code=code.value,
                refusal_reason=reason[0] if code is D.REFUSED else None,
                funnel_stage=stage or (reason[1] if code is D.REFUSED else None),
                callback_at=now + back_in if code is D.CALLBACK else None,
                callback_shared=True,
            )

        # a call that never reached the agent (the console refuses it too) records
        # nothing, and the wrap-up ends all the same
        recorded = await record_outcome(
            dialer,
            agent_id=agent_id,
            attempt_id=attempt_id,
            outcome=decide,
            unreached=Unreached.RELEASE,
        )
        if recorded.disposition is not None:
            self.dispositions += 1

    async def _event(
        self, agent_id: int, state: str, campaign_id: int | None, attempt_id: int | None
    ) -> None:
        at = self.dialer.clock.utcnow()
        await self.dialer.gateway.write(
            lambda s: s.add(
                AgentEvent(
                    agent_id=agent_id,
                    campaign_id=campaign_id,
                    attempt_id=attempt_id,
                    state=state,
                    at=at,
                )
            )
        )


def _draw(draw: float, accept: float) -> tuple[DispositionCode, str | None]:
    """A disposition from one uniform draw: accepted, one of the others, else refused."""
    if draw < accept:
        return D.ACCEPTED, "closed"
    edge = accept
    for code, share in _OTHER:
        edge += share
        if draw < edge:
            return code, None
    return D.REFUSED, None
