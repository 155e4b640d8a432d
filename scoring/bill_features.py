"""Revenue, value classes, lifecycle and payment features from a chunk's bills.

The database hands back one row per customer: for the last 12 complete months their
amounts, which of the newest four were billed and the payment counts; for older months
the oldest one billed and the counts of unpaid and possibly late bills. A bill counts
as paid once its due date (the 15th) plus its days late is on or before the cutoff.
Months are stored as their first day (the importer does so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Float,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from scoring.driver_rows import columns_of, fetch, months_before
from scoring.months import add_months, last_complete_month
from scoring.value import lifecycle_state, xyz_class
from store.models import Billing

__all__ = ["DUE_DAY", "bill_features"]

DUE_DAY = 15

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def bill_features(conn: Connection, lo: int, hi: int, ids: Ints, cutoff: dt.date) -> dict[str, Any]:
    """The bill features of customers ``lo`` to ``hi`` (``ids``, sorted) at ``cutoff``."""
    top = last_complete_month(cutoff)
    months = [add_months(top, -k) for k in range(12)]  # months[k]: k months back
    slack = [(cutoff - (m + dt.timedelta(days=DUE_DAY - 1))).days for m in months]
    billed, packed = _year_of_bills(conn, lo, hi, ids, months, slack)
    counted, late6, delay6, overdue = _unpack_payments(packed)
    billed_at = np.column_stack([~np.isnan(b) for b in billed])
    any_bill = billed_at.any(axis=1)
    first = np.where(any_bill, len(months) - 1 - np.argmax(billed_at[:, ::-1], axis=1), np.nan)
    last = np.where(any_bill, np.argmax(billed_at, axis=1), np.nan)
    seen = (billed_at[:, :4] * (1 << np.arange(4))).sum(axis=1)

    older = fetch(
        conn,
        select(
            Billing.customer_id,
            func.min(Billing.month),
            func.max(Billing.month),
            func.count(),
            func.count(Billing.days_late),
            func.max(Billing.days_late),
        )
        .where(Billing.customer_id.between(lo, hi), Billing.month < months[-1])
        .group_by(Billing.customer_id),
    )
    oid, old_oldest, old_newest, bills, paid, latest = columns_of(older, 6)
    at = np.searchsorted(ids, np.asarray(oid, dtype=np.int64))
    first[at] = months_before(old_oldest, top)
    last[at] = np.fmin(last[at], months_before(old_newest, top))
    overdue[at] += np.asarray(bills, dtype=np.int64) - np.asarray(paid, dtype=np.int64)
    if any(d is not None and d > slack[-1] for d in latest):
        _late_old_bills(conn, lo, hi, months[-1], slack[-1], ids, overdue, cutoff)

    with np.errstate(divide="ignore", invalid="ignore"):
        mean_late = np.where(counted > 0, delay6 / counted, np.nan)
    return {
        **_revenue_features(billed, ids),
        "lifecycle": lifecycle_state(first, last, _newest_run_start(last, seen)),
        "late_bills_6m": late6.astype(float),
        "mean_days_late_6m": mean_late,
        "overdue_bills": overdue.astype(float),
    }


def _year_of_bills(
    conn: Connection,
    lo: int,
    hi: int,
    ids: Ints,
    months: Sequence[dt.date],
    slack: Sequence[int],
) -> tuple[list[Floats], Ints]:
    """Each of the 12 months' amounts (``billed[k]``: k months back, NaN where none)
    and each customer's packed payment facts, from one grouped query."""
    month, late = Billing.month, Billing.days_late
    year = fetch(
        conn,
        select(
            Billing.customer_id,
            cast(func.sum(_payments(month, late, months, slack)), BigInteger),
            *[func.max(case((month == m, cast(Billing.amount, Float)))) for m in months],
        )
        .where(Billing.customer_id.between(lo, hi), month >= months[-1], month <= months[0])
        .group_by(Billing.customer_id),
    )
    cid, payments, *amounts = columns_of(year, 2 + len(months))
    where = np.searchsorted(ids, np.asarray(cid, dtype=np.int64))

    def put(values: Sequence[Any], fill: float = np.nan) -> Floats:
        out = np.full(len(ids), fill)
        out[where] = np.asarray(values, dtype=float)
        return out

    packed = np.zeros(len(ids), dtype=np.int64)
    packed[where] = np.asarray(payments, dtype=np.int64)
    return [put(a) for a in amounts], packed


def _revenue_features(billed: list[Floats], ids: Ints) -> dict[str, Any]:
    """ARPU, its trends, the year's revenue, its variation and the XYZ class."""
    index = pd.Index(ids, name="id")
    # the months billed in this chunk as columns of months back, as a pivot has them
    table = pd.DataFrame({k: v for k, v in enumerate(billed) if not np.isnan(v).all()}, index=index)

    def window_mean(first: int, last: int) -> pd.Series:
        cols = [c for c in table.columns if first <= int(c) <= last]
        return table[cols].mean(axis=1) if cols else pd.Series(np.nan, index=index)

    last3, prior3 = window_mean(0, 2), window_mean(3, 5)
    last6, prior6 = window_mean(0, 5), window_mean(6, 11)
    revenue = table.sum(axis=1).fillna(0.0)
    filled = table.notna().sum(axis=1)
    cov = (table.std(axis=1, ddof=0) / table.mean(axis=1)).where(filled >= 3)
    xyz = xyz_class(cov.to_numpy())
    xyz[pd.isna(xyz)] = "none"
    return {
        "arpu": last3.to_numpy(),
        "arpu_trend_3m": (last3 / prior3 - 1.0).to_numpy(),
        "arpu_trend_6m": (last6 / prior6 - 1.0).to_numpy(),
        "revenue_12m": revenue.to_numpy(),
        "revenue_cov": cov.to_numpy(),
        "xyz_class": xyz,
    }


def _late_old_bills(
    conn: Connection,
    lo: int,
    hi: int,
    before: dt.date,
    bound: int,
    ids: Ints,
    overdue: Ints,
    cutoff: dt.date,
) -> None:
    """Count bills older than the year that were paid after the cutoff as overdue."""
    rows = conn.execute(
        select(Billing.customer_id, Billing.month, Billing.days_late).where(
            Billing.customer_id.between(lo, hi),
            Billing.month < before,
            Billing.days_late > bound,
        )
    ).all()
    for customer, month, late in rows:
        if late is not None and month + dt.timedelta(days=DUE_DAY - 1 + late) > cutoff:
            overdue[np.searchsorted(ids, customer)] += 1


# One bill's payment facts packed into one number, so the database sums them in one
# pass: bits 0-7 count the bills of the last 6 months known paid by the cutoff, bits
# 8-15 those of them paid late, bits 16-39 their days late, bits 40-47 the bills of the
# year not known paid by the cutoff. A year holds at most 12 bills of at most 3650 days
# late (the importer's limit), so no field overflows into the next.
_PAID, _LATE, _DAYS, _UNPAID = 0, 8, 16, 40


def _payments(
    month: InstrumentedAttribute[dt.date],
    late: InstrumentedAttribute[int | None],
    months: Sequence[dt.date],
    slack: Sequence[int],
) -> ColumnElement[int]:
    """A bill's packed payment facts (see above); ``slack[k]`` is the days a bill of
    ``months[k]`` may be late and still be paid by the cutoff."""
    allowed = case(dict(zip(months, slack, strict=True)), value=month)
    return case(
        (late.is_(None) | (late > allowed), literal(1 << _UNPAID, BigInteger)),
        (
            month >= months[5],
            literal(1 << _PAID, BigInteger)
            + case((late > 0, 1 << _LATE), else_=0)
            + late * literal(1 << _DAYS, BigInteger),
        ),
        else_=0,
    )


def _unpack_payments(packed: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    """Known-paid bills of 6 months, how many were late, their days late, unpaid bills."""

    def field(shift: int, bits: int) -> Ints:
        return (packed >> shift) & ((1 << bits) - 1)

    return field(_PAID, 8), field(_LATE, 8), field(_DAYS, 24), field(_UNPAID, 8)


def _newest_run_start(last: Floats, seen: Ints) -> Floats:
    """Months back to the first bill of the newest unbroken run, as the lifecycle reads it.

    ``seen`` has bit k set where the customer was billed k months back (k <= 3). The
    lifecycle looks at the run only when the newest bill is at most 2 months back, and
    then only at whether the run reaches further back than 2 months: the start is exact
    up to 2 and 3 for any run that reaches 3 months back or further; NaN otherwise.
    """
    recent = last <= 2
    run = np.where(recent, last, 0).astype(np.int64)
    bits = seen
    for _ in range(3):
        step = recent & (run <= 2) & (((bits >> np.minimum(run + 1, 3)) & 1) == 1)
        run = np.where(step, run + 1, run)
    return np.where(recent, run.astype(float), np.nan)
