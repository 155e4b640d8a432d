"""`model evaluate` and `uplift evaluate` through typer's CliRunner: output and exit codes."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from runner.cli.models import model_app, uplift_app
from scoring.evaluate import single_threaded

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
METRICS = {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
UPLIFT_METRICS = {"qini_auc", "uplift_at_10", "uplift_at_30"}

app = typer.Typer()
app.add_typer(model_app, name="model")
app.add_typer(uplift_app, name="uplift")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    with single_threaded():
        yield


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}: {name} is needed")
    return path


@pytest.fixture
def churn_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path / "churn.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "tenure", "plan", "churned"])
        for i in range(400):
            tenure, plan = int(rng.integers(0, 60)), str(rng.choice(["basic", "plus"]))
            risk = 0.6 - 0.008 * tenure + 0.15 * (plan == "basic")
            writer.writerow([f"K{i}", tenure, plan, "yes" if rng.random() < risk else "no"])
    return path


@pytest.fixture
def experiment_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    path = tmp_path / "experiment.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "region", "arm", "renewed"])
        for _ in range(3000):
            age, region = int(rng.integers(18, 80)), str(rng.choice(["n", "s"]))
            called = rng.random() < 0.5
            p = 0.2 + (0.25 if called and region == "n" and age > 40 else 0.0)
            writer.writerow([age, region, "call" if called else "none", int(rng.random() < p)])
    return path


def test_model_evaluate_json(churn_file: Path) -> None:
    code, out, err = invoke(
        "model", "evaluate", str(churn_file), "--target", "churned", "--positive", "yes",
        "--id", "id", "--folds", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert set(result["model"]) == METRICS
    assert set(result["baseline"]) == METRICS
    assert result["rows"] == 400
    assert result["model"]["roc_auc"] > 0.6


def test_model_evaluate_table_and_notes(churn_file: Path) -> None:
    code, out, err = invoke(
        "model", "evaluate", str(churn_file), "--target", "churned", "--positive", "yes",
        "--folds", "2",
    )  # fmt: skip
    assert code == 0, err
    assert "400 rows" in out
    for label in ("ROC AUC", "PR AUC", "Brier", "top-decile lift", "model", "baseline"):
        assert label in out
    assert "note: column 'id' left out: identifier" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "Churned", "--positive", "yes"], "no target column 'Churned'"),
        (["--target", "churned", "--positive", "Yes"], "'Yes' never occurs"),
        (["--target", "churned", "--positive", "yes", "--drop", "plann"], "did you mean 'plan'"),
        (["--target", "churned", "--positive", "yes", "--folds", "900"], "fewer than the"),
    ],
)
def test_model_evaluate_mistakes_exit_1_without_traceback(
    churn_file: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("model", "evaluate", str(churn_file), *args)
    assert code == 1
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in out + err


def test_missing_file_is_a_plain_error(tmp_path: Path) -> None:
    code, _, err = invoke(
        "model", "evaluate", str(tmp_path / "nope.csv"), "--target", "y", "--positive", "1"
    )
    assert code == 1
    assert "no such file" in err


def test_uplift_evaluate_json_and_table(experiment_file: Path) -> None:
    args = ["uplift", "evaluate", str(experiment_file), "--treatment", "arm"]
    args += ["--treated", "call", "--control", "none", "--outcome", "renewed", "--splits", "2"]
    code, out, err = invoke(*args, "--json")
    assert code == 0, err
    result = json.loads(out)
    for arm in ("uplift", "response", "random"):
        assert set(result[arm]) == UPLIFT_METRICS
    assert result["uplift"]["qini_auc"] > result["random"]["qini_auc"]
    code, out, err = invoke(*args, "--learner", "t")
    assert code == 0, err
    for label in ("Qini AUC", "uplift at 10%", "uplift at 30%", "t-learner", "response", "random"):
        assert label in out


def test_uplift_evaluate_unknown_arm_value(experiment_file: Path) -> None:
    code, _, err = invoke(
        "uplift", "evaluate", str(experiment_file), "--treatment", "arm", "--treated", "Call",
        "--control", "none", "--outcome", "renewed",
    )  # fmt: skip
    assert code == 1
    assert "--treated value 'Call' never occurs in treatment column 'arm'" in err
    assert "'call'" in err


def test_telco_through_the_cli() -> None:
    path = shared("telco_customer_churn.csv")
    code, out, err = invoke(
        "model", "evaluate", str(path), "--target", "Churn", "--positive", "Yes",
        "--id", "customerID", "--folds", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["rows"] == 7043
    assert result["model"]["roc_auc"] > 0.83
    assert result["model"]["brier"] < 0.14


def test_hillstrom_through_the_cli() -> None:
    path = shared("hillstrom.csv")
    code, out, err = invoke(
        "uplift", "evaluate", str(path), "--treatment", "segment", "--treated", "Womens E-Mail",
        "--control", "No E-Mail", "--outcome", "visit", "--drop", "conversion",
        "--drop", "spend", "--splits", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["treated_rows"] == 21387
    assert result["other_rows"] == 21307
    assert result["uplift"]["qini_auc"] > result["random"]["qini_auc"]
