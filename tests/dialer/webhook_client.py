"""The webhook routes served on their own, with a client that signs like Twilio: for the
tests that drive the dialer's callbacks against the store and the agent board, with the
call attempts and the ready agents those tests start from."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from dialer.clock import DialerClock
from dialer.context import Dialer, DialerConfig, open_dialer
from dialer.webhooks import DIALER, add_webhook_routes
from store.db import transaction
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Channel,
    EntryStatus,
    ListEntry,
)
from tests.dialer.dial_base import build_running_campaign

__all__ = [
    "BASE",
    "NOON",
    "TOKEN",
    "Hooks",
    "S",
    "Scenario",
    "_attempt",
    "_events",
    "_ready_agent",
    "call_sid",
    "hooks",
]

TOKEN = "webhook-test-token"
BASE = "https://dialer.example.com"
# a weekday afternoon in New York, inside the calling window
NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
S = AttemptStatus


def call_sid(attempt_id: int) -> str:
    """The CallSid the carrier gave the call these tests place for the attempt."""
    return f"CA{attempt_id:032x}"


class Hooks:
    """A test client for the webhook routes that signs like Twilio."""

    def __init__(self, client: TestClient[Any, Any], dialer: Dialer, campaign_id: int) -> None:
        self.client, self.dialer, self.campaign_id = client, dialer, campaign_id
        self.validator = RequestValidator(TOKEN)

    async def post(
        self, path: str, params: dict[str, str], *, signature: str | None = None
    ) -> tuple[int, str]:
        if signature is None:
            signature = self.validator.compute_signature(BASE + path, params)
        response = await self.client.post(
            path, data=params, headers={"X-Twilio-Signature": signature}
        )
        return response.status, await response.text()

    async def call(
        self, attempt_id: int, status: str, *, sid: str | None = None, **extra: str
    ) -> int:
        params = {"CallSid": sid or call_sid(attempt_id), "CallStatus": status, **extra}
        code, _ = await self.post(f"/twilio/voice/status?attempt={attempt_id}", params)
        return code

    async def answer(self, attempt_id: int, *, sid: str | None = None) -> str:
        params = {"CallSid": sid or call_sid(attempt_id), "CallStatus": "in-progress"}
        code, body = await self.post(f"/twilio/voice/answer?attempt={attempt_id}", params)
        assert code == 200, body
        return body

    async def amd(self, attempt_id: int, answered_by: str, *, sid: str | None = None) -> int:
        params = {"CallSid": sid or call_sid(attempt_id), "AnsweredBy": answered_by}
        code, _ = await self.post(f"/twilio/voice/amd?attempt={attempt_id}", params)
        return code

    def store(self, work: Callable[[Session], Any]) -> Any:
        with transaction(self.dialer.engine) as session:
            return work(session)


@asynccontextmanager
async def hooks(
    engine: Engine, db_url: str, redis_url: str, prefix: str, *, scale: float = 20.0
) -> AsyncIterator[Hooks]:
    """The routes on a test server, their dialer's clock at ``NOON`` running ``scale``
    times faster, and a running anti-churn campaign of four customers to call
    (``Hooks.campaign_id``); the dialer's keys under ``prefix`` are deleted after."""
    campaign_id, _ = build_running_campaign(
        engine, 4, kind=CampaignKind.ANTI_CHURN, name=f"test {uuid.uuid4().hex[:8]}"
    )
    config = DialerConfig(
        database_url=db_url,
        redis_url=redis_url,
        account_sid="AC" + "0" * 32,
        auth_token=TOKEN,
        api_base="http://127.0.0.1:9",  # nothing listens: provider calls fail, and are caught
        from_number="+15005550006",
        public_base_url=BASE,
        company="Northwind Telecom",
        callback_number="+18005550199",
        prefix=prefix,
        queue_name=f"tc-test-{uuid.uuid4().hex[:8]}",
    )
    dialer = await open_dialer(config, engine=engine)
    dialer.clock = DialerClock.starting(NOON, scale)
    # a board built afresh: the agent history in the shared store is other tests'
    await dialer.board.restore([])
    app = web.Application()
    app[DIALER] = dialer
    add_webhook_routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Hooks(client, dialer, campaign_id)
    finally:
        await client.close()
        keys = [k async for k in dialer.redis.scan_iter(match=f"{prefix}:*")]
        keys += [k async for k in dialer.redis.scan_iter(match=f"{config.queue_name}*")]
        keys += [k async for k in dialer.redis.scan_iter(match="arq:job:*")]
        if keys:
            await dialer.redis.delete(*keys)
        await dialer.close()


Scenario = Callable[[Hooks], Awaitable[None]]


def _attempt(session: Session, campaign_id: int, *, status: AttemptStatus = S.INITIATED) -> int:
    entry = session.scalars(
        select(ListEntry)
        .where(ListEntry.campaign_id == campaign_id, ListEntry.status == EntryStatus.PENDING)
        .order_by(ListEntry.id)
    ).first()
    assert entry is not None
    entry.status = EntryStatus.IN_PROGRESS
    phone = f"+1212555{entry.customer_id:04d}"
    attempt = Attempt(
        campaign_id=campaign_id,
        list_entry_id=entry.id,
        customer_id=entry.customer_id,
        channel=Channel.CALL,
        phone=phone,
        status=status,
        created_at=NOON,
        started_at=NOON,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


def _events(h: Hooks, attempt_id: int) -> list[str]:
    return list(
        h.store(
            lambda s: s.scalars(
                select(AgentEvent.state)
                .where(AgentEvent.attempt_id == attempt_id)
                .order_by(AgentEvent.id)
            ).all()
        )
    )


async def _ready_agent(h: Hooks) -> int:
    from simulation.agents import ensure_agents

    (agent,) = h.store(lambda s: ensure_agents(s, 1))
    await h.dialer.board.login(agent, h.campaign_id, h.dialer.clock.now())
    return int(agent)
