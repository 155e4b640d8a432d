"""The retention team's reports as terminal tables (rich), for `telecampaign report` and
the demo alike; ``runner.reports.csv`` and ``runner.reports.html`` give them as files."""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from campaigns.adjusted import Adjusted, Estimate
from campaigns.kpis import SERVICE_SECONDS, CampaignKpis
from campaigns.monthly import MonthlyReport
from campaigns.reports import ConversionReport, SavedReport

__all__ = [
    "adjusted_table",
    "agents_table",
    "conversions_table",
    "kpis_table",
    "monthly_table",
    "plan_preview",
    "power_line",
    "saved_table",
    "split_table",
]


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _interval(pair: tuple[float, float] | None, digits: int = 1) -> str:
    return "-" if pair is None else f"{pair[0]:,.{digits}f} to {pair[1]:,.{digits}f}"


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
        ("effect per reached customer (95%)", _reached_effect(report)),
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


_ADJUSTED_LABELS = {
    "saves": "incremental saves",
    "conversions": "incremental conversions",
    "revenue": "revenue billed",
}


def adjusted_table(items: list[Adjusted]) -> Table:
    """Each outcome's plain and covariate-adjusted effect side by side and how much
    narrower the adjusted interval is; below, what each is adjusted on, or why a figure
    is missing."""
    caption = []
    table = Table(
        title="Adjusted for what was known before the launch (Lin 2013, robust intervals)",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("outcome")
    table.add_column("plain (95%)", justify="right")
    table.add_column("adjusted (95%)", justify="right")
    table.add_column("narrower", justify="right")
    for item in items:
        label = _ADJUSTED_LABELS.get(item.outcome, item.outcome)
        digits = 0 if item.outcome == "revenue" else 1
        table.add_row(
            label,
            _estimate(item.plain, digits),
            _estimate(item.adjusted, digits),
            _narrower(item.narrower),
        )
        basis = f" ({item.basis})" if item.basis else ""
        caption.append(f"{label}{basis}: adjusted on {', '.join(item.covariates)}")
        if item.note:
            caption.append(f"[yellow]{label}: {item.note}[/]")
    table.caption = "\n".join(caption)
    return table


def _narrower(share: float | None) -> str:
    if share is None or share >= 0:
        return _pct(share, 0)
    return f"{-share:.0%} wider"


def _estimate(e: Estimate | None, digits: int) -> str:
    return "-" if e is None else f"{_num(e.effect, digits)} ({_interval(e.ci95, digits)})"


def _reached_effect(report: SavedReport) -> str:
    among = report.among_reached
    if among.per_customer is None or among.per_customer_ci95 is None:
        return "- (not estimated: see the notes)"
    return f"{_pct(among.per_customer)} ({_interval(_scaled(among.per_customer_ci95, 100))} pts)"


def split_table(title: str, report: dict[str, Any], rate: str) -> Table:
    """A report's split rows (its JSON): each row's effect with its interval, or why it
    has none, and its Holm-adjusted p-value; only a row that survives is highlighted."""
    adjustment = report["split_adjustment"]
    table = Table(
        title=f"{title} (exploratory: p-values {adjustment['method'].capitalize()}-adjusted across "
        f"{adjustment['rows_tested']} rows)",
        title_justify="left",
    )
    for column in ("by", "group", "treated", "holdout", "reached", f"{rate} T", f"{rate} H"):
        table.add_column(column, justify="left" if column in ("by", "group") else "right")
    table.add_column("effect (95%)", justify="right")
    table.add_column("p / adjusted", justify="right")
    table.add_column("reading")
    for s in report["splits"]:
        table.add_row(
            s["by"],
            s["value"],
            f"{s['treated']:,}",
            f"{s['holdout']:,}",
            f"{s['reached']:,}",
            _pct(s["rate_treated"]),
            _pct(s["rate_holdout"]),
            _split_effect(s),
            "-" if s["p_value"] is None else f"{s['p_value']:.3f} / {s['p_adjusted']:.3f}",
            _split_reading(s),
        )
    return table


def _split_effect(split: dict[str, Any]) -> str:
    if split["effect"] is None:
        return "-"
    if not split["interval_shown"]:
        return f"{split['effect']:,.1f} (no interval)"
    return f"{split['effect']:,.1f} ({_interval(tuple(split['ci95']))})"


def _split_reading(split: dict[str, Any]) -> str:
    if split["survives"]:
        return "[bold green]holds after adjustment[/]"
    if split["why_no_interval"]:
        return f"[yellow]{split['why_no_interval']}[/]"
    return "[dim]exploratory[/]"


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


def _candidates(preview: dict[str, Any]) -> str:
    """The candidates, and where they came from when not from everyone."""
    watch = preview.get("watch_list")
    if watch is None:
        return f"{preview['candidates']:,}"
    return (
        f"{preview['candidates']:,} from the watch list "
        f"({watch['spoken_with_since_survey']:,} spoken with since their survey left out)"
    )


def plan_preview(preview: dict[str, Any], *, stored: bool) -> list[RenderableType]:
    """A plan's preview as the CLI and the demo print it: its figures, what was kept off
    the list, its splits, and whether it was stored."""
    parts: list[RenderableType] = []
    basis = {
        "uplift": "uplift model x CLV",
        "risk_value": "risk x CLV (no uplift model yet)",
        "propensity": "acceptance propensity model x margin",
        "assumed_acceptance": "margin x an assumed 9% acceptance (no offers recorded yet)",
        "win_back_rate": "assumed win-back rate x former revenue",
    }.get(preview["basis"], preview["basis"])
    parts.append(
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
        ("candidates", _candidates(preview)),
        ("not worth a call", f"{preview['not_worth_calling']:,}"),
        ("beyond capacity", f"{preview['over_capacity']:,}"),
        ("taken from lower-priority lists", f"{preview['taken_from_lower_lists']:,}"),
        ("holdout balance (max decile gap)", f"{preview['holdout_balance_points']:.1f} pts"),
    ):
        head.add_row(label, value)
    parts.append(head)
    if preview.get("power"):
        parts.append(power_line(preview["power"]))
    if preview["exclusions"]:
        table = Table(title="Kept off the list")
        table.add_column("reason")
        table.add_column("customers", justify="right")
        for reason, n in sorted(preview["exclusions"].items(), key=lambda kv: -kv[1]):
            table.add_row(reason.replace("_", " "), f"{n:,}")
        parts.append(table)
    for key, title in (("by_segment", "segment"), ("by_abc", "ABC class")):
        table = Table(title=f"By {title}")
        table.add_column(title)
        table.add_column("treated", justify="right")
        table.add_column("holdout", justify="right")
        for label, split in sorted(preview[key].items()):
            table.add_row(label, f"{split['treated']:,}", f"{split['holdout']:,}")
        parts.append(table)
    if stored:
        launch = f"telecampaign launch {shlex.quote(preview['name'])}"
        parts.append(f"stored as planned: `{launch}` starts it")
    else:
        parts.append("preview only: nothing stored")
    return parts


def _pts(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} pts"


def power_line(power: dict[str, Any]) -> str:
    """A list's power before the launch in a line or two: the expected effect against the
    smallest the holdout can detect, and the warning with its fix when underpowered."""
    needed = power["holdout_needed"]
    line = (
        f"power: expected effect {_pts(power['expected_effect'])} ({power['effect_source']}); "
        f"baseline {power['outcome']} {_pct(power['baseline'])} ({power['baseline_source']}); "
        f"detectable at 80% power, 5% two-sided: {_pts(power['mde'])} "
        f"(power {power['power']:.0%}); holdout share needed: "
        + ("-" if needed is None else f"{needed:.0%}")
    )
    if power["warning"]:
        return f"{line}\n[yellow]{power['warning']}[/]"
    return f"{line}\n[green]the holdout can show the expected effect[/]"
