"""`telecampaign user add`, `list`, `password`, `disable` and `enable`: the people who
log in to the web app. A new password or a disabled user ends the user's sessions.

The password is never an argument (it would stay in the shell history and the process
list): it is typed at a hidden prompt twice, or piped as one line with --password-stdin.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from runner.cli.common import console, fail, migrated_store, settings_of
from runner.web.users import (
    MIN_PASSWORD_LENGTH,
    UserError,
    add_user,
    check_fields,
    check_password,
    check_user_exists,
    check_username_free,
    list_users,
    normalize_username,
    set_active,
    set_password,
)
from store.audit import Actor
from store.models import Role

__all__ = ["user_app"]

user_app = typer.Typer(
    help="People who log in to the web app.", no_args_is_help=True, pretty_exceptions_enable=False
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip("\r\n"):
            raise fail("--password-stdin: no password on standard input (pipe one line)")
        return line.rstrip("\r\n")
    try:
        password: str = typer.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    except typer.Abort:  # end of input before a confirmed password
        raise fail(
            "no password given: type it at the prompt, or pipe one line to --password-stdin"
        ) from None
    return password


@user_app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, ._-")],
    role: Annotated[Role, typer.Option(help="What the user works on.", case_sensitive=False)],
    name: Annotated[str, typer.Option("--name", help="The person's full name, as shown.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password as one line from stdin."),
    ] = False,
) -> None:
    """Create a user who can log in; asks for the password at a hidden prompt."""
    username = normalize_username(username)
    with migrated_store(settings_of(ctx)) as engine:
        try:
            # everything but the password first, so nobody types it twice in vain
            check_fields(username, name, role)
            check_username_free(engine, username)
            password = _read_password(password_stdin)
            check_password(password)
            user = add_user(engine, username, name, role, password, actor=Actor.cli())
        except UserError as exc:
            raise fail(str(exc)) from None
    console.print(
        f"added {escape(user.username)} ({escape(user.full_name)}), role {user.role.value}",
        highlight=False,
    )


@user_app.command("password")
def password_(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Whose password to set.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password as one line from stdin."),
    ] = False,
) -> None:
    """Set a user's password; whoever is logged in as them is logged out."""
    username = normalize_username(username)
    with migrated_store(settings_of(ctx)) as engine:
        try:
            check_user_exists(engine, username)  # before the password is typed twice
            password = _read_password(password_stdin)
            user = set_password(engine, username, password, actor=Actor.cli())
        except UserError as exc:
            raise fail(str(exc)) from None
    console.print(
        f"new password for {escape(user.username)}; their sessions have ended", highlight=False
    )


def _set_active(ctx: typer.Context, username: str, active: bool) -> None:
    with migrated_store(settings_of(ctx)) as engine:
        try:
            user = set_active(engine, username, active, actor=Actor.cli())
        except UserError as exc:
            raise fail(str(exc)) from None
    done = "may log in again" if active else "may no longer log in; their sessions have ended"
    console.print(f"{escape(user.username)} {done}", highlight=False)


@user_app.command("disable")
def disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Who may no longer log in.")],
) -> None:
    """Stop a user logging in; their sessions end at once."""
    _set_active(ctx, username, active=False)


@user_app.command("enable")
def enable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Who may log in again.")],
) -> None:
    """Let a disabled user log in again, with their password (old sessions stay ended)."""
    _set_active(ctx, username, active=True)


@user_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the users: username, full name, role, whether they may log in."""
    with migrated_store(settings_of(ctx)) as engine:
        users = list_users(engine)
    if as_json:
        rows = [
            {
                "username": u.username,
                "full_name": u.full_name,
                "role": u.role.value,
                "active": u.active,
            }
            for u in users
        ]
        typer.echo(json.dumps(rows))
        return
    if not users:
        console.print("no users yet: add one with `telecampaign user add`", highlight=False)
        return
    table = Table(title="users")
    for column in ("username", "full name", "role", "active"):
        table.add_column(column)
    for u in users:
        table.add_row(
            escape(u.username), escape(u.full_name), u.role.value, "yes" if u.active else "no"
        )
    console.print(table)
