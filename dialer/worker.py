"""The arq worker of the dialer: arq's, with each job claimed in one Redis round trip.

The jobs are in ``dialer.jobs`` and ``dialer.pacing_pass``, the worker's settings in
``dialer.worker_settings``.
"""

from __future__ import annotations

import random
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from redis.commands.core import AsyncScript

from dialer.context import DialerConfig
from dialer.worker_settings import worker_options

__all__ = ["DialerWorker", "make_worker"]


# arq's claim of one job, in one round trip: not running anywhere, still queued and due,
# then marked in progress (KEYS: the in-progress key, the queue; ARGV: the job id, now in
# ms, the in-progress key's lifetime in ms); the job's score, or nil when not ours to run
_CLAIM_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


# how long a job another worker holds is passed over before this worker asks again
ASK_AGAIN_AFTER = 0.25


class DialerWorker(Worker):
    """arq's worker, with each job claimed in one Redis round trip rather than four.

    A job stays at the head of the queue until it finishes, so every poll reads the
    jobs already running here and on the other workers again and tries to claim each:
    with arq's WATCH, EXISTS, ZSCORE and MULTI/EXEC (then UNWATCH) that was about 30
    round trips per dialled call with two workers. Here a job running on this worker
    is passed over without asking, one another worker was found running is not asked
    about again for ``ASK_AGAIN_AFTER`` seconds, and any other is claimed by one script
    that checks and marks it atomically, as arq's transaction does. Each poll's jobs
    are all due; the worker goes through them from a random place rather than from the
    head, where the other workers start too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim_job: AsyncScript | None = None
        # jobs another worker was found running: until when (monotonic) not to ask again
        self._elsewhere: dict[str, float] = {}

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if len(self._elsewhere) > 4 * self.queue_read_limit:
            now = time.monotonic()
            self._elsewhere = {job: until for job, until in self._elsewhere.items() if until > now}
        # every worker reads the same head of the queue: each starts at a place of its own
        # in it, so that two rarely reach for the same job
        start = random.randrange(len(job_ids)) if job_ids else 0
        for job_id_b in [*job_ids[start:], *job_ids[:start]]:
            job_id = job_id_b.decode()
            running = self.tasks.get(job_id)
            if running is not None and not running.done():
                continue  # running here
            if self._elsewhere.get(job_id, 0.0) > time.monotonic():
                continue  # running elsewhere a moment ago: it will be done soon
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            score = await self._claim(job_id)
            if score is None:  # running elsewhere, finished, or deferred
                self._elsewhere[job_id] = time.monotonic() + ASK_AGAIN_AFTER
                self.sem.release()
                continue
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, int(score)))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _claim(self, job_id: str) -> float | None:
        if self._claim_job is None:
            self._claim_job = self.pool.register_script(_CLAIM_JOB)
        score = await self._claim_job(
            keys=[in_progress_key_prefix + job_id, self.queue_name],
            args=[job_id, int(time.time() * 1000), int(self.in_progress_timeout_s * 1000)],
        )
        return None if score is None else float(score)


def make_worker(config: DialerConfig, **overrides: Any) -> Worker:
    """The dialer's worker for ``config``; ``overrides`` as arq's ``Worker`` takes them."""
    return DialerWorker(**worker_options(config, **overrides))
