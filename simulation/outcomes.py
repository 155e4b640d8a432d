"""The months after a demo campaign, drawn from the demo data's ground truth.

After the demo dials its lists, nobody can wait 90 days to see who stayed. This draws
what the holdings feed would show over the measurement window and writes it as a
holdings file the importer takes like any other feed:

* churn: every customer active at the data's date leaves within the window with the
  ground truth's 3-month probability, ``p_churn_if_called`` for a customer an agent
  spoke with on a demo list (the call's effect applies from the conversation), else
  ``p_churn_no_call``; the day is uniform over the window. A leaver's open holdings
  end that day.
* take-up: a treated customer who accepted an offered product on a call starts it
  within two weeks with probability ``FOLLOW_THROUGH``; any list customer (treated
  or holdout) may also start the offered product without a call, with probability
  ``ORGANIC`` x their true acceptance probability over the attribution window.

``true_saves`` gives the quantity the saved-customer report estimates: the expected
incremental saves of a list's treated group, the sum over its reached customers of
``p_churn_no_call - p_churn_if_called``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from campaigns.outcomes import REACHED
from store.csv_out import csv_file
from store.models import (
    Campaign,
    Customer,
    Disposition,
    Group,
    Holding,
    ListEntry,
    Product,
)

__all__ = [
    "FOLLOW_THROUGH",
    "ORGANIC",
    "FeedDrawn",
    "draw_feed",
    "list_customers",
    "product_prices",
    "true_saves",
]

FOLLOW_THROUGH = 0.9  # accepted on the call and the product then started
ORGANIC = 0.15  # share of the acceptance probability taken up without a call


@dataclass(frozen=True)
class FeedDrawn:
    path: Path
    rows: int
    churned: int
    started: int
    until: dt.date


def list_customers(engine: Engine, campaign_ids: list[int]) -> pd.DataFrame:
    """Entries of the lists: customer, external id, group, offered product, reached."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ListEntry.id,
                ListEntry.campaign_id,
                Customer.external_id,
                ListEntry.group,
                Product.code,
                Campaign.attribution_days,
            )
            .join(Customer, Customer.id == ListEntry.customer_id)
            .join(Campaign, Campaign.id == ListEntry.campaign_id)
            .outerjoin(Product, Product.id == ListEntry.product_id)
            .where(ListEntry.campaign_id.in_(campaign_ids))
        ).all()
        talks = conn.execute(
            select(Disposition.list_entry_id, Disposition.code, Disposition.created_at).where(
                Disposition.list_entry_id.in_([r[0] for r in rows] or [-1]),
                Disposition.code.in_(REACHED),
            )
        ).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=["entry_id", "campaign_id", "customer", "group", "product", "days"],
    )
    frame["group"] = frame["group"].map(lambda g: Group(g).value)
    spoke = pd.DataFrame([tuple(t) for t in talks], columns=["entry_id", "code", "at"])
    frame["reached"] = frame["entry_id"].isin(set(spoke["entry_id"].tolist()))
    accepted = spoke[spoke["code"] == "accepted"].groupby("entry_id")["at"].min()
    frame["accepted_at"] = frame["entry_id"].map(accepted)
    return frame


def true_saves(engine: Engine, truth_file: Path, campaign_id: int) -> float:
    """Expected incremental saves of the list's treated group, from the ground truth."""
    entries = list_customers(engine, [campaign_id])
    truth = pd.read_csv(truth_file, usecols=[0, 1, 2]).set_index("customer_id")
    mine = entries[(entries["group"] == Group.TREATMENT.value) & entries["reached"]]
    gap = truth["p_churn_no_call"] - truth["p_churn_if_called"]
    return float(gap.reindex(mine["customer"]).fillna(0.0).sum())


def draw_feed(
    engine: Engine,
    truth_file: Path,
    campaign_ids: list[int],
    start: dt.date,
    out: Path,
    *,
    days: int = 90,
    seed: int = 0,
) -> FeedDrawn:
    """Write ``out``: the holdings rows that change from ``start`` over ``days`` days."""
    rng = np.random.default_rng(seed)
    truth = pd.read_csv(truth_file).set_index("customer_id")
    entries = list_customers(engine, campaign_ids)
    reached = set(entries.loc[entries["reached"] & (entries["group"] == "treatment"), "customer"])
    p = np.where(
        truth.index.isin(list(reached)), truth["p_churn_if_called"], truth["p_churn_no_call"]
    )
    leaves = rng.random(len(truth)) < p
    when = rng.integers(1, days + 1, size=len(truth))
    churn_on = {
        c: start + dt.timedelta(days=int(d))
        for c, d in zip(truth.index[leaves], when[leaves], strict=True)
    }
    held = _open_holdings(engine)
    ended = held[held["customer"].isin(set(churn_on))].copy()
    ended["end_date"] = ended["customer"].map(churn_on)
    started = _take_up(entries, truth, churn_on, product_prices(engine), start, rng)
    feed = pd.concat([ended, started], ignore_index=True)
    columns = feed[["customer", "product", "start_date", "end_date", "monthly_revenue"]]
    with csv_file(out) as writer:
        writer.writerow(FEED_HEADER)
        for customer, product, start_date, end_date, revenue in columns.itertuples(index=False):
            writer.writerow([customer, product, _day(start_date), _day(end_date), f"{revenue:.2f}"])
    return FeedDrawn(
        path=out,
        rows=len(feed),
        churned=len(churn_on),
        started=len(started),
        until=start + dt.timedelta(days=days),
    )


FEED_HEADER = ("customer_id", "product_code", "start_date", "end_date", "monthly_revenue")


def _day(value: Any) -> str | None:
    """A feed's date as YYYY-MM-DD; a missing one (None, NaN, NaT) as a blank."""
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def product_prices(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        return {
            str(code): float(price)
            for code, price in conn.execute(select(Product.code, Product.monthly_price))
        }


def _open_holdings(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Customer.external_id,
                Product.code,
                Holding.start_date,
                Holding.monthly_revenue,
            )
            .join(Customer, Customer.id == Holding.customer_id)
            .join(Product, Product.id == Holding.product_id)
            .where(Holding.end_date.is_(None))
        ).all()
    return pd.DataFrame(
        [tuple(r) for r in rows], columns=["customer", "product", "start_date", "monthly_revenue"]
    ).assign(monthly_revenue=lambda f: f["monthly_revenue"].astype(float))


def _take_up(
    entries: pd.DataFrame,
    truth: pd.DataFrame,
    churn_on: dict[str, dt.date],
    prices: dict[str, float],
    start: dt.date,
    rng: np.random.Generator,
) -> pd.DataFrame:
    offered = entries[entries["product"].notna()]
    rows = []
    for _, entry in offered.iterrows():
        customer, product = entry["customer"], entry["product"]
        column = f"p_accept_{product}"
        p_accept = float(truth[column].get(customer, 0.0)) if column in truth else 0.0
        p_accept = 0.0 if np.isnan(p_accept) else p_accept
        day = None
        accepted_at = entry["accepted_at"]
        if (
            entry["group"] == "treatment"
            and pd.notna(accepted_at)
            and rng.random() < FOLLOW_THROUGH
        ):
            day = pd.Timestamp(accepted_at).date() + dt.timedelta(days=int(rng.integers(1, 15)))
        elif rng.random() < ORGANIC * p_accept:
            day = start + dt.timedelta(days=int(rng.integers(0, int(entry["days"]) + 1)))
        leaves = churn_on.get(customer)
        if day is None or (leaves is not None and day >= leaves):
            continue
        rows.append(
            {
                "customer": customer,
                "product": product,
                "start_date": day,
                "end_date": None,
                "monthly_revenue": prices.get(product, 0.0),
            }
        )
    return pd.DataFrame(
        rows, columns=["customer", "product", "start_date", "end_date", "monthly_revenue"]
    )
