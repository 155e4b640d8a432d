"""The adjusted figures of the saved-customer and conversion reports (``campaigns.adjusted``).

Two outcomes per report, each as the treated group's total effect, plain and adjusted:

* the report's own yes/no outcome (saves: still a customer at the window's end;
  conversions: the offered product taken up), adjusted on the churn score at planning,
  the holdout's stratum (score decile) and the value (log CLV at planning, so that a
  few very valuable customers do not steer the fit). Its plain figure is the report's
  headline (Newcombe's interval). A yes/no outcome gains little: a score predicts one
  customer's churn only loosely.
* the revenue billed to the list's customers over the window's months
  (``campaigns.billed``), adjusted on what the same customers were billed in as many
  months before the launch and on the monthly revenue of what they held the day before
  it, which predict it closely (the bills lag a product change the holdings already
  show). Its plain figure is the difference in mean bills with the Neyman interval.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from campaigns.adjusted import Adjusted, Estimate, compare, lin_estimate, strata_dummies
from campaigns.billed import billed
from campaigns.effects import Effect
from campaigns.outcomes import ListOutcomes
from campaigns.splits import MIN_GROUP, MIN_OUTCOMES
from store.models import Group

__all__ = ["PLANNING_COVARIATES", "REVENUE_COVARIATES", "binary_adjusted", "revenue_adjusted"]

PLANNING_COVARIATES = ("churn score at planning", "score decile", "value (CLV) at planning")
REVENUE_COVARIATES = (
    "revenue billed in the months before the launch",
    "monthly revenue of the products held the day before the launch",
)
_T = Group.TREATMENT.value


def _treated(frame: pd.DataFrame) -> np.ndarray:
    return (frame["group"] == _T).to_numpy()


def planning_covariates(frame: pd.DataFrame) -> pd.DataFrame:
    """The figures each entry was planned on, one column per covariate."""
    treated = _treated(frame)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "p_churn": frame["p_churn"].astype(float),
                    "log_clv": np.log1p(frame["clv"].astype(float).clip(lower=0.0)),
                },
                index=frame.index,
            ),
            strata_dummies(frame["stratum"].fillna(-1).astype(int), treated),
        ],
        axis=1,
    )


def binary_adjusted(
    name: str, frame: pd.DataFrame, outcome: np.ndarray, plain: Effect, *, gain: int
) -> Adjusted:
    """A yes/no outcome's effect for the treated group; ``gain`` -1 when fewer is better."""
    headline = (
        Estimate(plain.total, plain.ci95)
        if plain.total is not None and plain.ci95 is not None
        else None
    )
    if headline is None:
        return compare(name, PLANNING_COVARIATES, None, None, note=plain.note)
    treated = _treated(frame)
    too_few = _too_few(outcome.astype(bool), treated)
    if too_few:
        return compare(name, PLANNING_COVARIATES, headline, None, note=too_few)
    fit = lin_estimate(outcome.astype(float), treated, planning_covariates(frame))
    scaled = None if fit is None else fit.scaled(gain * int(treated.sum()))
    return compare(name, PLANNING_COVARIATES, headline, scaled)


def _too_few(outcome: np.ndarray, treated: np.ndarray) -> str | None:
    """Why a yes/no outcome's adjusted interval cannot be trusted here, or None.

    The robust interval is a normal approximation: with a small group, or a group with
    only a handful of one outcome (none at all makes its variance 0), it comes out far
    too narrow, which is why the plain figure uses Newcombe's interval. The limits are
    the split rows' (``campaigns.splits``).
    """
    for label, members in (("held out", ~treated), ("treated", treated)):
        count, events = int(members.sum()), int(outcome[members].sum())
        rarer = min(events, count - events)
        if count < MIN_GROUP or rarer < MIN_OUTCOMES:
            return (
                f"not adjusted: {count} {label} with {rarer} of the rarer outcome (it needs "
                f"{MIN_GROUP} and {MIN_OUTCOMES}); the plain difference and its interval stand"
            )
    return None


def revenue_adjusted(engine: Engine, outcome: ListOutcomes, frame: pd.DataFrame) -> Adjusted:
    """The revenue billed in the window's months, for the treated group."""
    name = "revenue"
    if frame.empty:
        return compare(name, REVENUE_COVARIATES, None, None, note="no customers to measure")
    with engine.connect() as conn:
        bills = billed(
            conn, frame["customer_id"].unique().tolist(), outcome.launched_on, outcome.window_end
        )
    if not bills.months_window:
        note = "the window covers no whole billing month: revenue is not measured"
        return compare(name, REVENUE_COVARIATES, None, None, note=note)
    if bills.note:
        return compare(name, REVENUE_COVARIATES, None, None, note=bills.note)
    basis = (
        f"billed {_months(bills.months_window)}, against {_months(bills.months_before)} "
        "before the launch"
    )
    treated = _treated(frame)
    count = int(treated.sum())
    if min(count, int((~treated).sum())) < MIN_GROUP:
        note = (
            f"not measured: a group has fewer than {MIN_GROUP} customers, too few for the "
            "interval of a difference in bills"
        )
        return compare(name, REVENUE_COVARIATES, None, None, note=note, basis=basis)
    window = frame["customer_id"].map(bills.frame["window"]).to_numpy(float)
    before = frame["customer_id"].map(bills.frame["before"]).to_numpy(float)
    plain = lin_estimate(window, treated)
    held = frame["revenue_start"].to_numpy(float)
    fit = lin_estimate(window, treated, pd.DataFrame({"before": before, "held": held}))
    return compare(
        name,
        REVENUE_COVARIATES,
        None if plain is None else plain.scaled(count),
        None if fit is None else fit.scaled(count),
        note=None if plain is not None else "too few customers in a group to compare revenue",
        basis=basis,
    )


def _months(months: list[dt.date]) -> str:
    first, last = months[0].strftime("%b %Y"), months[-1].strftime("%b %Y")
    return first if first == last else f"{first} to {last}"
