"""How the demo's scores compare with the ground truth the demo data was drawn from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, select

from store.models import Customer, Score

__all__ = ["ground_truth_auc", "ground_truth_effect"]


def ground_truth_auc(engine: Engine, truth_file: Path) -> tuple[float, float]:
    """Expected ROC AUC of the stored scores when churn is drawn from the true probabilities.

    Each customer counts as a churner with weight p and a stayer with weight 1 - p, so
    the figure is the AUC averaged over every outcome the ground truth can produce. The
    second figure ranks by the true probabilities themselves: the best any model can do.
    """
    truth = pd.read_csv(truth_file, usecols=["customer_id", "p_churn_no_call"])
    both = truth.merge(_stored(engine, "p_churn"), on="customer_id")
    p = both["p_churn_no_call"].to_numpy(float)
    labels = np.r_[np.ones(len(p)), np.zeros(len(p))]
    weights = np.r_[p, 1.0 - p]

    def auc(ranking: npt.NDArray[np.float64]) -> float:
        return float(roc_auc_score(labels, np.r_[ranking, ranking], sample_weight=weights))

    return auc(both["p_churn"].to_numpy(float)), auc(p)


def ground_truth_effect(engine: Engine, truth_file: Path) -> tuple[float, float, float] | None:
    """Mean predicted and true drop in churn if called, and their correlation."""
    truth = pd.read_csv(truth_file, usecols=["customer_id", "p_churn_no_call", "p_churn_if_called"])
    both = truth.merge(_stored(engine, "uplift"), on="customer_id")
    if len(both) < 2:
        return None
    true_effect = both["p_churn_no_call"] - both["p_churn_if_called"]
    spread = float(both["uplift"].std())
    correlation = float(np.corrcoef(both["uplift"], true_effect)[0, 1]) if spread > 0 else 0.0
    return float(both["uplift"].mean()), float(true_effect.mean()), correlation


def _stored(engine: Engine, column: str) -> pd.DataFrame:
    """One stored score column by customer external id, where it is set."""
    value = getattr(Score, column)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Customer.external_id, value)
            .join(Score, Score.customer_id == Customer.id)
            .where(value.is_not(None))
        ).all()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=["customer_id", column])
