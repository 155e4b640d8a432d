"""`telecampaign report saved|conversions|kpis|monthly` and `telecampaign attribute`.

The retention team's numbers: every effect against the holdout with its 95% interval,
as a table, as JSON (``--json``), as CSV (``--csv FILE``) and as a self-contained HTML
page with charts (``--html FILE``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from campaigns.kpis import SERVICE_SECONDS, CampaignKpis
from campaigns.monthly import (
    ACQUISITION_COST,
    ANNUAL_TARGET,
    FilterError,
    Filters,
    MonthlyReport,
    monthly_report,
)
from campaigns.outcomes import MEASURE_DAYS, attribute
from campaigns.reports import ConversionReport, Costs, SavedReport, conversion_report, saved_report
from dialer.kpis import kpis_for
from runner.cli.common import console, fail, migrated_store, settings_of
from runner.reports.csv import Report, csv_text
from store.private_files import open_private, write_private_text

__all__ = [
    "conversions_table",
    "kpis_table",
    "register",
    "report_app",
    "saved_table",
]

report_app = typer.Typer(
    help="Saved customers, conversions, KPIs and the monthly churn report.",
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


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _interval(pair: tuple[float, float] | None, digits: int = 1) -> str:
    return "-" if pair is None else f"{pair[0]:,.{digits}f} to {pair[1]:,.{digits}f}"


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


def saved_table(report: SavedReport) -> Table:
    e = report.effect
    table = Table(
        title=f"Saved customers: {report.campaign} ({report.kind}), launched "
        f"{report.launched_on}, window to {report.window_end}, as of {report.as_of}",
        show_header=False,
        title_justify="left",
    )
    table.add_column(style="dim")
    table.add_column(justify="right")
    rows = [
        ("treated / holdout", f"{e.treated:,} / {e.holdout:,}"),
        ("lost by the window's end: treated", _pct(e.rate_treated)),
        ("lost by the window's end: holdout", _pct(e.rate_holdout)),
        ("incremental saves (95% interval)", f"{_num(e.total)} ({_interval(e.ci95)})"),
        (
            "save rate per treated customer (95%)",
            f"{_pct(e.per_customer)} ({_interval(_scaled(e.per_customer_ci95, 100))} pts)",
        ),
        (
            "reached (spoke with an agent)",
            f"{report.reached:,} ({_pct(report.reach_rate, 0)})",
        ),
        (
            "effect per reached customer (95%)",
            f"{_pct(report.among_reached.per_customer)} "
            f"({_interval(_scaled(report.among_reached.per_customer_ci95, 100))} pts)",
        ),
        (
            "revenue kept (CLV of incremental saves)",
            f"{_num(report.revenue_kept, 0)} ({_interval(report.revenue_kept_ci95, 0)})",
        ),
        (
            "cost: contacts x cost + offers x cost",
            f"{report.contacts:,} x {report.costs.contact:.2f} + {report.offers:,} x "
            f"{report.costs.offer:.2f} = {report.cost:,.2f}",
        ),
        ("cost per incremental save", _num(report.cost_per_save, 2)),
    ]
    for label, value in rows:
        table.add_row(label, value)
    for note in report.notes:
        table.add_row("note", f"[yellow]{note}[/]")
    return table


def split_table(title: str, splits: list[dict[str, Any]], rate: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("by", "group", "treated", "holdout", "reached", f"{rate} T", f"{rate} H"):
        table.add_column(column, justify="left" if column in ("by", "group") else "right")
    table.add_column("effect (95%)", justify="right")
    for s in splits:
        table.add_row(
            s["by"],
            s["value"],
            f"{s['treated']:,}",
            f"{s['holdout']:,}",
            f"{s['reached']:,}",
            _pct(s["rate_treated"]),
            _pct(s["rate_holdout"]),
            "-"
            if s["effect"] is None
            else f"{s['effect']:,.1f} ({_interval(tuple(s['ci95']) if s['ci95'] else None)})",
        )
    return table


def conversions_table(report: ConversionReport) -> Table:
    e = report.effect
    table = Table(
        title=f"Conversions: {report.campaign} ({report.kind}), {report.attribution_days}-day "
        f"attribution window, as of {report.as_of}",
        show_header=False,
        title_justify="left",
    )
    table.add_column(style="dim")
    table.add_column(justify="right")
    for label, value in (
        ("treated / holdout", f"{e.treated:,} / {e.holdout:,}"),
        ("took the product up: treated", _pct(e.rate_treated, 2)),
        ("took the product up: holdout", _pct(e.rate_holdout, 2)),
        ("incremental conversions (95% interval)", f"{_num(e.total)} ({_interval(e.ci95)})"),
        ("accepted on a call", f"{report.claimed:,}"),
        ("  of which the feed confirms", f"{report.confirmed:,}"),
        ("taken up without an accepted call (treated)", f"{report.added:,}"),
        ("monthly revenue of incremental conversions", _num(report.monthly_revenue, 0)),
    ):
        table.add_row(label, value)
    for note in report.notes:
        table.add_row("note", f"[yellow]{note}[/]")
    return table


def kpis_table(kpis: CampaignKpis) -> Table:
    table = Table(title=f"KPIs: {kpis.campaign}", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column(justify="right")
    for label, value in (
        ("dials / texts", f"{kpis.dials:,} / {kpis.texts:,}"),
        (
            "live answers / connected / machines",
            f"{kpis.live_answers:,} / {kpis.connects:,} / {kpis.machines:,}",
        ),
        (
            "abandoned (limit)",
            f"{kpis.abandoned:,}: {_pct(kpis.abandon_rate, 2)} ({_pct(kpis.abandon_limit, 0)})",
        ),
        ("right-party contacts", f"{kpis.contacts:,}"),
        ("conversions (confirmed)", f"{kpis.conversions:,} ({kpis.confirmed:,})"),
        ("conversion rate", _pct(kpis.conversion_rate)),
        ("average handle time", f"{_num(kpis.handle_time, 0)} s"),
        ("occupancy", _pct(kpis.occupancy)),
        ("contacts per agent hour", _num(kpis.contacts_per_hour, 2)),
        (f"service level ({SERVICE_SECONDS} s)", _pct(kpis.service_level)),
        ("refusals by reason", _listing(kpis.refusals_by_reason)),
        ("refusals by funnel stage", _listing(kpis.refusals_by_stage)),
    ):
        table.add_row(label, value)
    return table


def agents_table(kpis: CampaignKpis) -> Table:
    table = Table(
        title="Agents (minutes: talk / wrap / preview / wait / pause)", title_justify="left"
    )
    table.add_column("agent", no_wrap=True)
    for column in ("calls", "contacts", "sales new/repeat", "lost/restored", "minutes", "AHT"):
        table.add_column(column, justify="right")
    for a in kpis.agents:
        s = a.seconds
        table.add_row(
            a.agent,
            f"{a.calls:,}",
            f"{a.contacts:,}",
            f"{a.new_sales}/{a.repeat_sales}",
            f"{a.lost}/{a.restored}",
            " / ".join(f"{s[k] / 60:,.0f}" for k in ("talk", "wrap", "preview", "wait", "pause")),
            f"{_num(a.handle_time, 0)} s",
        )
    return table


def monthly_table(report: MonthlyReport) -> Table:
    table = Table(
        title=f"Monthly churn report as of {report.as_of} (goal {report.annual_target:.1%} a "
        f"year; a new customer costs {report.acquisition_cost:,.0f})",
        title_justify="left",
    )
    for column in (
        "period",
        "active",
        "lost",
        "churn",
        "target",
        "",
        "complaints",
        "saved (95%)",
        "money saved",
    ):
        table.add_column(column, justify="left" if column == "period" else "right")
    data = report.to_json()
    for section in ("months", "quarters", "years"):
        for p in data[section]:
            table.add_row(
                p["period"],
                f"{p['active_at_start']:,}",
                f"{p['lost']:,}",
                _pct(p["churn_rate"], 2),
                _pct(p["target"], 2),
                _judged(p),
                f"{p['complaints']:,}",
                f"{p['customers_saved']:,.1f}"
                + (f" ({_interval(tuple(p['saved_ci95']))})" if p["saved_ci95"] else ""),
                f"{p['money_saved']:,.0f}",
            )
        table.add_section()
    return table


def _judged(period: dict[str, Any]) -> str:
    """A period against its target; one the data does not cover whole is not judged."""
    if not period["complete"]:
        return "[yellow]incomplete[/]"
    ok = period["on_target"]
    return "" if ok is None else ("[green]on target[/]" if ok else "[red]above[/]")


def _scaled(pair: tuple[float, float] | None, factor: float) -> tuple[float, float] | None:
    return None if pair is None else (pair[0] * factor, pair[1] * factor)


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
