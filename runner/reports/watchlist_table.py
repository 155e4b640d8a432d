"""The satisfaction watch list as terminal tables (rich), for `telecampaign report
watchlist`: the customers at risk by their latest survey, then the promoters."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table

from campaigns.watchlist import READINGS, WatchList, rows_json

__all__ = ["watch_list_tables"]

# the reading in a word, for a narrow column; READINGS says each in full under the table
_SHORT = {
    "watch": "at risk",
    "open_dissatisfaction": "open",
    "hidden_dissatisfaction": "hidden",
    "promoter": "promoter",
}


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _risk(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _survey(row: dict[str, Any]) -> str:
    return f"{row['survey_at'][:10]} {row['score']}/{row['scale']} {_SHORT[row['reading']]}"


def _last_contact(row: dict[str, Any]) -> str:
    if not row["contacts_since_survey"]:
        return "[yellow]none[/]"
    said = (
        f"{row['contacts_since_survey']}x, last {row['last_contact_at'][:10]} "
        f"{row['last_contact_campaign'] or '(no campaign)'}"
    )
    return said + (", spoke" if row["spoken_since_survey"] else "")


def _table(title: str, contacts: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("customer", no_wrap=True)
    table.add_column("name")
    table.add_column("latest survey", no_wrap=True)
    for column in ("risk", "CLV"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column(contacts)
    return table


def _at_risk_table(watch: WatchList, limit: int) -> Table:
    counts = watch.counts()
    table = _table(
        f"Watch list: {counts['at_risk']:,} customers at risk by their latest survey "
        f"({counts['watch']:,} at risk of 10, {counts['open_dissatisfaction']:,} open and "
        f"{counts['hidden_dissatisfaction']:,} hidden dissatisfaction of 5), by churn risk "
        f"x CLV; the first {min(limit, counts['at_risk']):,}",
        "open complaints; contacted since the survey",
    )
    for row in rows_json(watch.at_risk.iloc[:limit]):
        complaints = row["open_complaints"]
        table.add_row(
            row["customer"],
            row["name"],
            _survey(row),
            _risk(row["churn_risk"]),
            _money(row["clv"]),
            (f"[red]{complaints} open[/]; " if complaints else "") + _last_contact(row),
        )
    return table


def _promoter_table(watch: WatchList, limit: int) -> Table:
    count = len(watch.promoters)
    table = _table(
        f"Promoters for referral and up-sell lists: {count:,}, by CLV; the first "
        f"{min(limit, count):,}",
        "contacted since the survey",
    )
    for row in rows_json(watch.promoters.iloc[:limit]):
        table.add_row(
            row["customer"],
            row["name"],
            _survey(row),
            _risk(row["churn_risk"]),
            _money(row["clv"]),
            _last_contact(row),
        )
    return table


def watch_list_tables(watch: WatchList, limit: int) -> list[RenderableType]:
    """Both tables, ``limit`` rows each, with what the readings mean and the notes."""
    legend = "readings: " + "; ".join(READINGS.values())
    notes = [f"[dim]note: {note}[/]" for note in watch.notes()]
    return [_at_risk_table(watch, limit), _promoter_table(watch, limit), legend, *notes]
