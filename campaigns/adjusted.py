"""Covariate-adjusted effects: the same comparison with the holdout, made tighter.

The holdout is random, so the plain difference between the groups is unbiased; but
customers differ before any call, and that spread widens the interval. Regression
adjustment (Lin 2013) removes the part of the spread that pre-launch figures explain:

    outcome ~ 1 + treated + x_c + treated * x_c

where ``x_c`` are the covariates centred on the list's own means, so the coefficient of
``treated`` is the average effect over the list. Its interval comes from the
heteroskedasticity-robust HC2 standard error (statsmodels OLS), which stays valid when
the model is wrong (Lin 2013, theorem 2): adjusting never biases the comparison in large
samples, and it cannot cost precision asymptotically, since the interactions let each
group have its own slope. With no covariate the same regression gives the plain
difference with the Neyman (Welch) variance, which is the revenue's plain interval.

Covariates are read at planning or before the launch, never after: the churn score, the
holdout's stratum (the score decile) and the value for saves and conversions, the bills
of the months before the launch for revenue. A covariate missing for a customer takes
the list's mean (valid, since it is fixed before the launch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import statsmodels.api as sm  # type: ignore[import-untyped]

from campaigns.effects import round_or_none, round_pair

__all__ = ["Adjusted", "Estimate", "adjusted_json", "compare", "lin_estimate", "strata_dummies"]

# a stratum needs this many customers in each group for a column of its own: fewer and
# its interaction is fitted by one or two points, whose robust variance is undefined
_MIN_STRATUM = 3
# customers of the smaller group per covariate: with fewer, the fit follows the noise of
# a small group and the robust interval comes out too narrow or wider than the plain one
PER_COVARIATE = 10


@dataclass(frozen=True)
class Estimate:
    """An average effect per customer and its 95% interval."""

    effect: float
    ci95: tuple[float, float]

    def scaled(self, factor: float) -> Estimate:
        """The effect for ``factor`` customers (a negative factor turns the sign)."""
        low, high = sorted((self.ci95[0] * factor, self.ci95[1] * factor))
        return Estimate(self.effect * factor, (low, high))

    @property
    def width(self) -> float:
        return self.ci95[1] - self.ci95[0]


def lin_estimate(
    outcome: npt.ArrayLike, treated: npt.ArrayLike, covariates: pd.DataFrame | None = None
) -> Estimate | None:
    """Lin's regression-adjusted average effect of ``treated`` on ``outcome``, HC2 interval.

    ``covariates`` (one column per covariate, rows as ``outcome``, the most telling
    first) may be None or empty: the plain difference in means with its Neyman interval.
    Constant columns are left out, and the columns past one per ``PER_COVARIATE``
    customers of the smaller group. None when either group has fewer than two customers.
    """
    y = np.asarray(outcome, dtype=float)
    t = np.asarray(treated, dtype=float)
    smaller = min(int(t.sum()), int((1 - t).sum()))
    if smaller < 2:
        return None
    columns = [np.ones_like(t), t]
    if covariates is not None and not covariates.empty:
        x = covariates.astype(float)
        x = x.fillna(x.mean()).fillna(0.0)
        x = x.loc[:, x.std(ddof=0) > 0].iloc[:, : smaller // PER_COVARIATE]
        centred = (x - x.mean()).to_numpy()
        for j in range(centred.shape[1]):
            columns += [centred[:, j], t * centred[:, j]]
    fit = sm.OLS(y, _full_rank(columns)).fit(cov_type="HC2")
    low, high = fit.conf_int(alpha=0.05)[1]
    if not np.isfinite([low, high]).all():
        return None
    return Estimate(float(fit.params[1]), (float(low), float(high)))


def _full_rank(columns: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """The columns in order, leaving out each one the kept ones already span (a
    covariate that repeats another, an interaction constant within one group)."""
    kept: list[npt.NDArray[np.float64]] = []
    for column in columns:
        trial = np.column_stack([*kept, column])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept.append(column)
    return np.column_stack(kept)


def strata_dummies(strata: pd.Series, treated: npt.ArrayLike) -> pd.DataFrame:
    """One indicator per stratum with enough customers in both groups; the rest, and the
    largest stratum, are the reference."""
    t = np.asarray(treated, dtype=bool)
    labels = strata.astype(str).to_numpy()
    keep = [
        label
        for label in pd.Series(labels).value_counts().index[1:]
        if min(int((t & (labels == label)).sum()), int((~t & (labels == label)).sum()))
        >= _MIN_STRATUM
    ]
    return pd.DataFrame(
        {f"stratum_{label}": (labels == label).astype(float) for label in sorted(keep)},
        index=strata.index,
    )


@dataclass(frozen=True)
class Adjusted:
    """One outcome's effect for the treated group, plain and adjusted, side by side.

    ``narrower`` is how much narrower the adjusted interval is (0.3 = 30%; negative when
    it came out wider). ``note`` says why a figure is missing.
    """

    outcome: str
    covariates: tuple[str, ...]
    plain: Estimate | None
    adjusted: Estimate | None
    note: str | None = None
    basis: str | None = None  # what is measured over which period, for the reader

    @property
    def narrower(self) -> float | None:
        if self.plain is None or self.adjusted is None or self.plain.width <= 0:
            return None
        return 1.0 - self.adjusted.width / self.plain.width


def compare(
    outcome: str,
    covariates: tuple[str, ...],
    plain: Estimate | None,
    adjusted: Estimate | None,
    *,
    note: str | None = None,
    basis: str | None = None,
) -> Adjusted:
    """The pair as the reports show it; a missing adjusted figure without a note gets one."""
    if adjusted is None and note is None and plain is not None:
        note = "too few customers in a group to fit the adjustment: only the plain difference"
    return Adjusted(outcome, covariates, plain, adjusted, note, basis)


def adjusted_json(item: Adjusted, digits: int = 2) -> dict[str, Any]:
    """One outcome's pair as plain JSON."""

    def one(e: Estimate | None) -> dict[str, Any]:
        return {
            "estimate": None if e is None else round_or_none(e.effect, digits),
            "ci95": None if e is None else round_pair(e.ci95, digits),
        }

    return {
        "covariates": list(item.covariates),
        "unadjusted": one(item.plain),
        "adjusted": one(item.adjusted),
        "narrower": round_or_none(item.narrower, 4),
        "basis": item.basis,
        "note": item.note,
    }
