"""The dialer's guarantees with real worker processes on one Redis and one database.

Each test runs the carrier simulator, the web app with the webhooks and simulated agents
in this process, and ``telecampaign worker`` processes beside it (see ``dial_harness``).
No call is answered (busy, no answer, failed), so lines end on the carrier's word alone;
each entry gets up to two calls a clock minute apart, and the campaign completes in
seconds on a clock running 25 times faster than real time.

- two workers share the work, and no attempt is dialled twice;
- a worker killed while calls are in flight loses nothing, and its replacement finishes;
- a Redis that lost its data is rebuilt from the database when a worker starts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from dialer.context import DialerConfig, open_dialer
from dialer.pacing_pass import pace_campaign
from store.models import AttemptStatus, CampaignStatus, EntryStatus
from tests.dialer.dial_base import build_running_campaign
from tests.dialer.dial_harness import (
    NO_ONE_ANSWERS,
    Carrier,
    Snapshot,
    WorkerPool,
    snapshot,
    wait_until,
)

S = AttemptStatus
CUSTOMERS = 60
AGENTS = 15  # progressive pacing: at most this many lines at once
TIME_SCALE = 60.0
DIALING: dict[str, Any] = {
    "retry_minutes": {"busy": 1, "no-answer": 1, "failed": 1, "machine": 1, "canceled": 1},
    "sms_after_failed_calls": 0,
}
SETTINGS = {"max_attempts": {"total": 2}}
WORKED = 240.0  # real seconds a campaign may take to finish once its workers run (a busy machine)


@dataclass
class Deployment:
    engine: Engine
    campaign_id: int
    carrier: Carrier
    workers: WorkerPool

    def now(self) -> Snapshot:
        return snapshot(self.engine, self.campaign_id)

    def explain(self) -> str:
        return f"{self.now().describe()}\n{self.workers.tails()}"

    def wait(self, what: str, done: Any, timeout: float = WORKED) -> Snapshot:
        def check() -> Snapshot | None:
            current = self.now()
            return current if done(current) else None

        return wait_until(what, check, timeout=timeout, explain=self.explain)

    def start(self, *names: str) -> None:
        """Start workers; once they are up, the agents log in and dialling begins."""
        for name in names:
            self.workers.start(name)
        self.workers.wait_up()
        self.carrier.open_shift(self.campaign_id)

    def wait_completed(self) -> Snapshot:
        import time

        t = time.monotonic()

        def done(s):
            print(round(time.monotonic() - t, 1), s.describe(), flush=True)
            return s.campaign is CampaignStatus.COMPLETED

        return self.wait("completed", done)


@pytest.fixture
def deployment(
    engine: Engine, db_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Deployment]:
    campaign_id, _ = build_running_campaign(
        engine, CUSTOMERS, pacing="progressive", settings={**DIALING, **SETTINGS}
    )
    carrier = Carrier(
        db_url=db_url,
        redis_url=redis_url,
        prefix=redis_prefix,
        queue=f"{redis_prefix}:dialer",
        home=tmp_path,
        agents=AGENTS,
        time_scale=TIME_SCALE,
        rates=NO_ONE_ANSWERS,
    )
    workers = WorkerPool(carrier)
    try:
        carrier.start()
        yield Deployment(engine, campaign_id, carrier, workers)
    finally:
        workers.close()
        carrier.close()


def assert_worked_once(deployment: Deployment, done: Snapshot) -> None:
    """Completed; every attempt final; every entry closed; each dialled at most once."""
    assert done.campaign is CampaignStatus.COMPLETED, done.describe()
    assert done.final == len(done.rows), done.describe()
    assert set(done.entries) <= {EntryStatus.DONE.value, EntryStatus.EXCLUDED.value}, (
        done.describe()
    )
    assert sum(done.entries.values()) == CUSTOMERS
    dials = deployment.carrier.dials()
    twice = sorted(attempt for attempt, n in dials.items() if n > 1)
    assert twice == [], f"attempts dialled more than once: {twice}"
    assert -1 not in dials, "the carrier placed a call for no attempt"
    placed = {attempt_id: sid for attempt_id, _, sid in done.rows if sid is not None}
    assert set(dials) == set(placed), "the carrier's calls and the attempts that got a sid differ"
    assert deployment.carrier.sids() == {sid: attempt for attempt, sid in placed.items()}
    # every entry was called, and none more often than the policy allows
    assert len(dials) >= CUSTOMERS


@pytest.mark.slow
def test_two_workers_share_a_campaign_and_dial_each_attempt_once(
    deployment: Deployment,
) -> None:
    deployment.start("worker-1", "worker-2")
    first, second = deployment.workers.workers.values()

    done = deployment.wait_completed()

    assert_worked_once(deployment, done)
    calls_1, calls_2 = first.calls_started(), second.calls_started()
    assert calls_1, f"worker-1 placed no call:\n{deployment.workers.tails()}"
    assert calls_2, f"worker-2 placed no call:\n{deployment.workers.tails()}"
    assert calls_1.isdisjoint(calls_2), "one call job ran in both workers"
    started, dialled = calls_1 | calls_2, set(deployment.carrier.dials())
    assert dialled <= started, "the carrier got a call no worker's job placed"
    # a job the machine's load held past arq's job timeout is cut off before the carrier
    # answered; no job may dial that attempt again, and it ends failed with no SID
    statuses = {attempt_id: (status, sid) for attempt_id, status, sid in done.rows}
    for attempt_id in started - dialled:
        assert statuses[attempt_id] in ((S.FAILED, None), (S.CANCELED, None)), attempt_id


@pytest.mark.slow
def test_a_killed_worker_loses_no_call_and_dials_none_twice(deployment: Deployment) -> None:
    workers = deployment.workers
    deployment.start("worker-1", "worker-2")
    # Mid-campaign, with lines ringing at the carrier and none waiting for a job: every
    # line is in flight, so pacing has nothing to add until one ends.
    deployment.wait(
        "mid-campaign with every line ringing",
        lambda s: (
            s.final >= CUSTOMERS // 6 and s.live_with_carrier >= 3 and s.waiting_for_a_job == 0
        ),
    )
    # the worker that placed calls (which of the two takes the jobs is the queue's choice)
    placed = [n for n in ("worker-1", "worker-2") if workers.workers[n].calls_started()]
    assert placed, "neither worker had placed a call"
    workers.kill(placed[0])
    in_flight = deployment.now()
    workers.start("worker-3")

    done = deployment.wait_completed()

    assert_worked_once(deployment, done)
    assert in_flight.campaign is CampaignStatus.RUNNING
    # the lines in flight when the worker died were closed by the carrier's callbacks
    ended = {attempt_id: status for attempt_id, status, _ in done.rows}
    for attempt_id, status, sid in in_flight.rows:
        if sid is not None and status in (S.INITIATED, S.RINGING):
            assert ended[attempt_id] in (S.BUSY, S.NO_ANSWER, S.FAILED), attempt_id


@pytest.mark.slow
def test_a_redis_that_lost_its_data_is_rebuilt_from_the_database(
    deployment: Deployment,
) -> None:
    carrier, workers = deployment.carrier, deployment.workers
    deployment.start("worker-1")
    deployment.wait(
        "mid-campaign with every line ringing",
        lambda s: (
            s.final >= CUSTOMERS // 6 and s.live_with_carrier >= 3 and s.waiting_for_a_job == 0
        ),
    )
    # The worker goes down with the Redis; before anything is lost, a pacing pass (as
    # any dialer process may run) queues calls whose jobs then vanish with the data.
    workers.kill("worker-1")
    deployment.wait("the lines in flight ended", lambda s: s.live_with_carrier == 0, 30)
    assert carrier.dialer is not None
    context = {"dialer": carrier.dialer}
    queued = 0
    for _ in range(40):  # the killed worker may have left the campaign's pacing lock
        queued = carrier.run(pace_campaign(context, deployment.campaign_id))
        if queued:
            break
        time.sleep(1)
    before = deployment.now()
    waiting = [i for i, status, _ in before.rows if status is S.QUEUED]
    assert queued > 0
    assert len(waiting) >= queued, before.describe()
    carrier.forget_everything([i for i, _, _ in before.rows])
    # the demo's clock lived in Redis too; set it again as the operator would
    carrier.run(carrier.save_clock())
    workers.start("worker-2")

    done = deployment.wait_completed()

    assert_worked_once(deployment, done)
    dials = carrier.dials()
    ended = {attempt_id: status for attempt_id, status, _ in done.rows}
    for attempt_id in waiting:
        assert dials[attempt_id] == 1, f"queued attempt {attempt_id} was not dialled"
        assert ended[attempt_id] in (S.BUSY, S.NO_ANSWER, S.FAILED)


def test_deployments_sharing_a_redis_queue_their_own_calls(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Two dialers on one Redis, each with its queue and prefix, and the same attempt id
    in their own databases: each must get its call queued."""
    attempt_id = 1_000_000 + uuid.uuid4().int % 10**9

    async def scenario() -> list[int]:
        dialers = []
        for name in ("a", "b"):
            config = DialerConfig(
                database_url=f"sqlite:///{tmp_path / name}.db",
                redis_url=redis_url,
                account_sid="AC" + "0" * 32,
                auth_token="simulator-token",
                api_base="http://127.0.0.1:9",
                from_number="+15005550006",
                public_base_url="http://127.0.0.1:9",
                company="Northwind Telecom",
                callback_number="+15005550006",
                prefix=f"{redis_prefix}:{name}",
                queue_name=f"{redis_prefix}:{name}:dialer",
            )
            dialers.append(await open_dialer(config))
        try:
            for dialer in dialers:
                await dialer.enqueue("place_call", attempt_id, job_id=f"call:{attempt_id}")
            return [int(await d.redis.zcard(d.config.queue_name)) for d in dialers]
        finally:
            keys = [f"arq:job:{d.job_id(f'call:{attempt_id}')}" for d in dialers]
            keys += [d.config.queue_name for d in dialers]
            await dialers[0].redis.delete(*keys)
            for dialer in dialers:
                await dialer.close()

    assert asyncio.run(scenario()) == [1, 1]
