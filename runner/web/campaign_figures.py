"""Each campaign's dialing figures: dials, answers, connects, abandons, texts, conversions.

The manager's live dashboard shows them and the dialing run prints them, from this one
query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Disposition,
    DispositionCode,
)

__all__ = ["CampaignFigures", "figures"]

S = AttemptStatus


@dataclass(frozen=True)
class CampaignFigures:
    campaign_id: int
    name: str
    kind: str
    status: str
    dials: int
    human_answers: int
    connects: int
    abandoned: int
    machines: int
    texts: int
    dispositions: int
    conversions: int

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.human_answers if self.human_answers else 0.0


def figures(session: Session, campaign_ids: Sequence[int]) -> list[CampaignFigures]:
    """Dials, answers, connects, abandons, texts and conversions per campaign."""
    human = (Attempt.answered_at.is_not(None)) & (
        Attempt.answered_by.is_(None) | (Attempt.answered_by != AnsweredBy.MACHINE)
    )
    calls = {
        row.campaign_id: row
        for row in session.execute(
            select(
                Attempt.campaign_id,
                func.count(Attempt.started_at).label("dials"),
                func.sum(case((human, 1), else_=0)).label("answers"),
                func.sum(case((human & Attempt.agent_id.is_not(None), 1), else_=0)).label(
                    "connects"
                ),
                func.sum(case((human & (Attempt.status == S.ABANDONED), 1), else_=0)).label(
                    "abandoned"
                ),
                func.sum(case((Attempt.status == S.MACHINE, 1), else_=0)).label("machines"),
            )
            .where(Attempt.campaign_id.in_(campaign_ids), Attempt.channel == Channel.CALL)
            .group_by(Attempt.campaign_id)
        )
    }
    texts = dict(
        session.execute(
            select(Attempt.campaign_id, func.count())
            .where(
                Attempt.campaign_id.in_(campaign_ids),
                Attempt.channel == Channel.SMS,
                Attempt.provider_sid.is_not(None),
            )
            .group_by(Attempt.campaign_id)
        ).all()
    )
    said = {
        row.campaign_id: row
        for row in session.execute(
            select(
                Attempt.campaign_id,
                func.count().label("all"),
                func.sum(
                    case((Disposition.code == DispositionCode.ACCEPTED.value, 1), else_=0)
                ).label("accepted"),
            )
            .join(Attempt, Attempt.id == Disposition.attempt_id)
            .where(Attempt.campaign_id.in_(campaign_ids))
            .group_by(Attempt.campaign_id)
        )
    }
    out = []
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))):
        c, d = calls.get(campaign.id), said.get(campaign.id)
        out.append(
            CampaignFigures(
                campaign_id=campaign.id,
                name=campaign.name,
                kind=campaign.kind.value,
                status=campaign.status.value,
                dials=int(c.dials or 0) if c else 0,
                human_answers=int(c.answers or 0) if c else 0,
                connects=int(c.connects or 0) if c else 0,
                abandoned=int(c.abandoned or 0) if c else 0,
                machines=int(c.machines or 0) if c else 0,
                texts=int(texts.get(campaign.id, 0)),
                dispositions=int(d.all or 0) if d else 0,
                conversions=int(d.accepted or 0) if d else 0,
            )
        )
    return out
