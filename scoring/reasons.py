"""Why a customer is at risk, in sentences an agent can say on the phone.

Each reason is a group of features with a reassuring reference value. A reason's
weight for one customer is how much the model's churn probability drops when that
group is set to its reference while everything else stays as it is; the three
heaviest positive reasons are kept. It asks the production model itself, so the
reasons follow whatever the model learned, and costs one extra prediction per group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MIN_WEIGHT = 0.002  # below this a driver is noise, not a reason to mention


@dataclass(frozen=True)
class Reason:
    code: str
    reference: dict[str, float]
    applies: Callable[[pd.Series], bool]
    say: Callable[[pd.Series], str]


def _plural(n: float, word: str) -> str:
    count = int(n)
    return f"{count} {word}{'' if count == 1 else 's'}"


def _contract(row: pd.Series) -> str:
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


def _satisfaction(row: pd.Series) -> str:
    score, scale = int(row["last_score"]), int(row["last_score_scale"])
    label = {
        "watch": "on the watch list",
        "open_dissatisfaction": "openly dissatisfied",
        "hidden_dissatisfaction": "hidden dissatisfaction",
    }.get(str(row["satisfaction"]), "")
    return f"last survey {score}/{scale}" + (f" ({label})" if label else "")


def _complaints(row: pd.Series) -> str:
    if row["open_complaints"] > 0:
        return f"{_plural(row['open_complaints'], 'complaint')} still open"
    if row["complaints_90d"] > 0:
        return f"{_plural(row['complaints_90d'], 'complaint')} in the last 90 days"
    return f"{_plural(row['complaints_365d'], 'complaint')} in the last year"


def _payments(row: pd.Series) -> str:
    if row["overdue_bills"] > 0:
        return f"{_plural(row['overdue_bills'], 'bill')} overdue"
    return f"{_plural(row['late_bills_6m'], 'late payment')} in the last 6 months"


def _spend(row: pd.Series) -> str:
    change = row["arpu_trend_3m"]
    direction = "up" if change > 0 else "down"
    return f"monthly bill {direction} {abs(change):.0%} in 3 months"


REASONS: tuple[Reason, ...] = (
    Reason(
        "complaints",
        {"complaints_30d": 0, "complaints_90d": 0, "complaints_365d": 0, "open_complaints": 0},
        lambda r: r["complaints_365d"] > 0 or r["open_complaints"] > 0,
        _complaints,
    ),
    Reason(
        "contract",
        {"contract_end_days": 365.0, "month_to_month": 0.0},
        lambda r: r["month_to_month"] >= 1 or r["contract_end_days"] < 120,
        _contract,
    ),
    Reason(
        "satisfaction",
        {"last_score_10": 9.0, "dissatisfied": 0.0},
        lambda r: not np.isnan(r["last_score"]) and r["last_score_10"] <= 8,
        _satisfaction,
    ),
    Reason(
        "payments",
        {"late_bills_6m": 0, "mean_days_late_6m": 0.0, "overdue_bills": 0},
        lambda r: r["late_bills_6m"] > 0 or r["overdue_bills"] > 0,
        _payments,
    ),
    Reason(
        "spend",
        {"arpu_trend_3m": 0.0, "arpu_trend_6m": 0.0},
        lambda r: abs(r["arpu_trend_3m"]) >= 0.1,
        _spend,
    ),
    Reason(
        "products",
        {"products_held": 3.0, "maturity": 0.5},
        lambda r: r["products_held"] <= 1,
        lambda r: (
            f"holds only {_plural(r['products_held'], 'product')}"
            + (
                f" of {int(r['products_targeted'])} offered to the segment"
                if r["products_targeted"]
                else ""
            )
        ),
    ),
    Reason(
        "tenure",
        {"tenure_months": 48.0},
        lambda r: r["tenure_months"] < 12,
        lambda r: (
            "customer for less than a month"
            if r["tenure_months"] < 1
            else f"customer for only {_plural(r['tenure_months'], 'month')}"
        ),
    ),
    Reason(
        "tickets",
        {"tickets_90d": 0},
        lambda r: r["tickets_90d"] > 0,
        lambda r: f"{_plural(r['tickets_90d'], 'service ticket')} in the last 90 days",
    ),
)


def explain(
    frame: pd.DataFrame,
    predict: Callable[[pd.DataFrame], np.ndarray[Any, np.dtype[np.float64]]],
    base: np.ndarray[Any, np.dtype[np.float64]] | None = None,
    top: int = 3,
) -> list[list[dict[str, Any]]]:
    """The top reasons per row: [{"code", "text", "weight"}, ...], heaviest first."""
    p = predict(frame) if base is None else base
    weights = np.zeros((len(frame), len(REASONS)))
    for j, reason in enumerate(REASONS):
        changed = frame.copy()
        for column, value in reason.reference.items():
            changed[column] = value
        weights[:, j] = p - predict(changed)
    out: list[list[dict[str, Any]]] = []
    for i, (_, row) in enumerate(frame.iterrows()):
        order = np.argsort(-weights[i])
        picked: list[dict[str, Any]] = []
        for j in order:
            if weights[i, j] < MIN_WEIGHT or len(picked) == top:
                break
            reason = REASONS[j]
            if reason.applies(row):
                picked.append(
                    {
                        "code": reason.code,
                        "text": reason.say(row),
                        "weight": round(weights[i, j], 4),
                    }
                )
        out.append(picked)
    return out
