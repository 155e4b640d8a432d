"""Array types and the categorical and logistic draws every part of the generator uses."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["F64", "I8", "I64", "Bool", "choice", "row_choice", "sigmoid"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]


def choice(rng: np.random.Generator, weights: F64, size: int) -> I64:
    """Categorical draws with fixed weights."""
    cum = np.cumsum(weights / weights.sum())
    idx = np.searchsorted(cum, rng.random(size), side="right")
    return np.minimum(idx, len(weights) - 1).astype(np.int64)


def row_choice(rng: np.random.Generator, weights: F64) -> I64:
    """One categorical draw per row of a (rows, options) weight matrix."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    idx = (u[:, None] >= cum).sum(axis=1)
    out: I64 = np.minimum(idx, weights.shape[1] - 1).astype(np.int64)
    return out


def sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)
