"""Uplift learners find a planted effect; the evaluation and its errors."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from scoring.errors import ColumnNotFoundError, TargetError, TreatmentError
from scoring.evaluate import single_threaded
from scoring.qini import qini_auc_score
from scoring.uplift import LEARNERS, SLearner, TLearner, XLearner, build_learner, evaluate_uplift


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Fit trees on one OpenMP thread, as the evaluations do: parallel runs stay fast."""
    with single_threaded():
        yield


def planted(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, treatment, outcome and the true effect: +30 points where x0 > 0.5 and x1 = 1."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.random(rows), rng.integers(0, 3, rows), rng.normal(size=rows)])
    t = rng.random(rows) < 0.5
    effect = np.where((X[:, 0] > 0.5) & (X[:, 1] == 1), 0.3, 0.0)
    # the customers most likely to respond anyway (x1 = 2) are not those the call moves
    base = 0.1 + 0.3 * (X[:, 1] == 2) + 0.05 * (X[:, 2] > 0)
    y = (rng.random(rows) < base + t * effect).astype(int)
    return X, t, y, effect


def trees() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_depth=3, max_iter=100, random_state=0)


@pytest.mark.parametrize(
    "learner",
    [
        SLearner(trees()),
        TLearner(trees()),
        XLearner(trees(), HistGradientBoostingRegressor(max_depth=3, max_iter=100)),
    ],
    ids=["s", "t", "x"],
)
def test_learners_recover_a_planted_effect(learner: SLearner | TLearner | XLearner) -> None:
    X, t, y, _ = planted(6000, seed=1)
    X_new, t_new, y_new, effect_new = planted(4000, seed=2)
    uplift = learner.fit(X, t, y).predict_uplift(X_new)
    assert uplift.shape == (4000,)
    assert np.corrcoef(uplift, effect_new)[0, 1] > 0.6
    assert uplift[effect_new > 0].mean() - uplift[effect_new == 0].mean() > 0.08
    # outcome noise keeps even the true effect far from the Qini of a perfect ranking (1)
    truth = qini_auc_score(y_new, effect_new, t_new)
    random = qini_auc_score(y_new, np.random.default_rng(0).random(4000), t_new)
    assert qini_auc_score(y_new, uplift, t_new) > max(0.8 * truth, random + 0.04)


def test_learners_take_any_estimator_and_integer_treatment() -> None:
    X, t, y, _ = planted(2000, seed=3)
    model = TLearner(LogisticRegression(), control_estimator=LogisticRegression(C=0.1))
    uplift = model.fit(X, t.astype(int), y).predict_uplift(X)
    assert uplift.shape == (2000,)
    with pytest.raises(ValueError, match="both treated and control"):
        SLearner(trees()).fit(X, np.ones(2000, dtype=bool), y)
    with pytest.raises(ValueError, match="boolean or 0/1"):
        SLearner(trees()).fit(X, np.full(2000, 2), y)


@pytest.mark.parametrize("kind", LEARNERS)
def test_build_learner_on_the_project_pipelines(kind: str) -> None:
    X, t, y, effect = planted(3000, seed=4)
    matrix = np.column_stack(
        [X[:, [0, 2]], np.array(["a", "b", "c"], dtype=object)[X[:, 1].astype(int)]]
    )
    learner = build_learner(kind, ["x0", "x2"], ["x1"])
    uplift = learner.fit(matrix, t, y).predict_uplift(matrix)
    assert np.corrcoef(uplift, effect)[0, 1] > 0.3


def experiment_csv(path: Path, rows: int = 6000) -> Path:
    X, t, y, _ = planted(rows, seed=5)
    arm = np.where(t, "E-Mail", "No E-Mail")
    arm[::10] = "SMS"  # a third arm the evaluation leaves out
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x0", "x1", "x2", "segment", "visit", "spend"])
        for i in range(rows):
            spend = f"{10 + X[i, 0]:.2f}" if y[i] and i % 4 == 0 else "0"
            writer.writerow(
                [f"{X[i, 0]:.4f}", "abc"[int(X[i, 1])], f"{X[i, 2]:.4f}", arm[i], y[i], spend]
            )
    return path


def test_evaluate_uplift_compares_with_response_and_random(tmp_path: Path) -> None:
    path = experiment_csv(tmp_path / "experiment.csv")
    calls: list[tuple[float, float]] = []
    result = evaluate_uplift(
        path,
        "segment",
        "E-Mail",
        "No E-Mail",
        "visit",
        drop=["spend"],
        splits=2,
        progress=lambda d, t: calls.append((d, t)),
    )
    for arm in ("uplift", "response", "random"):
        assert set(result[arm]) == {"qini_auc", "uplift_at_10", "uplift_at_30"}
    assert result["other_rows"] == 600
    assert result["treated_rows"] + result["control_rows"] == 5400
    assert result["features"] == {"numeric": ["x0", "x2"], "categorical": ["x1"]}
    assert result["uplift"]["qini_auc"] > result["random"]["qini_auc"] + 0.05
    assert result["uplift"]["qini_auc"] > result["response"]["qini_auc"] + 0.02
    assert result["uplift"]["uplift_at_30"] > result["response"]["uplift_at_30"]
    assert result["warnings"] == []
    assert calls == [(1, 2), (2, 2)]


def test_post_treatment_columns_are_flagged(tmp_path: Path) -> None:
    path = experiment_csv(tmp_path / "experiment.csv", rows=1500)
    result = evaluate_uplift(path, "segment", "E-Mail", "No E-Mail", "visit", splits=1)
    assert len(result["warnings"]) == 1
    assert "'spend' may be recorded after the outcome" in result["warnings"][0]


def test_uplift_errors_name_the_values(tmp_path: Path) -> None:
    path = experiment_csv(tmp_path / "experiment.csv", rows=400)
    with pytest.raises(TreatmentError, match=r"--treated value 'Email' never occurs .*'E-Mail'"):
        evaluate_uplift(path, "segment", "Email", "No E-Mail", "visit")
    with pytest.raises(TreatmentError, match="both 'E-Mail'"):
        evaluate_uplift(path, "segment", "E-Mail", "E-Mail", "visit")
    with pytest.raises(ColumnNotFoundError, match="no treatment column 'arm'"):
        evaluate_uplift(path, "arm", "E-Mail", "No E-Mail", "visit")
    with pytest.raises(TargetError, match=r"not a 0/1 or yes/no column .* --positive"):
        evaluate_uplift(path, "segment", "E-Mail", "No E-Mail", "x2")
    with pytest.raises(TargetError, match="'2' never occurs in outcome column 'visit'"):
        evaluate_uplift(path, "segment", "E-Mail", "No E-Mail", "visit", positive="2")
