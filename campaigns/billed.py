"""What a list's customers were billed in the measuring window, and before the launch.

Bills are monthly (``store.models.Billing``, one per customer and calendar month), so the
window is counted in whole months: the calendar months the measuring window covers for
at least half their length. The pre-launch figure is the bills of as many months just
before the first of them: the same length of time, all of it billed before any call. A
customer with no bill in a month was billed nothing (a customer who left is billed 0).

The revenue outcome is measured only once every month of the window has bills in the
store; until then the reports say which months are missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, func, select

from store.models import Billing

__all__ = ["Billed", "billed", "window_months"]

_CHUNK = 30_000


@dataclass(frozen=True)
class Billed:
    """Per customer (index customer_id): ``before`` and ``window`` revenue."""

    months_before: list[dt.date]
    months_window: list[dt.date]
    missing: list[dt.date]  # window months without any bill among the list's customers
    frame: pd.DataFrame

    @property
    def note(self) -> str | None:
        if not self.missing:
            return None
        months = ", ".join(m.strftime("%b %Y") for m in self.missing)
        return (
            f"the bills of {months} are not in the store yet: the revenue billed in the "
            "window is measured once the billing of every month of the window is imported"
        )


def _month_start(day: dt.date, months: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def window_months(start: dt.date, end: dt.date) -> list[dt.date]:
    """The first days of the calendar months that [start, end) covers for at least half
    their length."""
    out = []
    month = _month_start(start)
    while month < end:
        following = _month_start(month, 1)
        covered = (min(end, following) - max(start, month)).days
        if covered * 2 >= (following - month).days:
            out.append(month)
        month = following
    return out


def billed(conn: Connection, customer_ids: list[int], start: dt.date, end: dt.date) -> Billed:
    """Each customer's bills over the window ``[start, end)`` and the months before it."""
    window = window_months(start, end)
    first = window[0] if window else _month_start(start, 1)
    before = [_month_start(first, -k) for k in range(len(window), 0, -1)]
    months = [*before, *window]
    rows: list[tuple[int, dt.date, float]] = []
    for at in range(0, len(customer_ids), _CHUNK):
        part = customer_ids[at : at + _CHUNK]
        if not months:
            break
        rows += [
            (int(c), m, float(a))
            for c, m, a in conn.execute(
                select(Billing.customer_id, Billing.month, func.sum(Billing.amount))
                .where(Billing.customer_id.in_(part), Billing.month.in_(months))
                .group_by(Billing.customer_id, Billing.month)
            )
        ]
    bills = pd.DataFrame(rows, columns=["customer_id", "month", "amount"])
    seen = set(bills["month"].tolist())
    in_window = bills["month"].isin(window)
    totals = pd.DataFrame(
        {
            "before": bills[~in_window].groupby("customer_id")["amount"].sum(),
            "window": bills[in_window].groupby("customer_id")["amount"].sum(),
        }
    )
    frame = totals.reindex(pd.Index(customer_ids, name="customer_id")).fillna(0.0)
    return Billed(before, window, [m for m in window if m not in seen], frame)
