"""Uplift metrics, defined exactly as scikit-uplift (`sklift.metrics`, 0.5) defines them.

scikit-uplift itself is not a dependency: 0.5.1 installs beside scikit-learn 1.9, but its
metrics call `sklearn.utils.extmath.stable_cumsum`, deprecated in 1.8 and gone in 1.10,
so every call warns (an error under our test settings) and it will break on the next
upgrade; it also pulls in requests, tqdm and matplotlib. These functions follow its code
step by step (same sort, same tie handling, same normalisation); the tests check them
on hand-made cases and against values scikit-uplift 0.5.1 computed:

- `qini_curve`: sort by predicted uplift, descending; at each distinct score the curve
  is `Y_t - Y_c * N_t / N_c` (responders in treatment minus responders in control
  scaled to the treatment size), starting at (0, 0).
- `perfect_qini_curve`: the Qini curve of the oracle ranking `y*t - y*(1-t)` (treated
  responders first, control responders last), the `negative_effect=True` default.
- `qini_auc_score`: (area under the curve - area under the random diagonal) divided by
  (area under the perfect curve - the same diagonal); 1 for a perfect ranking, about 0
  for a random one.
- `uplift_at_k` with strategy "overall": the response rate of treated minus that of
  control among the first `int(n * k)` rows ranked by predicted uplift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["perfect_qini_curve", "qini_auc_score", "qini_curve", "uplift_at_k"]

Curve = tuple[NDArray[np.float64], NDArray[np.float64]]


def qini_curve(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> Curve:
    """Points (number targeted, incremental responders) of the Qini curve."""
    y, score, t = _binary(y_true, "y_true"), np.asarray(uplift), _binary(treatment, "treatment")
    order = np.argsort(score, kind="mergesort")[::-1]
    y, t, score = y[order], t[order], score[order]
    y_trmnt, y_ctrl = y * t, y * (1.0 - t)
    # one point per distinct score: tied customers are targeted together or not at all
    thresholds = np.r_[np.where(np.diff(score))[0], score.size - 1]
    num_trmnt = np.cumsum(t)[thresholds]
    num_all = (thresholds + 1).astype(np.float64)
    num_ctrl = num_all - num_trmnt
    ratio = np.divide(num_trmnt, num_ctrl, out=np.zeros_like(num_trmnt), where=num_ctrl != 0)
    values = np.cumsum(y_trmnt)[thresholds] - np.cumsum(y_ctrl)[thresholds] * ratio
    if num_all.size == 0 or values[0] != 0 or num_all[0] != 0:
        num_all, values = np.r_[0.0, num_all], np.r_[0.0, values]
    return num_all, values


def perfect_qini_curve(y_true: ArrayLike, treatment: ArrayLike) -> Curve:
    """The Qini curve of the best possible ranking, negative effects included."""
    y, t = _binary(y_true, "y_true"), _binary(treatment, "treatment")
    return qini_curve(y, y * t - y * (1.0 - t), t)


def qini_auc_score(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> float:
    """Area between the Qini curve and the random diagonal, over that of the perfect curve."""
    y, t = _binary(y_true, "y_true"), _binary(treatment, "treatment")
    x_actual, y_actual = qini_curve(y, uplift, t)
    x_perfect, y_perfect = perfect_qini_curve(y, t)
    baseline = _area(np.array([0.0, x_perfect[-1]]), np.array([0.0, y_perfect[-1]]))
    return (_area(x_actual, y_actual) - baseline) / (_area(x_perfect, y_perfect) - baseline)


def uplift_at_k(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, k: float) -> float:
    """Treated minus control response rate in the top `k` share of predicted uplift."""
    y, score, t = _binary(y_true, "y_true"), np.asarray(uplift), _binary(treatment, "treatment")
    if not 0 < k < 1:
        raise ValueError(f"k={k} must be a share in (0, 1)")
    top = np.argsort(score, kind="mergesort")[::-1][: int(len(y) * k)]
    y_top, t_top = y[top], t[top]
    if not t_top.any() or t_top.all():
        return float("nan")  # one arm is absent from the top k: no uplift to measure
    return float(y_top[t_top == 1].mean() - y_top[t_top == 0].mean())


def _binary(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be a 1-d array of 0/1 values")
    return array


def _area(x: NDArray[Any], y: NDArray[Any]) -> float:
    # sklearn.metrics.auc is this same trapezoidal rule on increasing x
    return float(np.trapezoid(y, x))
