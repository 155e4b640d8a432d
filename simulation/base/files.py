"""The files the generator writes: their names and columns, and one writer per file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulation.base.catalogue import N_SEG, P_CODES, PRICE_CENTS, PRODUCTS, SEGMENTS, TARGETED
from simulation.base.csv_sink import (
    CsvSink,
    date_column,
    decimal_column,
    id_column,
    join_text,
    label_column,
)
from simulation.base.customers import Population
from simulation.base.interactions import CHANNELS, KINDS, TOPICS
from simulation.base.model import GONE
from simulation.base.months import Simulation
from simulation.base.names import CustomerStrings
from simulation.base.numeric import F64, I64, Bool, choice
from simulation.base.places import COUNTRIES, ZONES
from simulation.base.timeline import Calendar, UtcOffsets
from simulation.base.truth import Truth

__all__ = [
    "FILE_NAMES",
    "HEADERS",
    "write_customers",
    "write_dnc",
    "write_file",
    "write_ground_truth",
    "write_history",
    "write_holdings",
    "write_interactions",
    "write_matrix",
    "write_products",
]

FILE_NAMES = (
    "products",
    "matrix",
    "customers",
    "holdings",
    "billing",
    "interactions",
    "dnc",
    "history",
    "ground_truth",
)
HEADERS: dict[str, tuple[str, ...]] = {
    "products": ("product_code", "name", "family", "tier", "monthly_price", "monthly_margin"),
    "matrix": ("segment", "segment_name", *(p.code for p in PRODUCTS)),
    "customers": (
        "customer_id",
        "name",
        "phone",
        "country",
        "region",
        "timezone",
        "language",
        "customer_type",
        "segment",
        "call_consent",
        "sms_consent",
        "signup_date",
        "contract_end",
    ),
    "holdings": ("customer_id", "product_code", "start_date", "end_date", "monthly_revenue"),
    "billing": ("customer_id", "month", "amount", "days_late"),
    "interactions": (
        "interaction_id",
        "customer_id",
        "kind",
        "occurred_at",
        "channel",
        "topic",
        "score",
        "scale",
        "closed_at",
    ),
    "dnc": ("phone", "channel", "source", "reason"),
    "history": ("customer_id", "campaign", "contacted_on", "group", "reached", "churned_90d"),
    "ground_truth": (
        "customer_id",
        "p_churn_no_call",
        "p_churn_if_called",
        "clv",
        *(f"p_accept_{p.code}" for p in PRODUCTS),
    ),
}


def write_file(path: Path, name: str, columns: Sequence[pa.Array], chunk: int = 500_000) -> int:
    with CsvSink(path, HEADERS[name]) as sink:
        n = len(columns[0]) if columns else 0
        for start in range(0, n, chunk):
            sink.write([c.slice(start, chunk) for c in columns])
        return sink.rows


def write_products(path: Path) -> None:
    write_file(
        path,
        "products",
        [
            pa.array([p.code for p in PRODUCTS]),
            pa.array([p.name for p in PRODUCTS]),
            pa.array([p.family for p in PRODUCTS]),
            pa.array([p.tier for p in PRODUCTS], type=pa.int64()),
            decimal_column(PRICE_CENTS, 2),
            decimal_column(
                np.round(PRICE_CENTS * np.array([p.margin for p in PRODUCTS])).astype(np.int64), 2
            ),
        ],
    )


def write_matrix(path: Path) -> None:
    cols = [pa.array([s.code for s in SEGMENTS]), pa.array([s.name for s in SEGMENTS])]
    for i in range(len(PRODUCTS)):
        cols.append(pa.array(["x" if TARGETED[s, i] else None for s in range(N_SEG)], pa.string()))
    write_file(path, "matrix", cols)


def write_customers(
    path: Path, pop: Population, sim: Simulation, strings: CustomerStrings, cal: Calendar
) -> None:
    rng = sim.rng
    n = pop.n
    idx = np.arange(n, dtype=np.int64)
    gone = sim.status == GONE
    ref = np.where(gone, sim.churn_day, cal.as_of_day).astype(np.int64)
    end = sim.contract_end(idx, ref)
    end_blank = (end < 0) | pop.prospect
    # language: Quebec mostly French, some Spanish in the US
    qc = pop.region.index("QC")
    u = rng.random(n)
    lang = np.where(
        pop.country == 1,
        np.where(pop.region_code == qc, np.where(u < 0.8, 1, 0), np.where(u < 0.05, 1, 0)),
        np.where((pop.country == 0) & (u < 0.10), 2, 0),
    )
    write_file(
        path,
        "customers",
        [
            strings.ids,
            strings.name,
            strings.phone,
            label_column(COUNTRIES, pop.country),
            label_column(pop.region, pop.region_code, mask=rng.random(n) < 0.03),
            label_column(ZONES, pop.zone, mask=rng.random(n) < 0.15),
            label_column(("en", "fr", "es"), lang, mask=rng.random(n) < 0.05),
            label_column(("B2C", "B2B"), pop.b2b.astype(np.int64)),
            label_column([s.code for s in SEGMENTS], pop.seg),
            label_column(("no", "yes"), (rng.random(n) < 0.93).astype(np.int64)),
            label_column(("no", "yes"), (rng.random(n) < 0.40).astype(np.int64)),
            date_column(pop.signup, mask=pop.prospect),
            date_column(np.where(end_blank, 0, end), mask=end_blank),
        ],
    )


def write_holdings(path: Path, sim: Simulation, strings: CustomerStrings) -> int:
    recs = [*sim.hold_rec, sim.open_holdings()]
    cust, prod, start, end, rev = (np.concatenate([r[i] for r in recs]) for i in range(5))
    order = np.lexsort((prod, start, cust))
    cust, prod, start, end, rev = cust[order], prod[order], start[order], end[order], rev[order]
    return write_file(
        path,
        "holdings",
        [
            strings.ids.take(pa.array(cust)),
            label_column(P_CODES, prod),
            date_column(start),
            date_column(np.where(end < 0, 0, end), mask=end < 0),
            decimal_column(rev, 2),
        ],
    )


def _iso(
    utc: I64, zone: I64, z_style: Bool, offsets: UtcOffsets, mask: Bool | None = None
) -> pa.Array:
    """ISO 8601 timestamps: UTC with Z, or local time with the zone's UTC offset."""
    local_style = ~z_style if mask is None else ~z_style & ~mask
    off = np.zeros(len(utc), dtype=np.int64)
    off[local_style] = offsets.at_utc(zone[local_style], utc[local_style])
    local = pa.array(utc + off, type=pa.timestamp("s"), mask=mask)
    text = pc.replace_substring(pc.cast(local, pa.string()), " ", "T", max_replacements=1)
    values, code = np.unique(off, return_inverse=True)
    labels = [
        f"{'+' if v >= 0 else '-'}{abs(int(v)) // 3600:02d}:{abs(int(v)) % 3600 // 60:02d}"
        for v in values
    ]
    suffix = label_column(labels, code.astype(np.int64))
    suffix = pc.if_else(pa.array(z_style), "Z", suffix)
    return join_text(text, suffix)


def write_interactions(
    path: Path,
    rng: np.random.Generator,
    sim: Simulation,
    strings: CustomerStrings,
    cal: Calendar,
) -> int:
    if not sim.inter_rec:
        return write_file(path, "interactions", [pa.array([], pa.string())] * 9)
    cols = {k: np.concatenate([r[k] for r in sim.inter_rec]) for k in sim.inter_rec[0]}
    cust, kind, when = cols["cust"], cols["kind"], cols["when"]
    # (customer, kind, occurred_at) is unique: move exact clashes on by a second
    for _ in range(100):
        order = np.lexsort((when, kind, cust))
        c, k, w = cust[order], kind[order], when[order]
        clash = np.flatnonzero((c[1:] == c[:-1]) & (k[1:] == k[:-1]) & (w[1:] == w[:-1])) + 1
        if len(clash) == 0:
            break
        when[order[clash]] += 1
    order = np.lexsort((kind, cust, when))
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    zone = sim.pop.zone[cols["cust"]]
    z_style = rng.random(n) < 0.6
    closed = cols["closed"]
    topic = cols["topic"]
    score = cols["score"]
    scale = cols["scale"]
    return write_file(
        path,
        "interactions",
        [
            id_column("I", n, 8),
            strings.ids.take(pa.array(cols["cust"])),
            label_column(KINDS, cols["kind"].astype(np.int64)),
            _iso(cols["when"], zone, z_style, cal.offsets),
            label_column(CHANNELS, cols["channel"]),
            label_column(TOPICS, np.maximum(topic, 0), mask=topic < 0),
            pa.array(score, mask=scale == 0),
            pa.array(scale, mask=scale == 0),
            _iso(np.maximum(closed, 0), zone, z_style, cal.offsets, mask=closed < 0),
        ],
    )


def write_dnc(
    path: Path, rng: np.random.Generator, pop: Population, strings: CustomerStrings
) -> None:
    rows = np.flatnonzero((rng.random(pop.n) < 0.01) & strings.phone_ok)
    k = len(rows)
    channel = choice(rng, np.array([0.45, 0.25, 0.30]), k)
    request = rng.random(k) < 0.35
    registry = ("national_dnc_registry", "national_dncl", "tps")
    source_labels = [*registry, "customer_request"]
    source = np.where(request, 3, pop.country[rows])
    reason_labels = [
        "registered on the national do-not-call list",
        "asked not to be called",
        "replied STOP",
        "asked not to be contacted",
    ]
    reason = np.where(request, np.array([1, 2, 3])[channel], 0)
    write_file(
        path,
        "dnc",
        [
            strings.e164.take(pa.array(rows)),
            label_column(("call", "sms", "all"), channel),
            label_column(source_labels, source),
            label_column(reason_labels, reason),
        ],
    )


def write_history(path: Path, sim: Simulation, strings: CustomerStrings, cal: Calendar) -> int:
    idx = sim.hist_idx
    day = sim.hist_day
    churn = sim.hist_churn[idx]
    churned = (churn > day) & (churn <= day + 90)
    label = cal.labels[sim.campaign_month] if len(idx) else ""
    return write_file(
        path,
        "history",
        [
            strings.ids.take(pa.array(idx)),
            pa.array([f"retention_{label}"]).take(pa.array(np.zeros(len(idx), dtype=np.int32))),
            date_column(day),
            label_column(("holdout", "treated"), sim.hist_treated.astype(np.int64)),
            pa.array(sim.hist_reached.astype(np.int64), mask=~sim.hist_treated),
            pa.array(churned.astype(np.int64)),
        ],
    )


def write_ground_truth(path: Path, truth: Truth, strings: CustomerStrings) -> None:
    def prob(p: F64, scale: int) -> pa.Array:
        blank = np.isnan(p)
        return decimal_column(np.round(np.nan_to_num(p) * 10**scale).astype(np.int64), scale, blank)

    write_file(
        path,
        "ground_truth",
        [
            strings.ids.take(pa.array(truth.idx)),
            prob(truth.p_no_call, 6),
            prob(truth.p_if_called, 6),
            decimal_column(truth.clv_cents, 2),
            *(prob(truth.p_accept[:, j], 4) for j in range(len(PRODUCTS))),
        ],
    )
