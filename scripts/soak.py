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
on a predictive, a progressive and a preview list at once, each under its own settings
drawn from ``--seed`` (window per weekday, cap, tries, retry delays; printed with the
verdict, so a failure can be run again). The dialer's clock runs
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
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine, func, select, update

from campaigns.settings.model import CampaignSettings
from dialer.agents import AgentBoard, AgentState
from dialer.clock import DialerClock
from scripts.backends import bench_database
from scripts.console_agents import write_agents
from scripts.fleet import Fleet, free_port
from scripts.soak_checks import FINAL, VERDICT_COUNTS, Clock, Rules, StoreFacts, reconcile
from scripts.soak_fleet import (
    Soak,
    Supervisor,
    fault_schedule,
    inject,
    save_clock_again,
    soak_redis,
    start_processes,
)
from scripts.soak_floor import customers_texting, preview_person, watch_store
from scripts.soak_world import write_base
from simulation.carrier.ledger import read_ledger
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
SETTLE_LIMIT = 300.0  # real seconds the attempts get to settle after the faults stop


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
        # in flight, or waiting with no job to take it (one a flushed Redis lost, until
        # the reaper queues it again); a call waiting with its job (for the window to open)
        # is settled
        live, _ = stuck_attempts(soak)
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
                "list_entry_id": r.list_entry_id,
                "channel": str(r.channel),
                "phone": r.phone,
                "sid": r.provider_sid,
                "status": str(r.status),
                "answered_by": None if r.answered_by is None else str(r.answered_by),
                "answered_at": _aware(r.answered_at),
                "queued_at": _aware(r.queued_at),
                "started_at": _aware(r.started_at),
            }
            for r in conn.execute(
                select(
                    Attempt.id,
                    Attempt.campaign_id,
                    Attempt.list_entry_id,
                    Attempt.channel,
                    Attempt.phone,
                    Attempt.provider_sid,
                    Attempt.status,
                    Attempt.answered_by,
                    Attempt.answered_at,
                    Attempt.queued_at,
                    Attempt.started_at,
                )
            )
        ]
        campaigns = conn.execute(
            select(Campaign.id, Campaign.launched_at, Campaign.settings).where(
                Campaign.id.in_(list(soak.campaigns.values()))
            )
        ).all()
        launched = {int(i): at.replace(tzinfo=dt.UTC) for i, at, _ in campaigns if at is not None}
        # what each campaign ran under, as the store holds it (not as the soak drew it)
        settings = {int(i): CampaignSettings.model_validate(values) for i, _, values in campaigns}
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
    return StoreFacts(
        attempts=attempts,
        customers=customers,
        dnc=dnc,
        holdout=holdout,
        settings=settings,
        launched=launched,
        stops=soak.stops,
        changes=soak.changes,
    )


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
            for name, drawn in base.settings.items():
                soak.log(f"{name} runs under {json.dumps(drawn)}")
            # every process reads the clock once, as it starts
            soak.clock = DialerClock.starting(start, args.scale)
            asyncio.run(save_clock_again(soak))
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
        # a second of real time from the dialer's decision to the carrier, at the clock's speed
        latency = dt.timedelta(seconds=max(30.0, args.scale))
        verdict = reconcile(ledger, store_facts(soak), clock, Rules(tolerance=latency))
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
        "seed": args.seed,
        "settings": base.settings,
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
        print(f"{'settings_breaches':>30}  {result['settings_breaches']}")
        for name, drawn in result["settings"].items():
            print(f"{'settings of ' + name:>30}  {json.dumps(drawn)}")
        for name, cases in result["examples"].items():
            print(f"{name}: {cases}")
    return 1 if any(result[name] for name in COUNTS) else 0


if __name__ == "__main__":
    sys.exit(main())
