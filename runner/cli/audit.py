"""`telecampaign audit`: the audit trail, newest first, filtered by time, actor and action."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from runner.cli.common import console, fail, migrated_store, settings_of
from store.audit import AuditAction, AuditFilter, AuditRow, list_events

__all__ = ["audit_command", "parse_since"]


def parse_since(value: str) -> dt.datetime:
    """``2026-12-01`` (midnight UTC) or ``2026-12-01T08:30`` (UTC unless an offset is given)."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date: write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _actions(asked: list[str]) -> list[str]:
    known = {a.value for a in AuditAction}
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise ValueError(
            f"no action {', '.join(map(repr, unknown))}: use one of {', '.join(sorted(known))}"
        )
    return asked


def _detail_text(row: AuditRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.detail.items() if v is not None)


def audit_command(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Events from this day or time on (UTC): YYYY-MM-DD[THH:MM].")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="One actor: a username, apikey:NAME or cli:OSUSER."),
    ] = None,
    action: Annotated[
        list[str] | None, typer.Option(help="Only this action (repeat for several).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Who did what, when and from where: logins, user changes, plans, moves, imports,
    exports, customer cards viewed outside a call, API key uses."""
    try:
        which = AuditFilter(
            since=parse_since(since) if since else None,
            actor=user.strip().lower() if user else None,
            actions=_actions(action or []),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    with migrated_store(settings_of(ctx)) as engine, Session(engine) as session:
        rows = list_events(session, which, limit=limit)
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows]))
        return
    if not rows:
        console.print("no audit events match", highlight=False)
        return
    table = Table(title=f"audit trail (newest first, at most {limit})")
    for column in ("at (UTC)", "who", "from", "action", "target", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row.at:%Y-%m-%d %H:%M:%S}",
            escape(row.actor),
            escape(row.address or ""),
            row.action,
            escape(row.target or ""),
            escape(_detail_text(row)),
        )
    console.print(table)
