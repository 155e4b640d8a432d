"""Why a follow-up list would call each customer: the service call three months after
their start, after a complaint closed lately, or after a survey that put them on the
satisfaction watch list (``campaigns.watchlist``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, func, select

from store.models import Holding, Interaction, InteractionKind

if TYPE_CHECKING:
    # the request's types only: the planner imports this module to run it
    from campaigns.plan_request import Economics

__all__ = ["WATCH_LIST_FOLLOW_UP", "follow_up_reasons"]

WATCH_LIST_FOLLOW_UP = "dissatisfied_survey"


def follow_up_reasons(conn: Connection, econ: Economics, as_of: dt.date) -> pd.Series:
    """customer id -> ``new_customer`` or ``complaint_closed`` (which wins), for everyone
    a follow-up list calls for the service call or after a complaint."""
    first, last = econ.follow_up_after_days
    starts = conn.execute(
        select(Holding.customer_id)
        .group_by(Holding.customer_id)
        .having(
            func.min(Holding.start_date).between(
                as_of - dt.timedelta(days=last), as_of - dt.timedelta(days=first)
            )
        )
    ).scalars()
    since = dt.datetime.combine(
        as_of - dt.timedelta(days=econ.complaint_closed_days), dt.time(), dt.UTC
    )
    until = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    closed = conn.execute(
        select(Interaction.customer_id)
        .where(
            Interaction.kind == InteractionKind.COMPLAINT,
            Interaction.closed_at >= since,
            Interaction.closed_at < until,
        )
        .distinct()
    ).scalars()
    reasons = dict.fromkeys(starts, "new_customer")
    reasons.update(dict.fromkeys(closed, "complaint_closed"))
    return pd.Series(reasons, dtype=object)
