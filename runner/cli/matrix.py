"""`telecampaign matrix show` and `matrix states`: what is offered to whom.

``show`` prints the segment x product matrix in force (or a stored version) as a
table, with how many customers each segment holds and how many segments each
product is targeted at; ``states`` shows one customer's targeted products with their
state and the customer's maturity. Both print JSON with ``--json``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from campaigns.matrix import (
    CustomerStates,
    Matrix,
    ProductState,
    customer_states,
    customers_by_segment,
    load_matrix,
)
from runner.cli.common import console, fail, migrated_store, settings_of

__all__ = ["matrix_app"]

matrix_app = typer.Typer(
    help="The segment x product matrix: which products are offered to which segment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
VersionOption = Annotated[
    int | None,
    typer.Option("--version", min=1, help="A stored version (default: the one in force)."),
]
MARK = "x"


@matrix_app.command("show")
def show(ctx: typer.Context, version: VersionOption = None, as_json: JsonOption = False) -> None:
    """Print the matrix: segments as rows, products as columns, x where targeted."""
    with migrated_store(settings_of(ctx)) as engine:
        matrix = load_matrix(engine, version)
        sizes = customers_by_segment(engine)
    if as_json:
        typer.echo(json.dumps(matrix_json(matrix, sizes)))
        return
    table = matrix_table(matrix, sizes)
    out = console
    if not console.is_terminal:
        # Piped output has no screen to fit: print the table whole rather than squeezed.
        natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
        out = Console(width=max(natural, console.width))
    source = f" from {escape(matrix.source)}" if matrix.source else ""
    out.print(
        f"segment x product matrix, version {matrix.version}, imported "
        f"{matrix.imported_at:%Y-%m-%d %H:%M} UTC{source}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(table)


@matrix_app.command("states")
def states(
    ctx: typer.Context,
    customer: Annotated[str, typer.Argument(help="The customer's id in your systems.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day to report on (YYYY-MM-DD; default today).")
    ] = None,
    version: VersionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show where a customer stands on each product targeted at their segment."""
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise fail(f"--as-of {escape(repr(as_of))} is not a date: write YYYY-MM-DD") from None
    with migrated_store(settings_of(ctx)) as engine:
        view = customer_states(engine, customer, day, version=version)
    if as_json:
        typer.echo(json.dumps(states_json(view)))
        return
    segment = (
        f"segment {escape(view.segment.code)} ({escape(view.segment.name)})"
        if view.segment
        else "no segment"
    )
    console.print(
        f"{escape(view.external_id)} {escape(view.name)}, {segment}, matrix version "
        f"{view.matrix.version}, as of {view.as_of}",
        highlight=False,
    )
    if view.segment is None:
        console.print("the matrix targets nothing at a customer without a segment")
        return
    if not view.products:
        console.print(f"segment {escape(view.segment.code)} has no product targeted at it")
        return
    table = Table("product", "name", "state", "since", "refusal reason")
    for p in view.products:
        table.add_row(
            p.code,
            escape(p.name),
            p.state.value.replace("_", " "),
            "" if p.date is None else p.date.isoformat(),
            escape(p.refusal_reason or ""),
        )
    console.print(table)
    held = sum(p.state == ProductState.SIGNED for p in view.products)
    console.print(
        f"maturity {view.maturity:.0%}: holds {held} of the {len(view.products)} products "
        "targeted at the segment",
        highlight=False,
    )


def matrix_table(matrix: Matrix, sizes: dict[str, int]) -> Table:
    """Segments as rows, products as columns; the footer counts segments per product."""
    table = Table(
        show_footer=True,
        caption=f"{MARK}: product targeted at the segment; bottom row: segments targeting it",
    )
    table.add_column("segment", footer="segments", no_wrap=True)
    table.add_column("name")
    for product in matrix.products:
        table.add_column(
            product.code,
            footer=str(len(matrix.targeting(product.code))),
            justify="center",
            overflow="fold",  # a narrow screen breaks a code over lines rather than cut it
        )
    total = sum(sizes.get(s.code, 0) for s in matrix.segments)
    table.add_column("customers", footer=f"{total:,}", justify="right")
    for segment in matrix.segments:
        marks = [MARK if (segment.code, p.code) in matrix.cells else "" for p in matrix.products]
        table.add_row(segment.code, escape(segment.name), *marks, f"{sizes.get(segment.code, 0):,}")
    return table


def matrix_json(matrix: Matrix, sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "version": matrix.version,
        "imported_at": matrix.imported_at.isoformat(),
        "source": matrix.source,
        "segments": [
            {"code": s.code, "name": s.name, "customers": sizes.get(s.code, 0)}
            for s in matrix.segments
        ],
        "products": [
            {
                "code": p.code,
                "name": p.name,
                "family": p.family,
                "tier": p.tier,
                "segments": len(matrix.targeting(p.code)),
            }
            for p in matrix.products
        ],
        "cells": {s.code: matrix.targeted(s.code) for s in matrix.segments},
    }


def states_json(view: CustomerStates) -> dict[str, Any]:
    return {
        "customer": view.external_id,
        "name": view.name,
        "segment": None if view.segment is None else view.segment.code,
        "version": view.matrix.version,
        "as_of": view.as_of.isoformat(),
        "products": [
            {
                "code": p.code,
                "name": p.name,
                "state": p.state.value,
                "date": None if p.date is None else p.date.isoformat(),
                "refusal_reason": p.refusal_reason,
            }
            for p in view.products
        ],
        "maturity": view.maturity,
    }
