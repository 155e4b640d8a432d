"""`telecampaign customer erase`, `customer export` and `retention purge`: a person's
data on request (GDPR art. 15 and 17), and contact data kept only as long as set.

An erasure is one transaction: every id in the command is erased, or none. An id the
store does not know is listed, not an error, so a file of requests runs whole.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from runner.cli.common import console, fail, migrated_store, settings_of
from runner.privacy import erase_in_store, purge_now
from runner.site_secrets import SecretKeyError
from store.csv_out import unguard
from store.db import transaction
from store.private_files import write_private_text
from store.subject_access import customer_record

__all__ = ["customer_app", "retention_app"]

customer_app = typer.Typer(help="One person's data: export it, erase it.", no_args_is_help=True)
retention_app = typer.Typer(help="Contact data kept only as long as set.", no_args_is_help=True)

ID_COLUMN = "customer_id"


def read_id_file(path: Path) -> list[str]:
    """Customer ids from a CSV file: its ``customer_id`` column when the first line names
    one, else the first cell of every line (a plain list, one id a line)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = [row for row in csv.reader(handle) if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--file {path}: cannot be read as UTF-8 text ({exc})") from None
    except csv.Error as exc:
        raise fail(f"--file {path}: not a CSV file ({exc})") from None
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    column = header.index(ID_COLUMN) if ID_COLUMN in header else None
    if column is None:
        return [unguard(row[0].strip()) for row in rows]
    return [unguard(row[column].strip()) for row in rows[1:] if len(row) > column]


@customer_app.command("erase")
def erase(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(help="Customer ids, as the import file had them.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV of ids: a customer_id column, or one id a line."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Erase customers on request: their identifying data goes for good, their numbers
    and ids stay only as keyed hashes so nobody imports or calls them again."""
    wanted = list(ids or []) + (read_id_file(file) if file else [])
    if not wanted:
        raise fail("no customer ids given: name them, or pass --file IDS.csv")
    settings = settings_of(ctx)
    with migrated_store(settings) as engine:
        try:
            result = erase_in_store(engine, settings, wanted)
        except SecretKeyError as exc:
            raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    _print_ids("erased", result.erased)
    _print_ids("already erased before", result.already_erased)
    _print_ids("not found, nothing done", result.unknown)
    if result.removed:
        counts = ", ".join(f"{what} {n:,}" for what, n in sorted(result.removed.items()) if n)
        console.print(f"removed or replaced: {counts or 'nothing'}", soft_wrap=True)


def _print_ids(label: str, ids: list[str]) -> None:
    if ids:
        shown = ", ".join(escape(i) for i in ids)
        console.print(f"{label} ({len(ids):,}): {shown}", soft_wrap=True, highlight=False)


@customer_app.command("export")
def export(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the JSON to this file (0600) instead of printing it."),
    ] = None,
) -> None:
    """Everything stored about one person, as JSON (a subject-access request)."""
    with migrated_store(settings_of(ctx)) as engine, transaction(engine) as session:
        record = customer_record(session, customer_id)
    if record is None:
        raise fail(
            f"no customer with id {customer_id!r}: check the id (a customer erased on "
            "request has no data left to export)"
        )
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    write_private_text(out, text)
    console.print(f"wrote everything stored about {escape(customer_id)} to {out}")


@retention_app.command("purge")
def purge(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Remove now what has outlived its retention period (the worker does it daily)."""
    settings = settings_of(ctx)
    with migrated_store(settings) as engine, transaction(engine) as session:
        removed: dict[str, Any] = purge_now(session, settings)
    if as_json:
        typer.echo(json.dumps(removed))
        return
    periods = settings.retention
    for what, n in removed.items():
        console.print(f"{what}: {n:,} removed (kept {getattr(periods, what)} days)")
