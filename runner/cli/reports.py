"""`telecampaign report saved|conversions|kpis|monthly|watchlist` and `telecampaign attribute`.

The retention team's numbers: every effect against the holdout with its 95% interval,
as a table, as JSON (``--json``), as CSV (``--csv FILE``) and as a self-contained HTML
page with charts (``--html FILE``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from campaigns.monthly import (
    ACQUISITION_COST,
    ANNUAL_TARGET,
    FilterError,
    Filters,
    monthly_report,
)
from campaigns.outcomes import MEASURE_DAYS, attribute
from campaigns.reports import Costs, conversion_report, saved_report
from campaigns.watchlist import watch_list
from dialer.kpis import kpis_for
from runner.cli.common import console, fail, migrated_store, settings_of
from runner.reports.csv import Report, csv_text
from runner.reports.tables import (
    adjusted_table,
    agents_table,
    conversions_table,
    kpis_table,
    monthly_table,
    saved_table,
    split_table,
)
from runner.reports.watchlist_table import watch_list_tables
from store.private_files import open_private, write_private_text

__all__ = ["register", "report_app"]

report_app = typer.Typer(
    help="Saved customers, conversions, KPIs, the monthly churn report and the watch list.",
    no_args_is_help=True,
)

CampaignArgument = Annotated[str, typer.Argument(help="The campaign's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
CsvOption = Annotated[
    Path | None, typer.Option("--csv", help="Also write the report's rows to this CSV file.")
]
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML report with charts."),
]
AsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Read the feeds as of this day (default: today, or the feed's latest date).",
    ),
]


MonthlyAsOfOption = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="Report up to this day; never past today or the feeds' latest date, whichever "
        "is earlier (the default).",
    ),
]


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


@report_app.command("saved")
def saved_command(
    ctx: typer.Context,
    campaign: CampaignArgument,
    as_of: AsOfOption = None,
    window_days: Annotated[
        int, typer.Option(help="Days after the launch a customer must stay to count as saved.")
    ] = MEASURE_DAYS,
    contact_cost: Annotated[
        float, typer.Option(help="Cost of one contact attempt (a call placed, a text sent).")
    ] = Costs.contact,
    offer_cost: Annotated[float, typer.Option(help="Cost of one accepted offer.")] = Costs.offer,
    as_json: JsonOption = False,
    csv_file: CsvOption = None,
    html_file: HtmlOption = None,
) -> None:
    """Saved customers of an anti-churn or win-back list, against its holdout."""
    with migrated_store(settings_of(ctx)) as engine:
        report = saved_report(
            engine,
            campaign,
            as_of=_day(as_of),
            measure_days=window_days,
            costs=_costs(contact_cost, offer_cost),
        )
        if html_file is not None:
            from runner.reports.html import campaign_html

            kpis = kpis_for(engine, campaign, _day(as_of))
            _write(html_file, campaign_html(report, None, kpis))
    if csv_file is not None:
        _write_csv(csv_file, report)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    console.print(saved_table(report))
    console.print(adjusted_table(report.adjusted))
    console.print(
        split_table(
            "Saved customers by segment, ABC class, offer and agent", report.to_json(), "lost"
        )
    )
    _written(csv_file, html_file)


@report_app.command("conversions")
def conversions_command(
    ctx: typer.Context,
    campaign: CampaignArgument,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    csv_file: CsvOption = None,
    html_file: HtmlOption = None,
) -> None:
    """Take-up of the offered products, treated against holdout, within the attribution window."""
    with migrated_store(settings_of(ctx)) as engine:
        report = conversion_report(engine, campaign, as_of=_day(as_of))
        if html_file is not None:
            from runner.reports.html import campaign_html

            kpis = kpis_for(engine, campaign, _day(as_of))
            _write(html_file, campaign_html(None, report, kpis))
    if csv_file is not None:
        _write_csv(csv_file, report)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    console.print(conversions_table(report))
    console.print(adjusted_table(report.adjusted))
    console.print(split_table("Conversions by offer and agent", report.to_json(), "took up"))
    _written(csv_file, html_file)


@report_app.command("kpis")
def kpis_command(
    ctx: typer.Context,
    campaign: CampaignArgument,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
    csv_file: CsvOption = None,
) -> None:
    """Dials, connects, contacts, conversions, abandon rate, handle time, agents' figures."""
    with migrated_store(settings_of(ctx)) as engine:
        kpis = kpis_for(engine, campaign, _day(as_of))
    if csv_file is not None:
        _write_csv(csv_file, kpis)
    if as_json:
        print(json.dumps(kpis.to_json(), indent=2))
        return
    console.print(kpis_table(kpis))
    console.print(agents_table(kpis))
    _written(csv_file, None)


@report_app.command("monthly")
def monthly_command(
    ctx: typer.Context,
    months: Annotated[int, typer.Option(help="How many months back to report.")] = 12,
    as_of: MonthlyAsOfOption = None,
    target: Annotated[
        float, typer.Option(help="The yearly churn goal, as a share (0.05 = 5% a year).")
    ] = ANNUAL_TARGET,
    acquisition_cost: Annotated[
        float, typer.Option(help="What winning one new customer costs.")
    ] = ACQUISITION_COST,
    campaign: Annotated[
        list[str] | None,
        typer.Option(
            "--campaign",
            help="Count the saves of this anti-churn or win-back list only; repeat for several.",
        ),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(help="Churn, complaints and saves among the customers of this segment."),
    ] = None,
    offer: Annotated[
        str | None, typer.Option(help="Count the saves of list entries with this offer only.")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            help="Count the saves among the customers this agent (a username) spoke with, "
            "against the whole holdout."
        ),
    ] = None,
    as_json: JsonOption = False,
    csv_file: CsvOption = None,
    html_file: HtmlOption = None,
) -> None:
    """Churn per month, quarter and year against the goal; complaints; customers saved."""
    filters = Filters.of(campaign or (), segment, offer, agent)
    try:
        with migrated_store(settings_of(ctx)) as engine:
            try:
                report = monthly_report(
                    engine,
                    months=months,
                    as_of=_day(as_of),
                    annual_target=target,
                    acquisition_cost=acquisition_cost,
                    filters=filters,
                )
            except FilterError as exc:  # named by the option to correct
                raise fail(" ".join(f"--{k} {v}." for k, v in exc.fields.items())) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    data = report.to_json()
    if csv_file is not None:
        _write_csv(csv_file, report)
    if html_file is not None:
        from runner.reports.html import monthly_html

        # the page lists the notes: a filtered report's scope goes first, so the file
        # says what it was narrowed to
        scope = report.scope if report.filters.applied else []
        _write(html_file, monthly_html(dataclasses.replace(report, notes=[*scope, *report.notes])))
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.print(monthly_table(report))
    for line in report.scope if report.filters.applied else ():
        console.print(f"[bold]{line}[/]")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    _written(csv_file, html_file)


@report_app.command("watchlist")
def watchlist_command(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, help="Rows of each table to print (JSON and CSV hold all).")
    ] = 50,
    as_json: JsonOption = False,
    csv_file: CsvOption = None,
) -> None:
    """Customers at risk by their latest survey, with churn risk, value, open complaints
    and contacts since; promoters apart."""
    with migrated_store(settings_of(ctx)) as engine:
        watch = watch_list(engine)
    if csv_file is not None:
        _write_csv(csv_file, watch)
    if as_json:
        print(json.dumps(watch.to_json(), indent=2))
        return
    for part in watch_list_tables(watch, limit):
        console.print(part)
    _written(csv_file, None)


def attribute_command(
    ctx: typer.Context, campaign: CampaignArgument, as_of: AsOfOption = None
) -> None:
    """Record a campaign's conversions from its dispositions and the holdings feed."""
    with migrated_store(settings_of(ctx)) as engine:
        done = attribute(engine, campaign, as_of=_day(as_of))
    console.print(
        f"{campaign}: {done.confirmed} accepted and confirmed by the feed, {done.claimed} "
        f"accepted but not in the feed yet, {done.added} taken up without an accepted call "
        f"({done.holdout} of all in the holdout)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.command("attribute")(attribute_command)


def _costs(contact: float, offer: float) -> Costs:
    try:
        return Costs(contact=contact, offer=offer)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _write(path: Path, text: str) -> None:
    write_private_text(path, text)


def _write_csv(path: Path, report: Report) -> None:
    with open_private(path, newline="") as fh:
        fh.write(csv_text(report))


def _written(csv_file: Path | None, html_file: Path | None) -> None:
    for path in (csv_file, html_file):
        if path is not None:
            console.print(f"written: {path}", soft_wrap=True)
