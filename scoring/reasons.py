"""Why a customer is at risk, in sentences an agent can say on the phone.

Each reason is a group of features with a reassuring reference value. A reason's
weight for one customer is how much the model's churn probability drops when that
group is set to its reference while everything else stays as it is; the three
heaviest positive reasons that apply to the customer are kept. It asks the production
model itself, so the reasons follow whatever the model learned, and costs one extra
prediction per group, for the customers whose group is not at its reference already
(for the others nothing changes, and the weight is 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

MIN_WEIGHT = 0.002  # below this a driver is noise, not a reason to mention


class Facts(Protocol):
    """One customer's features, by name."""

    def __getitem__(self, column: str, /) -> Any: ...


Mask = npt.NDArray[np.bool_]
Probabilities = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Reason:
    code: str
    reference: dict[str, float]
    applies: Callable[[pd.DataFrame], Mask]  # per row of a feature frame
    say: Callable[[Facts], str]
    shows: tuple[str, ...]  # the features ``say`` reads


def _values(frame: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    return frame[column].to_numpy(dtype=float)


def _plural(n: float, word: str) -> str:
    count = int(n)
    return f"{count} {word}{'' if count == 1 else 's'}"


def _contract(row: Facts) -> str:
    if row["month_to_month"] >= 1:
        return "no contract: can leave any month"
    days = row["contract_end_days"]
    if days < 0:
        return f"contract ended {_weeks_or_days(-days)} ago"
    return f"contract ends in {_weeks_or_days(days)}"


def _weeks_or_days(days: float) -> str:
    if days < 14:
        return _plural(days, "day")
    if days < 70:
        return _plural(round(days / 7), "week")
    return _plural(round(days / 30.4), "month")


def _satisfaction(row: Facts) -> str:
    score, scale = int(row["last_score"]), int(row["last_score_scale"])
    label = {
        "watch": "on the watch list",
        "open_dissatisfaction": "openly dissatisfied",
        "hidden_dissatisfaction": "hidden dissatisfaction",
    }.get(str(row["satisfaction"]), "")
    return f"last survey {score}/{scale}" + (f" ({label})" if label else "")


def _complaints(row: Facts) -> str:
    if row["open_complaints"] > 0:
        return f"{_plural(row['open_complaints'], 'complaint')} still open"
    if row["complaints_90d"] > 0:
        return f"{_plural(row['complaints_90d'], 'complaint')} in the last 90 days"
    return f"{_plural(row['complaints_365d'], 'complaint')} in the last year"


def _payments(row: Facts) -> str:
    if row["overdue_bills"] > 0:
        return f"{_plural(row['overdue_bills'], 'bill')} overdue"
    return f"{_plural(row['late_bills_6m'], 'late payment')} in the last 6 months"


def _spend(row: Facts) -> str:
    change = row["arpu_trend_3m"]
    direction = "up" if change > 0 else "down"
    return f"monthly bill {direction} {abs(change):.0%} in 3 months"


def _products(row: Facts) -> str:
    offered = row["products_targeted"]
    return f"holds only {_plural(row['products_held'], 'product')}" + (
        f" of {int(offered)} offered to the segment" if offered else ""
    )


def _tenure(row: Facts) -> str:
    months = row["tenure_months"]
    if months < 1:
        return "customer for less than a month"
    return f"customer for only {_plural(months, 'month')}"


def _tickets(row: Facts) -> str:
    return f"{_plural(row['tickets_90d'], 'service ticket')} in the last 90 days"


REASONS: tuple[Reason, ...] = (
    Reason(
        "complaints",
        {"complaints_30d": 0, "complaints_90d": 0, "complaints_365d": 0, "open_complaints": 0},
        lambda f: (_values(f, "complaints_365d") > 0) | (_values(f, "open_complaints") > 0),
        _complaints,
        ("open_complaints", "complaints_90d", "complaints_365d"),
    ),
    Reason(
        "contract",
        {"contract_end_days": 365.0, "month_to_month": 0.0},
        lambda f: (_values(f, "month_to_month") >= 1) | (_values(f, "contract_end_days") < 120),
        _contract,
        ("month_to_month", "contract_end_days"),
    ),
    Reason(
        "satisfaction",
        {"last_score_10": 9.0, "dissatisfied": 0.0},
        lambda f: ~np.isnan(_values(f, "last_score")) & (_values(f, "last_score_10") <= 8),
        _satisfaction,
        ("last_score", "last_score_scale", "satisfaction"),
    ),
    Reason(
        "payments",
        {"late_bills_6m": 0, "mean_days_late_6m": 0.0, "overdue_bills": 0},
        lambda f: (_values(f, "late_bills_6m") > 0) | (_values(f, "overdue_bills") > 0),
        _payments,
        ("overdue_bills", "late_bills_6m"),
    ),
    Reason(
        "spend",
        {"arpu_trend_3m": 0.0, "arpu_trend_6m": 0.0},
        lambda f: np.abs(_values(f, "arpu_trend_3m")) >= 0.1,
        _spend,
        ("arpu_trend_3m",),
    ),
    Reason(
        "products",
        {"products_held": 3.0, "maturity": 0.5},
        lambda f: _values(f, "products_held") <= 1,
        _products,
        ("products_held", "products_targeted"),
    ),
    Reason(
        "tenure",
        {"tenure_months": 48.0},
        lambda f: _values(f, "tenure_months") < 12,
        _tenure,
        ("tenure_months",),
    ),
    Reason(
        "tickets",
        {"tickets_90d": 0},
        lambda f: _values(f, "tickets_90d") > 0,
        _tickets,
        ("tickets_90d",),
    ),
)

# Probabilities for some rows of a frame with some features set to given values:
# (rows, {feature: value}) -> one probability per row picked.
PredictChanged = Callable[[npt.NDArray[np.intp], Mapping[str, float]], Probabilities]


def weigh(
    frame: pd.DataFrame, base: Probabilities, predict: PredictChanged
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Each reason's weight per row: ``base`` less the probability with the reason's
    features at their reference. Rows whose features are at the reference already keep
    the probability they have (weight 0) and are not predicted again."""
    weights = np.zeros((len(frame), len(REASONS)))
    for j, reason in enumerate(REASONS):
        moved = np.zeros(len(frame), dtype=bool)
        for column, value in reason.reference.items():
            moved |= ~(_values(frame, column) == value)  # NaN moves too
        rows = np.flatnonzero(moved)
        if len(rows):
            weights[rows, j] = base[rows] - predict(rows, reason.reference)
    return weights


class _Row:
    """Row ``i`` of some columns, read like a Series row."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: Mapping[str, list[Any]], i: int) -> None:
        self.columns, self.i = columns, i

    def __getitem__(self, column: str, /) -> Any:
        return self.columns[column][self.i]


def pick(
    frame: pd.DataFrame, weights: np.ndarray[Any, np.dtype[np.float64]], top: int = 3
) -> list[list[dict[str, Any]]]:
    """The ``top`` heaviest reasons of each row that weigh at least MIN_WEIGHT and apply
    to the customer, heaviest first: [{"code", "text", "weight"}, ...]."""
    order = np.argsort(-weights, axis=1)
    heavy = np.take_along_axis(weights, order, axis=1) >= MIN_WEIGHT
    applies = np.column_stack([r.applies(frame) for r in REASONS]) if len(frame) else heavy
    kept = heavy & np.take_along_axis(applies, order, axis=1)
    kept &= np.cumsum(kept, axis=1) <= top
    rounded = np.round(weights, 4)
    texts: dict[tuple[int, int], str] = {}
    for j, reason in enumerate(REASONS):
        rows = np.flatnonzero((kept & (order == j)).any(axis=1))
        if len(rows):
            columns = {c: frame[c].to_numpy()[rows].tolist() for c in reason.shows}
            for k, i in enumerate(rows.tolist()):
                texts[i, j] = reason.say(_Row(columns, k))
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(frame))]
    for i, slot in zip(*np.nonzero(kept), strict=True):
        j = int(order[i, slot])
        out[i].append(
            {"code": REASONS[j].code, "text": texts[int(i), j], "weight": float(rounded[i, j])}
        )
    return out


def explain(
    frame: pd.DataFrame,
    predict: Callable[[pd.DataFrame], Probabilities],
    base: Probabilities | None = None,
    top: int = 3,
) -> list[list[dict[str, Any]]]:
    """The top reasons per row: [{"code", "text", "weight"}, ...], heaviest first."""
    p = predict(frame) if base is None else base

    def changed(rows: npt.NDArray[np.intp], reference: Mapping[str, float]) -> Probabilities:
        some = frame.iloc[rows].copy()
        for column, value in reference.items():
            some[column] = value
        return predict(some)

    return pick(frame, weigh(frame, p, changed), top)
