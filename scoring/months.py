"""Calendar months as the features count them; a month is stored as its first day."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta

__all__ = ["add_months", "last_complete_month", "month_end", "months_back"]


def month_end(month: dt.date) -> dt.date:
    return add_months(month.replace(day=1), 1) - dt.timedelta(days=1)


def last_complete_month(cutoff: dt.date) -> dt.date:
    """First day of the newest month that ended on or before the cutoff."""
    first = cutoff.replace(day=1)
    return first if month_end(first) <= cutoff else add_months(first, -1)


def months_back(cutoff: dt.date, months: int) -> dt.date:
    return add_months(last_complete_month(cutoff), -(months - 1))


def add_months(day: dt.date, months: int) -> dt.date:
    result: dt.date = day + relativedelta(months=months)
    return result
