"""Surveys, complaints and contacts written straight into a scored base, for the watch
list's tests (its own, the planner's and the pages')."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select, update

from store.db import transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    Disposition,
    Interaction,
    InteractionKind,
    Score,
)

__all__ = ["DAY", "complaint", "contact", "left", "survey"]

DAY = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)


def survey(engine: Engine, customer_id: int, score: int, scale: int, days: int = 0) -> None:
    """A survey answered ``days`` after ``DAY``."""
    with transaction(engine) as session:
        session.add(
            Interaction(
                customer_id=customer_id,
                kind=InteractionKind.SURVEY,
                occurred_at=DAY + dt.timedelta(days=days),
                score=score,
                scale=scale,
            )
        )


def complaint(engine: Engine, customer_id: int, *, closed: bool = False, days: int = 0) -> None:
    at = DAY + dt.timedelta(days=days)
    with transaction(engine) as session:
        session.add(
            Interaction(
                customer_id=customer_id,
                kind=InteractionKind.COMPLAINT,
                occurred_at=at,
                closed_at=at + dt.timedelta(days=2) if closed else None,
            )
        )


def contact(
    engine: Engine,
    customer_id: int,
    days: int,
    *,
    campaign: str = "autumn care",
    spoken: bool = False,
    status: AttemptStatus = AttemptStatus.COMPLETED,
) -> None:
    """A call ``days`` after ``DAY`` on ``campaign`` (made if new); ``spoken``: an agent
    talked with the customer and recorded a callback."""
    at = DAY + dt.timedelta(days=days)
    with transaction(engine) as session:
        found = session.scalars(select(Campaign).where(Campaign.name == campaign)).first()
        if found is None:
            found = Campaign(
                name=campaign, kind=CampaignKind.FOLLOW_UP, status=CampaignStatus.COMPLETED
            )
            session.add(found)
            session.flush()
        attempt = Attempt(
            campaign_id=found.id,
            customer_id=customer_id,
            channel=Channel.CALL,
            phone="+12125550100",
            status=status,
            started_at=at,
            created_at=at,
            due_at=at,
        )
        session.add(attempt)
        session.flush()
        if spoken:
            session.add(
                Disposition(
                    attempt_id=attempt.id,
                    customer_id=customer_id,
                    code="callback",
                    created_at=at,
                )
            )


def left(engine: Engine, customer_id: int) -> None:
    """The customer holds nothing any more: the score has no churn risk."""
    with transaction(engine) as session:
        session.execute(update(Score).where(Score.customer_id == customer_id).values(p_churn=None))
