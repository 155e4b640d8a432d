"""The event loop every telecampaign process runs on, and running a coroutine on it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["event_loop", "run_async"]

T = TypeVar("T")


def event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for one of telecampaign's processes: uvloop's, whose sockets,
    timers and callbacks cost a fraction of the standard loop's CPU. The web app, the
    workers and the carrier simulator spend most of theirs in the loop (BENCHMARKS.md)."""
    import uvloop

    return uvloop.new_event_loop()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on ``event_loop()``."""
    with asyncio.Runner(loop_factory=event_loop) as runner:
        return runner.run(main)
