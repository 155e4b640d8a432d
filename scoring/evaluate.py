"""Cross-validated evaluation of the churn model against its baseline, on any flat CSV.

`evaluate_model` reads the file (`scoring.flatcsv`), takes every column except the
target, the id and the dropped ones as a feature, and fits the production pipeline and
the logistic baseline inside each stratified fold, so nothing is learned from the rows
it is scored on. Metrics are means over the folds:

- ROC AUC and PR AUC (average precision): how well the scores rank churners first;
- Brier score: mean squared error of the probabilities, which the call planning uses
  as they are (lower is better);
- top-decile lift: the churn rate among the 10% highest scores over the overall rate.

Columns that cannot help are left out and reported: empty or constant columns, and
identifiers (a different text on most rows, or a distinct whole number on every row).
Columns that look recorded after the outcome are kept but reported as warnings, since
only the user knows when a column was filled in: one that alone ranks the target almost
perfectly, or whose uncommon values only ever occur with one outcome (a `conversion`
flag that is 1 only for visitors, a `churn_date` filled only for churners).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from scoring.errors import DataFileError, TargetError
from scoring.flatcsv import Column, FlatTable, read_flat_csv
from scoring.pipeline import build_baseline_pipeline, build_churn_pipeline

__all__ = [
    "FeatureSet",
    "Progress",
    "binary_target",
    "classification_metrics",
    "describe_values",
    "evaluate_model",
    "leak_warnings",
    "mean_metrics",
    "select_features",
    "single_threaded",
    "top_decile_lift",
]

Progress = Callable[[float, float], None]

_LEAK_AUC = 0.99
_LEAK_MIN_ROWS = 20
_TRUE_WORDS = ("1", "true", "yes", "y")


@dataclass(frozen=True)
class FeatureSet:
    """The columns a model uses, by kind, and those left out with the reason."""

    numeric: list[str]
    categorical: list[str]
    ignored: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "categorical": self.categorical}


def top_decile_lift(y: ArrayLike, score: ArrayLike, share: float = 0.1) -> float:
    """Positive rate among the `share` highest scores over the overall positive rate.

    The top is `round(n * share)` rows (at least one); ties keep file order.
    """
    y_arr, s_arr = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    base = float(y_arr.mean())
    if base == 0:
        return float("nan")
    top = np.argsort(-s_arr, kind="stable")[: max(round(len(s_arr) * share), 1)]
    return float(y_arr[top].mean() / base)


def classification_metrics(y: ArrayLike, score: ArrayLike) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "brier": float(brier_score_loss(y, score)),
        "top_decile_lift": top_decile_lift(y, score),
    }


def evaluate_model(
    path: Path,
    target: str,
    positive: str,
    id_col: str | None = None,
    drop: Sequence[str] = (),
    folds: int = 5,
    seed: int = 0,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Mean metrics over stratified folds: the churn model, the baseline, and the data."""
    table = read_flat_csv(Path(path))
    y, known = binary_target(table, target, positive)
    table = table.take(known)
    excluded = [target, *([id_col] if id_col else []), *drop]
    for name in excluded[1:]:
        table.column(name, "id column" if name == id_col else "column to drop")
    features = select_features(table, excluded)
    _check_folds(table, target, positive, y, folds)
    X = table.feature_matrix(features.numeric, features.categorical)

    scores: dict[str, list[dict[str, float]]] = {"model": [], "baseline": []}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    total = 2 * folds
    with single_threaded():
        for fold, (train, test) in enumerate(splitter.split(X, y)):
            pipelines = {
                "model": build_churn_pipeline(
                    features.numeric, features.categorical, random_state=seed
                ),
                "baseline": build_baseline_pipeline(features.numeric, features.categorical),
            }
            for step, (name, pipeline) in enumerate(pipelines.items(), start=1):
                pipeline.fit(X[train], y[train])
                scores[name].append(
                    classification_metrics(y[test], _positive_proba(pipeline, X[test]))
                )
                if progress:
                    progress(2 * fold + step, total)
    return {
        "model": mean_metrics(scores["model"]),
        "baseline": mean_metrics(scores["baseline"]),
        "rows": table.n_rows,
        "positive_rate": round(float(y.mean()), 4),
        "folds": folds,
        "seed": seed,
        "features": features.as_json(),
        "ignored": features.ignored,
        "warnings": leak_warnings(table, features, y, target),
    }


def binary_target(
    table: FlatTable, name: str, positive: str | None, *, role: str = "target column"
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(is positive, has a value) per row; `positive=None` accepts only 0/1 or yes/no."""
    column = table.column(name, role)
    known = ~column.missing
    if not known.any():
        raise TargetError(f"{table.path}: {role} {name!r} is blank on every row")
    values = column.text[known]
    if positive is None:
        positive = _default_positive(table, column, known)
    hits = _equals(column, positive)
    y = hits[known]
    if not y.any():
        raise TargetError(
            f"{table.path}: the positive value {positive!r} never occurs in {role} {name!r}; "
            f"{describe_values(values, positive)}"
        )
    if y.all():
        raise TargetError(
            f"{table.path}: every row with a value in {role} {name!r} is {positive!r}: "
            "there is nothing to tell apart; check the column and the positive value"
        )
    return y, known


def select_features(table: FlatTable, excluded: Sequence[str]) -> FeatureSet:
    """Every column not excluded, by kind, leaving out those no model can use."""
    numeric: list[str] = []
    categorical: list[str] = []
    ignored: dict[str, str] = {}
    for name, column in table.columns.items():
        if name in excluded:
            continue
        reason = _useless(column, table.n_rows)
        if reason:
            ignored[name] = reason
        elif column.kind == "numeric":
            numeric.append(name)
        else:
            categorical.append(name)
    if not numeric and not categorical:
        raise DataFileError(
            f"{table.path}: no usable feature column is left once "
            f"{', '.join(repr(e) for e in excluded)} are set aside"
        )
    return FeatureSet(numeric, categorical, ignored)


def leak_warnings(
    table: FlatTable, features: FeatureSet, y: NDArray[np.bool_], target: str
) -> list[str]:
    """Warnings for feature columns that look recorded after the outcome."""
    warnings = []
    for name in features.numeric + features.categorical:
        why = _looks_downstream(table.column(name), y, target)
        if why:
            warnings.append(
                f"column {name!r} may be recorded after the outcome ({why}): "
                f"if so it leaks the answer; pass --drop {name}"
            )
    return warnings


def single_threaded() -> Any:
    """Limit OpenMP to one thread while fitting.

    The boosted trees start one OpenMP thread per core; when anything else keeps a core
    busy (a second evaluation, a test run) the threads wait on each other and a fold
    takes 30 times longer. The data sets are small, so one thread costs little.
    """
    return threadpool_limits(limits=1, user_api="openmp")


def _positive_proba(pipeline: Any, X: NDArray[Any]) -> NDArray[np.float64]:
    return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over folds or splits, to 4 decimals."""
    return {key: round(float(np.mean([r[key] for r in rows])), 4) for key in rows[0]}


def _check_folds(
    table: FlatTable, target: str, positive: str, y: NDArray[np.bool_], folds: int
) -> None:
    smallest = int(min(y.sum(), (~y).sum()))
    if folds < 2:
        raise TargetError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if smallest < folds:
        which = f"= {positive!r}" if y.sum() == smallest else f"!= {positive!r}"
        raise TargetError(
            f"{table.path}: only {smallest} row(s) have {target} {which}, fewer than the "
            f"{folds} folds: lower --folds or use a larger file"
        )


def _default_positive(table: FlatTable, column: Column, known: NDArray[np.bool_]) -> str:
    distinct = sorted({v.lower() for v in column.text[known].tolist()})
    if column.numbers is not None and set(column.numbers[known].tolist()) <= {0.0, 1.0}:
        return "1"
    for word in _TRUE_WORDS:
        if len(distinct) == 2 and word in distinct:
            return str(next(v for v in column.text[known].tolist() if v.lower() == word))
    raise TargetError(
        f"{table.path}: column {column.name!r} is not a 0/1 or yes/no column "
        f"({describe_values(column.text[known], None)}): say which value counts as a "
        "response with --positive VALUE"
    )


def _equals(column: Column, value: str) -> NDArray[np.bool_]:
    hits = np.asarray(column.text == value.strip(), dtype=bool)
    if column.numbers is not None and not hits.any():
        try:
            number = float(value)
        except ValueError:
            return hits
        return np.asarray(column.numbers == number, dtype=bool)
    return hits


def describe_values(values: NDArray[np.object_], wanted: str | None) -> str:
    """'its values are: ...' with counts, and the right spelling of a mistyped value."""
    counts = Counter(values.tolist()).most_common()
    shown = ", ".join(f"{v!r} ({n:,})" for v, n in counts[:12])
    more = f" and {len(counts) - 12} more" if len(counts) > 12 else ""
    hint = f"its values are: {shown}{more}"
    if wanted is not None:
        same = [v for v, _ in counts if str(v).lower() == wanted.strip().lower()]
        if same:
            hint += f" (values are case-sensitive: did you mean {same[0]!r}?)"
    return hint


def _useless(column: Column, n_rows: int) -> str:
    if column.kind == "empty":
        return "blank on every row"
    filled = column.text[~column.missing]
    distinct = len(set(filled.tolist()))
    if distinct == 1 and len(filled) == n_rows:
        return "the same value on every row"
    if column.kind == "categorical" and distinct > max(50, n_rows // 2):
        return f"identifier or free text: {distinct:,} distinct values in {n_rows:,} rows"
    numbers = column.numbers
    if (
        numbers is not None
        and n_rows >= 50
        and distinct == n_rows
        and bool(np.all(numbers == np.round(numbers)))
    ):
        return "identifier: a different whole number on every row"
    return ""


def _looks_downstream(column: Column, y: NDArray[np.bool_], target: str) -> str:
    text = column.text
    mode, _ = Counter(text.tolist()).most_common(1)[0]
    uncommon = text != mode
    n_uncommon = int(uncommon.sum())
    if n_uncommon >= max(_LEAK_MIN_ROWS, len(y) // 1000) and n_uncommon < len(y):
        rate = float(y[uncommon].mean())
        if rate in (0.0, 1.0) and 0 < y[~uncommon].mean() < 1:
            outcome = "positive" if rate == 1.0 else "negative"
            shown = "blank" if mode == "" else repr(mode)
            return f"all {n_uncommon:,} rows where it is not {shown} have a {outcome} {target}"
    score = _single_column_score(column, y)
    if score is not None:
        auc = float(roc_auc_score(y, score))
        auc = max(auc, 1 - auc)
        if auc >= _LEAK_AUC:
            return f"on its own it ranks {target} with ROC AUC {auc:.3f}"
    return ""


def _single_column_score(column: Column, y: NDArray[np.bool_]) -> NDArray[np.float64] | None:
    if column.numbers is not None:
        numbers = column.numbers
        floor = np.nanmin(numbers) - 1 if (~np.isnan(numbers)).any() else 0.0
        return np.where(np.isnan(numbers), floor, numbers)
    levels = Counter(column.text.tolist())
    if len(levels) > 50:
        return None
    rates = {level: float(y[column.text == level].mean()) for level in levels}
    return np.array([rates[v] for v in column.text.tolist()], dtype=np.float64)
