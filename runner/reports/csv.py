"""Reports as CSV: the rows `telecampaign report ... --csv` writes and the API sends."""

from __future__ import annotations

from typing import Any

from campaigns.kpis import CampaignKpis
from campaigns.monthly import MonthlyReport
from campaigns.reports import ConversionReport, SavedReport
from campaigns.watchlist import WatchList
from store.csv_out import csv_text as table_csv_text

__all__ = ["Report", "csv_rows", "csv_text"]

Report = SavedReport | ConversionReport | CampaignKpis | MonthlyReport | WatchList


def csv_rows(report: Report) -> list[dict[str, Any]]:
    """The rows a report's CSV holds: the splits of the saved-customer and conversion
    reports, the agents of the KPIs, every period of the monthly report, the customers
    of the watch list and the promoters."""
    if isinstance(report, SavedReport | ConversionReport):
        splits: list[dict[str, Any]] = report.to_json()["splits"]
        return splits
    if isinstance(report, CampaignKpis):
        return [a.to_json() for a in report.agents]
    if isinstance(report, WatchList):
        return report.csv_rows()
    data = report.to_json()
    return [*data["months"], *data["quarters"], *data["years"]]


def csv_text(report: Report) -> str:
    """The report's rows as CSV text: one column per key, an interval as "low to high".

    The CLI's ``--csv`` writes this to a file; the API's ``?format=csv`` sends it. Both
    go through the product's CSV writer, which writes names that look like formulas as text.
    """
    rows = csv_rows(report)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]

    def cell(value: Any) -> Any:
        return " to ".join(map(str, value)) if isinstance(value, list) else value

    return table_csv_text([columns, *([cell(row.get(c)) for c in columns] for row in rows)])
