"""`telecampaign report ...` and `telecampaign attribute`: what the retention team reads."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from planner_base import build_scored_base
from report_base import Member, agent_waiting, build_list, day
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from runner.cli.main import app
from store.db import transaction
from store.models import CampaignKind, Group, Holding

T, H = Group.TREATMENT, Group.HOLDOUT
AS_OF = day(120).isoformat()
FEED_END = dt.date(2026, 10, 20)  # the holdings feed's latest date, mid-month


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _retention_list(engine: Engine) -> str:
    members = (
        [Member(T, tries=1, disposition="refused", ends_on=20)]
        + [Member(T, tries=1, disposition="accepted") for _ in range(9)]
        + [Member(H, ends_on=12) for _ in range(4)]
        + [Member(H) for _ in range(6)]
    )
    return str(build_list(engine, members)["name"])


def test_saved_json_html_and_csv(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    name = _retention_list(engine)
    html, rows = tmp_path / "out" / "saved.html", tmp_path / "out" / "saved.csv"
    code, out, err = invoke(
        env,
        "report",
        "saved",
        name,
        "--as-of",
        AS_OF,
        "--json",
        "--html",
        str(html),
        "--csv",
        str(rows),
    )
    assert code == 0, err
    data = json.loads(out)
    assert {k: data[k] for k in ("treated", "holdout", "churn_treated", "churn_holdout")} == {
        "treated": 10,
        "holdout": 10,
        "churn_treated": 0.1,
        "churn_holdout": 0.4,
    }
    assert data["incremental_saves"] == 3.0
    low, high = data["ci95"]
    assert low < 3.0 < high
    assert set(data) >= {"revenue_kept", "cost_per_save"}
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") >= 2  # survival curves and the funnel, inline
    assert "http://" not in page.split("<svg")[0]  # nothing fetched from elsewhere
    assert "Anna Agent" in page
    with rows.open(encoding="utf-8") as fh:
        split_rows = list(csv.DictReader(fh))
    assert {r["by"] for r in split_rows} == {"segment", "abc", "offer", "agent"}
    # 10 held out: every row says why it shows no interval, in the JSON and the CSV
    new_columns = {"interval_shown", "why_no_interval", "p_value", "p_adjusted", "survives"}
    assert set(split_rows[0]) >= new_columns
    assert {r["interval_shown"] for r in split_rows} == {"False"}
    assert all(r["why_no_interval"].startswith("too few") for r in split_rows)
    assert all(s["ci95"] is None and s["p_value"] is None for s in data["splits"])
    assert data["split_adjustment"]["method"] == "holm"
    assert "too few held out (10; a row needs at least 30)" in page


def test_saved_table_and_the_no_holdout_refusal(env: dict[str, str], engine: Engine) -> None:
    name = str(build_list(engine, [Member(T, tries=1, disposition="accepted")] * 3)["name"])
    code, out, _ = invoke(env, "report", "saved", name, "--as-of", AS_OF)
    assert code == 0
    assert "incremental saves" in out
    assert "no holdout" in " ".join(out.split())
    assert "Holm-adjusted across 0 rows" in " ".join(out.split())


def test_conversions_after_attribution(env: dict[str, str], engine: Engine) -> None:
    members = [
        Member(T, tries=1, disposition="accepted", starts_offer_on=4),
        Member(T, tries=1, disposition="refused"),
        Member(H),
    ]
    build_list(engine, members, kind=CampaignKind.CROSS_SELL, offer_product="MOB_L", name="xs")
    code, out, _ = invoke(env, "attribute", "xs", "--as-of", AS_OF)
    assert code == 0
    assert "1 accepted and confirmed by the feed" in out
    code, out, _ = invoke(env, "report", "conversions", "xs", "--as-of", AS_OF, "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["treated"], data["holdout"], data["confirmed"]) == (2, 1, 1)
    assert data["incremental_conversions"] == 1.0


def test_kpis_and_monthly(env: dict[str, str], engine: Engine, tmp_path: Path) -> None:
    name = _retention_list(engine)
    code, out, _ = invoke(env, "report", "kpis", name, "--as-of", AS_OF, "--json")
    assert code == 0
    kpis = json.loads(out)
    assert kpis["right_party_contacts"] == 10
    assert kpis["abandon_limit"] == 0.01  # an anti-churn list's own limit
    code, out, _ = invoke(env, "report", "kpis", name, "--as-of", AS_OF)
    assert code == 0
    assert "Anna Agent" in out
    html = tmp_path / "monthly.html"
    code, out, _ = invoke(
        env, "report", "monthly", "--months", "4", "--as-of", AS_OF, "--json", "--html", str(html)
    )
    assert code == 0
    monthly = json.loads(out)
    assert [m["period"] for m in monthly["months"]] == ["2026-03", "2026-04", "2026-05", "2026-06"]
    assert monthly["months"][0]["customers_saved"] == 3.0
    assert "<svg" in html.read_text(encoding="utf-8")
    code, _, err = invoke(env, "report", "monthly", "--target", "5")
    assert code == 1
    assert "annual_target" in err


def test_kpis_of_a_launched_list_with_no_talk_yet(env: dict[str, str], engine: Engine) -> None:
    built = build_list(engine, [Member(T), Member(H)])
    agent_waiting(engine, built)
    code, out, err = invoke(env, "report", "kpis", str(built["name"]), "--json")
    assert code == 0, err
    kpis = json.loads(out)
    assert (kpis["dials"], kpis["connects"], kpis["service_level"]) == (1, 0, None)
    code, out, err = invoke(env, "report", "kpis", str(built["name"]))
    assert code == 0, err
    assert "Anna Agent" in out


def test_monthly_marks_the_periods_the_feed_does_not_cover(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    ids = build_scored_base(engine, 50, seed=3)  # holdings since 2022, billed 2026-10
    with transaction(engine) as session:
        session.execute(
            update(Holding).where(Holding.customer_id == ids[0]).values(end_date=FEED_END)
        )
    html, rows = tmp_path / "monthly.html", tmp_path / "monthly.csv"
    args = ["report", "monthly", "--months", "2", "--html", str(html), "--csv", str(rows)]
    code, out, err = invoke(env, *args, "--json", "--as-of", "2027-01-31")
    assert code == 0, err
    data = json.loads(out)
    assert (data["as_of"], data["data_until"]) == (FEED_END.isoformat(), FEED_END.isoformat())
    assert data["notes"][0].startswith("asked for 2027-01-31")
    judged = [(p["period"], p["complete"], p["on_target"]) for p in data["months"]]
    assert judged == [("2026-09", True, True), ("2026-10", False, None)]
    assert [(p["period"], p["on_target"]) for p in data["years"]] == [("2026", None)]
    with rows.open(encoding="utf-8") as fh:
        complete = {r["period"]: r["complete"] for r in csv.DictReader(fh)}
    assert complete == {
        "2026-09": "True",
        "2026-10": "False",
        "2026-Q3": "True",
        "2026-Q4": "False",
        "2026": "False",
    }
    assert "2026-10 <em>(incomplete)</em>" in html.read_text(encoding="utf-8")
    code, out, err = invoke({**env, "COLUMNS": "200"}, *args)  # the table unwrapped
    assert code == 0, err
    assert f"as of {FEED_END}" in out
    # one line a period, in order (months, quarters, the year); narrow terminals cut the
    # words ("incom…"), so the rows are told by their order, not their first cell
    rows_out = [line for line in out.splitlines() if line.startswith("│ 2026")]
    september, october, year = rows_out[0], rows_out[1], rows_out[-1]
    assert "incom" in october
    assert "target" not in october
    assert "incom" not in september
    assert "incom" in year


def test_unknown_campaign_is_a_plain_error(env: dict[str, str], engine: Engine) -> None:
    code, _, err = invoke(env, "report", "saved", "nope")
    assert code == 1
    assert "no campaign named 'nope'" in err
