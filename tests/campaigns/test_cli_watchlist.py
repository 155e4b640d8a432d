"""`telecampaign report watchlist` and `telecampaign plan --candidates watchlist`: the
tables, the JSON, the CSV written 0600, and a plan from the watch list."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest
from planner_base import build_scored_base
from sqlalchemy import Engine
from typer.testing import CliRunner
from watchlist_base import contact, survey

from runner.cli.main import app


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, terminal_width=240)
    return result.exit_code, result.stdout + result.stderr


def _surveyed(engine: Engine) -> list[int]:
    ids = build_scored_base(engine, 4, p_churn=[0.4, 0.3, 0.2, 0.1])
    survey(engine, ids[0], 3, 5)
    survey(engine, ids[1], 6, 10)
    contact(engine, ids[1], days=4, campaign="october care", spoken=True)
    survey(engine, ids[2], 10, 10)
    survey(engine, ids[3], 7, 10)
    return ids


def test_the_report_as_tables_json_and_a_private_csv(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    _surveyed(engine)
    target = tmp_path / "out" / "watch.csv"
    code, out = invoke(env, "report", "watchlist", "--csv", str(target))
    assert code == 0, out
    assert "Watch list: 2 customers at risk by their latest survey" in out
    assert "2026-10-01 3/5 hidden" in out
    assert "2026-10-01 6/10 at risk" in out
    assert "Promoters for referral and up-sell lists: 1" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with target.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["list"] for r in rows] == ["at_risk", "at_risk", "promoter"]
    assert [r["reading"] for r in rows] == ["hidden_dissatisfaction", "watch", "promoter"]
    assert rows[0]["contacts_since_survey"] == "0"
    assert rows[1]["last_contact_campaign"] == "october care"
    assert rows[1]["last_contact_outcome"] == "completed"
    assert rows[1]["spoken_since_survey"] == "True"

    code, out = invoke(env, "report", "watchlist", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["counts"]["at_risk"] == 2
    assert data["counts"]["promoters"] == 1
    assert data["at_risk"][0]["reading"] == "hidden_dissatisfaction"


def test_plan_from_the_watch_list(env: dict[str, str], engine: Engine) -> None:
    ids = _surveyed(engine)
    code, out = invoke(
        env,
        "plan",
        "--kind",
        "follow-up",
        "--name",
        "after the survey",
        "--candidates",
        "watchlist",
        "--holdout",
        "0",
        "--dry-run",
        "--json",
    )
    assert code == 0, out
    preview = json.loads(out)
    assert preview["candidates_from"] == "watchlist"
    assert preview["treated"] == 1  # the other one at risk was spoken with since
    assert preview["watch_list"]["spoken_with_since_survey"] == 1
    assert ids
    code, out = invoke(
        env, "plan", "--kind", "cross-sell", "--name", "x", "--candidates", "watchlist"
    )
    assert code == 1
    assert "--candidates: watchlist feeds anti-churn or follow-up lists only" in out
