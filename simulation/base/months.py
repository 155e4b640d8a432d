"""The simulation month by month: joiners and returners, the past retention campaign, churn
with its exit interviews, and each month's bills, interactions and product changes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simulation.base.catalogue import PROD_OF, SEG_B2B, SEG_IDX, SEG_REACH
from simulation.base.holdings import HoldingEvents
from simulation.base.interactions import T_EXIT, InteractionRecords
from simulation.base.model import ACTIVE, GONE, NEVER, PENDING
from simulation.base.numeric import I64, choice, row_choice, sigmoid
from simulation.base.timeline import HISTORY_MONTHS

__all__ = ["Simulation"]


class Simulation(HoldingEvents, InteractionRecords):
    """The customer base simulated month by month over the billed months."""

    # ------------------------------------------------------------------ the months
    def run(self, report: Callable[[str, float], None]) -> None:
        for m in range(HISTORY_MONTHS):
            self.month(m)
            report("simulate", (m + 1) / HISTORY_MONTHS)

    def month(self, m: int) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        ms, me = cal.first_day(m), cal.last_day(m)
        span = me - ms + 1
        active = np.flatnonzero(self.status == ACTIVE)
        joiners = np.flatnonzero((self.status == PENDING) & (pop.join_month == m))
        self.status[joiners] = ACTIVE
        returners = np.flatnonzero((self.status == GONE) & (self.return_month == m))
        ret_day = ms + np.floor(rng.random(len(returners)) * span).astype(np.int64)
        self._restore(returners, ret_day)

        # the past campaign: list drawn from the customers active on the first day
        if m == self.campaign_month:
            self._draw_campaign(active, ms)

        # churn
        eta = self.logit_hazard(active, m)
        if self.campaign_month <= m < self.campaign_month + 3:
            eta += self.camp_tau[active]
        churn = rng.random(len(active)) < sigmoid(eta)
        churners = active[churn]
        cday = ms + np.floor(rng.random(len(churners)) * span).astype(np.int64)
        if m == self.campaign_month:  # list members leave after being contacted
            after = self.camp_day[churners]
            listed = after > NEVER
            lo = np.maximum(after + 1, ms)
            late_day = lo + np.floor(rng.random(len(churners)) * (me - lo + 1)).astype(np.int64)
            cday = np.where(listed, np.minimum(late_day, me), cday)

        # everyone billed this month and the part of the month they were customers
        group = np.concatenate([active, joiners, returners])
        lo = np.concatenate(
            [np.full(len(active), ms, dtype=np.int64), pop.signup[joiners], ret_day]
        )
        hi = np.full(len(group), me, dtype=np.int64)
        hi[: len(active)][churn] = cday
        order = np.argsort(group, kind="stable")
        group, lo, hi = group[order], lo[order], hi[order]
        self._bill(m, group, lo, hi)
        new_comp = self._interactions(m, group, lo, hi)
        self._exits(m, churners, cday)
        self.comp[m % 3] = new_comp

        # product changes for those who stay
        stay = active[~churn]
        self._product_events(m, stay)

    def _draw_campaign(self, active: I64, ms: int) -> None:
        rng, pop = self.rng, self.pop
        self.active_at_campaign = len(active)
        k = round(0.20 * len(active))
        members = np.sort(rng.permutation(active)[:k])
        treated = rng.random(k) < 0.5
        day = ms + rng.integers(0, 7, k)
        seg = pop.seg[members]
        p_reach = sigmoid(0.41 + SEG_REACH[seg] + 0.2 * pop.recept[members])
        reached = treated & (rng.random(k) < p_reach)
        tau = np.zeros(k)
        for d in np.unique(day):
            sel = day == d
            tau[sel] = self.call_tau(members[sel], int(d))
        self.camp_tau[members[reached]] = tau[reached]
        self.camp_day[members] = day
        self.hist_idx, self.hist_treated, self.hist_reached = members, treated, reached
        self.hist_day = day.astype(np.int64)

    def _exits(self, m: int, churners: I64, cday: I64) -> None:
        rng, pop = self.rng, self.pop
        k = len(churners)
        if k == 0:
            return
        # holdings end on the churn day
        held = self.held[churners]
        rows, fams = np.nonzero(held > 0)
        cust = churners[rows]
        self.hold_rec.append(
            (
                cust,
                PROD_OF[fams, held[rows, fams].astype(np.int64)],
                self.hstart[cust, fams],
                cday[rows],
                self.rev[cust, fams],
            )
        )
        self.status[churners] = GONE
        self.churn_day[churners] = cday
        first = (self.hist_churn[churners] < 0) & (self.camp_day[churners] > NEVER)
        self.hist_churn[churners[first]] = cday[first]
        comes_back = rng.random(k) < 0.12
        self.return_month[churners] = np.where(comes_back, m + rng.integers(2, 11, k), -1)

        # exit interviews
        said = np.flatnonzero(rng.random(k) < 0.6)
        c = churners[said]
        s, z = pop.service[c], pop.stress[c]
        c90 = self.comp[:, c].sum(axis=0)
        pe = self.promo_end[c]
        shock = (m >= pe) & (m - pe < 3)
        seg = pop.seg[c]
        young = seg == SEG_IDX["B2C_YOUNG"]
        quiet = SEG_B2B[seg] | (seg == SEG_IDX["B2C_SENIOR"])
        w = np.stack(
            [
                1.0 * np.exp(0.5 * z) * (1.0 + 2.0 * shock),
                np.ones(len(c)),
                0.5 * np.where(young, 2.0, 1.0),
                0.6 * np.exp(0.6 * s) * (1.0 + 0.5 * c90),
                0.4 * np.exp(0.4 * s),
                0.4 * np.where(quiet, 2.0, 1.0),
            ],
            axis=1,
        )
        topic = T_EXIT + row_choice(rng, w)
        when = self._when(c, cday[said], cday[said], 9.0, 19.0)
        channel = np.array([0, 4, 2])[choice(rng, np.array([0.6, 0.2, 0.2]), len(c))]
        self._record(c, 3, when, channel, topic, 0, 0, -1)
