"""Complaint, ticket, survey and contact features from a chunk's interactions.

Counted are interactions that occurred by the end of the cutoff day: complaints and
tickets within 30/90/365 days of it, complaints still open at it (closed later or
never), the newest survey ever, and the newest of these or of a call attempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from scoring.driver_rows import columns_of, fetch, utc_times
from scoring.value import is_dissatisfied, satisfaction_category
from store.models import Attempt, Interaction, InteractionKind

__all__ = ["interaction_features"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def interaction_features(
    conn: Connection, lo: int, hi: int, ids: Ints, end_of_cutoff: dt.datetime
) -> dict[str, Any]:
    """The interaction features of customers ``lo`` to ``hi`` (``ids``, sorted)."""
    at = end_of_cutoff
    counts, newest = _counts(conn, lo, hi, ids, at)
    score, scale = _latest_surveys(conn, lo, hi, ids, at)
    index = pd.Index(ids, name="id")
    last_event = newest.reindex(index)
    last_attempt = _last_attempts(conn, lo, hi, at).reindex(index)
    last = pd.concat([last_event, last_attempt], axis=1).max(axis=1)
    category = satisfaction_category(score, scale)
    category[pd.isna(category)] = "none"
    return {
        **counts,
        "last_score_10": np.where(scale == 5, 1.0 + (score - 1.0) * 9.0 / 4.0, score),
        "last_score_scale": scale,
        "last_score": score,
        "satisfaction": category,
        "dissatisfied": is_dissatisfied(score, scale).astype(float),
        "days_since_contact": ((pd.Timestamp(at) - last).dt.total_seconds() / 86400.0).to_numpy(),
    }


def _counts(
    conn: Connection, lo: int, hi: int, ids: Ints, at: dt.datetime
) -> tuple[dict[str, Floats], pd.Series]:
    """Complaint and ticket counts per customer, and when each last had one of these or
    a survey (a UTC series keyed by customer id)."""
    occurred, kind = Interaction.occurred_at, Interaction.kind
    complaint = kind == InteractionKind.COMPLAINT
    still_open = complaint & or_(Interaction.closed_at.is_(None), Interaction.closed_at > at)

    def within(days: int) -> ColumnElement[bool]:
        return occurred >= at - dt.timedelta(days=days)

    rows = fetch(
        conn,
        select(
            Interaction.customer_id,
            *[func.count().filter(complaint & within(d)) for d in (30, 90, 365)],
            func.count().filter(still_open),
            func.count().filter((kind == InteractionKind.TICKET) & within(90)),
            func.max(occurred),
        )
        .where(
            Interaction.customer_id.between(lo, hi),
            occurred <= at,
            or_(occurred > at - dt.timedelta(days=366), kind == InteractionKind.SURVEY, still_open),
        )
        .group_by(Interaction.customer_id),
    )
    cid, c30, c90, c365, opened, tickets, newest = columns_of(rows, 7)
    where = np.searchsorted(ids, np.asarray(cid, dtype=np.int64))

    def put(values: Sequence[Any], fill: float) -> Floats:
        out = np.full(len(ids), fill)
        out[where] = np.asarray(values, dtype=float)
        return out

    counts = {
        "complaints_30d": put(c30, 0),
        "complaints_90d": put(c90, 0),
        "complaints_365d": put(c365, 0),
        "open_complaints": put(opened, 0),
        "tickets_90d": put(tickets, 0),
    }
    return counts, utc_times(cid, newest)


def _latest_surveys(
    conn: Connection, lo: int, hi: int, ids: Ints, at: dt.datetime
) -> tuple[Floats, Floats]:
    """Each customer's newest survey score and its scale by the cutoff (NaN for none)."""
    occurred = Interaction.occurred_at
    latest = (
        select(Interaction.customer_id, func.max(occurred).label("at"))
        .where(
            Interaction.customer_id.between(lo, hi),
            Interaction.kind == InteractionKind.SURVEY,
            occurred <= at,
        )
        .group_by(Interaction.customer_id)
        .subquery()
    )
    surveys = fetch(
        conn,
        select(Interaction.customer_id, Interaction.score, Interaction.scale).join(
            latest,
            and_(
                Interaction.customer_id == latest.c.customer_id,
                Interaction.kind == InteractionKind.SURVEY,
                Interaction.occurred_at == latest.c.at,
            ),
        ),
    )
    sid, scores, scales = columns_of(surveys, 3)
    placed = np.searchsorted(ids, np.asarray(sid, dtype=np.int64))
    score, scale = np.full(len(ids), np.nan), np.full(len(ids), np.nan)
    score[placed] = np.asarray(scores, dtype=float)
    scale[placed] = np.asarray(scales, dtype=float)
    return score, scale


def _last_attempts(conn: Connection, lo: int, hi: int, at: dt.datetime) -> pd.Series:
    """When each customer was last called by the cutoff, keyed by customer id."""
    contacts = fetch(
        conn,
        select(Attempt.customer_id, func.max(Attempt.created_at))
        .where(Attempt.customer_id.between(lo, hi), Attempt.created_at <= at)
        .group_by(Attempt.customer_id),
    )
    if not contacts:
        return pd.Series(pd.NaT, index=pd.Index([], dtype=np.int64), dtype="datetime64[ns, UTC]")
    return utc_times(*columns_of(contacts, 2))
