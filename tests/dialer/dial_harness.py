"""The dialer as deployed, for tests that run real worker processes.

The test process plays the carrier (the simulator), the web app that takes its signed
callbacks, and the agents (simulated, on the agent board in Redis), on a background
thread with its own event loop. Workers are separate ``telecampaign worker`` processes
on the same database and Redis. Everything shares one shifted, accelerated clock kept
in Redis, so the contact policy's calling window holds whatever the wall time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dialer.clock import DialerClock, save_clock
from dialer.context import Dialer, DialerConfig, open_dialer
from dialer.states import is_final
from runner.demo.dialing_run import free_port
from runner.settings import Settings
from runner.web.app import create_app
from simulation.agents import SimulatedAgents, ensure_agents
from simulation.carrier.config import Outcome, SimulatorConfig
from simulation.carrier.server import create_simulator_app
from simulation.carrier.state import SIMULATOR_STATE
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Group,
    ListEntry,
)

__all__ = [
    "NO_ONE_ANSWERS",
    "START",
    "Carrier",
    "Snapshot",
    "Worker",
    "WorkerPool",
    "snapshot",
    "wait_until",
]

T = TypeVar("T")
S = AttemptStatus
# a Wednesday, 10:00 in New York: inside the calling window, not a holiday
START = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
# calls that end without anyone to talk to: no agent is ever taken, so every line ends
# on the carrier's say alone and the campaign finishes in seconds
NO_ONE_ANSWERS: Mapping[Outcome, float] = {
    Outcome.HUMAN: 0.0,
    Outcome.MACHINE: 0.0,
    Outcome.BUSY: 0.25,
    Outcome.NO_ANSWER: 0.55,
    Outcome.FAILED: 0.20,
}
TELECAMPAIGN = Path(sys.executable).parent / "telecampaign"
# the worker command leaves logging as Python starts it (warnings only); this turns on
# arq's INFO lines, one per job started, so each process's share of the work shows
_SITE = """import logging
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
logging.getLogger("arq").setLevel(logging.INFO)
"""
_STARTED = "Starting worker for"
_JOB_STARTED = re.compile(r"→ (?P<job>\S+?):(?P<function>place_call|pace_campaign|send_sms)\(")


@dataclass
class Snapshot:
    """The campaign as the database has it."""

    campaign: CampaignStatus
    attempts: Counter[str]
    entries: Counter[str]
    rows: list[tuple[int, AttemptStatus, str | None]] = field(repr=False)

    @property
    def final(self) -> int:
        return sum(is_final(status) for _, status, _ in self.rows)

    @property
    def live_with_carrier(self) -> int:
        live = (S.INITIATED, S.RINGING, S.IN_PROGRESS)
        return sum(status in live and sid is not None for _, status, sid in self.rows)

    @property
    def waiting_for_a_job(self) -> int:
        """Queued, or taken by a job that has not heard back from the carrier yet."""
        return sum(
            status is S.QUEUED or (status is S.INITIATED and sid is None)
            for _, status, sid in self.rows
        )

    def describe(self) -> str:
        return (
            f"campaign {self.campaign.value}; attempts {dict(sorted(self.attempts.items()))}; "
            f"entries {dict(sorted(self.entries.items()))}"
        )


def snapshot(engine: Engine, campaign_id: int) -> Snapshot:
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        rows = [
            (int(i), status, sid)
            for i, status, sid in session.execute(
                select(Attempt.id, Attempt.status, Attempt.provider_sid).where(
                    Attempt.campaign_id == campaign_id
                )
            )
        ]
        entries = Counter(
            {
                status.value: int(n)
                for status, n in session.execute(
                    select(ListEntry.status, func.count())
                    .where(ListEntry.campaign_id == campaign_id, ListEntry.group == Group.TREATMENT)
                    .group_by(ListEntry.status)
                )
            }
        )
        return Snapshot(
            campaign=campaign.status,
            attempts=Counter(status.value for _, status, _ in rows),
            entries=entries,
            rows=rows,
        )


def wait_until(
    what: str,
    check: Callable[[], Snapshot | None],
    *,
    timeout: float,
    explain: Callable[[], str],
) -> Snapshot:
    """Poll ``check`` until it returns a snapshot; fail with ``explain()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {timeout:.0f} s: {explain()}")
        time.sleep(0.05)


class Carrier:
    """Simulator, web app and simulated agents, served from a background event loop."""

    def __init__(
        self,
        *,
        db_url: str,
        redis_url: str,
        prefix: str,
        queue: str,
        home: Path,
        agents: int,
        time_scale: float,
        rates: Mapping[Outcome, float],
        seed: int = 7,
    ) -> None:
        self.sim_port, self.app_port = free_port(), free_port()
        self.redis_url, self.prefix, self.queue, self.home = redis_url, prefix, queue, home
        self.env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "TWILIO_API_BASE": f"http://127.0.0.1:{self.sim_port}",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.app_port}",
            "TELECAMPAIGN_HOME": str(home),
            "TELECAMPAIGN_QUEUE": queue,
            "TELECAMPAIGN_REDIS_PREFIX": prefix,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "simulator-token",
        }
        self.settings = Settings(**self.env)  # type: ignore[arg-type]
        self.clock = DialerClock.starting(START, time_scale)
        self.simulator = create_simulator_app(
            SimulatorConfig(
                account_sid=self.env["TWILIO_ACCOUNT_SID"],
                auth_token=self.env["TWILIO_AUTH_TOKEN"],
                rates=dict(rates),
                time_scale=time_scale,
                seed=seed,
                inbound_sms_url=f"{self.env['PUBLIC_BASE_URL']}/twilio/sms/inbound",
            )
        )
        self.agents, self.seed = agents, seed
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.stop = asyncio.Event()
        self.working: asyncio.Task[None] | None = None
        self.dialer: Dialer | None = None

    # -- life cycle ---------------------------------------------------------------------

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def start(self) -> None:
        """Save the clock (workers read it as they start) and serve carrier and web app."""
        self.thread.start()
        self.run(self._start())

    def open_shift(self, campaign_id: int) -> None:
        """The agents log in to the campaign; pacing dials from then on."""
        self.run(self._open_shift(campaign_id))

    async def _start(self) -> None:
        config = DialerConfig.from_settings(self.settings, self.redis_url)
        self.dialer = await open_dialer(config)
        await self.save_clock()
        self.dialer.clock = self.clock
        for app, port in (
            (self.simulator, self.sim_port),
            (create_app(self.settings, redis_url=self.redis_url), self.app_port),
        ):
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)

    async def _open_shift(self, campaign_id: int) -> None:
        dialer = self.dialer
        assert dialer is not None
        agent_ids = await dialer.gateway.write(lambda s: ensure_agents(s, self.agents))
        pool = SimulatedAgents(dialer, agent_ids, seed=self.seed)
        self.working = asyncio.create_task(pool.run([campaign_id], self.stop))

    async def save_clock(self) -> None:
        assert self.dialer is not None
        await save_clock(self.dialer.redis, self.clock, prefix=self.prefix)

    def close(self) -> None:
        if self.thread.is_alive():
            self.run(self._close(), timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        self.loop.close()

    async def _close(self) -> None:
        self.stop.set()
        if self.working is not None:
            await self.working
        for runner in reversed(self.runners):
            await runner.cleanup()
        if self.dialer is not None:
            await self.dialer.close()

    # -- what the carrier saw ------------------------------------------------------------

    def dials(self) -> Counter[int]:
        """Calls the carrier was asked to place, by the attempt id their callbacks carry."""

        async def count() -> Counter[int]:
            dialled: Counter[int] = Counter()
            for call in list(self.simulator[SIMULATOR_STATE].calls.values()):
                for url in (call.status_callback, call.url):
                    ids = parse_qs(urlsplit(url or "").query).get("attempt")
                    if ids:
                        dialled[int(ids[0])] += 1
                        break
                else:
                    dialled[-1] += 1  # a call that names no attempt
            return dialled

        return self.run(count())

    def sids(self) -> dict[str, int]:
        """The attempt id each call the carrier placed (by its CallSid) was made for."""

        async def read() -> dict[str, int]:
            return {
                sid: int(parse_qs(urlsplit(call.status_callback or "").query)["attempt"][0])
                for sid, call in list(self.simulator[SIMULATOR_STATE].calls.items())
            }

        return self.run(read())

    # -- Redis ---------------------------------------------------------------------------

    def forget_everything(self, attempt_ids: list[int]) -> int:
        """Delete what this deployment holds in Redis, as a Redis that lost its data would.

        The queue and the prefix name most of it; arq's per-job keys (``arq:job:``,
        ``arq:result:``, ``arq:in-progress:``, ``arq:retry:``) carry the prefix in the job
        id. Nothing else on the server is touched.
        """

        async def forget() -> int:
            redis = Redis.from_url(self.redis_url)
            try:
                keys = [k async for k in redis.scan_iter(match=f"{self.queue}*", count=500)]
                keys += [k async for k in redis.scan_iter(match=f"{self.prefix}:*", count=500)]
                for kind in ("job", "result", "in-progress", "retry"):
                    pattern = f"arq:{kind}:{self.prefix}:*"
                    keys += [k async for k in redis.scan_iter(match=pattern, count=500)]
                return int(await redis.delete(*keys)) if keys else 0
            finally:
                await redis.aclose()

        return self.run(forget())


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def up(self) -> bool:
        return _STARTED in self.output()

    def jobs_started(self) -> Counter[str]:
        """Jobs this process started, by function, from arq's log lines."""
        return Counter(m["function"] for m in _JOB_STARTED.finditer(self.output()))

    def calls_started(self) -> set[int]:
        return {
            int(m["job"].rpartition("call:")[2])
            for m in _JOB_STARTED.finditer(self.output())
            if m["function"] == "place_call"
        }


class WorkerPool:
    """``telecampaign worker`` processes on the carrier's settings; all stopped on close."""

    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier
        self.workers: dict[str, Worker] = {}
        site = carrier.home / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_SITE)
        path = [str(site), os.environ.get("PYTHONPATH", "")]
        self.env = {
            **os.environ,
            **carrier.env,
            "PYTHONPATH": os.pathsep.join(p for p in path if p),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, name: str) -> Worker:
        log = self.carrier.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(TELECAMPAIGN), "worker"],
                env=self.env,
                cwd=self.carrier.home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, log)
        self.workers[name] = worker
        return worker

    def wait_up(self, timeout: float = 60.0) -> None:
        """Until every running worker has started its arq loop."""
        deadline = time.monotonic() + timeout
        while not all(w.up for w in self.workers.values() if w.process.poll() is None):
            if time.monotonic() > deadline:
                pytest.fail(f"the workers did not start within {timeout:.0f} s:\n{self.tails()}")
            time.sleep(0.1)

    def kill(self, name: str) -> None:
        process = self.workers[name].process
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers.values():
            try:
                worker.process.wait(15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(10)

    def tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {w.name} (exit {w.process.poll()}):\n"
            + "\n".join(w.output().splitlines()[-lines:])
            for w in self.workers.values()
        )
