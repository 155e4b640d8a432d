"""How likely a customer is to take a product if offered it on a call.

Two sources, and the preview names the one used:

- the propensity model (`telecampaign propensity train`), once it has learned from
  offers we made and their accepted/refused dispositions (``MIN_OFFERS`` of them);
- until then, one assumed acceptance rate for every pair, so that lists rank by margin
  over the customer's expected lifetime. A model fitted on organic take-up alone (who
  added a product without being asked) is not used for ranking: on the demo data it
  ranked cross-sell acceptance at chance (ROC AUC 0.52, Spearman 0.08 against the true
  acceptance), below ranking by margin alone (scripts/eval_propensity.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, select

from scoring.propensity import load_active_propensity, predict_acceptance
from store.models import ModelVersion

__all__ = ["ASSUMED_ACCEPTANCE", "MIN_OFFERS", "acceptance"]

# Outbound telesales reached 9% conversion in the source documents.
ASSUMED_ACCEPTANCE = 0.09
MIN_OFFERS = 200


def acceptance(
    conn: Connection, pairs: pd.DataFrame, as_of: dt.date
) -> tuple[npt.NDArray[np.float64], str]:
    """P(accept) for each (customer_id, product_id) row of ``pairs``, and its basis."""
    engine = conn.engine
    model = load_active_propensity(engine)
    if model is not None:
        metrics = conn.execute(
            select(ModelVersion.metrics).where(ModelVersion.id == model.model_version_id)
        ).scalar_one()
        offers = int(((metrics or {}).get("offers") or {}).get("rows", 0))
        if offers >= MIN_OFFERS:
            p = predict_acceptance(engine, model, pairs[["customer_id", "product_id"]], as_of)
            return np.nan_to_num(np.asarray(p, dtype=np.float64), nan=0.0), "propensity"
    return np.full(len(pairs), ASSUMED_ACCEPTANCE), "assumed_acceptance"
