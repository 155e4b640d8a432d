"""What every `telecampaign` command shares: settings, plain errors, a migrated store.

Sub-command modules import these instead of `runner.cli`, which imports them.
"""

from __future__ import annotations

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

__all__ = ["console", "errors", "fail", "migrated_store", "settings_of"]

console = Console()
errors = Console(stderr=True)


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    if not isinstance(settings, Settings):  # a sub-app run on its own, e.g. in a test
        from runner.settings import load_settings

        settings = ctx.obj = load_settings()
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
