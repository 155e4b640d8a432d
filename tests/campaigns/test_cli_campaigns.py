"""`telecampaign plan`, `launch`/`pause`/`resume`/`stop`, `export` and `campaigns`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planner_base import build_scored_base
from sqlalchemy import Engine
from typer.testing import CliRunner

from runner.cli.main import app


@pytest.fixture
def env(tmp_path: Path, db_url: str, engine: Engine) -> dict[str, str]:
    build_scored_base(engine, 80, p_churn=[0.3] * 80)
    return {"TELECAMPAIGN_HOME": str(tmp_path / "home"), "DATABASE_URL": db_url}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_plan_prints_the_preview_as_json(env: dict[str, str]) -> None:
    code, out, _ = invoke(
        env,
        "plan",
        "--kind",
        "anti-churn",
        "--name",
        "Q4 retention",
        "--size",
        "20",
        "--seed",
        "3",
        "--json",
    )
    assert code == 0
    preview = json.loads(out)
    assert preview["treated"] == 20
    assert preview["holdout"] == 2
    assert preview["seed"] == 3
    assert preview["basis"] == "risk_value"
    assert set(preview["expected"]) == {"saves", "value"}
    assert {"exclusions", "by_segment", "by_abc", "not_worth_calling"} <= set(preview)
    power = preview["power"]
    assert {"expected_effect", "mde", "holdout_needed", "baseline", "warning"} <= set(power)
    assert power["baseline"] == pytest.approx(0.3)


def test_plan_says_whether_the_list_can_show_its_effect(env: dict[str, str]) -> None:
    args = ("plan", "--kind", "anti-churn", "--name", "Q4", "--size", "30", "--dry-run")
    code, out, _ = invoke(env, *args, "--expected-effect", "0.05")
    assert code == 0
    said = " ".join(out.split())
    assert "power: expected effect 5.0 pts (set by the manager)" in said
    assert "baseline lost within 90 days 30.0% (churn model)" in said
    assert "underpowered: with 10% held out" in said
    assert "no holdout share is enough" in said
    code, _, err = invoke(env, *args, "--expected-effect", "2")
    assert code == 1
    assert "--expected-effect: a change per customer called above 0 and below 1" in " ".join(
        err.split()
    )


def test_plan_table_then_launch_export_and_list(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = invoke(
        env,
        "plan",
        "--kind",
        "anti-churn",
        "--name",
        "Q4 retention",
        "--agents",
        "2",
        "--hours",
        "2",
        "--contacts-per-hour",
        "5",
    )
    assert code == 0
    assert "to call (treated)" in out
    assert "telecampaign launch 'Q4 retention'" in out
    code, out, _ = invoke(env, "launch", "Q4 retention")
    assert (code, out.strip()) == (0, "Q4 retention: running")
    assert invoke(env, "pause", "Q4 retention")[1].strip() == "Q4 retention: paused"
    target = tmp_path / "q4.csv"
    code, out, _ = invoke(env, "export", "Q4 retention", str(target))
    assert code == 0
    assert "wrote 22 entries" in out
    assert target.read_text(encoding="utf-8").startswith("customer_id,name,phone")
    code, out, _ = invoke(env, "campaigns", "--json")
    listed = json.loads(out)
    assert [(c["name"], c["status"], c["treated"], c["holdout"]) for c in listed] == [
        ("Q4 retention", "paused", 20, 2)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("launch", "nope"), "no campaign named 'nope'"),
        (("resume", "Q4"), "cannot resume 'Q4': it is planned"),
        (
            ("plan", "--kind", "up-sell", "--name", "x", "--size", "5", "--agents", "2"),
            "either --size or",
        ),
        (("plan", "--kind", "anti-churn", "--name", "Q4"), "exists already"),
    ],
)
def test_mistakes_end_with_a_plain_error(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    assert invoke(env, "plan", "--kind", "anti-churn", "--name", "Q4", "--size", "5")[0] == 0
    code, _, err = invoke(env, *args)
    assert code == 1
    assert message in " ".join(err.split())
