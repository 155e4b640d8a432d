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
from typing import Any

from aiohttp import web
from arq.worker import Worker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.figures import CampaignFigures, campaign_figures
from dialer.clock import DialerClock, save_clock
from dialer.context import Dialer, DialerConfig, open_dialer
from dialer.worker import make_worker
from runner.settings import Settings
from runner.web.app import create_app
from simulation.agents import SimulatedAgents, ensure_agents
from simulation.carrier.config import SimulatorConfig
from simulation.carrier.server import create_simulator_app
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Disposition,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = [
    "close_worker",
    "free_port",
    "serving",
    "simulator_for",
    "simulator_with_agents",
    "work_lists",
    "worked",
]

S = AttemptStatus


async def close_worker(worker: Worker, *, grace: float = 30.0) -> None:
    """Stop ``worker``: it takes no new job, lets the jobs it runs finish (for up to
    ``grace`` seconds), then ``worker.close()``.

    arq's close cancels a job still running and then raises that cancellation into its
    caller, which under load ended the demo with a CancelledError. arq's close still calls
    redis-py's deprecated close() (the same as aclose()), a warning about arq's code."""
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        await asyncio.wait(running, timeout=grace)
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
        result = await dialer.gateway.write(lambda s: campaign_figures(s, campaign_ids))
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
        current = await dialer.gateway.write(lambda s: campaign_figures(s, campaign_ids))
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
