"""The dialer's arq worker claims each job in one script: what arq's own claim does still
holds. A job another worker is running is left alone, a deferred job waits for its
time, a retried job runs again, and two workers on one queue run every job once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import func

from dialer.worker import DialerWorker
from runner.demo.dialing_run import close_worker

RUNS = "runs"


async def record(ctx: dict[str, Any], name: str) -> str:
    ctx[RUNS][name] += 1
    await asyncio.sleep(0.005)  # long enough for the other worker to find it queued
    return name


async def flaky(ctx: dict[str, Any], name: str) -> str:
    ctx[RUNS][name] += 1
    if ctx["job_try"] == 1:
        raise Retry(defer=0.05)
    return name


@dataclass
class Queue:
    pool: ArqRedis
    settings: RedisSettings
    name: str
    prefix: str
    runs: Counter[str]

    async def put(self, function: str, name: str, **options: Any) -> None:
        job_id = f"{self.prefix}:{name}"
        await self.pool.enqueue_job(
            function, name, _job_id=job_id, _queue_name=self.name, **options
        )

    def worker(self, **options: Any) -> DialerWorker:
        """A worker on a Redis pool of its own, as a worker process has."""
        return DialerWorker(
            functions=[func(record, name="record"), func(flaky, name="flaky")],
            redis_settings=self.settings,
            queue_name=self.name,
            ctx={RUNS: self.runs},
            poll_delay=0.01,
            handle_signals=False,
            keep_result=60,
            **options,
        )


Scenario = Callable[[Queue], Awaitable[None]]


@pytest.fixture
def on_queue(redis_url: str, redis_prefix: str) -> Callable[[Scenario], None]:
    """Run a scenario on a queue of the test's own."""

    async def run(scenario: Scenario) -> None:
        settings = RedisSettings.from_dsn(redis_url)
        pool = await create_pool(settings)
        try:
            await scenario(Queue(pool, settings, f"{redis_prefix}:queue", redis_prefix, Counter()))
        finally:
            await pool.aclose()

    return lambda scenario: asyncio.run(run(scenario))


async def working(done: Callable[[], bool], *workers: DialerWorker, timeout: float = 15.0) -> None:
    """Run the workers until ``done()`` and none of them is in the middle of a job (arq's
    close stops a job that is, and counts it as retried); fail after ``timeout`` seconds."""
    tasks = [asyncio.create_task(w.main()) for w in workers]
    try:
        deadline = time.monotonic() + timeout
        while not (done() and all(t.done() for w in workers for t in w.tasks.values())):
            assert time.monotonic() < deadline, "the workers did not get through the jobs"
            await asyncio.sleep(0.01)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in workers:
            try:
                await close_worker(w)
            except asyncio.CancelledError:  # a job it stopped midway: its pool is open still
                await w.pool.aclose()


def test_two_workers_run_every_job_once(on_queue: Callable[[Scenario], None]) -> None:
    on_queue(_two_workers_run_every_job_once)


async def _two_workers_run_every_job_once(queue: Queue) -> None:
    names = [f"job{n}" for n in range(120)]
    for name in names:
        await queue.put("record", name)
    first, second = queue.worker(max_jobs=7), queue.worker(max_jobs=7)
    await working(lambda: first.jobs_complete + second.jobs_complete >= len(names), first, second)
    assert queue.runs == Counter(names)
    assert first.jobs_complete + second.jobs_complete == len(names)
    assert first.jobs_complete > 0  # both took their share
    assert second.jobs_complete > 0
    assert await queue.pool.zcard(queue.name) == 0


def test_a_job_running_elsewhere_waits_until_that_run_ends(
    on_queue: Callable[[Scenario], None],
) -> None:
    on_queue(_a_job_running_elsewhere_waits_until_that_run_ends)


async def _a_job_running_elsewhere_waits_until_that_run_ends(queue: Queue) -> None:
    await queue.put("record", "busy")
    await queue.put("record", "free")
    running = in_progress_key_prefix + f"{queue.prefix}:busy"
    await queue.pool.psetex(running, 60_000, b"1")  # another worker has it
    w = queue.worker()
    polls_later: list[float] = []

    def free_ran_and_polled() -> bool:
        if queue.runs["free"] and not polls_later:
            polls_later.append(time.monotonic() + 0.2)
        return bool(polls_later) and time.monotonic() > polls_later[0]

    await working(free_ran_and_polled, w)
    assert queue.runs == Counter({"free": 1})  # twenty polls left "busy" alone
    await queue.pool.delete(running)  # that run ended without finishing the job
    w = queue.worker()
    await working(lambda: w.jobs_complete == 1, w)
    assert queue.runs == Counter({"free": 1, "busy": 1})


def test_a_deferred_job_waits_and_a_retried_job_runs_again(
    on_queue: Callable[[Scenario], None],
) -> None:
    on_queue(_a_deferred_job_waits_and_a_retried_job_runs_again)


async def _a_deferred_job_waits_and_a_retried_job_runs_again(queue: Queue) -> None:
    queued = time.monotonic()
    await queue.put("record", "later", _defer_by=0.4)
    await queue.put("flaky", "again")
    w = queue.worker()
    ran_at: list[float] = []

    def done() -> bool:
        if queue.runs["later"] and not ran_at:
            ran_at.append(time.monotonic())
        return w.jobs_complete == 2  # not only begun: a job stopped midway is retried

    await working(done, w)
    assert ran_at[0] - queued >= 0.4
    assert w.jobs_retried == 1
    assert queue.runs == Counter({"later": 1, "again": 2})
