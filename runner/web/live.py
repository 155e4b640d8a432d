"""The agents' live state for the console's event streams, one look per tick per process.

Every open ``/api/agent/events`` stream wants to know when its agent's state or call
changes. Rather than each stream reading the board and the store on its own (480 agents
would make about two thousand reads a second), each web process runs one ``AgentFeed``:
every ``EVENT_POLL`` seconds it reads the board hashes of all agents with an open stream
in one Redis round trip, and the status of their calls that have not ended in one
read-only store statement, then hands each stream its agent's snapshot when it changed.
A call that ended stays ended, so it is not read again.

The feed starts with the first stream and sleeps while no stream is open. A stream that
opens gets the agent's last snapshot at once, or the next look is made at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import AgentStatus
from dialer.clock import DialerClock
from dialer.webhooks import DIALER
from runner.web.card import iso
from runner.web.keys import USER
from store.models import Attempt, AttemptStatus

__all__ = [
    "EVENT_POLL",
    "FEED",
    "KEEPALIVE",
    "AgentFeed",
    "agent_events",
    "call_state",
    "close_feed",
    "status_json",
]

log = logging.getLogger("telecampaign.console")
S = AttemptStatus

EVENT_POLL = 0.5  # seconds between looks at the board, for all streams of a process
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps proxies from closing
_RINGING = frozenset({S.SCHEDULED, S.QUEUED, S.INITIATED, S.RINGING})
Snapshot = dict[str, Any]


def call_state(status: AttemptStatus) -> str:
    """What the agent sees of a call: ringing, connected or ended."""
    if status in _RINGING:
        return "ringing"
    return "connected" if status is S.IN_PROGRESS else "ended"


def status_json(clock: DialerClock, status: AgentStatus) -> Snapshot:
    """An agent's board state as the console's API shows it."""
    return {
        "state": status.state.value,
        "campaign_id": status.campaign_id,
        "attempt_id": status.attempt_id,
        "since": iso(clock.at(status.since)) if status.since else None,
        "pause_code": status.pause_code,
        "entry_id": status.entry_id,  # the list entry being previewed
    }


def _attempt_states(session: Session, attempt_ids: Iterable[int]) -> dict[int, AttemptStatus]:
    rows = session.execute(
        select(Attempt.id, Attempt.status).where(Attempt.id.in_(sorted(attempt_ids)))
    ).all()
    return dict(rows)


class AgentFeed:
    """Snapshots of the agents that have an open event stream in this process."""

    def __init__(self, app: web.Application, *, poll: float = EVENT_POLL) -> None:
        self._app = app
        self._poll = poll
        self._streams: dict[int, set[asyncio.Queue[Snapshot | None]]] = {}
        self._last: dict[int, Snapshot] = {}
        self._ended: set[int] = set()  # attempts whose call has ended: not read again
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def stream(self, agent_id: int) -> AsyncIterator[asyncio.Queue[Snapshot | None]]:
        """A queue of the agent's snapshots while the block runs; ``None`` means the app
        is closing. The first item is the agent's current snapshot."""
        queue: asyncio.Queue[Snapshot | None] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
        self._streams.setdefault(agent_id, set()).add(queue)
        last = self._last.get(agent_id)
        if last is not None:
            queue.put_nowait(last)
        else:
            self._wake.set()
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="agent-feed")
        try:
            yield queue
        finally:
            streams = self._streams.get(agent_id, set())
            streams.discard(queue)
            if not streams:
                self._streams.pop(agent_id, None)
                self._last.pop(agent_id, None)

    async def close(self) -> None:
        """End every stream and the feed."""
        self._closed = True
        for streams in self._streams.values():
            for queue in streams:
                queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._closed:
            if self._streams:
                try:
                    await self.look()
                except Exception:  # a Redis or store hiccup: the streams wait for the next
                    log.exception("the agent feed could not read the board")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll if self._streams else None)

    async def look(self) -> None:
        """Read the board and the calls once; send each changed snapshot to its streams."""
        dialer = self._app[DIALER]
        agent_ids = sorted(self._streams)
        statuses = await dialer.board.statuses(agent_ids)
        calls = {s.attempt_id for s in statuses if s.attempt_id is not None}
        to_read = calls - self._ended
        found = (
            await dialer.gateway.read_apart(lambda s: _attempt_states(s, to_read), quick=True)
            if to_read
            else {}
        )
        self._ended.update(a for a, status in found.items() if call_state(status) == "ended")
        self._ended &= calls  # forget calls no agent is on any more
        for status in statuses:
            snapshot = status_json(dialer.clock, status)
            call = status.attempt_id
            if call is None:
                snapshot["call_state"] = None
            elif call in self._ended:
                snapshot["call_state"] = "ended"
            else:
                found_status = found.get(call)
                snapshot["call_state"] = None if found_status is None else call_state(found_status)
            if snapshot == self._last.get(status.agent_id):
                continue
            self._last[status.agent_id] = snapshot
            for queue in self._streams.get(status.agent_id, ()):
                queue.put_nowait(snapshot)


FEED = web.AppKey("agent_feed", AgentFeed)


async def close_feed(app: web.Application) -> None:
    """``on_shutdown``: end the event streams so they do not hold the shutdown up."""
    await app[FEED].close()


# -- the event stream ---------------------------------------------------------------------


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def agent_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a ``state`` event whenever the agent's state or call changes.

    The process's ``AgentFeed`` looks at the board for every open stream at once; the
    stream writes what it hands over, a comment line after ``KEEPALIVE`` seconds of
    silence, and ends when the app shuts down.
    """
    user, clock = request[USER], request.app[DIALER].clock
    response = web.StreamResponse()
    response.content_type = "text/event-stream"
    response.headers["X-Accel-Buffering"] = "no"  # no proxy buffering of the stream
    await response.prepare(request)
    try:
        await response.write(b"retry: 2000\n\n")
        async with request.app[FEED].stream(user.id) as snapshots:
            while True:
                try:
                    snapshot = await asyncio.wait_for(snapshots.get(), KEEPALIVE)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if snapshot is None:
                    break
                # the clock's reading and speed let the page count time in the state
                sent = {**snapshot, "now": iso(clock.utcnow()), "clock_scale": clock.scale}
                await response.write(_sse("state", sent))
    except ConnectionResetError:
        pass  # the page went away
    return response
