"""`telecampaign plan`, `launch`, `pause`, `resume`, `stop`, `export` and `campaigns`.

The campaign manager's commands: preview and store a list, move a campaign through its
statuses, write a list to CSV, and see every campaign at a glance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.export import export_list
from campaigns.lifecycle import move
from campaigns.plan_request import CandidateSource
from runner.cli.common import console, fail, migrated_store, settings_of
from runner.reports.tables import plan_preview
from store.audit import Actor, AuditAction, record_apart
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
    candidates: Annotated[
        CandidateSource,
        typer.Option(
            help="Whom to choose from: all (whom the kind takes) or watchlist (customers at "
            "risk by their latest survey; anti-churn and follow-up lists)."
        ),
    ] = CandidateSource.ALL,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings", help="The campaign's own settings, a YAML file (README).", dir_okay=False
        ),
    ] = None,
    expected_effect: Annotated[
        float | None,
        typer.Option(
            help="The change per customer called you expect, e.g. 0.02 for churn 2 points "
            "lower; the preview's power figures use it instead of the planner's estimate."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Preview only: store nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build a call list from the latest scores: preview it and store it as planned."""
    from campaigns.plan_request import PlanRequest, PlanRequestError
    from campaigns.planner import plan
    from campaigns.settings.resolve import SettingsError
    from runner.cli.settings_cmd import read_settings_file

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
            candidates=candidates,
            policy=read_settings_file(settings_file) if settings_file else {},
            actor=Actor.cli().label,
            expected_effect=expected_effect,
        )
    except PlanRequestError as exc:
        problems = exc.described(option)
        raise fail("; ".join(f"{option(k)}: {v}" for k, v in problems.items())) from None
    with migrated_store(settings_of(ctx)) as engine:
        try:
            result = plan(engine, request, dry_run=dry_run)
        except SettingsError as exc:
            raise fail(f"--settings {settings_file}: {exc}; nothing planned") from None
        target = ("campaign", result.campaign_id) if result.campaign_id is not None else None
        detail = {"name": request.name, "kind": str(request.kind), "dry_run": dry_run}
        record_apart(engine, Actor.cli(), AuditAction.PLAN, target=target, detail=detail)
    if as_json:
        print(json.dumps(result.preview, indent=2))
        return
    for part in plan_preview(result.preview, stored=not dry_run):
        console.print(part)


def option(field: str) -> str:
    """The option of ``plan`` a plan request's field is given by: ``--contacts-per-hour``."""
    return "--" + field.replace("_", "-")


def _mover(action: str, doc: str) -> Any:
    def command(ctx: typer.Context, name: CampaignArgument) -> None:
        with migrated_store(settings_of(ctx)) as engine:
            campaign = move(engine, name, action)
            target, detail = ("campaign", campaign.id), {"name": name}
            record_apart(engine, Actor.cli(), AuditAction(action), target=target, detail=detail)
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
        detail = {"name": name, "rows": rows}
        record_apart(engine, Actor.cli(), AuditAction.EXPORT, detail=detail)
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
