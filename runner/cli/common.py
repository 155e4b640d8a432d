"""What every `telecampaign` command shares: settings, plain errors, a migrated store.

Sub-command modules import these instead of `runner.cli.main`, which imports them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine

from campaigns.errors import CampaignError
from runner.settings import Settings
from scoring.errors import ScoringError
from store.db import make_engine
from store.errors import StoreError

__all__ = [
    "console",
    "errors",
    "fail",
    "freeze_imports",
    "migrated_store",
    "settings_of",
]

console = Console()
errors = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings, read from the environment on the first call (the CLI's callback, or
    a sub-app run on its own, as in a test); one that cannot be used is a plain error."""
    settings = ctx.obj
    if not isinstance(settings, Settings):
        from runner.settings import SettingsError, load_settings

        try:
            settings = ctx.obj = load_settings()
        except SettingsError as exc:
            raise fail(f"{exc} (fix the environment variable and run again)") from None
    return settings


def fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@contextmanager
def migrated_store(settings: Settings) -> Iterator[Engine]:
    """An engine on a migrated store; errors a user can fix end the command plainly."""
    from store.importer import ensure_schema

    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        yield engine
    except (StoreError, ScoringError, CampaignError) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()


def freeze_imports() -> None:
    """Leave what is loaded so far out of the garbage collector's full passes.

    A long-running process (the web app, a worker, the simulator) imports about 300,000
    objects that live as long as it does: modules, classes, functions (scikit-learn, pandas,
    SQLAlchemy ...). CPython's full collection walks every one of them each time, and
    under the console benchmark's load those passes stopped the web app's event loop for
    150-290 ms every few seconds: the whole tail of its latency. ``gc.freeze`` moves them
    to a generation no collection visits; what the process makes afterwards is collected
    as before. Call it once, when the imports are done and before the work starts."""
    gc.collect()
    gc.freeze()
