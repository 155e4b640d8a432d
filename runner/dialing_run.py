"""Working lists end to end in one process: the carrier simulator, the web app with the
webhooks, an arq worker and simulated agents, on a shifted, accelerated clock.

The demo uses it to work its planned lists; ``telecampaign simulator --agents N`` uses
the agent half. Every part talks to the others as in production: the worker dials the
simulator over HTTP with the twilio client, the simulator posts signed callbacks to the
web app, agents are claimed through the agent board in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import socket
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from arq.worker import Worker
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dialer.clock import DialerClock, save_clock
from dialer.context import Dialer, DialerConfig, open_dialer
from dialer.sim_agents import SimulatedAgents, ensure_agents
from dialer.simulator import SimulatorConfig, create_simulator_app
from dialer.worker import make_worker
from runner.app import create_app
from runner.settings import Settings
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Channel,
    Disposition,
    DispositionCode,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = [
    "CampaignFigures",
    "close_worker",
    "figures",
    "free_port",
    "serving",
    "simulator_for",
    "simulator_with_agents",
    "work_lists",
    "worked",
]

S = AttemptStatus


@dataclass(frozen=True)
class CampaignFigures:
    campaign_id: int
    name: str
    kind: str
    status: str
    dials: int
    human_answers: int
    connects: int
    abandoned: int
    machines: int
    texts: int
    dispositions: int
    conversions: int

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.human_answers if self.human_answers else 0.0


async def close_worker(worker: Worker) -> None:
    """``worker.close()``: arq's still calls redis-py's deprecated close() (the same as
    aclose()), a warning about arq's code, not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
        await worker.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: web.Application, port: int) -> AsyncIterator[None]:
    """``app`` served on 127.0.0.1:``port`` for the length of the block."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def work_lists(
    settings: Settings,
    redis_url: str,
    campaign_ids: Sequence[int],
    *,
    agents: int,
    start_at: dt.datetime,
    time_scale: float,
    simulator: SimulatorConfig,
    max_hours: float,
    seed: int | None = None,
    on_tick: Callable[[float, list[CampaignFigures]], None] | None = None,
) -> list[CampaignFigures]:
    """Dial ``campaign_ids`` (already running) until they are worked or ``max_hours`` of
    clock time have passed; returns each campaign's figures."""
    sim_port, app_port = free_port(), free_port()
    overrides: dict[str, Any] = {
        "api_base": f"http://127.0.0.1:{sim_port}",
        "public_base_url": f"http://127.0.0.1:{app_port}",
    }
    config = DialerConfig.from_settings(settings, redis_url, **overrides)
    simulator = simulator_for(config, simulator, time_scale=time_scale)
    clock = DialerClock.starting(start_at, time_scale)
    dialer = await open_dialer(config)
    await save_clock(dialer.redis, clock, prefix=config.prefix)
    dialer.clock = clock
    stop = asyncio.Event()
    worker = make_worker(config, handle_signals=False)
    try:
        async with (
            serving(create_simulator_app(simulator), sim_port),
            serving(create_app(settings, redis_url=redis_url, **overrides), app_port),
        ):
            agent_ids = await dialer.gateway.write(lambda s: ensure_agents(s, agents))
            pool = SimulatedAgents(dialer, agent_ids, seed=seed)
            working = asyncio.create_task(pool.run(list(campaign_ids), stop))
            dialing = asyncio.create_task(worker.async_run())
            try:
                await _until_worked(dialer, campaign_ids, start_at, max_hours, on_tick)
            finally:
                stop.set()
                await working
                await close_worker(worker)
                dialing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dialing
    finally:
        await save_clock(dialer.redis, DialerClock(), prefix=config.prefix)
        result = await dialer.gateway.write(lambda s: figures(s, campaign_ids))
        await dialer.close()
    return result


def simulator_for(
    config: DialerConfig, simulator: SimulatorConfig, *, time_scale: float
) -> SimulatorConfig:
    """``simulator`` as a run serves it to the dialer of ``config``.

    The simulator checks the account and token the dialer calls it with and signs its
    callbacks with the token the web app validates them with: both are the settings'
    (TWILIO_AUTH_TOKEN when set), never the simulator's own default, or every call and
    callback of the run would be refused.
    """
    return dataclasses.replace(
        simulator,
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        time_scale=time_scale,
        inbound_sms_url=f"{config.public_base_url}/twilio/sms/inbound",
    )


async def _until_worked(
    dialer: Dialer,
    campaign_ids: Sequence[int],
    start_at: dt.datetime,
    max_hours: float,
    on_tick: Callable[[float, list[CampaignFigures]], None] | None,
) -> None:
    end = start_at.timestamp() + max_hours * 3600
    while True:
        await asyncio.sleep(0.5)
        now = dialer.clock.now()
        current = await dialer.gateway.write(lambda s: figures(s, campaign_ids))
        if on_tick is not None:
            on_tick((now - start_at.timestamp()) / 3600, current)
        if now >= end or await dialer.gateway.write(lambda s: worked(s, campaign_ids)):
            return


def worked(session: Session, campaign_ids: Sequence[int]) -> bool:
    """Every treatment entry tried at least once, and nothing in flight or being wrapped up:
    what is left are retries and call-backs due later."""
    untried = session.scalar(
        select(func.count())
        .select_from(ListEntry)
        .where(
            ListEntry.campaign_id.in_(campaign_ids),
            ListEntry.group == Group.TREATMENT,
            ListEntry.status.in_((EntryStatus.PENDING, EntryStatus.IN_PROGRESS)),
            ~select(Attempt.id)
            .where(Attempt.list_entry_id == ListEntry.id, Attempt.status != S.CANCELED)
            .exists(),
        )
    )
    live = session.scalar(
        select(func.count()).where(
            Attempt.campaign_id.in_(campaign_ids),
            Attempt.status.in_((S.SCHEDULED, S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS)),
        )
    )
    wrapping = session.scalar(
        select(func.count())
        .select_from(Attempt)
        .where(
            Attempt.campaign_id.in_(campaign_ids),
            Attempt.agent_id.is_not(None),
            Attempt.status == S.COMPLETED,
            ~select(Disposition.id).where(Disposition.attempt_id == Attempt.id).exists(),
        )
    )
    running = session.scalar(
        select(func.count()).where(
            Campaign.id.in_(campaign_ids), Campaign.status == CampaignStatus.RUNNING
        )
    )
    return not running or not (untried or live or wrapping)


def figures(session: Session, campaign_ids: Sequence[int]) -> list[CampaignFigures]:
    """Dials, answers, connects, abandons, texts and conversions per campaign."""
    human = (Attempt.answered_at.is_not(None)) & (
        Attempt.answered_by.is_(None) | (Attempt.answered_by != AnsweredBy.MACHINE)
    )
    calls = {
        row.campaign_id: row
        for row in session.execute(
            select(
                Attempt.campaign_id,
                func.count(Attempt.started_at).label("dials"),
                func.sum(case((human, 1), else_=0)).label("answers"),
                func.sum(case((human & Attempt.agent_id.is_not(None), 1), else_=0)).label(
                    "connects"
                ),
                func.sum(case((human & (Attempt.status == S.ABANDONED), 1), else_=0)).label(
                    "abandoned"
                ),
                func.sum(case((Attempt.status == S.MACHINE, 1), else_=0)).label("machines"),
            )
            .where(Attempt.campaign_id.in_(campaign_ids), Attempt.channel == Channel.CALL)
            .group_by(Attempt.campaign_id)
        )
    }
    texts = dict(
        session.execute(
            select(Attempt.campaign_id, func.count())
            .where(
                Attempt.campaign_id.in_(campaign_ids),
                Attempt.channel == Channel.SMS,
                Attempt.provider_sid.is_not(None),
            )
            .group_by(Attempt.campaign_id)
        ).all()
    )
    said = {
        row.campaign_id: row
        for row in session.execute(
            select(
                Attempt.campaign_id,
                func.count().label("all"),
                func.sum(
                    case((Disposition.code == DispositionCode.ACCEPTED.value, 1), else_=0)
                ).label("accepted"),
            )
            .join(Attempt, Attempt.id == Disposition.attempt_id)
            .where(Attempt.campaign_id.in_(campaign_ids))
            .group_by(Attempt.campaign_id)
        )
    }
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))):
        c, d = calls.get(campaign.id), said.get(campaign.id)
        out.append(
            CampaignFigures(
                campaign_id=campaign.id,
                name=campaign.name,
                kind=campaign.kind.value,
                status=campaign.status.value,
                dials=int(c.dials or 0) if c else 0,
                human_answers=int(c.answers or 0) if c else 0,
                connects=int(c.connects or 0) if c else 0,
                abandoned=int(c.abandoned or 0) if c else 0,
                machines=int(c.machines or 0) if c else 0,
                texts=int(texts.get(campaign.id, 0)),
                dispositions=int(d.all or 0) if d else 0,
                conversions=int(d.accepted or 0) if d else 0,
            )
        )
    return out


async def simulator_with_agents(
    settings: Settings,
    config: SimulatorConfig,
    host: str,
    port: int,
    *,
    agents: int,
    seed: int | None,
) -> None:
    """The carrier simulator plus ``agents`` simulated agents on every running campaign."""
    from runner.embedded import redis_url

    with redis_url(settings) as url:
        dialer = await open_dialer(DialerConfig.from_settings(settings, url))
        runner = web.AppRunner(create_simulator_app(config), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        stop = asyncio.Event()
        try:
            agent_ids = await dialer.gateway.write(lambda s: ensure_agents(s, agents))
            running = await dialer.gateway.write(
                lambda s: list(
                    s.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING))
                )
            )
            await SimulatedAgents(dialer, agent_ids, seed=seed).run(running, stop)
        finally:
            await runner.cleanup()
            await dialer.close()
