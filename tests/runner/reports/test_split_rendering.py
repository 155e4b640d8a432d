"""The split rows as the HTML report and the terminal table draw them: a row too small
shows no interval and says why, and only a row that survives the adjustment is
highlighted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from rich.console import Console
from sqlalchemy import Engine

from campaigns.effects import effect
from campaigns.reports import SavedReport, Split, saved_report
from campaigns.splits import adjust_splits
from dialer.kpis import kpis_for
from runner.reports.html import campaign_html
from runner.reports.tables import split_table
from tests.runner.campaign_store import launched_list

AS_OF = dt.date(2026, 6, 30)


def _report_with_rows(engine: Engine) -> SavedReport:
    launched_list(engine)
    report = saved_report(engine, "spring retention", as_of=AS_OF)
    rows = [
        Split("offer", "Add Fiber 1 Gig", effect(10, 100, 22, 100, gain=-1)),  # p 0.021 alone
        Split("segment", "MASS", effect(5, 100, 40, 100, gain=-1)),  # survives
        *(Split("abc", c, effect(20, 100, 21, 100, gain=-1)) for c in "ABCD"),
        Split("offer", "Add Mobile L", effect(30, 200, 3, 4, gain=-1)),  # 4 held out
    ]
    return dataclasses.replace(report, splits=adjust_splits(rows, ("lost", "kept")))


def _row(html: str, value: str) -> str:
    match = re.search(rf"<tr><td>[a-z]+</td><td>{re.escape(value)}</td>.*?</tr>", html)
    assert match is not None, value
    return match.group(0)


def test_html_highlights_only_the_row_that_survives(engine: Engine) -> None:
    report = _report_with_rows(engine)
    html = campaign_html(report, None, kpis_for(engine, "spring retention", AS_OF))
    assert "<strong" in _row(html, "MASS")
    assert "holds after adjustment" in _row(html, "MASS")
    clear_alone = _row(html, "Add Fiber 1 Gig")
    assert "<strong" not in clear_alone
    assert "exploratory" in clear_alone
    small = _row(html, "Add Mobile L")
    assert "no interval" in small
    assert "too few held out (4; a row needs at least 30)" in small
    assert "Holm-adjusted across the 6 rows tested" in html


def test_the_terminal_table_marks_rows_the_same_way(engine: Engine) -> None:
    report = _report_with_rows(engine)
    console = Console(width=250, record=True, color_system=None)
    console.print(split_table("By split", report.to_json(), "lost"))
    text = console.export_text()
    lines = {v: next(line for line in text.splitlines() if v in line) for v in ("MASS", "Gig")}
    assert "holds after adjustment" in lines["MASS"]
    assert "exploratory" in lines["Gig"]
    assert "Holm-adjusted across 6 rows" in text
    assert "too few held out" in text
