"""Names, phones and the other text columns of customers.csv, drawn after the simulation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulation.base.csv_sink import join_text, label_column
from simulation.base.customers import Population
from simulation.base.numeric import Bool, choice
from simulation.base.places import GB_PLANS

__all__ = ["CustomerStrings"]


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Daniel Lisa Matthew Nancy "
    "Anthony Betty Mark Sandra Steven Ashley Paul Emily Andrew Donna Joshua Michelle Kevin "
    "Carol Brian Amanda George Melissa Timothy Deborah Jose Maria Luis Carmen Carlos Ana "
    "Juan Sofia Miguel Lucia Oliver Amelia Harry Isla Jack Ava Noah Mia Liam Olivia Ethan "
    "Chloe Lucas Emma Mohammed Aisha Wei Mei Raj Priya Chen Yuki Sean Siobhan Pierre Chloé "
    "François Mathieu Zoë Renée"
)
_LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Patel Khan Singh Murphy O'Brien O'Connor McDonald MacLeod Evans Hughes Edwards "
    "Wood Roy Tremblay Gagnon Côté Bouchard Wong Chen Kim Park Cohen Schmidt Müller Novak"
)
_COMPANY_A = _words(
    "Northwind Bluebird Summit Harbor Pioneer Redwood Granite Silverline Evergreen Keystone "
    "Lakeside Ironclad Brightpath Crescent Maple Cedar Atlas Beacon Horizon Riverbend "
    "Oakridge Stonebridge Clearwater Westfield Eastgate Highland Golden Meridian Union Apex"
)
_COMPANY_B = _words(
    "Logistics|Dental|Plumbing|Consulting|Bakery|Motors|Realty|Legal Services|Design Studio|"
    "Construction|Accounting|Veterinary Clinic|Fitness|Coffee|Printing|Landscaping|Auto Repair|"
    "Insurance|Pharmacy|Electric|Roofing|Software|Marketing|Catering|Florist|Architects|"
    "Cleaning Services|Hardware|Opticians|Travel",
    "|",
)
_COMPANY_SUFFIX = (
    ("LLC", "Inc.", "Corp.", "Co."),
    ("Inc.", "Ltd.", "Corp."),
    ("Ltd", "LLP", "plc"),
)


class CustomerStrings:
    """Names, phones and other text columns of customers.csv (drawn after the simulation)."""

    def __init__(self, rng: np.random.Generator, pop: Population) -> None:
        n = pop.n
        self.ids = pop.ids
        digits = pc.cast(pa.array(pop.e164), pa.string())
        self.e164 = join_text("+", digits)

        def sl(a: int, b: int) -> pa.Array:
            return pc.utf8_slice_codeunits(digits, a, b)

        area, exch, sub = sl(1, 4), sl(4, 7), sl(7, 11)
        # GB groups by number plan: London 20 xxxx xxxx, 161 xxx xxxx, mobile 7xxx xxxxxx
        gb_kind = np.where(pop.plan == 0, 0, np.where(pop.plan == len(GB_PLANS) - 1, 2, 1))
        kind = pa.array(np.where(pop.plan < 0, 0, gb_kind).astype(np.int8))
        g0 = pc.choose(kind, sl(2, 4), sl(2, 5), sl(2, 6))
        g1 = pc.choose(kind, sl(4, 8), sl(5, 8), sl(6, 12))
        g2 = pc.choose(kind, join_text(" ", sl(8, 12)), join_text(" ", sl(8, 12)), sl(12, 12))
        variants = [
            self.e164,
            join_text("(", area, ") ", exch, "-", sub),
            join_text(area, "-", exch, "-", sub),
            join_text(area, ".", exch, ".", sub),
            join_text(area, exch, sub),
            join_text("+1 ", area, "-", exch, "-", sub),
            self.e164,
            join_text("0", g0, " ", g1, g2),
            join_text("+44 ", g0, " ", g1, g2),
            join_text("0", sl(2, 12)),
        ]
        nanp_style = choice(rng, np.array([0.35, 0.25, 0.20, 0.08, 0.07, 0.05]), n)
        gb_style = 6 + choice(rng, np.array([0.35, 0.45, 0.15, 0.05]), n)
        style = np.where(pop.country == 2, gb_style, nanp_style).astype(np.int8)
        phone = pc.choose(pa.array(style), *variants)
        u = rng.random(n)
        blank = u < 0.0015
        garbled = (u >= 0.0015) & (u < 0.003)
        junk = pc.choose(
            pa.array(rng.integers(0, 3, n).astype(np.int8)),
            pc.utf8_slice_codeunits(phone, 0, 6),
            pa.array(["000-000-0000"] * 1).take(pa.array(np.zeros(n, dtype=np.int32))),
            pa.array(["n/a"] * 1).take(pa.array(np.zeros(n, dtype=np.int32))),
        )
        phone = pc.if_else(pa.array(garbled), junk, phone)
        self.phone = pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), phone)
        self.phone_ok: Bool = ~(blank | garbled)

        # names
        first = label_column(_FIRST_NAMES, rng.integers(0, len(_FIRST_NAMES), n))
        last = label_column(_LAST_NAMES, rng.integers(0, len(_LAST_NAMES), n))
        person = join_text(first, " ", last)
        ca = label_column(_COMPANY_A, rng.integers(0, len(_COMPANY_A), n))
        cb = label_column(_COMPANY_B, rng.integers(0, len(_COMPANY_B), n))
        flat = [s for group in _COMPANY_SUFFIX for s in group]
        start = np.cumsum([0] + [len(g) for g in _COMPANY_SUFFIX])[:-1]
        size = np.array([len(g) for g in _COMPANY_SUFFIX])
        pick = start[pop.country] + np.floor(rng.random(n) * size[pop.country]).astype(np.int64)
        suffix = label_column(flat, pick)
        firm_style = choice(rng, np.array([0.55, 0.25, 0.20]), n).astype(np.int8)
        firm = pc.choose(
            pa.array(firm_style),
            join_text(ca, " ", cb, " ", suffix),
            join_text(ca, " ", cb, ", ", suffix),
            join_text(last, " & Partners ", cb),
        )
        self.name = pc.if_else(pa.array(pop.b2b), firm, person)
