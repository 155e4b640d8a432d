"""`telecampaign plan`, `launch`, `pause`, `resume`, `stop`, `export` and `campaigns`.

The campaign manager's commands: preview and store a list, move a campaign through its
statuses, write a list to CSV, and see every campaign at a glance.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.export import export_list
from campaigns.lifecycle import move
from runner.cli.common import console, fail, migrated_store, settings_of
from store.models import Campaign, CampaignKind, Group, ListEntry

__all__ = ["register"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CampaignArgument = Annotated[str, typer.Argument(help="The campaign's name.")]


def plan_command(
    ctx: typer.Context,
    kind: Annotated[CampaignKind, typer.Option(help="What the list is for.")],
    name: Annotated[str, typer.Option(help="A unique name for the campaign.")],
    size: Annotated[
        int | None, typer.Option(help="How many customers to call (the holdout comes on top).")
    ] = None,
    agents: Annotated[int | None, typer.Option(help="Agents working the list.")] = None,
    hours: Annotated[float | None, typer.Option(help="Hours each agent works it.")] = None,
    contacts_per_hour: Annotated[
        float | None, typer.Option(help="Contacts an agent completes per hour.")
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Share of the list kept uncalled to measure the effect.")
    ] = 0.10,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the holdout draw (stored; random if not given).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Preview only: store nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build a call list from the latest scores: preview it and store it as planned."""
    from campaigns.plan_request import PlanRequest, PlanRequestError
    from campaigns.planner import plan

    try:
        request = PlanRequest(
            kind=kind,
            name=name,
            size=size,
            agents=agents,
            hours=hours,
            contacts_per_hour=contacts_per_hour,
            holdout=holdout,
            seed=seed,
        )
    except PlanRequestError as exc:
        problems = exc.described(option)
        raise fail("; ".join(f"{option(k)}: {v}" for k, v in problems.items())) from None
    with migrated_store(settings_of(ctx)) as engine:
        result = plan(engine, request, dry_run=dry_run)
    if as_json:
        print(json.dumps(result.preview, indent=2))
        return
    print_preview(result.preview, stored=not dry_run)


def option(field: str) -> str:
    """The option of ``plan`` a plan request's field is given by: ``--contacts-per-hour``."""
    return "--" + field.replace("_", "-")


def print_preview(preview: dict[str, Any], *, stored: bool) -> None:
    basis = {
        "uplift": "uplift model x CLV",
        "risk_value": "risk x CLV (no uplift model yet)",
        "propensity": "acceptance propensity model x margin",
        "assumed_acceptance": "margin x an assumed 9% acceptance (no offers recorded yet)",
        "win_back_rate": "assumed win-back rate x former revenue",
    }.get(preview["basis"], preview["basis"])
    console.print(
        f"[bold]{preview['name']}[/] ({preview['kind']}), scores of {preview['as_of']}, "
        f"model {preview['model_version']}; ranked by {basis}"
    )
    head = Table(show_header=False, box=None)
    head.add_column(style="dim")
    head.add_column(justify="right")
    expected = preview["expected"]
    count_key = next(k for k in expected if k != "value")
    for label, value in (
        ("to call (treated)", f"{preview['treated']:,}"),
        (
            f"holdout ({preview['holdout_fraction']:.0%}, seed {preview['seed']})",
            f"{preview['holdout']:,}",
        ),
        (f"expected {count_key.replace('_', ' ')}", f"{expected[count_key]:,.1f}"),
        ("expected value", f"{expected['value']:,.0f}"),
        ("candidates", f"{preview['candidates']:,}"),
        ("not worth a call", f"{preview['not_worth_calling']:,}"),
        ("beyond capacity", f"{preview['over_capacity']:,}"),
        ("taken from lower-priority lists", f"{preview['taken_from_lower_lists']:,}"),
        ("holdout balance (max decile gap)", f"{preview['holdout_balance_points']:.1f} pts"),
    ):
        head.add_row(label, value)
    console.print(head)
    if preview["exclusions"]:
        table = Table(title="Kept off the list")
        table.add_column("reason")
        table.add_column("customers", justify="right")
        for reason, n in sorted(preview["exclusions"].items(), key=lambda kv: -kv[1]):
            table.add_row(reason.replace("_", " "), f"{n:,}")
        console.print(table)
    for key, title in (("by_segment", "segment"), ("by_abc", "ABC class")):
        table = Table(title=f"By {title}")
        table.add_column(title)
        table.add_column("treated", justify="right")
        table.add_column("holdout", justify="right")
        for label, split in sorted(preview[key].items()):
            table.add_row(label, f"{split['treated']:,}", f"{split['holdout']:,}")
        console.print(table)
    if stored:
        launch = f"telecampaign launch {shlex.quote(preview['name'])}"
        console.print(f"stored as planned: `{launch}` starts it")
    else:
        console.print("preview only: nothing stored")


def _mover(action: str, doc: str) -> Any:
    def command(ctx: typer.Context, name: CampaignArgument) -> None:
        with migrated_store(settings_of(ctx)) as engine:
            campaign = move(engine, name, action)
        console.print(f"{campaign.name}: {campaign.status.value}")

    command.__doc__ = doc
    return command


def export_command(
    ctx: typer.Context,
    name: CampaignArgument,
    file: Annotated[Path, typer.Argument(help="The CSV file to write.")],
) -> None:
    """Write a campaign's list, holdout rows marked, to a CSV file."""
    with migrated_store(settings_of(ctx)) as engine:
        rows = export_list(engine, name, file)
    console.print(f"wrote {rows:,} entries to {file}")


def campaigns_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the campaigns with their status and list sizes."""
    with migrated_store(settings_of(ctx)) as engine, Session(engine) as session:
        sizes = {
            (cid, str(group)): n
            for cid, group, n in session.execute(
                select(ListEntry.campaign_id, ListEntry.group, func.count()).group_by(
                    ListEntry.campaign_id, ListEntry.group
                )
            )
        }
        rows = [
            {
                "name": c.name,
                "kind": c.kind.value,
                "status": c.status.value,
                "treated": sizes.get((c.id, Group.TREATMENT.value), 0),
                "holdout": sizes.get((c.id, Group.HOLDOUT.value), 0),
                "created_at": c.created_at.isoformat(),
                "launched_at": c.launched_at.isoformat() if c.launched_at else None,
            }
            for c in session.scalars(select(Campaign).order_by(Campaign.id))
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Campaigns")
    for column in ("name", "kind", "status", "treated", "holdout", "launched"):
        table.add_column(column, justify="right" if column in ("treated", "holdout") else "left")
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["kind"]),
            str(r["status"]),
            f"{r['treated']:,}",
            f"{r['holdout']:,}",
            str(r["launched_at"] or "")[:16],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)
    app.command("launch")(_mover("launch", "Start a planned campaign: the dialer works it."))
    app.command("pause")(_mover("pause", "Pause a running campaign; no new calls start."))
    app.command("resume")(_mover("resume", "Resume a paused campaign."))
    app.command("stop")(_mover("stop", "Stop a campaign for good; its list is closed."))
    app.command("export")(export_command)
    app.command("campaigns")(campaigns_command)
