"""The place-call job against a carrier that fails: a transient error puts the attempt
back and retries the job with backoff (arq Retry), a refusal fails the attempt, the
last try gives up; a second run of a job that got through dials nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from arq import Retry
from sqlalchemy import Engine, create_engine, select, text

from dialer import gateway
from dialer.clock import DialerClock
from dialer.context import Dialer, DialerConfig, open_dialer
from dialer.entry_taking import take_entries
from dialer.gateway import dialer_engine
from dialer.jobs import MAX_TRIES, backoff, place_call
from dialer.reaper import LOST_AFTER, QUIET_AFTER, reap
from store.db import transaction
from store.models import Attempt, AttemptStatus, EntryStatus, ListEntry
from tests.dialer.dial_base import build_running_campaign

S = AttemptStatus
NOON = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
CALLS = web.AppKey("calls", list[str])
MADE = web.AppKey("made", list[dict[str, str]])
LISTING = web.AppKey("listing", dict[str, bool])


def _carrier(
    answers: list[tuple[int, dict[str, Any]]], *, made_on_error: bool = False
) -> web.Application:
    """A carrier that answers Calls.json with the given statuses and bodies, in turn, and
    lists the calls it made; ``made_on_error``: it makes the call even when it answers 5xx."""
    app = web.Application()
    calls: list[str] = []
    made: list[dict[str, str]] = []

    async def create(request: web.Request) -> web.Response:
        form = await request.post()
        status, body = answers[min(len(calls), len(answers) - 1)]
        calls.append(request.path)
        if status == 201 or (made_on_error and status >= 500):
            sid = body["sid"] if status == 201 else "CA" + uuid.uuid4().hex
            made.append({"sid": sid, "to": str(form["To"]), "from": str(form["From"])})
        return web.json_response(body, status=status)

    async def fetch(request: web.Request) -> web.Response:
        sid = request.match_info["call"]
        return web.json_response({"sid": sid, "status": "no-answer", "duration": "0"})

    async def listing(request: web.Request) -> web.Response:
        if not app[LISTING]["up"]:
            return web.json_response({"code": 20500, "status": 503}, status=503)
        to, from_ = request.query.get("To"), request.query.get("From")
        listed = [
            {**call, "status": "no-answer", "duration": "0"}
            for call in reversed(made)
            if call["to"] == to and call["from"] == from_
        ]
        return web.json_response({"calls": listed, "next_page_uri": None, "page": 0})

    app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", create)
    app.router.add_get("/2010-04-01/Accounts/{sid}/Calls.json", listing)
    app.router.add_get("/2010-04-01/Accounts/{sid}/Calls/{call}.json", fetch)
    app[CALLS] = calls
    app[MADE] = made
    app[LISTING] = {"up": True}
    return app


CREATED = {"sid": "CA" + "f" * 32, "status": "queued"}
BUSY_CARRIER = {"code": 20500, "message": "Internal Server Error", "status": 503}
TOO_MANY = {"code": 20429, "message": "Too Many Requests", "status": 429}
BAD_NUMBER = {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}


@asynccontextmanager
async def dialing(
    engine: Engine,
    db_url: str,
    redis_url: str,
    prefix: str,
    carrier: web.Application,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Dialer, int]]:
    server = TestServer(carrier)
    await server.start_server()
    config = DialerConfig(
        database_url=db_url,
        redis_url=redis_url,
        account_sid="AC" + "0" * 32,
        auth_token="simulator-token",
        api_base=str(server.make_url("")).rstrip("/"),
        from_number="+15005550006",
        public_base_url="https://dialer.example.com",
        company="Northwind Telecom",
        callback_number="+15005550006",
        prefix=prefix,
        queue_name=f"{prefix}:dialer",
    )
    dialer = await open_dialer(config, engine=engine)
    dialer.clock = DialerClock.starting(NOON)
    # a board built afresh: the agent history in the shared store is other tests'
    await dialer.board.restore([])
    campaign_id, _ = build_running_campaign(
        engine, 1, name=f"c {uuid.uuid4().hex[:6]}", settings=settings
    )
    with transaction(engine) as session:
        (attempt_id,) = take_entries(session, campaign_id, 1, now=NOON)
    try:
        yield dialer, attempt_id
    finally:
        keys = [k async for k in dialer.redis.scan_iter(match=f"{prefix}:*")]
        keys += [k async for k in dialer.redis.scan_iter(match=f"arq:*:{prefix}:*")]
        if keys:
            await dialer.redis.delete(*keys)
        await dialer.close()
        await server.close()


def _attempt(engine: Engine, attempt_id: int) -> Attempt:
    with transaction(engine) as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        return attempt


Run = Callable[[list[tuple[int, dict[str, Any]]], Callable[..., Any]], None]


@pytest.fixture
def run(engine: Engine, db_url: str, redis_url: str, redis_prefix: str) -> Run:
    def go(answers: list[tuple[int, dict[str, Any]]], scenario: Callable[..., Any]) -> None:
        async def main() -> None:
            carrier = _carrier(answers)
            async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (d, a):
                await scenario(d, a, carrier[CALLS])

        asyncio.run(main())

    return go


def test_a_carrier_error_puts_the_attempt_back_and_retries_the_job(
    engine: Engine, run: Run
) -> None:
    async def scenario(dialer: Dialer, attempt_id: int, calls: list[str]) -> None:
        with pytest.raises(Retry) as retry:
            await place_call({"dialer": dialer, "job_try": 1}, attempt_id)
        assert retry.value.defer_score == int(backoff(1) * 1000)
        attempt = _attempt(engine, attempt_id)
        assert (attempt.status, attempt.started_at) == (S.QUEUED, None)
        assert await place_call({"dialer": dialer, "job_try": 2}, attempt_id) == "dialled"
        attempt = _attempt(engine, attempt_id)
        assert (attempt.status, attempt.provider_sid) == (S.INITIATED, CREATED["sid"])
        # the job run again (a worker died before arq noted it done) dials nothing
        assert await place_call({"dialer": dialer, "job_try": 1}, attempt_id) == "already"
        assert len(calls) == 2

    run([(429, TOO_MANY), (201, CREATED)], scenario)


def test_a_carrier_error_that_may_have_placed_the_call_never_dials_again(
    engine: Engine, run: Run
) -> None:
    async def scenario(dialer: Dialer, attempt_id: int, calls: list[str]) -> None:
        # a 5xx may come from a carrier that placed the call: ringing again would be twice
        assert await place_call({"dialer": dialer, "job_try": 1}, attempt_id) == "unknown"
        attempt = _attempt(engine, attempt_id)
        assert (attempt.status, attempt.provider_sid) == (S.INITIATED, None)
        assert await place_call({"dialer": dialer, "job_try": 2}, attempt_id) == "already"
        assert len(calls) == 1
        # no callback came and the carrier lists no such call: it never took it, and the
        # reaper closes it, though only once the carrier could no longer be placing it
        dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=LOST_AFTER + 1))
        assert await reap({"dialer": dialer}) >= 1
        assert _attempt(engine, attempt_id).status is S.FAILED

    run([(503, BUSY_CARRIER), (201, CREATED)], scenario)


def test_a_call_placed_though_its_answer_said_otherwise_is_found_in_the_carriers_list(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        carrier = _carrier([(500, BUSY_CARRIER)], made_on_error=True)
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (dialer, a):
            assert await place_call({"dialer": dialer, "job_try": 1}, a) == "unknown"
            (made,) = carrier[MADE]
            # every callback of the call was lost: the carrier's list tells what it placed
            dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=QUIET_AFTER + 1))
            assert await reap({"dialer": dialer}) == 1
            attempt = _attempt(engine, a)
            assert (attempt.provider_sid, attempt.status) == (made["sid"], S.NO_ANSWER)
            assert len(carrier[CALLS]) == 1, "never dialled twice"

    asyncio.run(main())


def test_the_caller_id_and_settings_version_are_kept_on_the_attempt_before_the_dial(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    pool = {"caller_id": {"numbers": ["+13125550100", "+12125550100"], "local_presence": True}}

    async def main() -> None:
        carrier = _carrier([(500, BUSY_CARRIER)], made_on_error=True)
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier, pool) as (dialer, a):
            assert await place_call({"dialer": dialer, "job_try": 1}, a) == "unknown"
            (made,) = carrier[MADE]
            attempt = _attempt(engine, a)
            # a New York customer (212) sees the New York number of the pool
            assert made["from"] == attempt.from_number == "+12125550100"
            assert attempt.settings_version == 0  # the campaign was made with no version
            # the lost dial is found in the carrier's list under the number it was made from
            dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=QUIET_AFTER + 1))
            assert await reap({"dialer": dialer}) == 1
            assert _attempt(engine, a).provider_sid == made["sid"]

    asyncio.run(main())


def test_a_line_with_no_sid_waits_while_the_carrier_cannot_list_its_calls(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str
) -> None:
    async def main() -> None:
        carrier = _carrier([(500, BUSY_CARRIER)], made_on_error=True)
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (dialer, a):
            assert await place_call({"dialer": dialer, "job_try": 1}, a) == "unknown"
            carrier[LISTING]["up"] = False
            dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=LOST_AFTER + 1))
            assert await reap({"dialer": dialer}) == 0
            # the call may be on the carrier's books: no guess closes it
            assert _attempt(engine, a).status is S.INITIATED
            carrier[LISTING]["up"] = True
            assert await reap({"dialer": dialer}) == 1
            assert _attempt(engine, a).provider_sid == carrier[MADE][0]["sid"]

    asyncio.run(main())


def test_the_last_try_gives_up_and_the_entry_is_tried_later(engine: Engine, run: Run) -> None:
    async def scenario(dialer: Dialer, attempt_id: int, calls: list[str]) -> None:
        context = {"dialer": dialer, "job_try": MAX_TRIES}
        assert await place_call(context, attempt_id) == "failed"
        attempt = _attempt(engine, attempt_id)
        assert attempt.status is S.FAILED
        with transaction(engine) as session:
            entry = session.get(ListEntry, attempt.list_entry_id)
            assert entry is not None
            assert entry.status is EntryStatus.PENDING
            assert entry.due_at is not None

    run([(429, TOO_MANY)], scenario)


def test_a_peek_reads_while_another_process_holds_the_write_lock(
    db_url: str, redis_url: str, redis_prefix: str
) -> None:
    engine = dialer_engine(db_url)  # the workers' engine: transactions BEGIN IMMEDIATE

    async def main() -> None:
        carrier = _carrier([(201, CREATED)])
        async with dialing(engine, db_url, redis_url, redis_prefix, carrier) as (dialer, a_id):
            holder = None
            if db_url.startswith("sqlite"):
                holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
                holder.execute("BEGIN IMMEDIATE")  # another process writing
            try:
                status = await asyncio.wait_for(
                    dialer.gateway.read(
                        lambda s: s.scalar(select(Attempt.status).where(Attempt.id == a_id))
                    ),
                    timeout=5,
                )
            finally:
                if holder is not None:
                    holder.rollback()
                    holder.close()
            assert status is S.QUEUED
            # the dialer's own transactions still take the write lock as they begin
            assert await place_call({"dialer": dialer, "job_try": 1}, a_id) == "dialled"

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


def test_a_refused_number_fails_at_once_with_the_carrier_code(engine: Engine, run: Run) -> None:
    async def scenario(dialer: Dialer, attempt_id: int, calls: list[str]) -> None:
        assert await place_call({"dialer": dialer, "job_try": 1}, attempt_id) == "failed"
        attempt = _attempt(engine, attempt_id)
        assert (attempt.status, attempt.error_code) == (S.FAILED, "21211")
        assert len(calls) == 1

    run([(400, BAD_NUMBER)], scenario)


def test_lines_whose_callbacks_went_missing_are_settled_from_the_carrier(
    engine: Engine, run: Run
) -> None:
    async def scenario(dialer: Dialer, attempt_id: int, calls: list[str]) -> None:
        assert await place_call({"dialer": dialer, "job_try": 1}, attempt_id) == "dialled"
        # a second line to the same number that never reached the carrier: initiated, no
        # SID; the carrier lists the first one's call, which is not this one's to take
        with transaction(engine) as session:
            lost = Attempt(
                customer_id=_attempt(engine, attempt_id).customer_id,
                channel=_attempt(engine, attempt_id).channel,
                phone=_attempt(engine, attempt_id).phone,
                status=S.INITIATED,
                created_at=NOON,
                started_at=NOON,
            )
            session.add(lost)
        context = {"dialer": dialer}
        assert await reap(context) == 0, "nothing is quiet yet"
        dialer.clock = DialerClock.starting(NOON + dt.timedelta(seconds=LOST_AFTER + 1))
        assert await reap(context) == 2
        attempt = _attempt(engine, attempt_id)
        assert attempt.status is S.NO_ANSWER, "the carrier's word for it"
        with transaction(engine) as session:
            entry = session.get(ListEntry, attempt.list_entry_id)
            assert entry is not None
            assert (entry.status, entry.due_at is not None) == (EntryStatus.PENDING, True)
        gone = _attempt(engine, lost.id)
        assert (gone.status, gone.error_code) == (S.FAILED, "silent")
        assert await reap(context) == 0

    run([(201, CREATED)], scenario)


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="set TEST_DATABASE_URL to a PostgreSQL server: only a server drops connections",
)
def test_a_pooled_connection_the_server_dropped_is_replaced_after_an_idle_spell(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections are pinged only after sitting unused; one the server closed
    meanwhile is swapped for a new one before any work sees it."""
    db_url = str(request.getfixturevalue("pg_migrated_url"))
    monkeypatch.setattr(gateway, "PING_IDLE_AFTER", 0.05)
    engine = gateway.dialer_engine(db_url)
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as conn:  # at once: the same connection, no ping
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(0.1)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        engine.dispose()
        admin.dispose()
