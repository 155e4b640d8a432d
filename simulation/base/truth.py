"""The ground truth at ``as_of``: churn without and with a retention call over the next
three months, the customer value, and the acceptance of each offerable product."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.base.catalogue import N_FAM, PROD_OF, PRODUCTS, TARGETED
from simulation.base.model import ACTIVE, CustomerModel
from simulation.base.numeric import F64, I64, sigmoid
from simulation.base.timeline import CLV_CAP_MONTHS, HISTORY_MONTHS

__all__ = ["Truth", "ground_truth"]


@dataclass
class Truth:
    idx: I64
    p_no_call: F64
    p_if_called: F64
    clv_cents: I64
    p_accept: F64  # (active, products), NaN = blank


def ground_truth(sim: CustomerModel) -> Truth:
    """The truth at ``as_of`` for the customers active then (see the generator's docstring)."""
    idx = np.flatnonzero(sim.status == ACTIVE)
    k = len(idx)
    tau = sim.call_tau(idx, sim.cal.as_of_day)
    surv0 = np.ones(k)
    surv1 = np.ones(k)
    life = np.zeros(k)
    for j in range(CLV_CAP_MONTHS):
        eta = sim.logit_hazard(idx, HISTORY_MONTHS + j)
        life += surv0
        surv0 = surv0 * (1.0 - sigmoid(eta))
        if j < 3:
            surv1 = surv1 * (1.0 - sigmoid(eta + tau))
        if j == 2:
            p0, p1 = 1.0 - surv0, 1.0 - surv1
    arpu = sim.rev[idx].sum(axis=1).astype(np.float64)
    clv = np.round(arpu * life).astype(np.int64)
    acc = sigmoid(sim.accept_logit(idx, HISTORY_MONTHS))
    held_prod = np.zeros((k, len(PRODUCTS)), dtype=bool)
    h = sim.held[idx].astype(np.int64)
    for f in range(N_FAM):
        p = PROD_OF[f, h[:, f]]
        rows = np.flatnonzero(h[:, f] > 0)
        held_prod[rows, p[rows]] = True
    offerable = TARGETED[sim.pop.seg[idx]] & ~held_prod
    acc = np.where(offerable, acc, np.nan)
    return Truth(idx, p0, p1, clv, acc)
