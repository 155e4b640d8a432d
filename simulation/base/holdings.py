"""What customers hold and pay as the months run: the monthly bills, products added,
upgraded and dropped, a returning customer's products, the holdings open at ``as_of``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from simulation.base.catalogue import (
    ENTRY_TIER,
    FAM_TARGETED,
    N_FAM,
    PROD_OF,
    TIER_TARGETED,
    revenue_cents,
)
from simulation.base.csv_sink import decimal_column
from simulation.base.model import ACTIVE, CustomerModel
from simulation.base.numeric import I64, choice, sigmoid

__all__ = ["HoldingEvents"]


class HoldingEvents(CustomerModel):
    """What customers hold and pay: bills, product changes, a returning customer's products."""

    def _restore(self, idx: I64, day: I64) -> None:
        if len(idx) == 0:
            return
        rng, pop = self.rng, self.pop
        held = self.held[idx]
        keep = (held > 0) & (rng.random(held.shape) < 0.7)
        best = np.where(held > 0, self.rev[idx], -1).argmax(axis=1)
        keep[np.arange(len(idx)), best] = True
        new_held = np.where(keep, held, 0).astype(np.int8)
        prod = PROD_OF[np.arange(N_FAM)[None, :], new_held.astype(np.int64)]
        rev = np.zeros_like(self.rev[idx])
        b2b = np.repeat(pop.b2b[idx][:, None], N_FAM, 1)
        rev[keep] = revenue_cents(rng, prod[keep], b2b[keep])
        self.held[idx] = new_held
        self.rev[idx] = rev
        self.hstart[idx] = day[:, None]
        self.anchor[idx] = day
        self.c_anchor[idx] = day
        self.term[idx] = np.array([0, 12, 24], dtype=np.int64)[
            choice(rng, np.array([0.55, 0.30, 0.15]), len(idx))
        ]
        self.promo_end[idx] = -10_000
        self.comp[:, idx] = 0
        self.late[:, idx] = 0
        self.status[idx] = ACTIVE

    def _bill(self, m: int, group: I64, lo: I64, hi: I64) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        k = len(group)
        frac = (hi - lo + 1) / cal.month_length(m)
        b2b = pop.b2b[group]
        noise = 1.0 + rng.normal(0.0, 1.0, k) * np.where(b2b, 0.04, 0.015)
        over = (rng.random(k) < np.where(b2b, 0.20, 0.08)) * rng.exponential(1.0, k)
        over *= np.where(b2b, 2500.0, 900.0)
        amount = np.round(self.recurring(group, m) * frac * noise + over)
        cents: I64 = np.maximum(amount, 0).astype(np.int64)
        z = pop.stress[group]
        is_late = rng.random(k) < sigmoid(-2.6 + 1.3 * z + rng.normal(0.0, 0.5, k))
        days = np.clip(np.round(np.exp(rng.normal(1.8 + 0.35 * z, 0.8))), 1, 120)
        days_late = np.where(is_late, days, 0).astype(np.int64)
        due = cal.first_day(m) + 14
        unpaid = is_late & (due + days_late > cal.as_of_day)
        late_flags = np.zeros(pop.n, dtype=np.int8)
        late_flags[group] = is_late
        self.late[m % 3] = late_flags
        self.billing.write(
            [
                pop.ids.take(group),
                pa.array([cal.labels[m]] * 1).take(pa.array(np.zeros(k, dtype=np.int32))),
                decimal_column(cents, 2),
                pa.array(days_late, mask=unpaid),
            ]
        )

    def _product_events(self, m: int, stay: I64) -> None:
        rng, pop, cal = self.rng, self.pop, self.cal
        ms, me = cal.first_day(m), cal.last_day(m)
        if me <= ms or len(stay) == 0:
            return
        held = self.held[stay]
        nprod = (held > 0).sum(axis=1)
        p_add = 0.0055 * np.exp(pop.buy[stay])
        p_up = 0.0040 * np.exp(pop.buy[stay])
        p_drop = np.where(nprod >= 2, 0.0035 * np.exp(0.5 * pop.service[stay]), 0.0)
        u = rng.random(len(stay))
        kind = np.select([u < p_add, u < p_add + p_up, u < p_add + p_up + p_drop], [1, 2, 3], 0)
        ev = np.flatnonzero(kind > 0)
        if len(ev) == 0:
            return
        cust = stay[ev]
        kind = kind[ev]
        day = ms + 1 + np.floor(rng.random(len(ev)) * (me - ms)).astype(np.int64)
        seg = pop.seg[cust]
        h = self.held[cust].astype(np.int64)
        up_ok = TIER_TARGETED[seg[:, None], np.arange(N_FAM)[None, :], np.minimum(h + 1, 4)]
        masks = {
            1: FAM_TARGETED[seg] & (h == 0),
            2: (h > 0) & up_ok & (PROD_OF[np.arange(N_FAM)[None, :], np.minimum(h + 1, 4)] >= 0),
            3: h > 0,
        }
        keys = rng.random((len(ev), N_FAM))
        mask = np.where(
            (kind == 1)[:, None], masks[1], np.where((kind == 2)[:, None], masks[2], masks[3])
        )
        ok = mask.any(axis=1)
        fam = np.where(mask, keys, -1.0).argmax(axis=1)
        cust, kind, day, fam, seg, h = cust[ok], kind[ok], day[ok], fam[ok], seg[ok], h[ok]
        cur_tier = h[np.arange(len(cust)), fam]
        # close the holdings that end (upgrade: the day before; drop: that day)
        ends = kind >= 2
        ce = cust[ends]
        fe = fam[ends]
        self.hold_rec.append(
            (
                ce,
                PROD_OF[fe, cur_tier[ends]],
                self.hstart[ce, fe],
                np.where(kind[ends] == 2, day[ends] - 1, day[ends]),
                self.rev[ce, fe],
            )
        )
        new_tier = np.select([kind == 1, kind == 2], [ENTRY_TIER[seg, fam], cur_tier + 1], 0)
        self.held[cust, fam] = new_tier.astype(np.int8)
        starts = kind <= 2
        cs, fs = cust[starts], fam[starts]
        self.hstart[cs, fs] = day[starts]
        self.rev[cs, fs] = revenue_cents(rng, PROD_OF[fs, new_tier[starts]], pop.b2b[cs])
        self.rev[cust[~starts], fam[~starts]] = 0

    # ------------------------------------------------------------------ at as_of
    def open_holdings(self) -> tuple[I64, I64, I64, I64, I64]:
        active = np.flatnonzero(self.status == ACTIVE)
        held = self.held[active]
        rows, fams = np.nonzero(held > 0)
        cust = active[rows]
        return (
            cust,
            PROD_OF[fams, held[rows, fams].astype(np.int64)],
            self.hstart[cust, fams],
            np.full(len(cust), -1, dtype=np.int64),
            self.rev[cust, fams],
        )
