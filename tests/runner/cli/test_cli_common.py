"""What the long-running commands share: uvloop's loop, and the imports left out of the
garbage collector's full passes."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from runner.cli.common import freeze_imports
from runner.loop import event_loop, run_async


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def test_run_async_runs_on_uvloop() -> None:
    async def which() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert run_async(which()) is uvloop.Loop
    loop = event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


@pytest.mark.usefixtures("unfrozen")
def test_freeze_imports_leaves_what_is_loaded_out_and_collects_what_comes_after() -> None:
    class Cycle:
        other: Cycle | None = None

    loaded = object.__new__(Cycle)  # alive before the freeze
    freeze_imports()
    assert gc.get_freeze_count() > 10_000  # the modules, classes and functions loaded
    assert gc.is_tracked(loaded)
    assert not any(o is loaded for o in gc.get_objects())  # in no generation a pass visits

    # a cycle made afterwards is still found and freed by a full pass
    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
