"""`telecampaign apikey add`, `list` and `revoke`: keys for machine clients (a CRM).

A key is printed once, when it is made, and never again: only its hash is stored. Each
change is on the audit trail as the OS user's (``cli:NAME``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from runner.cli.common import console, fail, migrated_store, settings_of
from runner.web.api_keys import ApiKeyError, add_api_key, list_api_keys, revoke_api_key
from store.audit import Actor
from store.models import Role

__all__ = ["apikey_app"]

apikey_app = typer.Typer(
    help="API keys for machine clients (sent as Authorization: Bearer).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@apikey_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What uses the key, e.g. crm-sync.")],
    role: Annotated[Role, typer.Option(help="What the key may do, as a user of this role.")],
) -> None:
    """Make a key and print it once: store it where the client keeps secrets."""
    with migrated_store(settings_of(ctx)) as engine:
        try:
            key, token = add_api_key(engine, name, role, Actor.cli())
        except ApiKeyError as exc:
            raise fail(str(exc)) from None
    console.print(
        f"API key {escape(key.name)} ({key.role.value}); it is shown only now:", highlight=False
    )
    typer.echo(token)
    console.print(
        "send it as 'Authorization: Bearer <key>'; revoke it with "
        f"`telecampaign apikey revoke {escape(key.name)}`",
        highlight=False,
    )


@apikey_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The key's name.")],
) -> None:
    """Revoke a key: its next request is refused (401)."""
    with migrated_store(settings_of(ctx)) as engine:
        try:
            key = revoke_api_key(engine, name, Actor.cli())
        except ApiKeyError as exc:
            raise fail(str(exc)) from None
    console.print(f"revoked {escape(key.name)}: it opens nothing from now on", highlight=False)


@apikey_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the keys: name, role, public prefix, who made it, last use, revoked."""
    with migrated_store(settings_of(ctx)) as engine:
        keys = list_api_keys(engine)
    if as_json:
        typer.echo(json.dumps([key.as_json() for key in keys]))
        return
    if not keys:
        console.print("no API keys yet: make one with `telecampaign apikey add`", highlight=False)
        return
    table = Table(title="API keys")
    for column in ("name", "role", "prefix", "created", "by", "last used", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            escape(key.name),
            key.role.value,
            key.prefix,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            escape(key.created_by),
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "no",
        )
    console.print(table)
