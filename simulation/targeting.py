"""How much a call list built by the planner is worth, measured on the ground truth.

``evaluate`` plans an anti-churn list of ``size`` treated customers with the planner and
builds lists of the same size by four other rules, all from the customers the contact
policy lets us call:

- ``risk_only``: the highest churn probability (our p_churn), the common practice;
- ``risk_value``: the highest p_churn x CLV (ours);
- ``random``: the expectation of a random list (the pool's mean times N);
- ``oracle``: the highest true uplift x true CLV, from ground_truth.csv.

It also reports ``feature_ceiling``: the list ranked by a regression fitted on the true
incremental values themselves (two-fold cross-fitted gradient boosting on the same
store features the models see). No model that learns from a campaign can rank better
than what the features can tell, so this shows how much of the oracle's value is
reachable at all; the rest sits in traits the data does not record.

A list's incremental saves are the sum over its customers of p_churn_no_call -
p_churn_if_called, its incremental value the sum of that times the true clv. Targets:
the planner reaches at least 70% of the oracle's value, 1.5 x risk only, and no less
than risk x value.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from campaigns.plan_request import PlanRequest
from campaigns.planner import plan
from campaigns.policy.screen import screen
from campaigns.settings.model import CampaignSettings
from scoring.artifacts import active_version
from store.models import (
    CampaignKind,
    Channel,
    Customer,
    ModelKind,
    Score,
)

__all__ = ["RULES", "evaluate"]

RULES = ("planner", "risk_only", "risk_value", "random", "oracle", "feature_ceiling")


def evaluate(engine: Engine, truth_file: Path, size: int, *, seed: int = 0) -> dict[str, Any]:
    truth = _truth(engine, truth_file)
    name = f"eval-anti-churn-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S%f}"
    result = plan(
        engine,
        # the holdout is a random part of the list and says nothing about its targeting,
        # so the lists are compared without it
        PlanRequest(kind=CampaignKind.ANTI_CHURN, name=name, size=size, holdout=0.0, seed=seed),
        dry_run=True,
    )
    treated = result.entries.loc[~result.entries["holdout"], "customer_id"].tolist()
    pool = _callable_pool(engine, truth)

    def top(column: str) -> pd.Index:
        ranked = pool.sort_values([column, "customer_id"], ascending=[False, True])
        return ranked.index[:size]

    def worth(index: pd.Index | list[int]) -> dict[str, float]:
        chosen = truth.loc[list(index)]
        return {
            "customers": len(chosen),
            "incremental_saves": round(float(chosen["uplift"].sum()), 2),
            "incremental_value": round(float(chosen["value"].sum()), 2),
        }

    n_random = min(size, len(pool))
    out: dict[str, Any] = {
        "planner": worth(treated),
        "risk_only": worth(top("p_churn")),
        "risk_value": worth(top("risk_value")),
        "random": {
            "customers": n_random,
            "incremental_saves": round(float(pool["uplift"].mean() * n_random), 2),
            "incremental_value": round(float(pool["value"].mean() * n_random), 2),
        },
        "oracle": worth(top("value")),
        "feature_ceiling": worth(_ceiling(engine, pool, size)),
    }
    out["size"] = size
    out["pool"] = len(pool)
    out["basis"] = result.preview["basis"]
    _judge(out)
    return out


def _truth(engine: Engine, truth_file: Path) -> pd.DataFrame:
    """The ground truth by store id, with each customer's true uplift and its value."""
    truth = pd.read_csv(
        truth_file, usecols=["customer_id", "p_churn_no_call", "p_churn_if_called", "clv"]
    )
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Customer.external_id, Customer.id)).all())
    truth["id"] = truth["customer_id"].map(ids)
    truth = truth.dropna(subset=["id"]).set_index(truth["id"].dropna().astype(int))
    truth["uplift"] = truth["p_churn_no_call"] - truth["p_churn_if_called"]
    truth["value"] = truth["uplift"] * truth["clv"]
    return truth


def _callable_pool(engine: Engine, truth: pd.DataFrame) -> pd.DataFrame:
    """The scored customers the contact policy lets us call, with their truth beside."""
    mv = active_version(engine, ModelKind.CHURN)
    assert mv is not None
    with engine.connect() as conn:
        scores = (
            pd.DataFrame(
                conn.execute(
                    select(Score.customer_id, Score.p_churn, Score.clv).where(
                        Score.model_version_id == mv.id, Score.p_churn.is_not(None)
                    )
                ).all(),
                columns=["customer_id", "p_churn", "clv"],
            )
            .set_index("customer_id", drop=False)
            .rename_axis(None)
        )
        policy = CampaignSettings.for_kind(CampaignKind.ANTI_CHURN)
        blocked = screen(
            conn,
            policy,
            pd.DataFrame({"customer_id": scores.index, "product_id": pd.NA}, index=scores.index),
            kind=CampaignKind.ANTI_CHURN,
            channel=Channel.CALL,
            now=dt.datetime.now(dt.UTC),
        )
    pool = scores[blocked.isna().to_numpy()].join(truth[["uplift", "value"]], how="inner")
    pool["risk_value"] = pool["p_churn"] * pool["clv"]
    return pool


def _judge(out: dict[str, Any]) -> None:
    """The planner's value against the other rules', and whether it meets the targets."""
    planner = out["planner"]["incremental_value"]

    def ratio(rule: str) -> float | None:
        base = out[rule]["incremental_value"]
        return round(planner / base, 3) if base > 0 else None

    out["ratios"] = {
        "planner_vs_oracle": ratio("oracle"),
        "planner_vs_risk_only": ratio("risk_only"),
        "planner_vs_risk_value": ratio("risk_value"),
    }
    r = out["ratios"]
    out["targets_met"] = bool(
        r["planner_vs_oracle"] is not None
        and r["planner_vs_oracle"] >= 0.70
        and (r["planner_vs_risk_only"] is None or r["planner_vs_risk_only"] >= 1.5)
        and (r["planner_vs_risk_value"] is None or r["planner_vs_risk_value"] >= 1.0)
    )


def _ceiling(engine: Engine, pool: pd.DataFrame, size: int) -> pd.Index:
    """The best list a model of the store's features could pick, fitted on the truth."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold

    from scoring.evaluate import single_threaded
    from scoring.features import CATEGORICAL, NUMERIC, FeatureBuilder, Window, data_end

    end = data_end(engine)
    assert end is not None
    frames = [
        f.loc[f.index.isin(pool.index), NUMERIC + CATEGORICAL]
        for f in FeatureBuilder(engine, Window(end), end).chunks()
    ]
    features = pd.concat(frames).reindex(pool.index)
    for column in CATEGORICAL:
        features[column] = features[column].astype("category")
    target = pool["value"].to_numpy(float)
    predicted = np.zeros(len(pool))
    for fit, held in KFold(2, shuffle=True, random_state=0).split(features):
        model = HistGradientBoostingRegressor(
            categorical_features="from_dtype", max_iter=300, random_state=0
        )
        with single_threaded():  # OpenMP threads only cost time on tables this size
            model.fit(features.iloc[fit], target[fit])
            predicted[held] = model.predict(features.iloc[held])
    ranked = pool.assign(predicted=predicted).sort_values(
        ["predicted", "customer_id"], ascending=[False, True]
    )
    return ranked.index[:size]
