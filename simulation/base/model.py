"""The generating model's state of every customer and its formulas: the churn hazard, the
retention call's effect and offer acceptance (the generator's docstring states them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from simulation.base.catalogue import ACCEPT, P_FAMILY, P_TIER, SEG_DND, SEG_EFFECT, SEG_HAZARD
from simulation.base.csv_sink import CsvSink
from simulation.base.customers import Population
from simulation.base.numeric import F64, I8, I64, Bool, sigmoid
from simulation.base.timeline import (
    CAMPAIGN_MONTHS_BEFORE,
    HISTORY_MONTHS,
    MONTH_DAYS,
    Calendar,
    add_months,
    month_index,
)

__all__ = ["ACTIVE", "GONE", "NEVER", "PENDING", "PROSPECT", "CustomerModel"]

# hazard coefficients (see the generator's docstring)
_H_INTERCEPT = -3.2
# call effect
_TAU_INTERCEPT = -1.3
_TAU_RECEPT = 1.0
_TAU_UNHAPPY = 0.7
_TAU_NEW = -2.0
_TAU_STRESS = 0.8
_DND_ENDING = 1.5
_DND_SLEEPING = 1.4
_DND_UNRESOLVED = 1.2
_DND_INTERCEPT = -3.1

PENDING, ACTIVE, GONE, PROSPECT = 0, 1, 2, 3
NEVER = -1_000_000


class CustomerModel:
    """The state of every customer as the months run, and the model read from it: the
    monthly churn hazard, the effect of a retention call and the acceptance of offers."""

    def __init__(
        self, rng: np.random.Generator, pop: Population, cal: Calendar, billing: CsvSink
    ) -> None:
        n = pop.n
        self.rng = rng
        self.pop = pop
        self.cal = cal
        self.billing = billing
        self.status: I8 = np.where(
            pop.prospect, PROSPECT, np.where(pop.join_month < 0, ACTIVE, PENDING)
        ).astype(np.int8)
        self.held: I8 = pop.held0.copy()
        self.hstart: I64 = pop.hstart0.copy()
        self.rev: I64 = pop.rev0.copy()
        self.anchor: I64 = pop.signup.copy()  # tenure clock
        self.c_anchor: I64 = pop.signup.copy()  # contract clock
        self.term: I64 = pop.term.copy()
        self.promo_end: I64 = pop.promo_end.copy()
        self.comp = np.zeros((3, n), dtype=np.int8)
        self.late = np.zeros((3, n), dtype=np.int8)
        self.score: F64 = np.full(n, np.nan)
        self.good_day: I64 = np.full(n, NEVER, dtype=np.int64)
        self.bad_day: I64 = np.full(n, NEVER, dtype=np.int64)
        self.contact_day: I64 = np.full(n, NEVER, dtype=np.int64)
        self.churn_day: I64 = np.full(n, -1, dtype=np.int64)
        self.return_month: I64 = np.full(n, -1, dtype=np.int64)
        self.hold_rec: list[tuple[I64, I64, I64, I64, I64]] = []
        self.inter_rec: list[dict[str, npt.NDArray[Any]]] = []
        # past campaign
        self.campaign_month = HISTORY_MONTHS - 1 - CAMPAIGN_MONTHS_BEFORE
        self.hist_idx: I64 = np.zeros(0, dtype=np.int64)
        self.hist_treated: Bool = np.zeros(0, dtype=bool)
        self.hist_reached: Bool = np.zeros(0, dtype=bool)
        self.hist_day: I64 = np.zeros(0, dtype=np.int64)
        self.hist_churn: I64 = np.full(n, -1, dtype=np.int64)
        self.camp_tau: F64 = np.zeros(n)
        self.camp_day: I64 = np.full(n, NEVER, dtype=np.int64)
        self.active_at_campaign = 0

    # ------------------------------------------------------------------ model parts
    def recurring(self, idx: I64, m: int) -> F64:
        """Monthly recurring bill in cents, with the introductory promotion when it applies."""
        base = self.rev[idx].sum(axis=1).astype(np.float64)
        promo = m < self.promo_end[idx]
        return np.asarray(base * np.where(promo, 1.0 - self.pop.promo_rate[idx], 1.0))

    def months_to_contract_end(self, idx: I64, day: int) -> F64:
        term = self.term[idx]
        anchor = self.c_anchor[idx]
        safe = np.maximum(term, 1)
        elapsed = month_index(np.full(len(idx), day, dtype=np.int64)) - month_index(anchor)
        k = (elapsed // safe) * safe
        end = add_months(anchor, k)
        end = np.where(end <= day, add_months(anchor, k + safe), end)
        return np.where(term > 0, (end - day) / MONTH_DAYS, np.inf)

    def contract_end(self, idx: I64, ref: I64) -> I64:
        term = self.term[idx]
        anchor = self.c_anchor[idx]
        safe = np.maximum(term, 1)
        elapsed = month_index(ref) - month_index(anchor)
        k = (np.maximum(elapsed, 0) // safe) * safe
        end = add_months(anchor, k)
        end = np.where(end <= ref, add_months(anchor, k + safe), end)
        return np.where(term > 0, end, -1).astype(np.int64)

    def tenure(self, idx: I64, day: int) -> F64:
        return np.asarray((day - self.anchor[idx]) / MONTH_DAYS, dtype=np.float64)

    def logit_hazard(self, idx: I64, m: int) -> F64:
        pop = self.pop
        day = self.cal.first_day(m)
        seg = pop.seg[idx]
        t = self.tenure(idx, day)
        eta = _H_INTERCEPT + SEG_HAZARD[seg]
        eta = eta + 1.4 * np.exp(-t / 5.0) - 0.4 * np.minimum(t, 72.0) / 72.0
        mte = self.months_to_contract_end(idx, day)
        eta += np.where(self.term[idx] == 0, 0.6, np.where(mte <= 2.0, 0.9, -0.7))
        c90 = self.comp[:, idx].sum(axis=0)
        eta += 0.55 * np.minimum(c90, 3)
        sc = self.score[idx]
        eta += np.where(np.isnan(sc), 0.1, 0.2 * (7.0 - np.nan_to_num(sc, nan=7.0)))
        bill = np.maximum(self.recurring(idx, m), 100.0)
        eta += 0.35 * np.clip(np.log(bill / pop.typical_bill[seg]), -1.5, 1.5)
        pe = self.promo_end[idx]
        eta += 0.45 * ((m >= pe) & (m - pe < 3))
        eta += 0.45 * self.late[:, idx].sum(axis=0)
        nprod = (self.held[idx] > 0).sum(axis=1)
        eta -= 0.4 * (nprod - 1)
        eta += pop.frailty[idx] + 0.25 * pop.service[idx] + 0.15 * pop.stress[idx]
        return np.asarray(eta, dtype=np.float64)

    def call_tau(self, idx: I64, day: int) -> F64:
        """Effect of a retention call on the monthly churn logit (negative = helps)."""
        pop = self.pop
        seg = pop.seg[idx]
        t = self.tenure(idx, day)
        band = np.select([t < 6, t < 24, t < 60], [_TAU_NEW, 0.1, 0.35], 0.5)
        handled = self.good_day[idx] >= day - 180
        recept = pop.recept[idx]
        nprod = (self.held[idx] > 0).sum(axis=1)
        unhappy = self.score[idx] <= 4.0  # NaN compares False
        log_m = (
            _TAU_INTERCEPT
            + SEG_EFFECT[seg]
            + band
            + 0.3 * handled
            + 0.2 * (nprod - 1)
            - _TAU_UNHAPPY * unhappy
            - _TAU_STRESS * pop.stress[idx]
            + _TAU_RECEPT * recept
        )
        mag = np.exp(log_m)
        sleeping = (self.term[idx] == 0) & (t >= 36) & (self.contact_day[idx] < day - 180)
        unresolved = self.bad_day[idx] >= day - 90
        dnd_logit = _DND_INTERCEPT + SEG_DND[seg] + _DND_SLEEPING * sleeping - 0.5 * recept
        ending = self.months_to_contract_end(idx, day) <= 2.0
        p_dnd = sigmoid(dnd_logit + _DND_UNRESOLVED * unresolved + _DND_ENDING * ending)
        dnd = pop.dnd_u[idx] < p_dnd
        return np.asarray(np.where(dnd, 0.8 * mag, -mag), dtype=np.float64)

    def accept_logit(self, idx: I64, m: int) -> F64:
        """Logit of accepting an offer of each product, (len(idx), products)."""
        pop = self.pop
        day = self.cal.first_day(m)
        seg = pop.seg[idx]
        held = self.held[idx].astype(np.int64)[:, P_FAMILY]  # tier held in each product's family
        ptier = P_TIER[None, :]
        step = np.where(
            held == 0,
            0.0,
            np.select([ptier == held + 1, ptier > held + 1, ptier < held], [0.5, -0.6, -1.8], 0),
        )
        sc = self.score[idx]
        mood = np.where(np.isnan(sc), 0.0, 0.15 * (np.nan_to_num(sc, nan=7.0) - 7.0))
        c90 = np.minimum(self.comp[:, idx].sum(axis=0), 3)
        nprod = (self.held[idx] > 0).sum(axis=1)
        t = self.tenure(idx, day)
        person = (
            mood
            - 0.35 * c90
            - 0.35 * pop.stress[idx]
            + pop.buy[idx]
            + 0.15 * (nprod - 1)
            - 0.4 * (t < 3)
        )
        return np.asarray(ACCEPT[seg] + step + person[:, None], dtype=np.float64)
