"""A rich progress bar behind a plain `advance(done, total)` callback.

The stages report progress through a callback so they never import rich themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[float, float], None]


@contextmanager
def progress_bar(description: str, *, disable: bool = False, total: float = 0) -> Iterator[Advance]:
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total != 1.0 else TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    console = Console(stderr=True)
    # A bar only means something on a terminal; in logs it leaves blank lines behind.
    disable = disable or not console.is_terminal
    with Progress(*columns, console=console, disable=disable, transient=True) as progress:
        task = progress.add_task(description, total=total or None)

        def advance(done: float, of: float) -> None:
            progress.update(task, completed=done, total=max(of, done) or None)

        yield advance
