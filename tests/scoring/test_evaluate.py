"""Cross-validated evaluation on flat CSV files: metrics, column choices and errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from scoring.errors import ColumnNotFoundError, DataFileError, TargetError
from scoring.evaluate import classification_metrics, evaluate_model, top_decile_lift

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def churn_csv(path: Path, rows: int = 600, seed: int = 1, *, leak: bool = False) -> Path:
    """A small churn table: month-to-month customers with short tenure churn more."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(["Month-to-month", "One year", "Two year"], rows, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(0, 72, rows)
    charges = rng.uniform(20, 110, rows).round(2)
    logit = -1.0 + 1.6 * (contract == "Month-to-month") - 0.04 * tenure + 0.01 * charges
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(
            ["customer", "tenure", "Contract", "MonthlyCharges", "region", "Churn"]
            + (["closed_on"] if leak else [])
        )
        for i in range(rows):
            blank_charges = i % 50 == 0  # a few blanks: the column stays numeric
            writer.writerow(
                [f"C{i:05d}", tenure[i], contract[i], "" if blank_charges else charges[i]]
                + ["north" if i % 3 else "south", "Yes" if churn[i] else "No"]
                + (["2024-05-01" if churn[i] else ""] if leak else [])
            )
    return path


def test_top_decile_lift_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    score = np.linspace(1, 0, 20)  # top 10% = the first 2 rows, both positive
    assert top_decile_lift(y, score) == pytest.approx(1 / 0.25)
    assert top_decile_lift(y, -score) == pytest.approx(0.5 / 0.25)  # rows 19 and 18
    assert top_decile_lift(y, score, share=0.5) == pytest.approx((3 / 10) / 0.25)
    assert np.isnan(top_decile_lift(np.zeros(5), np.arange(5)))


def test_classification_metrics_of_a_perfect_and_a_constant_score() -> None:
    y = np.array([0, 0, 0, 1])
    perfect = classification_metrics(y, np.array([0.0, 0.0, 0.0, 1.0]))
    assert perfect == {"roc_auc": 1.0, "pr_auc": 1.0, "brier": 0.0, "top_decile_lift": 4.0}
    flat = classification_metrics(y, np.full(4, 0.25))
    assert flat["roc_auc"] == 0.5
    assert flat["brier"] == pytest.approx(0.1875)


def test_evaluate_model_on_a_small_file(tmp_path: Path) -> None:
    path = churn_csv(tmp_path / "churn.csv")
    result = evaluate_model(path, "Churn", "Yes", id_col="customer", folds=3)
    assert set(result["model"]) == {"roc_auc", "pr_auc", "brier", "top_decile_lift"}
    assert set(result["baseline"]) == set(result["model"])
    assert result["rows"] == 600
    assert result["features"] == {
        "numeric": ["tenure", "MonthlyCharges"],
        "categorical": ["Contract", "region"],
    }
    assert result["ignored"] == {}
    assert result["warnings"] == []
    assert result["model"]["roc_auc"] > 0.7
    assert result["baseline"]["roc_auc"] > 0.7
    assert 0 < result["model"]["brier"] < 0.25


def test_progress_is_reported_per_fitted_model(tmp_path: Path) -> None:
    path = churn_csv(tmp_path / "churn.csv", rows=300)
    calls: list[tuple[float, float]] = []
    evaluate_model(path, "Churn", "Yes", folds=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_identifiers_are_left_out_and_late_columns_flagged(tmp_path: Path) -> None:
    path = churn_csv(tmp_path / "churn.csv", rows=300, leak=True)
    result = evaluate_model(path, "Churn", "Yes", folds=2)
    assert "identifier" in result["ignored"]["customer"]
    assert len(result["warnings"]) == 1
    assert "'closed_on' may be recorded after the outcome" in result["warnings"][0]
    assert "pass --drop closed_on" in result["warnings"][0]
    dropped = evaluate_model(path, "Churn", "Yes", drop=["closed_on"], folds=2)
    assert dropped["warnings"] == []


def test_target_errors_name_the_column_and_the_values(tmp_path: Path) -> None:
    path = churn_csv(tmp_path / "churn.csv", rows=100)
    with pytest.raises(ColumnNotFoundError, match="no target column 'churn': did you mean"):
        evaluate_model(path, "churn", "Yes")
    with pytest.raises(TargetError, match=r"'yes' never occurs .* did you mean 'Yes'\?"):
        evaluate_model(path, "Churn", "yes")
    with pytest.raises(ColumnNotFoundError, match="no column to drop 'regoin'"):
        evaluate_model(path, "Churn", "Yes", drop=["regoin"])
    with pytest.raises(ColumnNotFoundError, match="no id column 'id'"):
        evaluate_model(path, "Churn", "Yes", id_col="id")
    with pytest.raises(TargetError, match="fewer than the 500 folds"):
        evaluate_model(path, "Churn", "Yes", folds=500)


def test_one_class_and_no_features_are_errors(tmp_path: Path) -> None:
    one_class = tmp_path / "one.csv"
    one_class.write_text("x,y\n1,a\n2,a\n3,a\n", encoding="utf-8")
    with pytest.raises(TargetError, match="nothing to tell apart"):
        evaluate_model(one_class, "y", "a")
    only_target = tmp_path / "only.csv"
    only_target.write_text("id,y\n1,a\n2,b\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no usable feature column"):
        evaluate_model(only_target, "y", "a", id_col="id")


def test_unreadable_file_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        evaluate_model(tmp_path / "missing.csv", "Churn", "Yes")


def test_telco_with_three_folds_beats_the_baseline() -> None:
    path = SHARED_DATA / "telco_customer_churn.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}: the Telco file is needed")
    result = evaluate_model(path, "Churn", "Yes", id_col="customerID", folds=3)
    assert result["rows"] == 7043
    assert result["model"]["roc_auc"] >= 0.84
    assert result["model"]["roc_auc"] >= result["baseline"]["roc_auc"]
    assert result["model"]["brier"] <= result["baseline"]["brier"]
