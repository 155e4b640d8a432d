"""Benchmark: the agent console under load, with the dialer running.

    uv run python scripts/bench_console.py [--agents 480] [--seconds 180] [--ramp 60]
        [--poll-seconds 60] [--workers 2] [--web 1] [--time-scale 1] [--database URL]
        [--redis URL] [--json]

``--agents`` people work one running campaign through the console's JSON API, as the
agent page does, while the dialer dials for them. Every part runs as its own process, as
in production: ``--web`` web apps (``telecampaign serve``, each on its own port, the
agents shared out among them as a load balancer that keeps each agent on one process
would), the carrier simulator (``telecampaign simulator``) and ``--workers`` arq workers
(``telecampaign worker``, each giving the carrier one web process's callback address), on
a queue and Redis key prefix of their own; the agents are one more process, this one.

Set up untimed: a migrated store (``--database``: a fresh SQLite file in a temporary
folder by default; with a PostgreSQL URL, a private database created on that server and
dropped afterwards), ``--agents`` agent users, one running progressive campaign with
``--customers`` pending list entries, and the dialer's clock on a weekday morning at
``--time-scale`` times real speed: 1 (the default) is a working day as it comes, about
six calls a second for 480 agents with a minute's talk; 20 packs twenty times as many
calls into each second, as a stress test. The agent users share one password hash, made once with
the production argon2 parameters (hashing 480 passwords would take minutes; verifying them
at login is the web app's real work and is done before the timed run). Each agent has an
``aiohttp.ClientSession`` of its own (its own cookies and connections) and logs in through
the login form (``POST /login`` with the form's CSRF token), then reads the session's
CSRF token from the agent page.

Timed, live (``--seconds``): each agent joins the campaign (ready) at a moment drawn
within the first ``--ramp`` seconds, as people come in at the start of a shift (0: all
in the same second), keeps the server-sent event stream ``/api/agent/events`` open,
and when the stream says a call came (``talk``) reads it at once with ``GET
/api/agent/call`` (the next-call endpoint); when the stream says the call ended
(``wrap``; the simulator hangs up after a talk time drawn around ``TALK_SECONDS`` of
clock time) it waits a wrap-up of 4 to 20 clock seconds and records the outcome with
``POST /api/attempts/{id}/disposition`` (accepted, refused with a reason and a stage,
wrong person or no answer), which makes it ready again.

Timed, polling (``--poll-seconds``, 0 to skip): the streams are closed and each agent
polls ``GET /api/agent/call`` every second instead, as a console without server-sent
events would, and records the outcome of each call that has ended.

Latency is measured in the client, from sending the request to the whole answer read. The
client runs on the same machine as the server processes and uses CPU of its own (shown as
``bench``), so figures on a loaded machine include time the answer waited for the client's
event loop. Target: p99 < 100 ms for both endpoints. The live phase's figures are given
for the whole phase and for its steady state, the requests sent from ``--settle`` seconds
(30) after the ramp on: the shift's start, when everybody's first call comes within a minute,
is the peak load and is reported apart, not left out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, func, select

from dialer.clock import DialerClock
from scripts.backends import bench_database, bench_redis, clear_keys, redis_cpu, set_clock
from scripts.bench_dispatch import percentile
from scripts.bench_dispatch import write_campaign as dispatch_campaign
from scripts.console_agents import Agent, Recorder, sign_in_all, write_agents
from scripts.fleet import (
    Fleet,
    Proc,
    cpu_seconds,
    free_port,
    machine_busy,
    server_cpu,
    simulator_stats,
    start_web_and_workers,
    wait_http,
    wait_workers,
)
from store.db import make_engine
from store.models import Attempt, Channel, Disposition, EntryStatus

DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
# a Wednesday, 09:00 in New York: inside the 08:00-21:00 window, not a holiday
CLOCK_START = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
ZONE = "America/New_York"
TIME_SCALE = 1.0  # clock seconds per real second (the simulator's and the dialer's)
TALK_SECONDS = 60.0  # mean talk time in clock seconds
RATES = {"human": 0.85, "machine": 0.05, "busy": 0.05, "failed": 0.05}  # of dials
SECRET_KEY = "bench-console-session-key-0123456789abcdefghij"  # noqa: S105 - throw-away
TARGET_MS = 100.0

# -- store --------------------------------------------------------------------------------


def write_campaign(engine: Engine, customers: int) -> int:
    """A running progressive campaign with ``customers`` consenting customers, each pending
    on its list once, for the pacer to take; the campaign's id."""
    return dispatch_campaign(
        engine,
        customers,
        name="bench-console",
        entry_status=EntryStatus.PENDING,
        dialing={"pacing": "progressive", "sms_after_failed_calls": 0},
    )


def dial_counts(engine: Engine, campaign_id: int) -> dict[str, int]:
    """Calls dialed, answered by a person and put through to an agent, and dispositions."""
    with engine.connect() as conn:
        dials, answered, connected = conn.execute(
            select(
                func.count(Attempt.started_at),
                func.count(Attempt.answered_at),
                func.count(Attempt.agent_id),
            ).where(Attempt.campaign_id == campaign_id, Attempt.channel == Channel.CALL)
        ).one()
        disposed = conn.execute(
            select(func.count())
            .select_from(Disposition)
            .join(Attempt, Attempt.id == Disposition.attempt_id)
            .where(Attempt.campaign_id == campaign_id)
        ).scalar_one()
    return {
        "dials": int(dials),
        "answered": int(answered),
        "connected": int(connected),
        "dispositions": int(disposed),
    }


# -- the phases ---------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    seconds: float
    rec: Recorder
    cpu: dict[str, float]
    busy: float
    counts: dict[str, int]


class Meter:
    """CPU seconds of each process (ours, Redis, PostgreSQL) and of the machine."""

    def __init__(self, fleet: Fleet, redis_url: str, db_kind: str) -> None:
        self.fleet, self.redis_url, self.db_kind = fleet, redis_url, db_kind

    def start(self) -> None:
        self.procs = {proc.name: cpu_seconds(proc.popen.pid) for proc in self.fleet.procs}
        self.own = time.process_time()
        self.redis = redis_cpu(self.redis_url)
        self.db = server_cpu("postgres") if self.db_kind == "postgresql" else {}
        self.machine = machine_busy()

    def stop(self) -> tuple[dict[str, float], float]:
        cpu = {
            proc.name: cpu_seconds(proc.popen.pid) - self.procs[proc.name]
            for proc in self.fleet.procs
        }
        cpu["bench"] = time.process_time() - self.own
        redis_end = redis_cpu(self.redis_url)
        if self.redis is not None and redis_end is not None:
            cpu["redis"] = redis_end - self.redis
        if self.db_kind == "postgresql":
            end = server_cpu("postgres")
            cpu["postgres"] = sum(value - self.db.get(pid, 0.0) for pid, value in end.items())
        busy_end, total_end = machine_busy()
        busy_start, total_start = self.machine
        share = (
            (busy_end - busy_start) / (total_end - total_start) if total_end > total_start else 0
        )
        busy_s = (busy_end - busy_start) / os.sysconf("SC_CLK_TCK")
        cpu["other"] = max(0.0, busy_s - sum(cpu.values()))
        return cpu, share


async def drive(
    args: argparse.Namespace,
    bases: Sequence[str],
    names: Sequence[str],
    campaign_id: int,
    meter: Meter,
    count: Any,
    out: Any,
) -> tuple[float, list[Phase]]:
    """Sign everybody in, then the live phase and the polling phase; (login s, phases)."""
    rng = random.Random(args.seed)
    agents = [
        Agent(bases[n % len(bases)], name, random.Random(rng.random()), args.time_scale)
        for n, name in enumerate(names)
    ]
    phases = []
    try:
        login_s = await sign_in_all(agents)
        print(
            f"{len(agents)} agents signed in ({login_s:.1f} s); live for {args.seconds:g} s",
            file=out,
        )
        for name, seconds in (("live", args.seconds), ("polling", args.poll_seconds)):
            if seconds <= 0:
                continue
            rec, stop = Recorder(), asyncio.Event()
            before = count()
            meter.start()
            rec.on = True
            started = time.perf_counter()
            if name == "live":
                # the shift's start: everybody joins within the ramp, and the first calls
                # of all of them come at once; steady state from --settle seconds after the ramp
                rec.steady_from = started + args.ramp + args.settle
                tasks = [
                    asyncio.create_task(a.live(campaign_id, rec, stop, args.ramp)) for a in agents
                ]
            else:
                tasks = [asyncio.create_task(a.poll(rec, stop)) for a in agents]
            await asyncio.sleep(seconds)
            rec.on = False
            cpu, busy = meter.stop()
            wall = time.perf_counter() - started
            stop.set()
            # the next phase starts now, as a console switched over would: an agent in the
            # middle of a wrap-up records that outcome in the next phase, rather than
            # every console waiting up to a wrap-up's length while calls pile up unread
            for task in tasks:
                task.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    raise result  # a fault of the benchmark's agents, not a cancellation
            after = count()
            counts = {key: after[key] - before.get(key, 0) for key in after}
            phases.append(Phase(name, wall, rec, cpu, busy, counts))
            print(f"{name} phase done: {counts}", file=out)
    finally:
        await asyncio.gather(*(agent.close() for agent in agents))
    return login_s, phases


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 1),
        "p95_ms": round(percentile(ordered, 0.95), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
    }


def phase_json(phase: Phase) -> dict[str, Any]:
    wall = max(phase.seconds, 1e-9)
    endpoints = {name: summary(values) for name, values in sorted(phase.rec.latencies.items())}
    steady = {name: summary(values) for name, values in sorted(phase.rec.steady.items())}
    return {
        "seconds": round(phase.seconds, 1),
        "endpoints": endpoints,
        "steady_endpoints": steady,
        "calls_seen": phase.rec.calls_seen,
        "errors": dict(phase.rec.errors),
        "dialer": phase.counts,
        "cpu_seconds": {name: round(value, 2) for name, value in phase.cpu.items()},
        "cpu_cores": {name: round(value / wall, 2) for name, value in phase.cpu.items()},
        "machine_cpu_busy": round(phase.busy, 3),
    }


# -- the run ------------------------------------------------------------------------------


def start_processes(
    args: argparse.Namespace, fleet: Fleet, db_url: str, redis_url: str, queue: str, prefix: str
) -> tuple[int, list[str], list[Proc]]:
    """The carrier simulator, ``--web`` web processes and ``--workers`` arq workers on this
    run's store, Redis, queue and key prefix, once every one is up; (the simulator's port,
    the web processes' addresses, the web processes)."""
    sim_port = free_port()
    bases = [f"http://127.0.0.1:{free_port()}" for _ in range(args.web)]
    fleet.env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "TWILIO_API_BASE": f"http://127.0.0.1:{sim_port}",
        "TELECAMPAIGN_HOME": str(fleet.folder / "home"),
        "TELECAMPAIGN_QUEUE": queue,
        "TELECAMPAIGN_REDIS_PREFIX": prefix,
        "TELECAMPAIGN_SECRET_KEY": SECRET_KEY,
        "COLUMNS": "200",
    }
    shares = [f"--{name}={share}" for name, share in RATES.items()]
    fleet.start(
        "simulator",
        [
            "simulator",
            "--port",
            str(sim_port),
            f"--time-scale={args.time_scale}",
            f"--talk={TALK_SECONDS}",
            *shares,
        ],
    )
    # each web process is reached at its own address, as behind a load balancer
    # that keeps an agent on one process; the webhooks are shared among them too
    webs, workers = start_web_and_workers(fleet, bases, args.workers)
    wait_http(fleet, f"http://127.0.0.1:{sim_port}/simulator/stats")
    wait_workers(fleet, workers, redis_url, queue)
    return sim_port, bases, webs


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out = sys.stderr if args.json else sys.stdout
    load_before = os.getloadavg()
    with (
        bench_database(args.database, folder) as (db_url, db_kind),
        bench_redis(args.redis, folder) as (redis_url, redis_label),
    ):
        engine = make_engine(db_url)
        run_id = uuid.uuid4().hex[:8]
        queue, prefix = f"tc-bench-console:{run_id}:dialer", f"tc-bench-console:{run_id}"
        campaign_id: int | None = None
        fleet = Fleet(folder, env={})
        try:
            print(f"store: {db_kind}; redis: {redis_label}; writing users, campaign", file=out)
            names = write_agents(engine, args.agents)
            campaign_id = write_campaign(engine, args.customers)
            clock = DialerClock.starting(CLOCK_START, scale=args.time_scale)
            asyncio.run(set_clock(redis_url, clock, prefix))
            sim_port, bases, webs = start_processes(args, fleet, db_url, redis_url, queue, prefix)
            print(f"simulator, {args.web} web, {args.workers} workers up; signing in", file=out)
            meter = Meter(fleet, redis_url, db_kind)
            chosen = campaign_id
            login_s, phases = asyncio.run(
                drive(args, bases, names, chosen, meter, lambda: dial_counts(engine, chosen), out)
            )
            fleet.check_alive()
            sim = simulator_stats(sim_port)
            web_pids = [web.popen.pid for web in webs]
        finally:
            fleet.stop()
            engine.dispose()
            with contextlib.suppress(redis.RedisError):
                clear_keys(
                    redis_url, prefix=prefix, queue=queue, campaign_id=campaign_id, attempt_ids=[]
                )
                _clear_jobs(redis_url, prefix)
    return {
        "agents": args.agents,
        "database": db_kind,
        "redis": redis_label,
        "workers": args.workers,
        "web": args.web,
        "web_pids": web_pids,
        "time_scale": args.time_scale,
        "ramp_seconds": args.ramp,
        "steady_after_seconds": args.ramp + args.settle,
        "login_seconds": round(login_s, 1),
        "phases": {phase.name: phase_json(phase) for phase in phases},
        "simulator": {k: sim.get(k) for k in ("outcomes", "calls", "callbacks_failed")},
        "target_p99_ms": TARGET_MS,
        "cores": os.cpu_count() or 1,
        "load_average_before": [round(v, 2) for v in load_before],
        "note": (
            "latency is measured in the client, which runs on the same machine and uses "
            "CPU of its own (cpu_seconds.bench)"
        ),
    }


def _clear_jobs(url: str, prefix: str) -> None:
    """arq's job and result keys of this run (job ids carry the prefix)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"arq:*:{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def print_table(figures: dict[str, Any]) -> None:
    print(
        f"{figures['agents']} agents, store {figures['database']}, redis {figures['redis']}, "
        f"{figures['web']} web, {figures['workers']} workers; "
        f"logins {figures['login_seconds']:.1f} s; "
        f"load average before {figures['load_average_before'][0]:.2f} on "
        f"{figures['cores']} cores"
    )
    for name, phase in figures["phases"].items():
        wall = phase["seconds"]
        print(
            f"\n{name} ({wall:.0f} s): {phase['calls_seen']} calls seen, dialer {phase['dialer']}"
        )
        heads = ("p50 ms", "p95 ms", "p99 ms", "max ms")
        print(f"  {'endpoint':17} {'count':>7} " + " ".join(f"{h:>8}" for h in heads))
        rows = [(e, s) for e, s in phase["endpoints"].items()]
        if name == "live":
            rows += [(f"{e} steady", s) for e, s in phase["steady_endpoints"].items()]
        for endpoint, s in rows:
            met = "meets" if s["p99_ms"] < figures["target_p99_ms"] else "above"
            print(
                f"  {endpoint:17} {s['count']:7d} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} "
                f"{s['p99_ms']:8.1f} {s['max_ms']:8.1f}  {met} target"
            )
        errors = ", ".join(f"{k} {v}" for k, v in sorted(phase["errors"].items())) or "none"
        print(f"  errors: {errors}")
        cores = ", ".join(f"{k} {v:.2f}" for k, v in phase["cpu_cores"].items())
        print(f"  cores used: {cores}; machine {phase['machine_cpu_busy']:.0%} busy")
    print(f"\n({figures['note']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=480, help="agents at the console")
    parser.add_argument("--seconds", type=float, default=180.0, help="live phase, seconds")
    parser.add_argument(
        "--poll-seconds", type=float, default=60.0, help="polling phase, seconds (0: none)"
    )
    parser.add_argument("--customers", type=int, help="list entries (default: 60 per agent)")
    parser.add_argument("--workers", type=int, default=2, help="arq worker processes")
    parser.add_argument(
        "--web",
        type=int,
        default=1,
        help="web processes (telecampaign serve), the agents shared out among them",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help="clock seconds per real second (1: real time; 20: twenty times the calls)",
    )
    parser.add_argument(
        "--database",
        help="a PostgreSQL URL to create a private database on (default: a fresh SQLite file)",
    )
    parser.add_argument(
        "--redis",
        default=DEFAULT_REDIS,
        help="Redis URL; the embedded server when none answers there, or with 'embedded'",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=60.0,
        help="live phase: agents join the campaign within this many seconds (0: at once)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="live phase: the steady state starts this many seconds after the ramp",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the agents' choices")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if (
        args.agents < 1
        or args.workers < 1
        or args.web < 1
        or args.seconds <= 0
        or args.time_scale <= 0
    ):
        parser.error(
            "--agents, --workers and --web must be at least 1, --seconds and --time-scale positive"
        )
    args.customers = args.customers or 60 * args.agents
    with tempfile.TemporaryDirectory(prefix="tc-bench-console-") as tmp:
        figures = run(args, Path(tmp))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
