"""The worker's settings: its jobs, its cron passes, and its start and stop.

The database says what is to be done; Redis only carries it. On start a worker queues
again whatever the database says is due, so a flushed Redis loses nothing.

Cron passes:
    pace                every second (dialer.pacing_pass)
    reap                every 15 s (dialer.reaper): quiet lines settled from the carrier,
                        jobs lost with Redis queued again, held agents freed
    attribute           hourly (dialer.attribution)
    retention           daily at 03:41 (dialer.retention_pass): contact data past its
                        period removed, the counts recorded
"""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.worker import Function, func

from dialer.attribution import attribute_campaigns
from dialer.context import DialerConfig, open_dialer, redis_settings
from dialer.jobs import MAX_TRIES, place_call, send_sms
from dialer.pacing_pass import pace, pace_campaign
from dialer.reaper import reap, requeue_due
from dialer.retention_pass import purge_retention

__all__ = ["FUNCTIONS", "worker_options"]


async def _startup(ctx: dict[str, Any]) -> None:
    config: DialerConfig = ctx["dialer_config"]
    dialer = await open_dialer(config)
    ctx["dialer"] = dialer
    await requeue_due(dialer)


async def _shutdown(ctx: dict[str, Any]) -> None:
    dialer = ctx.get("dialer")
    if dialer is not None:
        await dialer.close()


FUNCTIONS: list[Function] = [
    # no result kept: the attempt row says what became of it, and a result per call
    # would cost a write and an hour of Redis memory for every dial
    func(place_call, name="place_call", max_tries=MAX_TRIES, keep_result=0),
    func(send_sms, name="send_sms", max_tries=MAX_TRIES, keep_result=0),
    func(pace_campaign, name="pace_campaign", max_tries=1),
]


def worker_options(config: DialerConfig, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for this dialer's worker (``make_worker`` builds it: arq's
    ``Worker`` would run the jobs too, without ``DialerWorker``'s one-trip claims)."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["dialer_config"] = config
        await _startup(ctx)

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": [
            cron(
                pace,
                name=f"{config.prefix}:pace",
                second=set(range(60)),
                unique=True,
                run_at_startup=True,
            ),
            cron(reap, name=f"{config.prefix}:reap", second={0, 15, 30, 45}, unique=True),
            # its own engine: reads over whole lists must not hold the dialer's write lock
            cron(
                attribute_campaigns,
                name=f"{config.prefix}:attribute",
                minute=7,
                second=0,
                unique=True,
                timeout=1800,
            ),
            cron(
                purge_retention,
                name=f"{config.prefix}:retention",
                hour=3,
                minute=41,
                second=0,
                unique=True,
                timeout=1800,
            ),
        ],
        "redis_settings": redis_settings(config.redis_url),
        "queue_name": config.queue_name,
        "on_startup": startup,
        "on_shutdown": _shutdown,
        "max_jobs": 20,
        "keep_result": 3600,
        # a job a killed worker held is run again after this (the carrier answers in 15 s)
        "job_timeout": 60,
        "handle_signals": True,
        "poll_delay": 0.05,
    }
    options.update(overrides)
    return options
