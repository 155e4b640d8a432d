"""Customer value and classes, as the retention playbook defines them.

- ABC by revenue: customers sorted by revenue, largest first; those that make up the
  first 50% of total revenue are A, up to 80% B, the rest C. The customer whose
  revenue crosses a boundary still belongs to the class below it (A includes the one
  that reaches 50%), and customers tied with a class's smallest revenue share it.
- XYZ by the coefficient of variation (population std / mean) of monthly revenue:
  X <= 10%, Y <= 25%, Z above. Fewer than three billed months give no class.
- Lifecycle on a 3-month window: potential (never billed), new (first bill within the
  last 3 months), regular (billed within the last 3 months, continuously for longer),
  restored (billed within the last 3 months again after at least one month without a
  bill), lost (no bill for more than 3 months).
- Satisfaction: 1-10 scale: <= 6 watch list, 7-8 passive, 9-10 promoter; 1-5 scale:
  1-2 open and 3 hidden dissatisfaction (both handled as a complaint), 4 passive, 5
  promoter.
- Value: CLV = ARPU x expected remaining lifetime in months, E[min(T, horizon)] under a
  constant monthly hazard taken from the 90-day churn probability.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Labels = npt.NDArray[np.object_]

LIFECYCLE_STATES = ("potential", "new", "regular", "restored", "lost")
CLV_HORIZON_MONTHS = 60


def abc_thresholds(revenue: npt.ArrayLike) -> tuple[float, float]:
    """Smallest revenue still in A and in B, over a whole population."""
    values = np.sort(np.asarray(revenue, dtype=np.float64))[::-1]
    values = values[values > 0]
    total = values.sum()
    if total <= 0:
        return np.inf, np.inf
    before = (np.cumsum(values) - values) / total  # share reached before each customer
    a_min = values[before < 0.5].min()
    b_min = values[before < 0.8].min()
    return float(a_min), float(b_min)


def abc_class(revenue: npt.ArrayLike, thresholds: tuple[float, float]) -> Labels:
    r = np.asarray(revenue, dtype=np.float64)
    a_min, b_min = thresholds
    positive = r > 0
    out = np.where(positive & (r >= a_min), "A", np.where(positive & (r >= b_min), "B", "C"))
    return out.astype(object)


def xyz_class(cov: npt.ArrayLike) -> Labels:
    c = np.asarray(cov, dtype=np.float64)
    out = np.where(c <= 0.10, "X", np.where(c <= 0.25, "Y", "Z")).astype(object)
    out[np.isnan(c)] = None
    return out


def lifecycle_state(
    first_month: npt.ArrayLike, last_month: npt.ArrayLike, run_start: npt.ArrayLike
) -> Labels:
    """States from month numbers counted back from the cutoff month (0 = cutoff month).

    ``first_month`` is the oldest bill, ``last_month`` the newest, ``run_start`` the
    oldest bill of the unbroken run of monthly bills that ends at ``last_month``; NaN
    where a customer was never billed. Larger numbers are further in the past.
    """
    first = np.asarray(first_month, dtype=np.float64)
    last = np.asarray(last_month, dtype=np.float64)
    run = np.asarray(run_start, dtype=np.float64)
    recent = last <= 2  # billed in the cutoff month or the two before it
    out = np.full(first.shape, "lost", dtype=object)
    out[recent & (run > 2)] = "regular"
    out[recent & (run <= 2) & (first > run)] = "restored"
    out[recent & (first <= 2)] = "new"
    out[np.isnan(first)] = "potential"
    return out


# (scale, lowest score, highest score, category): the playbook's reading of a survey,
# stated once; the numpy reading below and the watch list's SQL both come from it
SATISFACTION_BANDS: tuple[tuple[int, int, int, str], ...] = (
    (10, 1, 6, "watch"),
    (10, 7, 8, "passive"),
    (10, 9, 10, "promoter"),
    (5, 1, 2, "open_dissatisfaction"),
    (5, 3, 3, "hidden_dissatisfaction"),
    (5, 4, 4, "passive"),
    (5, 5, 5, "promoter"),
)
DISSATISFIED = ("watch", "open_dissatisfaction", "hidden_dissatisfaction")
PROMOTER = "promoter"


def satisfaction_category(score: npt.ArrayLike, scale: npt.ArrayLike) -> Labels:
    s = np.asarray(score, dtype=np.float64)
    k = np.asarray(scale, dtype=np.float64)
    out = np.full(s.shape, None, dtype=object)
    for band_scale, lowest, highest, category in SATISFACTION_BANDS:
        out[(k == band_scale) & (s >= lowest) & (s <= highest)] = category
    return out


def dissatisfied_bands() -> tuple[tuple[int, int, int], ...]:
    """(scale, lowest, highest) of the scores read as dissatisfied, for SQL to test."""
    return tuple((k, lo, hi) for k, lo, hi, c in SATISFACTION_BANDS if c in DISSATISFIED)


def is_dissatisfied(score: npt.ArrayLike, scale: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Scores the playbook treats as a complaint (or a watch-list entry on 1-10)."""
    category = satisfaction_category(score, scale)
    return np.isin(category, DISSATISFIED)


def monthly_hazard(p_churn_90d: npt.ArrayLike) -> F64:
    p = np.clip(np.asarray(p_churn_90d, dtype=np.float64), 0.0, 1.0 - 1e-9)
    return np.asarray(1.0 - (1.0 - p) ** (1.0 / 3.0), dtype=np.float64)


def expected_lifetime(p_churn_90d: npt.ArrayLike, horizon: int = CLV_HORIZON_MONTHS) -> F64:
    """E[min(T, horizon)] in months for a constant monthly hazard."""
    h = monthly_hazard(p_churn_90d)
    with np.errstate(divide="ignore", invalid="ignore"):
        life = (1.0 - (1.0 - h) ** horizon) / h
    return np.asarray(np.where(h > 1e-12, life, float(horizon)), dtype=np.float64)


def clv(arpu: npt.ArrayLike, p_churn_90d: npt.ArrayLike, horizon: int = CLV_HORIZON_MONTHS) -> F64:
    """Customer lifetime value: ARPU x expected remaining lifetime (e.g. 100 x 36 = 3,600)."""
    a = np.nan_to_num(np.asarray(arpu, dtype=np.float64), nan=0.0)
    return np.asarray(a * expected_lifetime(p_churn_90d, horizon), dtype=np.float64)
