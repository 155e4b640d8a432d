"""What a dialer process holds: the store, Redis, the agent board, the provider, the clock.

Workers and the web app (its webhooks) open one ``Dialer`` each from the settings and
share nothing else: every state they both need is in the database or in Redis.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from dialer.agents import AgentBoard
from dialer.clock import DialerClock, load_clock
from dialer.gateway import StoreGateway, dialer_engine
from dialer.provider import CallbackUrls, TwilioProvider
from store.retention import RetentionPeriods

__all__ = ["DEFAULT_QUEUE", "Dialer", "DialerConfig", "open_dialer"]

DEFAULT_QUEUE = "telecampaign:dialer"
# 0.1 s doubling to 2 s between tries: about 25 s in all, a restart or a Sentinel failover
REDIS_RETRIES = 15


@dataclass(frozen=True)
class DialerConfig:
    """Everything a dialer process needs to know, taken from the settings."""

    database_url: str
    redis_url: str
    account_sid: str
    auth_token: str
    api_base: str | None
    from_number: str
    public_base_url: str
    company: str
    callback_number: str
    prefix: str = "tc"
    queue_name: str = DEFAULT_QUEUE
    fallback_base_url: str | None = None
    # how long contact data is kept, and the folders of files the purge empties
    retention: RetentionPeriods = field(default_factory=RetentionPeriods)
    reject_dirs: tuple[str, ...] = ()
    export_dirs: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any, redis_url: str, **overrides: Any) -> DialerConfig:
        values = {
            "database_url": settings.database_url,
            "redis_url": redis_url,
            "account_sid": settings.twilio_account_sid,
            "auth_token": settings.twilio_auth_token.get_secret_value(),
            "api_base": settings.twilio_api_base,
            "from_number": settings.twilio_from_number,
            "public_base_url": settings.public_base_url.rstrip("/"),
            "company": settings.company_name,
            "callback_number": settings.callback_number,
            "prefix": settings.redis_prefix,
            "queue_name": settings.queue_name,
            "fallback_base_url": settings.fallback_base_url,
            "retention": settings.retention,
            "reject_dirs": (str(settings.rejects_dir),),
            "export_dirs": (str(settings.exports_dir),),
        }
        return cls(**{**values, **overrides})


@dataclass
class Dialer:
    config: DialerConfig
    engine: Engine
    redis: ArqRedis
    board: AgentBoard
    provider: TwilioProvider
    clock: DialerClock
    validator: RequestValidator
    own_engine: bool = True
    # the last tick each campaign was nudged in from this process
    nudged: dict[int, int] = field(default_factory=dict)
    # every piece of store work this process does from async code
    gateway: StoreGateway = field(init=False)

    def __post_init__(self) -> None:
        self.gateway = StoreGateway(self.engine)

    @property
    def prefix(self) -> str:
        return self.config.prefix

    def job_id(self, name: str) -> str:
        """arq keys jobs by id across the whole Redis: ours carry the key prefix, so two
        deployments sharing a server never refuse each other's jobs."""
        return f"{self.prefix}:{name}"

    async def enqueue(self, function: str, *args: Any, job_id: str, delay: float = 0.0) -> bool:
        """Queue a job once: arq refuses a second job with the same id; whether it was
        queued now.

        ``delay`` is in clock seconds, turned into real seconds for arq.
        """
        kwargs: dict[str, Any] = {
            "_job_id": self.job_id(job_id),
            "_queue_name": self.config.queue_name,
        }
        if delay > 0:
            kwargs["_defer_by"] = self.clock.real(delay)
        return await self.redis.enqueue_job(function, *args, **kwargs) is not None

    async def after_change(self, texts: Sequence[int], campaign_id: int | None) -> None:
        """What an outcome asks for: its texts queued, and a pacing pass."""
        for text_id in texts:
            await self.enqueue("send_sms", text_id, job_id=f"sms:{text_id}")
        await self.nudge(campaign_id)

    async def nudge(self, campaign_id: int | None) -> None:
        """Ask for a pacing pass soon (an agent freed up, a line ended); bursts fold into one."""
        if campaign_id is None:
            return
        tick = int(time.time() * 10)
        if self.nudged.get(campaign_id) == tick:
            return  # queued from here this tick already: arq would refuse the same job id
        self.nudged[campaign_id] = tick
        await self.enqueue("pace_campaign", campaign_id, job_id=f"pace:{campaign_id}:{tick}")

    async def close(self) -> None:
        await self.provider.close()
        await self.redis.aclose()
        self.gateway.close()
        if self.own_engine:
            self.engine.dispose()


def redis_settings(url: str) -> RedisSettings:
    """arq's settings for ``url``, riding out a Redis restart or failover: a command that
    meets a refused or dropped connection is tried again for about 25 seconds, so a
    worker or web process waits for Redis to come back instead of exiting."""
    return dataclasses.replace(
        RedisSettings.from_dsn(url),
        conn_retries=10,
        conn_retry_delay=1,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), REDIS_RETRIES),
        # OSError: a refused connect, which redis-py raises outside its command retries
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
    )


async def open_dialer(config: DialerConfig, *, engine: Engine | None = None) -> Dialer:
    redis = await create_pool(
        redis_settings(config.redis_url), default_queue_name=config.queue_name
    )
    clock = await load_clock(redis, prefix=config.prefix)
    provider = TwilioProvider(
        account_sid=config.account_sid,
        auth_token=config.auth_token,
        from_number=config.from_number,
        callbacks=CallbackUrls(config.public_base_url, config.fallback_base_url),
        api_base=config.api_base,
    )
    return Dialer(
        config=config,
        engine=engine if engine is not None else dialer_engine(config.database_url),
        redis=redis,
        board=AgentBoard(redis, prefix=config.prefix),
        provider=provider,
        clock=clock,
        validator=RequestValidator(config.auth_token),
        own_engine=engine is None,
    )
