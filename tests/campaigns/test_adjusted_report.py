"""The saved-customer and conversion reports' adjusted figures: the revenue billed in the
window against the bills before the launch, the yes/no outcome beside its headline, and
what the CLI prints of them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from report_base import Member, build_list, day
from sqlalchemy import Engine, delete, insert, select
from typer.testing import CliRunner

from campaigns.reports import conversion_report, saved_report
from runner.cli.main import app
from store.db import transaction
from store.models import Billing, Group, ListEntry

T, H = Group.TREATMENT, Group.HOLDOUT
BEFORE = [dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
WINDOW = [dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)]  # launch 2 Mar


def _members() -> list[Member]:
    return (
        [Member(T, tries=1, disposition="accepted") for _ in range(30)]
        + [Member(T, tries=1, ends_on=30) for _ in range(10)]
        + [Member(H, ends_on=40) for _ in range(15)]
        + [Member(H) for _ in range(25)]
    )


def _bill(engine: Engine, built: dict[str, object], months: list[dt.date], lift: float) -> None:
    """Each customer billed 20 + their rank a month; treated ones ``lift`` more."""
    with transaction(engine) as session:
        rows = session.execute(
            select(ListEntry.customer_id, ListEntry.group)
            .where(ListEntry.campaign_id == built["campaign"])
            .order_by(ListEntry.id)
        ).all()
        ids = [c for c, _ in rows]
        session.execute(
            delete(Billing).where(Billing.customer_id.in_(ids), Billing.month.in_(months))
        )
        session.execute(
            insert(Billing),
            [
                {
                    "customer_id": c,
                    "month": m,
                    "amount": 20.0 + rank + (lift if Group(g) is T else 0.0),
                }
                for rank, (c, g) in enumerate(rows)
                for m in months
            ],
        )


def test_revenue_waits_for_the_window_s_bills_then_is_adjusted_on_those_before(
    engine: Engine,
) -> None:
    built = build_list(engine, _members())
    _bill(engine, built, BEFORE, 0.0)
    name = str(built["name"])
    waiting = {a.outcome: a for a in saved_report(engine, name, as_of=day(120)).adjusted}
    assert waiting["revenue"].plain is None
    assert waiting["revenue"].note is not None
    assert "Mar 2026, Apr 2026, May 2026" in waiting["revenue"].note

    _bill(engine, built, WINDOW, 5.0)  # every treated customer billed 5 more a month
    report = saved_report(engine, name, as_of=day(120))
    revenue = {a.outcome: a for a in report.adjusted}["revenue"]
    assert revenue.plain is not None
    assert revenue.adjusted is not None
    # plain: the treated are the first half of the ranks, so they bill less on their own
    ranks = [20.0 + r for r in range(80)]
    plain = (sum(3 * (r + 5) for r in ranks[:40]) - sum(3 * r for r in ranks[40:])) / 40
    assert revenue.plain.effect == pytest.approx(plain * 40)
    # adjusted on the bills before, the effect is exactly 3 months x 5 for 40 treated
    assert revenue.adjusted.effect == pytest.approx(15.0 * 40)
    assert revenue.adjusted.width < 0.01 * revenue.plain.width
    assert (
        revenue.basis
        == "billed Mar 2026 to May 2026, against Dec 2025 to Feb 2026 before the launch"
    )


def test_saves_sit_beside_the_headline(engine: Engine) -> None:
    built = build_list(engine, _members())
    report = saved_report(engine, str(built["name"]), as_of=day(120))
    saves = {a.outcome: a for a in report.adjusted}["saves"]
    assert saves.plain is not None
    assert saves.adjusted is not None
    assert (saves.plain.effect, saves.plain.ci95) == (report.effect.total, report.effect.ci95)
    # same list, same outcome: the adjusted estimate stays near the plain one
    assert saves.adjusted.ci95[0] < saves.plain.effect < saves.adjusted.ci95[1]
    data = report.to_json()["adjusted"]
    assert set(data) == {"saves", "revenue"}
    assert data["saves"]["covariates"][0] == "churn score at planning"


def test_small_groups_keep_the_plain_figure_and_say_why(engine: Engine) -> None:
    # 8 held out, none of them lost: a robust interval would claim a certainty it has not
    members = [Member(T, tries=1, ends_on=30 if i < 6 else None) for i in range(40)]
    built = build_list(engine, members + [Member(H) for _ in range(8)])
    _bill(engine, built, BEFORE, 0.0)
    _bill(engine, built, WINDOW, 5.0)
    report = saved_report(engine, str(built["name"]), as_of=day(120))
    pairs = {a.outcome: a for a in report.adjusted}
    assert pairs["saves"].plain is not None
    assert pairs["saves"].adjusted is None
    assert pairs["saves"].note is not None
    assert pairs["saves"].note.startswith("not adjusted: 8 held out with 0 of the rarer outcome")
    assert pairs["revenue"].plain is None
    assert pairs["revenue"].note is not None
    assert "fewer than 30 customers" in pairs["revenue"].note


def test_conversions_and_revenue_in_the_conversion_report(engine: Engine) -> None:
    members = [Member(T, tries=1, disposition="accepted", starts_offer_on=5)] * 12 + [
        Member(H, starts_offer_on=5 if i < 2 else None) for i in range(12)
    ]
    built = build_list(engine, members, offer_product="MOB_L")
    report = conversion_report(engine, str(built["name"]), as_of=day(120))
    pairs = {a.outcome: a for a in report.adjusted}
    assert set(pairs) == {"conversions", "revenue"}
    assert pairs["conversions"].plain is not None
    assert pairs["conversions"].plain.effect == pytest.approx(report.effect.total)
    assert set(report.to_json()["adjusted"]) == {"conversions", "revenue"}


def test_the_cli_prints_both_figures(tmp_path: Path, db_url: str, engine: Engine) -> None:
    built = build_list(engine, _members())
    _bill(engine, built, BEFORE, 0.0)
    _bill(engine, built, WINDOW, 5.0)
    env = {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}
    args = ["report", "saved", str(built["name"]), "--as-of", day(120).isoformat()]
    html = tmp_path / "saved.html"
    table = CliRunner().invoke(app, [*args, "--html", str(html)], env=env)
    assert table.exit_code == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "Adjusted for what was known before the launch" in text
    revenue = next(line for line in table.stdout.splitlines() if "│ revenue billed" in line)
    assert "-4,200 (-4,815 to" in revenue
    assert "600 (600 to 600)" in revenue
    assert "100%" in revenue
    page = html.read_text(encoding="utf-8")
    assert "Adjusted for what was known before the launch" in page
    assert "revenue billed in the window" in page
    data = json.loads(CliRunner().invoke(app, [*args, "--json"], env=env).stdout)
    assert data["adjusted"]["revenue"]["adjusted"]["estimate"] == 600.0
    assert data["adjusted"]["revenue"]["narrower"] > 0.99
