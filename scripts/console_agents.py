"""People at the agent console, working it through its JSON API as the agent page does
(sign in through the login form, join a campaign, read each call, record its outcome), and
the latencies they see (see ``scripts/bench_console.py``; the soak's floor works the same way)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import Engine, insert

from runner.web.users import hash_password
from store.db import transaction
from store.models import Role, User

WRAP_SECONDS = (4.0, 20.0)  # clock seconds an agent takes to pick the outcome
POLL_EVERY = 1.0  # seconds between polls of a console without the event stream
PASSWORD = "bench-console-password"  # noqa: S105 - the benchmark's throw-away users
LOGIN_CONCURRENCY = 8
REFUSALS = (
    ("price", "offer"),
    ("not interested", "needs"),
    ("happy with current plan", "needs"),
    ("switching to a competitor", "objection"),
    ("no time to talk", "contact"),
)
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def write_agents(engine: Engine, count: int) -> list[str]:
    """``count`` active agent users sharing one password hash (one argon2 hash, not
    ``count``: the parameters are production's, so every login verifies at full cost)."""
    shared = hash_password(PASSWORD)
    names = [f"bench-agent-{n:03d}" for n in range(1, count + 1)]
    with transaction(engine) as session:
        session.execute(
            insert(User),
            [
                {
                    "username": name,
                    "full_name": f"Bench Agent {n}",
                    "role": Role.AGENT,
                    "password_hash": shared,
                    "active": True,
                }
                for n, name in enumerate(names, 1)
            ],
        )
    return names


# -- the agents ---------------------------------------------------------------------------


@dataclass
class Recorder:
    """Client-side latencies (ms) by endpoint, while ``on``; errors by kind.

    Requests sent from ``steady_from`` (a ``perf_counter`` time) on are also counted
    apart, as the steady state after the shift's start."""

    on: bool = False
    steady_from: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    steady: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    calls_seen: int = 0

    def add(self, endpoint: str, started: float) -> None:
        if self.on:
            ms = 1000 * (time.perf_counter() - started)
            self.latencies.setdefault(endpoint, []).append(ms)
            if started >= self.steady_from:
                self.steady.setdefault(endpoint, []).append(ms)

    def error(self, kind: str) -> None:
        if self.on:
            self.errors[kind] += 1


class Agent:
    """One person at the console: a client session with its own cookies."""

    def __init__(self, base: str, username: str, rng: random.Random, scale: float) -> None:
        self.base = base
        self.username = username
        self.rng = rng
        self.scale = scale  # clock seconds per real second
        self.csrf = ""
        self.http = aiohttp.ClientSession(
            base_url=base,
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies of 127.0.0.1
            timeout=aiohttp.ClientTimeout(total=60),
        )
        self.fetched: int | None = None  # the call last read
        self.disposed: int | None = None  # the call last disposed

    async def close(self) -> None:
        await self.http.close()

    def _headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def sign_in(self) -> None:
        """The login form, then the agent page for the new session's CSRF token."""
        async with self.http.get("/login") as response:
            found = _CSRF_INPUT.search(await response.text())
        if found is None:
            raise RuntimeError("no CSRF token on the login form")
        form = {
            "username": self.username,
            "password": PASSWORD,
            "csrf_token": found.group(1),
            "next": "",
        }
        async with self.http.post("/login", data=form) as response:
            page = await response.text()
            if response.url.path != "/agent":
                raise RuntimeError(f"{self.username}: login ended at {response.url.path}")
        meta = _CSRF_META.search(page)
        if meta is None:
            raise RuntimeError("no CSRF token on the agent page")
        self.csrf = meta.group(1)

    async def join(self, campaign_id: int) -> str:
        """Log in to the campaign and be ready; the state."""
        async with self.http.post(
            "/api/agent/login", json={"campaign_id": campaign_id}, headers=self._headers()
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"campaign login: {response.status} {body}")
        if body["state"] != "ready":
            async with self.http.post("/api/agent/ready", headers=self._headers()) as response:
                body = await response.json()
        return str(body["state"])

    async def read_call(self, rec: Recorder, endpoint: str) -> dict[str, Any] | None:
        """``GET /api/agent/call``, timed; the answer, or None on an error."""
        started = time.perf_counter()
        try:
            async with self.http.get("/api/agent/call") as response:
                body: dict[str, Any] = await response.json()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            rec.error(f"{endpoint}: {type(error).__name__}")
            return None
        rec.add(endpoint, started)
        if not ok:
            rec.error(f"{endpoint}: {response.status}")
            return None
        return body

    async def dispose(self, attempt_id: int, rec: Recorder) -> bool:
        """Record an outcome for the call, timed; True when the store has one."""
        draw = self.rng.random()
        if draw < 0.2:
            body: dict[str, Any] = {"code": "accepted"}
        elif draw < 0.8:
            reason, stage = self.rng.choice(REFUSALS)
            body = {"code": "refused", "refusal_reason": reason, "funnel_stage": stage}
        elif draw < 0.9:
            body = {"code": "wrong_person"}
        else:
            body = {"code": "no_answer"}
        body["notes"] = "bench"
        started = time.perf_counter()
        try:
            async with self.http.post(
                f"/api/attempts/{attempt_id}/disposition", json=body, headers=self._headers()
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            rec.error(f"disposition: {type(error).__name__}")
            return False
        rec.add("disposition", started)
        if status not in (200, 201):
            rec.error(f"disposition: {status}")
            return False
        self.disposed = attempt_id
        return True

    async def handle(
        self, state: str, attempt_id: int | None, rec: Recorder, endpoint: str
    ) -> None:
        """What the page does on a state: read a new call, dispose of an ended one."""
        if attempt_id is None or state not in ("talk", "wrap"):
            return
        if self.fetched != attempt_id:
            self.fetched = attempt_id
            if rec.on:
                rec.calls_seen += 1
            await self.read_call(rec, endpoint)
        if state == "wrap" and self.disposed != attempt_id:
            await asyncio.sleep(self.rng.uniform(*WRAP_SECONDS) / self.scale)
            await self.dispose(attempt_id, rec)

    async def live(self, campaign_id: int, rec: Recorder, stop: asyncio.Event, ramp: float) -> None:
        """Join the campaign at a moment within the first ``ramp`` seconds, keep the event
        stream open and act on each state it sends, until ``stop``."""
        await asyncio.sleep(self.rng.uniform(0, ramp))
        states: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        reader = asyncio.create_task(self._stream(states, rec, stop))
        try:
            await self.join(campaign_id)
            while not stop.is_set():
                try:
                    snap = await asyncio.wait_for(states.get(), 1.0)
                except TimeoutError:
                    continue
                while not states.empty():  # only the latest state matters
                    snap = states.get_nowait()
                await self.handle(snap["state"], snap.get("attempt_id"), rec, "call")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _stream(
        self, states: asyncio.Queue[dict[str, Any]], rec: Recorder, stop: asyncio.Event
    ) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        while not stop.is_set():
            try:
                async with self.http.get("/api/agent/events", timeout=timeout) as response:
                    event = None
                    async for raw in response.content:
                        line = raw.decode().rstrip("\n")
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: ") and event == "state":
                            states.put_nowait(json.loads(line[6:]))
            except (aiohttp.ClientError, TimeoutError):
                rec.error("events: dropped")
            await asyncio.sleep(1.0)  # as the browser's retry

    async def poll(self, rec: Recorder, stop: asyncio.Event) -> None:
        """Poll the next-call endpoint every second, disposing of calls that ended."""
        await asyncio.sleep(self.rng.uniform(0, POLL_EVERY))
        while not stop.is_set():
            started = time.perf_counter()
            body = await self.read_call(rec, "poll")
            if body is not None:
                state = body["state"]
                await self.handle(state["state"], state.get("attempt_id"), rec, "poll-call")
            await asyncio.sleep(max(0.0, POLL_EVERY - (time.perf_counter() - started)))


async def sign_in_all(agents: Sequence[Agent]) -> float:
    """Every agent through the login form, a few at a time; seconds taken."""
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)
    started = time.perf_counter()

    async def one(agent: Agent) -> None:
        async with gate:
            await agent.sign_in()

    await asyncio.gather(*(one(agent) for agent in agents))
    return time.perf_counter() - started
