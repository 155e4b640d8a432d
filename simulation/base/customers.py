"""The customer population: everything drawn once per customer before the months are
simulated (signup, segment, latent traits, contract, promotion, first holdings, place
and phone number)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from simulation.base.catalogue import (
    FAMILY_P,
    MAX_TIER,
    N_FAM,
    N_SEG,
    PROD_OF,
    SEG_STRESS,
    SEGMENTS,
    TIER_TARGETED,
    revenue_cents,
)
from simulation.base.csv_sink import id_column
from simulation.base.numeric import F64, I8, I64, Bool, choice, row_choice
from simulation.base.places import AREAS, GB_PLANS
from simulation.base.timeline import MONTH_DAYS, Calendar

__all__ = ["Population"]

FRAILTY_SD = 0.55  # of the latent frailty, on the churn logit


class Population:
    """Everything drawn once per customer before the months are simulated."""

    def __init__(self, rng: np.random.Generator, n: int, cal: Calendar) -> None:
        # one generator drawn in a fixed order: the steps run in this order only
        self.n = n
        self._draw_signups(rng, cal)
        self._draw_segments(rng)
        self._draw_traits_and_terms(rng)
        self._draw_first_holdings(rng, cal.w0)
        self._draw_places(rng)
        self._draw_phone_numbers(rng)
        self.ids: pa.Array = id_column("C", n, 7)

    def _draw_signups(self, rng: np.random.Generator, cal: Calendar) -> None:
        n, w0 = self.n, cal.w0
        # signup order = id order
        pre = rng.random(n) < 0.60
        tenure_m = rng.exponential(22.0, n)
        tenure_m = np.where(tenure_m < 72.0, tenure_m, rng.uniform(24.0, 72.0, n))
        pre_day = w0 - 1 - np.floor(tenure_m * MONTH_DAYS).astype(np.int64)
        in_day = w0 + np.floor(rng.random(n) * (cal.as_of_day - w0 + 1)).astype(np.int64)
        signup = np.sort(np.where(pre, pre_day, in_day))
        self.prospect: Bool = rng.random(n) < 0.005
        self.signup: I64 = signup
        self.join_month: I64 = cal.month_of(signup)  # < 0 before the window

    def _draw_segments(self, rng: np.random.Generator) -> None:
        n = self.n
        b2b = rng.random(n) < 0.15
        seg = np.empty(n, dtype=np.int64)
        b2c_idx = [i for i, s in enumerate(SEGMENTS) if not s.b2b]
        b2b_idx = [i for i, s in enumerate(SEGMENTS) if s.b2b]
        for sel, members in ((~b2b, b2c_idx), (b2b, b2b_idx)):
            w = np.array([SEGMENTS[i].share for i in members])
            seg[sel] = np.array(members)[choice(rng, w, int(sel.sum()))]
        self.seg: I64 = seg
        self.b2b: Bool = b2b

    def _draw_traits_and_terms(self, rng: np.random.Generator) -> None:
        n, seg = self.n, self.seg
        # latent traits
        self.frailty: F64 = rng.normal(0.0, FRAILTY_SD, n)
        self.service: F64 = rng.normal(0.0, 1.0, n)
        self.stress: F64 = rng.normal(0.0, 1.0, n) + SEG_STRESS[seg]
        self.recept: F64 = rng.normal(0.0, 1.0, n)
        self.buy: F64 = rng.normal(0.0, 0.45, n)
        self.dnd_u: F64 = rng.random(n)

        # contract: 0 = month-to-month, else term in months
        self.term: I64 = np.array([0, 12, 24], dtype=np.int64)[
            choice(rng, np.array([0.45, 0.30, 0.25]), n)
        ]
        # introductory promotion (month index when it ends)
        promo = (rng.random(n) < 0.5) & (self.join_month >= -12)
        self.promo_rate: F64 = np.where(promo, np.where(rng.random(n) < 0.5, 0.2, 0.3), 0.0)
        self.promo_end: I64 = np.where(promo, self.join_month + 12, -10_000).astype(np.int64)

    def _draw_first_holdings(self, rng: np.random.Generator, w0: int) -> None:
        n, seg, b2b, signup = self.n, self.seg, self.b2b, self.signup
        # holdings at signup
        take = rng.random((n, N_FAM)) < FAMILY_P[seg]
        none = ~take.any(axis=1)
        take[np.flatnonzero(none), FAMILY_P[seg[none]].argmax(axis=1)] = True
        tiers = np.zeros((n, N_FAM), dtype=np.int8)
        for f in range(N_FAM):
            rows = np.flatnonzero(take[:, f])
            allowed = TIER_TARGETED[seg[rows], f, 1 : MAX_TIER + 1].astype(np.float64)
            exists = (PROD_OF[f, 1 : MAX_TIER + 1] >= 0).astype(np.float64)
            w = allowed * np.array([0.5, 0.33, 0.17])
            off = (rng.random(len(rows)) < 0.01) | (w.sum(axis=1) == 0)
            w[off] = exists * np.array([0.5, 0.33, 0.17])
            tiers[rows, f] = (row_choice(rng, w) + 1).astype(np.int8)
        self.held0: I8 = tiers
        prod = PROD_OF[np.arange(N_FAM)[None, :], tiers.astype(np.int64)]
        rev = np.zeros((n, N_FAM), dtype=np.int64)
        held = tiers > 0
        rev[held] = revenue_cents(rng, prod[held], np.repeat(b2b[:, None], N_FAM, 1)[held])
        self.rev0: I64 = rev
        # start dates: first family at signup; others between signup and the window start
        hstart = np.repeat(signup[:, None], N_FAM, axis=1)
        later = rng.random((n, N_FAM)) < 0.5
        gap = np.maximum(w0 - signup, 0)
        extra = np.floor(rng.random((n, N_FAM)) * gap[:, None]).astype(np.int64)
        first_f = held.argmax(axis=1)
        later[np.arange(n), first_f] = False
        self.hstart0: I64 = np.where(later, signup[:, None] + extra, hstart).astype(np.int64)

        # segment typical bill (median recurring bill at signup)
        bill = rev.sum(axis=1)
        self.typical_bill: F64 = np.array(
            [float(np.median(bill[seg == s])) if np.any(seg == s) else 5000.0 for s in range(N_SEG)]
        )

    def _draw_places(self, rng: np.random.Generator) -> None:
        """Country, zone, region and a phone number per customer, maybe not yet unique."""
        n = self.n
        self.country: I64 = choice(rng, np.array([0.80, 0.10, 0.10]), n)
        self.zone: I64 = np.zeros(n, dtype=np.int64)
        region_code = np.zeros(n, dtype=np.int64)
        regions: list[str] = []
        e164 = np.zeros(n, dtype=np.int64)
        plan = np.full(n, -1, dtype=np.int64)  # -1 NANP; else index into GB_PLANS
        for c in (0, 1):
            rows = np.flatnonzero(self.country == c)
            areas = [a for a in AREAS if a[1] == c]
            pick = choice(rng, np.array([a[4] for a in areas]), len(rows))
            area = np.array([a[0] for a in areas])[pick]
            self.zone[rows] = np.array([a[3] for a in areas])[pick]
            names = sorted({a[2] for a in areas})
            base = len(regions)
            regions.extend(names)
            region_code[rows] = base + np.array([names.index(a[2]) for a in areas])[pick]
            e164[rows] = 10_000_000_000 + area * 10_000_000 + self._nanp_local(rng, len(rows))
        rows = np.flatnonzero(self.country == 2)
        self.zone[rows] = 7
        gp = choice(rng, np.array([g[3] for g in GB_PLANS]), len(rows))
        plan[rows] = gp
        gb_regions = ["ENG", "SCT", "WLS", "NIR"]
        base = len(regions)
        regions.extend(gb_regions)
        region_code[rows] = base + choice(rng, np.array([0.85, 0.09, 0.04, 0.02]), len(rows))
        for gi, (prefix, digits, region, _w) in enumerate(GB_PLANS):
            sel = rows[gp == gi]
            if region:
                region_code[sel] = base + gb_regions.index(region)
            e164[sel] = self._gb_number(rng, prefix, digits, len(sel))
        self.e164: I64 = e164
        self.plan: I64 = plan
        self.region_code: I64 = region_code
        self.region: list[str] = regions

    def _draw_phone_numbers(self, rng: np.random.Generator) -> None:
        """Numbers must be unique: redraw collisions (in place, in ``e164``)."""
        n, e164, plan = self.n, self.e164, self.plan
        for _ in range(50):
            _, first = np.unique(e164, return_index=True)
            dup = np.ones(n, dtype=bool)
            dup[first] = False
            dup_rows = np.flatnonzero(dup)
            if len(dup_rows) == 0:
                break
            for r in dup_rows:
                if plan[r] < 0:
                    area = (e164[r] // 10_000_000) % 1000
                    e164[r] = 10_000_000_000 + area * 10_000_000 + self._nanp_local(rng, 1)[0]
                else:
                    prefix, digits, _region, _w = GB_PLANS[int(plan[r])]
                    e164[r] = self._gb_number(rng, prefix, digits, 1)[0]

    @staticmethod
    def _nanp_local(rng: np.random.Generator, k: int) -> I64:
        exch = rng.integers(200, 1000, k)
        bad = (exch % 100 == 11) | (exch == 555) | (exch == 950) | (exch == 958) | (exch == 959)
        exch = np.where(bad, exch + 1, exch)
        return (exch * 10_000 + rng.integers(0, 10_000, k)).astype(np.int64)

    @staticmethod
    def _gb_number(rng: np.random.Generator, prefix: int, digits: int, k: int) -> I64:
        if prefix == 20:  # 020 [378]xxx xxxx
            lead = np.array([3, 7, 8])[rng.integers(0, 3, k)]
        elif prefix == 7:  # 07[458]xx xxxxxx
            lead = np.array([4, 5, 8])[rng.integers(0, 3, k)]
        else:  # 0161 [2-9]xx xxxx
            lead = rng.integers(2, 10, k)
        rest = rng.integers(0, 10 ** (digits - 1), k)
        nsn = (prefix * 10**digits + lead * 10 ** (digits - 1) + rest).astype(np.int64)
        out: I64 = (440_000_000_000 + nsn).astype(np.int64)
        return out
