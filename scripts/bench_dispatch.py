"""Benchmark: call attempts dispatched end to end, per second.

    uv run python scripts/bench_dispatch.py [--attempts 2000] [--workers 2] [--web 1]
        [--database URL] [--redis URL] [--json]

Each attempt goes the production way: an attempt row (status queued) in the store, its
``place_call`` job on the arq queue (job id ``call:<id>``), a worker that checks the
contact policy and dials the carrier simulator through the twilio library, the simulator's
Twilio-signed status callbacks to the web app's webhooks, and the outcome written there.
Every part runs as its own process, as in production: the carrier simulator
(``telecampaign simulator``), ``--web`` web processes (``telecampaign serve``) and
``--workers`` arq workers (``telecampaign worker``), on a queue and Redis key prefix of
their own.

Set up untimed: a migrated store (``--database``: a fresh SQLite file in a temporary
folder by default; with a PostgreSQL URL, a private database created on that server and
dropped afterwards), one running campaign with one customer and list entry per attempt,
and the dialer's clock shifted to a weekday afternoon so the calling window is open.
The simulator's calls end without agents (busy 40%, no answer 40%, failed 20%) at 1000x
speed, so rings last milliseconds; retries come due only minutes later and texts are off,
so nothing refills the queue. Worker ``i`` has its callbacks posted to web process
``i mod --web``.

Timed: the attempt rows are written and their jobs queued at once; the run ends when
every attempt is final. Seconds run from the first ``queued_at`` to the last
``ended_at``; latency is ``ended_at - queued_at`` per attempt (it includes the wait in
the queue behind the other attempts) and dial time ``ended_at - started_at`` (the worker
taking the job to the outcome written). Prints attempts per second, p50/p95 latency and
each process's CPU over the timed run. Target: >= 200 attempts/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, func, insert, select

from campaigns.settings.model import CampaignSettings
from dialer.clock import DialerClock
from dialer.states import FINAL
from scripts.backends import bench_database, bench_redis, clear_keys, redis_cpu, set_clock
from scripts.fleet import (
    Fleet,
    cpu_seconds,
    free_port,
    machine_busy,
    server_cpu,
    simulator_stats,
    start_web_and_workers,
    wait_http,
    wait_workers,
)
from store.db import make_engine, transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    Customer,
    CustomerType,
    EntryStatus,
    Group,
    ListEntry,
)

DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
# a Wednesday, 10:00 in New York: inside the 08:00-21:00 window, not a holiday
CLOCK_START = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)
ZONE, AREA = "America/New_York", 212
TIME_SCALE = 1000.0
RATES = {"human": 0.0, "machine": 0.0, "busy": 0.4, "failed": 0.2}  # the rest ring out
TARGET = 200.0


# -- store --------------------------------------------------------------------------------


def phone(n: int) -> str:
    """A New York number of its own for customer ``n`` (ten million of them)."""
    return f"+1{AREA}{200 + n // 10_000:03d}{n % 10_000:04d}"


def write_campaign(
    engine: Engine,
    customers: int,
    *,
    name: str = "bench-dispatch",
    entry_status: EntryStatus = EntryStatus.IN_PROGRESS,
    dialing: dict[str, Any] | None = None,
) -> int:
    """A running campaign with ``customers`` consenting customers, each on its list once;
    the campaign's id. The entries are already taken for dialing (as the pacer leaves
    them) unless ``entry_status`` says otherwise."""
    with transaction(engine) as session:
        campaign = Campaign(
            name=f"{name}-{uuid.uuid4().hex[:8]}",
            kind=CampaignKind.CROSS_SELL,
            status=CampaignStatus.RUNNING,
            # no texts; retries fall due minutes after the run, so the queue is not refilled
            settings=CampaignSettings.for_kind(
                CampaignKind.CROSS_SELL, dialing or {"sms_after_failed_calls": 0}
            ).as_json(),
            settings_version=1,
            plan={},
            launched_at=CLOCK_START - dt.timedelta(days=1),
        )
        session.add(campaign)
        session.flush()
        tag = f"{name}-{campaign.id}"
        session.execute(
            insert(Customer),
            [
                {
                    "external_id": f"{tag}-{n:07d}",
                    "name": f"Customer {n}",
                    "phone": phone(n),
                    "country": "US",
                    "timezone": ZONE,
                    "customer_type": CustomerType.B2C,
                    "call_consent": True,
                    "sms_consent": True,
                }
                for n in range(customers)
            ],
        )
        ids = session.scalars(
            select(Customer.id).where(Customer.external_id.like(f"{tag}-%")).order_by(Customer.id)
        ).all()
        session.execute(
            insert(ListEntry),
            [
                {
                    "campaign_id": campaign.id,
                    "customer_id": customer_id,
                    "group": Group.TREATMENT,
                    "status": entry_status,
                    "priority": 0,
                    "offer": "Family plan",
                    "details": {},
                }
                for customer_id in ids
            ],
        )
        return campaign.id


def queue_attempts(engine: Engine, campaign_id: int, clock: DialerClock) -> list[tuple[int, int]]:
    """One queued call attempt per list entry, as the pacer writes them; (id, customer)."""
    now = clock.utcnow()
    with transaction(engine) as session:
        entries = session.execute(
            select(ListEntry.id, ListEntry.customer_id, Customer.phone)
            .join(Customer, Customer.id == ListEntry.customer_id)
            .where(ListEntry.campaign_id == campaign_id)
            .order_by(ListEntry.id)
        ).all()
        session.execute(
            insert(Attempt),
            [
                {
                    "campaign_id": campaign_id,
                    "list_entry_id": entry_id,
                    "customer_id": customer_id,
                    "channel": Channel.CALL,
                    "phone": number,
                    "status": AttemptStatus.QUEUED,
                    "created_at": now,
                    "due_at": now,
                    "queued_at": now,
                }
                for entry_id, customer_id, number in entries
            ],
        )
        rows = session.execute(
            select(Attempt.id, Attempt.customer_id)
            .where(Attempt.campaign_id == campaign_id)
            .order_by(Attempt.id)
        ).all()
        return [(int(attempt_id), int(customer_id)) for attempt_id, customer_id in rows]


def count_final(engine: Engine, campaign_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    Attempt.campaign_id == campaign_id, Attempt.status.in_(FINAL)
                )
            ).scalar_one()
        )


@dataclass
class Outcomes:
    final: int
    statuses: dict[str, int]
    seconds: float
    latencies: list[float]
    dial_times: list[float]


def outcomes(engine: Engine, campaign_id: int) -> Outcomes:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Attempt.status, Attempt.queued_at, Attempt.started_at, Attempt.ended_at).where(
                Attempt.campaign_id == campaign_id, Attempt.channel == Channel.CALL
            )
        ).all()
    statuses = Counter(status.value for status, *_ in rows)
    ended = [(q, s, e) for status, q, s, e in rows if status in FINAL and q and e]
    if not ended:
        return Outcomes(0, dict(statuses), 0.0, [], [])
    first = min(q for q, _, _ in ended)
    last = max(e for _, _, e in ended)
    return Outcomes(
        final=len(ended),
        statuses=dict(statuses),
        seconds=(last - first).total_seconds(),
        latencies=sorted((e - q).total_seconds() for q, _, e in ended),
        dial_times=sorted((e - s).total_seconds() for _, s, e in ended if s is not None),
    )


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, round(share * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


# -- the queue ----------------------------------------------------------------------------


async def enqueue_calls(
    url: str, queue: str, prefix: str, attempts: Sequence[tuple[int, int]]
) -> int:
    """Queue ``place_call`` for each attempt as the pacer does (with the customer, for the
    per-customer lock); the number queued."""
    from arq.connections import RedisSettings, create_pool

    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=queue)
    try:
        queued = 0
        for attempt_id, customer_id in attempts:
            job = await pool.enqueue_job(
                "place_call", attempt_id, customer_id, _job_id=f"{prefix}:call:{attempt_id}"
            )
            queued += job is not None
        return queued
    finally:
        await pool.aclose()


# -- the run ------------------------------------------------------------------------------


@dataclass
class Timed:
    """What the timed part took: jobs queued, seconds, CPU by process, the machine's share busy."""

    queued: int
    queueing_seconds: float
    wall: float
    cpu: dict[str, float]
    busy_share: float


def start_processes(
    args: argparse.Namespace, fleet: Fleet, db_url: str, redis_url: str, queue: str, prefix: str
) -> int:
    """The carrier simulator, ``--web`` web processes and ``--workers`` arq workers on this
    run's store, Redis, queue and key prefix; the simulator's port, once every one is up."""
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
        "COLUMNS": "200",
    }
    shares = [f"--{name}={share}" for name, share in RATES.items()]
    fleet.start(
        "simulator",
        ["simulator", "--port", str(sim_port), f"--time-scale={TIME_SCALE}", *shares],
    )
    _, workers = start_web_and_workers(fleet, bases, args.workers)
    wait_http(fleet, f"http://127.0.0.1:{sim_port}/simulator/stats")
    wait_workers(fleet, workers, redis_url, queue)
    return sim_port


def dial_all(
    args: argparse.Namespace,
    fleet: Fleet,
    engine: Engine,
    campaign_id: int,
    clock: DialerClock,
    *,
    redis_url: str,
    queue: str,
    prefix: str,
    db_kind: str,
    attempt_ids: list[int],
) -> Timed:
    """The timed part: the attempts written and queued at once, then waited for until all
    are final (or ``--timeout``); their ids are added to ``attempt_ids`` as they are written."""
    for proc in fleet.procs:
        proc.cpu_start = cpu_seconds(proc.popen.pid)
    redis_cpu_start = redis_cpu(redis_url)
    db_cpu_start = server_cpu("postgres") if db_kind == "postgresql" else {}
    busy_start, total_start = machine_busy()
    own_start = time.process_time()
    started = time.perf_counter()
    attempts = queue_attempts(engine, campaign_id, clock)
    attempt_ids.extend([attempt_id for attempt_id, _ in attempts])
    queued = asyncio.run(enqueue_calls(redis_url, queue, prefix, attempts))
    enqueued_s = time.perf_counter() - started
    deadline = started + args.timeout
    final = 0
    while final < len(attempt_ids) and time.perf_counter() < deadline:
        fleet.check_alive()
        time.sleep(0.1)
        final = count_final(engine, campaign_id)
    wall = time.perf_counter() - started
    cpu = {proc.name: cpu_seconds(proc.popen.pid) - proc.cpu_start for proc in fleet.procs}
    cpu["bench"] = time.process_time() - own_start
    redis_cpu_end = redis_cpu(redis_url)
    if redis_cpu_start is not None and redis_cpu_end is not None:
        cpu["redis"] = redis_cpu_end - redis_cpu_start
    if db_kind == "postgresql":
        # every local server process, this run's backends among them; ones that
        # ended during the run are missed
        db_cpu_end = server_cpu("postgres")
        cpu["postgres"] = sum(
            value - db_cpu_start.get(pid, 0.0) for pid, value in db_cpu_end.items()
        )
    busy_end, total_end = machine_busy()
    # -- end of timed --

    busy_share = (
        (busy_end - busy_start) / (total_end - total_start) if total_end > total_start else 0.0
    )
    # the rest of the machine's busy time: the database server, the kernel, others
    busy_s = (busy_end - busy_start) / os.sysconf("SC_CLK_TCK")
    cpu["other"] = max(0.0, busy_s - sum(cpu.values()))
    return Timed(queued, enqueued_s, wall, cpu, busy_share)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out = sys.stderr if args.json else sys.stdout
    with (
        bench_database(args.database, folder) as (db_url, db_kind),
        bench_redis(args.redis, folder) as (redis_url, redis_label),
    ):
        engine = make_engine(db_url)
        run_id = uuid.uuid4().hex[:8]
        queue, prefix = f"tc-bench:{run_id}:dialer", f"tc-bench:{run_id}"
        attempt_ids: list[int] = []
        campaign_id: int | None = None
        fleet = Fleet(folder, env={})
        try:
            print(f"store: {db_kind}; redis: {redis_label}; writing the campaign", file=out)
            campaign_id = write_campaign(engine, args.attempts)
            clock = DialerClock.starting(CLOCK_START, scale=1.0)
            asyncio.run(set_clock(redis_url, clock, prefix))
            sim_port = start_processes(args, fleet, db_url, redis_url, queue, prefix)
            print(
                f"simulator, {args.web} web, {args.workers} workers up; "
                f"dialing {args.attempts:,} attempts",
                file=out,
            )
            timed = dial_all(
                args,
                fleet,
                engine,
                campaign_id,
                clock,
                redis_url=redis_url,
                queue=queue,
                prefix=prefix,
                db_kind=db_kind,
                attempt_ids=attempt_ids,
            )
            sim = simulator_stats(sim_port)
            result = outcomes(engine, campaign_id)
        finally:
            fleet.stop()
            engine.dispose()
            with contextlib.suppress(redis.RedisError):
                clear_keys(
                    redis_url,
                    prefix=prefix,
                    queue=queue,
                    campaign_id=campaign_id,
                    attempt_ids=attempt_ids,
                )
    setup = {"database": db_kind, "redis": redis_label}
    return result_figures(args, result, timed, sim, setup)


def result_figures(
    args: argparse.Namespace,
    result: Outcomes,
    timed: Timed,
    sim: dict[str, Any],
    setup: dict[str, str],
) -> dict[str, Any]:
    """The benchmark's figures, as printed (``setup``: the store's and Redis's labels)."""
    cpu = timed.cpu
    seconds = result.seconds if result.final else timed.wall
    return {
        "attempts": result.final,
        "seconds": round(seconds, 3),
        "attempts_per_second": round(result.final / seconds, 1) if seconds else 0.0,
        "latency_p50_s": round(percentile(result.latencies, 0.50), 3),
        "latency_p95_s": round(percentile(result.latencies, 0.95), 3),
        "dial_p50_s": round(percentile(result.dial_times, 0.50), 3),
        "dial_p95_s": round(percentile(result.dial_times, 0.95), 3),
        "workers": args.workers,
        "web": args.web,
        "database": setup["database"],
        "redis": setup["redis"],
        "requested": args.attempts,
        "queued": timed.queued,
        "queueing_seconds": round(timed.queueing_seconds, 3),
        "wall_seconds": round(timed.wall, 3),
        "all_final": result.final == args.attempts,
        "statuses": result.statuses,
        "callbacks_posted": sim.get("callbacks_posted"),
        "callbacks_failed": sim.get("callbacks_failed"),
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        # CPU per final attempt: steadier than attempts/s on a machine shared with others
        "cpu_ms_per_attempt": {
            name: round(1000 * value / max(result.final, 1), 2) for name, value in cpu.items()
        },
        "machine_cpu_busy": round(timed.busy_share, 3),
        "cores": os.cpu_count() or 1,
    }


def print_table(figures: dict[str, Any]) -> None:
    rate = figures["attempts_per_second"]
    print(
        f"{figures['attempts']:,} of {figures['requested']:,} attempts final in "
        f"{figures['seconds']:.2f} s: {rate:.1f} attempts/s "
        f"({'meets' if rate >= TARGET else 'below'} the {TARGET:.0f}/s target)"
    )
    print(
        f"  store {figures['database']}, redis {figures['redis']}, "
        f"{figures['workers']} workers, {figures['web']} web"
    )
    print(
        f"  latency queued->final  p50 {figures['latency_p50_s']:.3f} s  "
        f"p95 {figures['latency_p95_s']:.3f} s"
    )
    print(
        f"  dial time started->final  p50 {figures['dial_p50_s']:.3f} s  "
        f"p95 {figures['dial_p95_s']:.3f} s"
    )
    print(f"  queueing (rows + jobs) {figures['queueing_seconds']:.2f} s")
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(figures["statuses"].items()))
    print(
        f"  outcomes: {statuses}; callbacks posted {figures['callbacks_posted']}, "
        f"failed {figures['callbacks_failed']}"
    )
    wall = max(figures["wall_seconds"], 1e-9)
    done = max(figures["attempts"], 1)
    print(f"  {'process':10} {'cpu s':>7} {'cores':>6} {'ms/attempt':>11}")
    for name, value in figures["cpu_seconds"].items():
        print(f"  {name:10} {value:7.2f} {value / wall:6.2f} {1000 * value / done:11.2f}")
    print(
        f"  machine: {figures['machine_cpu_busy']:.0%} of {figures['cores']} cores busy "
        f"over {wall:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=2000, help="calls to dial")
    parser.add_argument("--workers", type=int, default=2, help="arq worker processes")
    parser.add_argument("--web", type=int, default=1, help="web processes (webhooks)")
    parser.add_argument(
        "--database",
        help="a PostgreSQL URL to create a private database on (default: a fresh SQLite file)",
    )
    parser.add_argument(
        "--redis",
        default=DEFAULT_REDIS,
        help="Redis URL; the embedded server when none answers there, or with 'embedded'",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.attempts < 1 or args.workers < 1 or args.web < 1:
        parser.error("--attempts, --workers and --web must be at least 1")
    with tempfile.TemporaryDirectory(prefix="tc-bench-dispatch-") as tmp:
        figures = run(args, Path(tmp))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_table(figures)
    return 0 if figures["all_final"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
