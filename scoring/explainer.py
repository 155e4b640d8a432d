"""Churn probabilities and their reasons for whole feature frames, at scoring speed.

``score`` asks the model for every active customer's probability and, per reason, for
the probability with the reason's features at their reference (``scoring.reasons``).
Done literally that is nine passes of a pipeline per chunk. This module gets the very
same numbers, to the last bit, with much less work:

- the frame goes through the pipeline's feature step once; a reason then moves
  columns of that matrix, which is what the step makes of a frame with those features
  moved, because it passes the numeric features through unchanged, and only the rows
  whose features are not at the reference already;
- the member of the calibrated ensemble that weighs the reasons is evaluated tree by
  tree: moving some features re-evaluates only the trees that split on one of them,
  and the tree values are added up in the model's own order, so each probability is
  the one ``predict_proba`` returns; that member's share of the ensemble's mean is
  taken from the same trees. A large base's model is one set of trees
  (``scoring.churn.ENSEMBLE_ROWS``): its only member is the whole model.

Anything that is not the churn pipeline's layout (numbers passed through first, a
sigmoid-calibrated binary boosted-trees ensemble) falls back to plain ``predict_proba``
calls with the same results, only slower.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from scoring.evaluate import single_threaded
from scoring.features import CATEGORICAL, NUMERIC
from scoring.reasons import Probabilities, explain, pick, weigh

FEATURES = NUMERIC + CATEGORICAL
# Rows evaluated together: the tree values of a block (trees x rows) stay near 40 MB.
BLOCK = 12_000
Reasons = list[list[dict[str, Any]]]


class ChurnExplainer:
    """Probabilities and top reasons for feature frames, from one fitted churn model."""

    def __init__(self, model: Pipeline, helper: Executor | None = None) -> None:
        """``helper``, if given, runs the ensemble's other members meanwhile."""
        self.model = model
        self.helper = helper
        self.members: list[Any] = list(getattr(model[-1], "calibrated_classifiers_", None) or [])
        # One calibrated member of the ensemble weighs the reasons: the same kind of
        # model at a fifth of the cost of asking all five for every reason.
        self.member = self.members[0] if self.members else None
        self.columns = _passed_through(model)
        self.trees = _Trees.of(self.member) if self.member is not None else None

    def predict_and_explain(self, frame: pd.DataFrame) -> tuple[Probabilities, Reasons]:
        """The churn probability and the top reasons of each row of a feature frame."""
        # Tree prediction is per tree and per call: OpenMP start-up on every one of
        # thousands of small calls costs far more than it saves (60 s against 2 s).
        with single_threaded():
            matrix = np.asarray(self.model[:-1].transform(frame[FEATURES]))
            if self.trees is None or self.columns is None:
                p = np.asarray(self.model[-1].predict_proba(matrix)[:, 1], dtype=np.float64)
                return p, explain(frame, self._predict_for_reasons)
            trees, columns = self.trees, self.columns
            others = (
                self.helper.submit(self._other_members, matrix) if self.helper is not None else None
            )
            x = trees.prepare(matrix)
            first = np.empty(len(frame))
            reasons: Reasons = []
            for start in range(0, len(frame), BLOCK):
                part = slice(start, start + BLOCK)
                leaves = trees.leaves(x[part])
                base = trees.probability(leaves)
                first[part] = base

                def changed(
                    rows: npt.NDArray[np.intp],
                    reference: Mapping[str, float],
                    mb: npt.NDArray[Any] = matrix[part],
                    xb: npt.NDArray[np.float64] = x[part],
                    leaves: npt.NDArray[np.float64] = leaves,
                ) -> Probabilities:
                    moved = mb[rows]
                    for column, value in reference.items():
                        moved[:, columns[column]] = value
                    xm = trees.prepare(moved)
                    # the trees' own columns that moved (the member may reorder columns)
                    before = xb[rows]
                    same = (xm == before) | (np.isnan(xm) & np.isnan(before))
                    features = set(np.flatnonzero(~same.all(axis=0)).tolist())
                    every = len(rows) == leaves.shape[1]
                    return trees.probability(
                        leaves, None if every else rows, trees.changed(xm, features)
                    )

                block = frame.iloc[part]
                reasons += pick(block, weigh(block, base, changed))
            # The ensemble's mean as CalibratedClassifierCV takes it, the first member's
            # share from the trees above.
            mean = np.zeros(len(frame))
            mean += first
            for p in others.result() if others is not None else self._other_members(matrix):
                mean += p
            mean /= len(self.members)
            return mean, reasons

    def _other_members(self, matrix: npt.NDArray[Any]) -> list[Probabilities]:
        with single_threaded():
            return [m.predict_proba(matrix)[:, 1] for m in self.members[1:]]

    def _predict_for_reasons(self, frame: pd.DataFrame) -> Probabilities:
        if self.member is None:
            return np.asarray(self.model.predict_proba(frame[FEATURES])[:, 1], dtype=np.float64)
        matrix = self.model[:-1].transform(frame[FEATURES])
        return np.asarray(self.member.predict_proba(matrix)[:, 1], dtype=np.float64)


class _Trees:
    """A sigmoid-calibrated binary boosted-trees member, evaluated tree by tree."""

    def __init__(self, member: Any) -> None:
        trees: HistGradientBoostingClassifier = member.estimator
        self.estimator = trees
        self.calibrator = member.calibrators[0]
        self.predictors = [iteration[0] for iteration in trees._predictors]
        self.bitsets, self.index_map = trees._bin_mapper.make_known_categories_bitsets()
        self.baseline = trees._baseline_prediction
        self.splits_on = [
            set(p.nodes["feature_idx"][p.nodes["is_leaf"] == 0].tolist()) for p in self.predictors
        ]

    @classmethod
    def of(cls, member: Any) -> _Trees | None:
        """The tree-by-tree view of a member, when it is of the kind this reads."""
        trees = getattr(member, "estimator", None)
        if (
            not isinstance(trees, HistGradientBoostingClassifier)
            or getattr(member, "method", None) != "sigmoid"
            or len(getattr(member, "calibrators", ())) != 1
            or len(getattr(member, "classes", ())) != 2
            or getattr(trees, "n_trees_per_iteration_", None) != 1
            or not all(
                hasattr(trees, a)
                for a in ("_predictors", "_bin_mapper", "_baseline_prediction", "_preprocess_X")
            )
        ):
            return None
        return cls(member)

    def prepare(self, matrix: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """The matrix as the trees read it (validated, float64)."""
        x: npt.NDArray[np.float64] = self.estimator._preprocess_X(matrix, reset=False)
        return x

    def leaves(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Each tree's value for each row (trees x rows)."""
        out = np.empty((len(self.predictors), len(x)))
        for t, predictor in enumerate(self.predictors):
            out[t] = self._predict(predictor, x)
        return out

    def changed(
        self, x: npt.NDArray[np.float64], features: set[int]
    ) -> dict[int, npt.NDArray[np.float64]]:
        """The values for rows ``x`` of the trees that split on one of ``features``."""
        return {
            t: self._predict(predictor, x)
            for t, predictor in enumerate(self.predictors)
            if features & self.splits_on[t]
        }

    def probability(
        self,
        leaves: npt.NDArray[np.float64],
        rows: npt.NDArray[np.intp] | None = None,
        changed: Mapping[int, npt.NDArray[np.float64]] | None = None,
    ) -> Probabilities:
        """The member's calibrated probability of churn, as its ``predict_proba``, from
        tree values: ``leaves`` (of ``rows`` only, if given) with ``changed`` trees'
        values in their place."""
        changed = changed or {}
        n = leaves.shape[1] if rows is None else len(rows)
        raw = np.zeros((n, 1), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        for t in range(len(self.predictors)):
            values = changed.get(t)
            if values is None:
                values = leaves[t] if rows is None else leaves[t, rows]
            raw[:, 0] += values
        p = np.asarray(self.calibrator.predict(raw.ravel()), dtype=np.float64)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
        return p

    def _predict(self, predictor: Any, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        values: npt.NDArray[np.float64] = predictor.predict(
            x, known_cat_bitsets=self.bitsets, f_idx_map=self.index_map, n_threads=1
        )
        return values


def _passed_through(model: Pipeline) -> dict[str, int] | None:
    """Where each numeric feature sits in the matrix the pipeline's feature step makes,
    when that step is the churn pipeline's (numbers first, passed through); else None."""
    if len(model.steps) != 2:
        return None
    step = model.steps[0][1]
    if not isinstance(step, ColumnTransformer) or step.remainder != "drop":
        return None
    names = list(getattr(step, "feature_names_in_", []))
    first = step.transformers[0] if step.transformers else None
    if names != FEATURES or first is None or tuple(first[:2]) != ("num", "passthrough"):
        return None
    if list(first[2]) != list(range(len(NUMERIC))):
        return None
    return {column: i for i, column in enumerate(NUMERIC)}
