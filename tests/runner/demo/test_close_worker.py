"""Closing a worker lets the jobs it runs finish: arq's own close cancels them and
raises the cancellation into its caller."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from arq.worker import Worker

from runner.demo.dialing_run import close_worker


class _ArqLikeWorker:
    """What arq's ``Worker.close`` does with the jobs it still runs: cancel, then gather."""

    def __init__(self) -> None:
        self.allow_pick_jobs = True
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def close(self) -> None:
        for task in self.tasks.values():
            if not task.done():
                task.cancel()
        await asyncio.gather(*self.tasks.values())


def test_a_running_job_finishes_before_the_worker_closes() -> None:
    finished: list[str] = []

    async def job() -> None:
        await asyncio.sleep(0.2)
        finished.append("job")

    async def scenario() -> None:
        worker = _ArqLikeWorker()
        worker.tasks["one"] = asyncio.create_task(job())
        await asyncio.sleep(0)
        await close_worker(cast(Worker, cast(Any, worker)))
        assert worker.allow_pick_jobs is False

    asyncio.run(scenario())
    assert finished == ["job"]
