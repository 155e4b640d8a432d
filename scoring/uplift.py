"""Uplift models: who responds *because* we call, learned from a randomised campaign.

A retention call is worth making where it changes the outcome, not where the customer
would have stayed (or left) anyway. With a randomised experiment (some customers called,
a random control group not) three meta-learners turn ordinary scikit-learn estimators
into an estimate of the individual effect `P(y | treated, x) - P(y | control, x)`:

- `SLearner`: one model of the outcome on the features plus a treatment column; the
  uplift is its prediction with treatment 1 minus with treatment 0.
- `TLearner`: one outcome model per arm; the uplift is the difference of the two.
- `XLearner`: the T-learner's models impute each customer's own effect (observed outcome
  minus the other arm's prediction), two regressors learn those effects, and their
  predictions are averaged with the treated share as weight (Künzel et al., 2019).

The default is the S-learner, for three reasons. Effects of a call are small next to
the base response rate (+4.5 points on 10.6% in Hillstrom, often less for retention);
the S-learner's single model learns the shared structure from both arms at once, where
the T-learner's two models each carry their own noise and their difference is mostly
that noise. With shallow trees and a treatment column it still finds where the effect
differs: on Hillstrom (BENCHMARKS.md, 5 random 50/50 splits) its Qini AUC is 0.064,
the X-learner's 0.058 and the T-learner's 0.048. And it is one model to train, store
and explain. The X-learner pays off when one arm is much smaller than the other (a 5%
control group), so it stays available, as does the T-learner (`build_learner`).

Every learner takes any feature matrix the wrapped estimators accept, with `treatment`
a boolean array, so the product can train them on its own campaign history.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone
from sklearn.model_selection import StratifiedShuffleSplit

from scoring.errors import TargetError, TreatmentError
from scoring.evaluate import (
    Progress,
    binary_target,
    describe_values,
    leak_warnings,
    mean_metrics,
    select_features,
    single_threaded,
)
from scoring.flatcsv import FlatTable, read_flat_csv
from scoring.pipeline import build_outcome_pipeline
from scoring.qini import qini_auc_score, uplift_at_k

__all__ = [
    "LEARNERS",
    "SLearner",
    "TLearner",
    "UpliftModel",
    "XLearner",
    "build_learner",
    "evaluate_uplift",
    "outcome_score",
]


class UpliftModel(Protocol):
    def fit(self, X: Any, treatment: ArrayLike, y: ArrayLike) -> Self: ...

    def predict_uplift(self, X: Any) -> NDArray[np.float64]: ...


def outcome_score(estimator: Any, X: Any) -> NDArray[np.float64]:
    """P(y = 1) from a classifier, the prediction itself from a regressor."""
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)
    return np.asarray(estimator.predict(X), dtype=np.float64)


class SLearner:
    """One outcome model; the estimator sees the treatment (0/1) as column 0 of its input."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, treatment: ArrayLike, y: ArrayLike) -> Self:
        t = _treatment(treatment, X)
        self.model_ = clone(self.estimator).fit(_with_treatment(X, t.astype(float)), y)
        return self

    def predict_uplift(self, X: Any) -> NDArray[np.float64]:
        n = _rows(X)
        treated = outcome_score(self.model_, _with_treatment(X, np.ones(n)))
        control = outcome_score(self.model_, _with_treatment(X, np.zeros(n)))
        return treated - control


class TLearner:
    """One outcome model per arm, fitted on that arm's rows only."""

    def __init__(self, estimator: Any, control_estimator: Any | None = None) -> None:
        self.estimator = estimator
        self.control_estimator = control_estimator

    def fit(self, X: Any, treatment: ArrayLike, y: ArrayLike) -> Self:
        t, y = _treatment(treatment, X), np.asarray(y)
        control = self.estimator if self.control_estimator is None else self.control_estimator
        self.treated_model_ = clone(self.estimator).fit(_take(X, t), y[t])
        self.control_model_ = clone(control).fit(_take(X, ~t), y[~t])
        return self

    def predict_uplift(self, X: Any) -> NDArray[np.float64]:
        return outcome_score(self.treated_model_, X) - outcome_score(self.control_model_, X)


class XLearner:
    """T-learner outcome models, then regressors on each arm's imputed individual effects."""

    def __init__(self, estimator: Any, effect_estimator: Any) -> None:
        self.estimator = estimator
        self.effect_estimator = effect_estimator

    def fit(self, X: Any, treatment: ArrayLike, y: ArrayLike) -> Self:
        t, y = _treatment(treatment, X), np.asarray(y, dtype=np.float64)
        outcomes = TLearner(self.estimator).fit(X, t, y)
        X1, X0 = _take(X, t), _take(X, ~t)
        effect1 = y[t] - outcome_score(outcomes.control_model_, X1)
        effect0 = outcome_score(outcomes.treated_model_, X0) - y[~t]
        self.treated_effect_ = clone(self.effect_estimator).fit(X1, effect1)
        self.control_effect_ = clone(self.effect_estimator).fit(X0, effect0)
        # a randomised experiment has one propensity for everybody: the treated share
        self.propensity_ = float(t.mean())
        return self

    def predict_uplift(self, X: Any) -> NDArray[np.float64]:
        g = self.propensity_
        tau0 = outcome_score(self.control_effect_, X)
        tau1 = outcome_score(self.treated_effect_, X)
        return g * tau0 + (1 - g) * tau1


def _treatment(treatment: ArrayLike, X: Any) -> NDArray[np.bool_]:
    t = np.asarray(treatment)
    if t.dtype != np.bool_:
        if not np.isin(t, (0, 1)).all():
            raise ValueError("treatment must be boolean or 0/1")
        t = t.astype(bool)
    if t.shape != (_rows(X),):
        raise ValueError(f"treatment has shape {t.shape}, X has {_rows(X)} rows")
    if t.all() or not t.any():
        raise ValueError("treatment must hold both treated and control rows")
    return t


def _rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _take(X: Any, rows: NDArray[np.bool_]) -> Any:
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _with_treatment(X: Any, t: NDArray[np.float64]) -> NDArray[Any]:
    return np.column_stack([t, np.asarray(X)])


LEARNERS = ("s", "t", "x")


def build_learner(
    kind: str, numeric: Sequence[str], categorical: Sequence[str], *, random_state: int = 0
) -> UpliftModel:
    """An S-, T- or X-learner on `scoring.pipeline` boosted trees for these columns."""
    if kind == "s":
        # the S-learner's estimator sees the treatment as column 0: a numeric feature
        return SLearner(
            build_outcome_pipeline(["treatment", *numeric], categorical, random_state=random_state)
        )
    outcome = build_outcome_pipeline(numeric, categorical, random_state=random_state)
    if kind == "t":
        return TLearner(outcome)
    if kind == "x":
        effect = build_outcome_pipeline(
            numeric, categorical, regression=True, random_state=random_state
        )
        return XLearner(outcome, effect)
    raise ValueError(f"learner {kind!r}: choose one of {', '.join(LEARNERS)}")


def evaluate_uplift(
    path: Path,
    treatment: str,
    treated: str,
    control: str,
    outcome: str,
    drop: Sequence[str] = (),
    splits: int = 5,
    seed: int = 0,
    *,
    positive: str | None = None,
    learner: str = "s",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Qini AUC and uplift at 10% and 30%: the uplift model, a response model and random.

    Means over `splits` random 50/50 train/test splits, stratified on arm and outcome.
    Rows whose treatment is neither `treated` nor `control` are left out. The response
    model ranks by P(outcome | treated) fitted on the treated training rows: what a
    campaign targets without an experiment. Columns recorded after the treatment (in
    Hillstrom `conversion` and `spend`) must be passed in `drop`; those that look like
    it are named in the result's `warnings`, never dropped silently.
    """
    if learner not in LEARNERS:
        raise ValueError(f"learner {learner!r}: choose one of {', '.join(LEARNERS)}")
    table = read_flat_csv(Path(path))
    arm = _arms(table, treatment, treated, control)
    other_rows = int((arm < 0).sum())
    table = table.take(arm >= 0)
    y, known = binary_target(table, outcome, positive, role="outcome column")
    table, t = table.take(known), arm[arm >= 0][known] == 1
    for name in drop:
        table.column(name, "column to drop")
    features = select_features(table, [treatment, outcome, *drop])
    _check_arms(table, treatment, treated, control, t, y, splits)
    X = table.feature_matrix(features.numeric, features.categorical)

    results: dict[str, list[dict[str, float]]] = {"uplift": [], "response": [], "random": []}
    rng = np.random.default_rng(seed)
    splitter = StratifiedShuffleSplit(n_splits=splits, test_size=0.5, random_state=seed)
    with single_threaded():
        for split, (train, test) in enumerate(splitter.split(X, 2 * t + y)):
            model = build_learner(
                learner, features.numeric, features.categorical, random_state=seed
            )
            model.fit(X[train], t[train], y[train])
            response = build_outcome_pipeline(
                features.numeric, features.categorical, random_state=seed
            )
            treated_train = train[t[train]]
            response.fit(X[treated_train], y[treated_train])
            scores = {
                "uplift": model.predict_uplift(X[test]),
                "response": outcome_score(response, X[test]),
                "random": rng.random(len(test)),
            }
            for name, score in scores.items():
                results[name].append(_uplift_metrics(y[test], score, t[test]))
            if progress:
                progress(split + 1, splits)
    summary: dict[str, Any] = {name: mean_metrics(rows) for name, rows in results.items()}
    summary["sd"] = {name: _sd(rows) for name, rows in results.items()}
    treated_rate, control_rate = float(y[t].mean()), float(y[~t].mean())
    summary.update(
        learner=learner,
        splits=splits,
        seed=seed,
        rows=table.n_rows,
        treated_rows=int(t.sum()),
        control_rows=int((~t).sum()),
        other_rows=other_rows,
        outcome_rate_treated=round(treated_rate, 4),
        outcome_rate_control=round(control_rate, 4),
        average_effect=round(treated_rate - control_rate, 4),
        features=features.as_json(),
        ignored=features.ignored,
        warnings=leak_warnings(table, features, y, outcome),
    )
    return summary


def _uplift_metrics(
    y: NDArray[np.bool_], score: NDArray[np.float64], t: NDArray[np.bool_]
) -> dict[str, float]:
    return {
        "qini_auc": qini_auc_score(y, score, t),
        "uplift_at_10": uplift_at_k(y, score, t, 0.1),
        "uplift_at_30": uplift_at_k(y, score, t, 0.3),
    }


def _sd(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(float(np.std([r[key] for r in rows])), 4) for key in rows[0]}


def _arms(table: FlatTable, name: str, treated: str, control: str) -> NDArray[np.int8]:
    """1 for treated rows, 0 for control rows, -1 for any other value."""
    column = table.column(name, "treatment column")
    if treated.strip() == control.strip():
        raise TreatmentError(
            f"--treated and --control are both {treated!r}: name two different values of {name!r}"
        )
    arm = np.full(table.n_rows, -1, dtype=np.int8)
    for value, code in ((treated, 1), (control, 0)):
        rows = column.text == value.strip()
        if not rows.any():
            role = "--treated" if code else "--control"
            raise TreatmentError(
                f"{table.path}: {role} value {value!r} never occurs in treatment column "
                f"{name!r}; {describe_values(column.text, value)}"
            )
        arm[rows] = code
    return arm


def _check_arms(
    table: FlatTable,
    treatment: str,
    treated: str,
    control: str,
    t: NDArray[np.bool_],
    y: NDArray[np.bool_],
    splits: int,
) -> None:
    if splits < 1:
        raise TargetError(f"--splits {splits}: at least one train/test split is needed")
    for is_treated, value in ((True, treated), (False, control)):
        arm = y[t == is_treated]
        smallest = int(min(arm.sum(), (~arm).sum()))
        if smallest < 2:
            raise TreatmentError(
                f"{table.path}: the {treatment} = {value!r} arm has {smallest} row(s) of one "
                "outcome: each arm needs responders and non-responders, at least 2 of each, "
                "to split in halves"
            )
