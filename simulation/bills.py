"""The bills of the months after a demo campaign, and the revenue effect the truth holds.

``draw_bills`` writes what the billing system would send once the drawn holdings feed
(``simulation.outcomes.draw_feed``) is in the store: for each list customer and each
month, the monthly revenue of every holding times the share of the month it covered
(a holding covers ``start <= day < end``), as the generator bills the past months.

``true_revenue`` gives the quantity the reports' revenue figure estimates: the expected
difference in those bills that the calls made to the list's treated group, the sum
over its reached customers of what the feed's model changes for them. A reached
customer leaves with ``p_churn_if_called`` instead of ``p_churn_no_call`` on a day
uniform over the window, so the bills they keep change by their current revenue times
the change in churn times the billed share of the window a leaver loses on average; a
product they accepted on the call starts 1 to 14 days later with probability
``FOLLOW_THROUGH`` (otherwise, as for anyone on the list, ``ORGANIC`` x their
acceptance probability on a day uniform over the attribution window). Compute it
before the drawn feed is imported: the current revenue is that of the open holdings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, select

from simulation.outcomes import FOLLOW_THROUGH, ORGANIC, list_customers, product_prices
from store.csv_out import csv_file
from store.models import Customer, Holding, ListEntry

__all__ = ["draw_bills", "true_revenue"]

F64 = npt.NDArray[np.float64]


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _holdings(engine: Engine, campaign_ids: list[int], *, open_only: bool) -> pd.DataFrame:
    """The holdings of the lists' customers: external id, start, end, monthly revenue."""
    query = (
        select(
            Customer.external_id,
            Holding.product_id,
            Holding.start_date,
            Holding.end_date,
            Holding.monthly_revenue,
        )
        .join(Customer, Customer.id == Holding.customer_id)
        .where(
            Holding.customer_id.in_(
                select(ListEntry.customer_id).where(ListEntry.campaign_id.in_(campaign_ids))
            )
        )
    )
    if open_only:
        query = query.where(Holding.end_date.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows], columns=["customer", "product", "start", "end", "revenue"]
    )
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def draw_bills(engine: Engine, campaign_ids: list[int], months: list[dt.date], out: Path) -> Path:
    """Write ``out``, a billing file: each list customer's bill for each of ``months``."""
    spans = _holdings(engine, campaign_ids, open_only=False)
    far = dt.date(2200, 1, 1)
    with csv_file(out) as writer:
        writer.writerow(("customer_id", "month", "amount", "days_late"))
        for month in months:
            following = _next_month(month)
            length = (following - month).days
            days = np.array(
                [
                    max((min(end or far, following) - max(begin, month)).days, 0)
                    for begin, end in zip(spans["start"], spans["end"], strict=True)
                ]
            )
            amount = (spans["revenue"] * days / length).groupby(spans["customer"]).sum()
            for customer, value in amount[amount > 0].items():
                writer.writerow((customer, month.isoformat(), f"{value:.2f}", ""))
    return out


def _day_weights(start: dt.date, months: list[dt.date]) -> tuple[npt.NDArray[np.int64], F64]:
    """Each billed day's offset from ``start`` and its share of its month's bill."""
    offsets, weights = [], []
    for month in months:
        following = _next_month(month)
        length = (following - month).days
        for k in range(length):
            offsets.append((month + dt.timedelta(days=k) - start).days)
            weights.append(1.0 / length)
    return np.asarray(offsets), np.asarray(weights)


def _kept(p: F64, begins: F64, offsets: npt.NDArray[np.int64], w: F64, days: int) -> F64:
    """Expected months billed of a stream from day ``begins`` for customers who leave
    with probability ``p`` on a day uniform over 1..``days`` (the stream ends then)."""
    after = offsets[None, :] >= begins[:, None]
    whole = (after * w).sum(axis=1)
    leave_days = np.arange(1, days + 1)
    before_leave = (offsets[None, :] < leave_days[:, None]).astype(float)  # (days, n_offsets)
    until = (after * w) @ before_leave.T  # (customers, days): billed if leaving that day
    return np.asarray((1.0 - p) * whole + p * until.mean(axis=1), dtype=float)


def true_revenue(
    engine: Engine,
    truth_file: Path,
    campaign_id: int,
    start: dt.date,
    months: list[dt.date],
    *,
    days: int = 90,
) -> float:
    """Expected change the calls made to the bills of ``months`` for the list's treated group."""
    entries = list_customers(engine, [campaign_id])
    mine = entries[(entries["group"] == "treatment") & entries["reached"]].reset_index(drop=True)
    if mine.empty:
        return 0.0
    truth = pd.read_csv(truth_file).set_index("customer_id")
    p0 = mine["customer"].map(truth["p_churn_no_call"]).fillna(0.0).to_numpy(float)
    p1 = mine["customer"].map(truth["p_churn_if_called"]).fillna(0.0).to_numpy(float)
    held = _holdings(engine, [campaign_id], open_only=True)
    revenue = mine["customer"].map(held.groupby("customer")["revenue"].sum()).fillna(0.0)
    offsets, w = _day_weights(start, months)
    never = np.full(len(mine), -(10**6), dtype=float)
    kept_change = _kept(p1, never, offsets, w, days) - _kept(p0, never, offsets, w, days)
    base = revenue.to_numpy(float) * kept_change
    prices = product_prices(engine)
    offers = _take_up_change(mine, truth, prices, p0, p1, start, (offsets, w, days))
    return float(base.sum() + offers.sum())


def _take_up_change(
    mine: pd.DataFrame,
    truth: pd.DataFrame,
    prices: dict[str, float],
    p0: F64,
    p1: F64,
    start: dt.date,
    days_weights: tuple[npt.NDArray[np.int64], F64, int],
) -> F64:
    """Per reached customer: the expected bills of the offered product, called less not."""
    offsets, w, days = days_weights
    n = len(mine)
    product = mine["product"].astype(object)
    price = product.map(lambda c: prices.get(str(c), 0.0) if pd.notna(c) else 0.0)
    p_accept = np.array(
        [
            float(truth[f"p_accept_{c}"].get(cust, 0.0))
            if pd.notna(c) and f"p_accept_{c}" in truth
            else 0.0
            for c, cust in zip(product, mine["customer"], strict=True)
        ]
    )
    p_accept = np.nan_to_num(p_accept)
    attribution = mine["days"].fillna(30).astype(int).to_numpy()

    def organic(p: F64) -> F64:
        total = np.zeros(n)
        for row in range(n):
            ks = np.arange(0, attribution[row] + 1, dtype=float)
            total[row] = _kept(np.full(len(ks), p[row]), ks, offsets, w, days).mean()
        return np.asarray(ORGANIC * p_accept * total, dtype=float)

    accepted = mine["accepted_at"].notna().to_numpy()
    on_call = np.zeros(n)
    for k in range(1, 15):
        begins = np.array(
            [
                (pd.Timestamp(at).date() - start).days + k if pd.notna(at) else 0
                for at in mine["accepted_at"]
            ],
            dtype=float,
        )
        on_call += _kept(p1, begins, offsets, w, days) / 14.0
    without = organic(p0)
    with_organic = organic(p1)
    called = np.where(
        accepted,
        FOLLOW_THROUGH * on_call + (1.0 - FOLLOW_THROUGH) * with_organic,
        with_organic,
    )
    return np.asarray(price.to_numpy(float) * (called - without), dtype=float)
