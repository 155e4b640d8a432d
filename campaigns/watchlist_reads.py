"""The store reads behind the watch list (``campaigns.watchlist``): each customer's latest
survey with its reading, their latest churn score, open complaints and the contacts
since the survey. Reads go by chunks of customers, as the planner's do."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, case, func, select

from campaigns.policy.rules import CONTACTED, happened_at, one_of, open_complaint
from scoring.value import SATISFACTION_BANDS
from store.models import (
    Attempt,
    Campaign,
    Customer,
    Disposition,
    DispositionCode,
    Interaction,
    InteractionKind,
    ModelKind,
    ModelVersion,
    Score,
    Segment,
)

__all__ = ["SPOKEN", "surveyed_customers"]

# dispositions only a conversation with the customer gives
SPOKEN = (
    DispositionCode.ACCEPTED,
    DispositionCode.REFUSED,
    DispositionCode.CALLBACK,
    DispositionCode.DO_NOT_CALL,
)
_CHUNK = 30_000
_EMPTY_ROWS = (
    "customer_id",
    "customer",
    "name",
    "segment",
    "survey_at",
    "score",
    "scale",
    "reading",
)


def _reading() -> Any:
    """A survey's reading (``scoring.value.SATISFACTION_BANDS``), in SQL."""
    return case(
        *(
            (and_(Interaction.scale == scale, Interaction.score.between(lowest, highest)), category)
            for scale, lowest, highest, category in SATISFACTION_BANDS
        ),
        else_=None,
    )


def _frame(conn: Connection, stmt: Any) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _latest_surveys(conn: Connection, categories: tuple[str, ...]) -> pd.DataFrame:
    """Each customer's latest survey, when its reading is one of ``categories``."""
    order = (Interaction.occurred_at.desc(), Interaction.id.desc())
    latest = (
        select(
            Interaction.customer_id,
            Interaction.occurred_at.label("survey_at"),
            Interaction.score,
            Interaction.scale,
            _reading().label("reading"),
            func.row_number()
            .over(partition_by=Interaction.customer_id, order_by=order)
            .label("rank"),
        )
        .where(Interaction.kind == InteractionKind.SURVEY, Interaction.score.is_not(None))
        .subquery()
    )
    stmt = (
        select(
            latest.c.customer_id,
            Customer.external_id.label("customer"),
            Customer.name,
            Segment.code.label("segment"),
            latest.c.survey_at,
            latest.c.score,
            latest.c.scale,
            latest.c.reading,
        )
        .join(Customer, Customer.id == latest.c.customer_id)
        .outerjoin(Segment, Segment.id == Customer.segment_id)
        .where(latest.c.rank == 1, latest.c.reading.in_(categories))
    )
    frame = _frame(conn, stmt)
    if frame.empty:
        empty = pd.DataFrame(columns=list(_EMPTY_ROWS))
        return empty.set_index("customer_id", drop=False).rename_axis(None)
    frame["survey_at"] = pd.to_datetime(frame["survey_at"], utc=True)
    return frame.set_index("customer_id", drop=False).rename_axis(None)


def _latest_scores(conn: Connection, ids: list[int]) -> pd.DataFrame:
    """The latest churn score of each customer: risk and CLV (None where not scored)."""
    parts = []
    order = (Score.scored_at.desc(), Score.id.desc())
    for start in range(0, len(ids), _CHUNK):
        ranked = (
            select(
                Score.customer_id,
                Score.p_churn,
                Score.clv,
                func.row_number()
                .over(partition_by=Score.customer_id, order_by=order)
                .label("rank"),
            )
            .join(ModelVersion, ModelVersion.id == Score.model_version_id)
            .where(
                ModelVersion.kind == ModelKind.CHURN,
                Score.customer_id.in_(ids[start : start + _CHUNK]),
            )
            .subquery()
        )
        parts.append(
            _frame(
                conn,
                select(ranked.c.customer_id, ranked.c.p_churn, ranked.c.clv).where(
                    ranked.c.rank == 1
                ),
            )
        )
    columns = ["customer_id", "p_churn", "clv"]
    scores = pd.concat(parts) if parts else pd.DataFrame(columns=columns)
    scored = scores.set_index("customer_id")
    return pd.DataFrame(
        {
            "scored": pd.Series(True, index=scored.index).reindex(ids, fill_value=False),
            "churn_risk": pd.to_numeric(scored["p_churn"], errors="coerce").reindex(ids),
            "clv": pd.to_numeric(scored["clv"], errors="coerce").reindex(ids),
        },
        index=ids,
    )


def _per_chunk(conn: Connection, ids: list[int], build: Any) -> pd.DataFrame:
    frames = [_frame(conn, build(ids[s : s + _CHUNK])) for s in range(0, len(ids), _CHUNK)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _open_complaints(conn: Connection, ids: list[int]) -> pd.Series:
    counts = _per_chunk(
        conn,
        ids,
        lambda part: (
            select(Interaction.customer_id, func.count().label("n"))
            .where(open_complaint(), Interaction.customer_id.in_(part))
            .group_by(Interaction.customer_id)
        ),
    )
    if counts.empty:
        return pd.Series(0, index=ids, dtype="int64")
    return counts.set_index("customer_id")["n"].reindex(ids, fill_value=0).astype("int64")


def _since_survey(frame: pd.DataFrame, surveys: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows of ``frame`` at or after their customer's survey."""
    if frame.empty:
        return frame
    frame[column] = pd.to_datetime(frame[column], utc=True)
    survey_at = surveys["survey_at"].reindex(frame["customer_id"]).to_numpy()
    return frame[frame[column].to_numpy() >= survey_at]


def _contacts(conn: Connection, surveys: pd.DataFrame) -> pd.DataFrame:
    """Per customer: contacts since the survey, the last of them, and whether an agent
    spoke with the customer since."""
    ids = surveys.index.astype(int).tolist()
    attempts = _per_chunk(
        conn,
        ids,
        lambda part: (
            select(
                Attempt.customer_id,
                happened_at().label("at"),
                Attempt.channel,
                Attempt.status,
                Campaign.name.label("campaign"),
            )
            .outerjoin(Campaign, Campaign.id == Attempt.campaign_id)
            .where(Attempt.customer_id.in_(part), one_of(Attempt.status, CONTACTED))
        ),
    )
    talks = _per_chunk(
        conn,
        ids,
        lambda part: select(Disposition.customer_id, Disposition.created_at.label("at")).where(
            Disposition.customer_id.in_(part), Disposition.code.in_([c.value for c in SPOKEN])
        ),
    )
    out = pd.DataFrame(index=surveys.index)
    out["contacts_since_survey"] = 0
    out["spoken_since_survey"] = False
    for column in ("last_contact_at", "last_contact_campaign", "last_contact_channel"):
        out[column] = None
    out["last_contact_outcome"] = None
    attempts = _since_survey(attempts, surveys, "at")
    if not attempts.empty:
        attempts = attempts.sort_values(["customer_id", "at"])
        out["contacts_since_survey"] = (
            attempts.groupby("customer_id").size().reindex(out.index, fill_value=0)
        )
        last = attempts.drop_duplicates("customer_id", keep="last").set_index("customer_id")
        out["last_contact_at"] = last["at"].reindex(out.index)
        out["last_contact_campaign"] = last["campaign"].reindex(out.index)
        out["last_contact_channel"] = last["channel"].astype(str).reindex(out.index)
        out["last_contact_outcome"] = last["status"].astype(str).reindex(out.index)
    talks = _since_survey(talks, surveys, "at")
    if not talks.empty:
        out["spoken_since_survey"] = out.index.isin(talks["customer_id"])
    return out


def surveyed_customers(conn: Connection, categories: tuple[str, ...]) -> pd.DataFrame:
    """Customers whose latest survey reads as one of ``categories``, indexed by id, with
    its score and reading, the churn risk and CLV of their latest churn score (``scored``
    False where they have none), open complaints and the contacts since the survey."""
    surveys = _latest_surveys(conn, categories)
    ids = surveys.index.astype(int).tolist()
    frame = surveys.join(_latest_scores(conn, ids))
    frame["open_complaints"] = _open_complaints(conn, ids)
    frame = frame.join(_contacts(conn, surveys))
    frame["value_at_risk"] = frame["churn_risk"] * frame["clv"]
    return frame
