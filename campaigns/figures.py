"""A campaign's dial, answer and abandon figures, read from its attempts in one place.

Three readers, each counting what it needs:

* the dashboard and the demo (``campaign_figures``): every call dialled (it has a start),
  answered by a person (an answer time, and not a machine), connected to an agent,
  abandoned after a person answered; machines by status; texts handed to the carrier;
  dispositions and conversions;
* the pacer (``measuring_window_counts``): the answers and abandons of the calls it
  queued since the current measuring window opened;
* the KPI report (``call_funnel``): the call funnel, counted so that each step counts
  calls of the step before it (see ``campaigns.kpis``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Connection, case, func, select
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

__all__ = [
    "CallFunnel",
    "CampaignFigures",
    "call_attempts",
    "call_funnel",
    "campaign_figures",
    "human_answer",
    "measuring_window_counts",
    "not_by_machine",
    "rows_frame",
]

S = AttemptStatus
# statuses of a call a person answered, when no machine did
_LIVE = (S.COMPLETED, S.IN_PROGRESS, S.ABANDONED)
_MACHINES = (AnsweredBy.MACHINE.value, AnsweredBy.FAX.value)


def not_by_machine() -> ColumnElement[bool]:
    """No answering machine told: nobody answered yet, a person did, or a fax."""
    return Attempt.answered_by.is_(None) | (Attempt.answered_by != AnsweredBy.MACHINE)


def human_answer() -> ColumnElement[bool]:
    """Answered, and not by an answering machine."""
    return Attempt.answered_at.is_not(None) & not_by_machine()


# -- the dashboard and the demo ------------------------------------------------------------


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


def campaign_figures(session: Session, campaign_ids: Sequence[int]) -> list[CampaignFigures]:
    """Dials, answers, connects, abandons, texts and conversions per campaign."""
    calls = _call_counts(session, campaign_ids)
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
    said = _disposition_counts(session, campaign_ids)
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


def _call_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, Any]:
    human = human_answer()
    return {
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


def _disposition_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, Any]:
    return {
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


# -- the pacer -------------------------------------------------------------------------------


def measuring_window_counts(
    session: Session, campaign_id: int, opened: dt.datetime
) -> tuple[int, int]:
    """The answers (abandoned calls included) and the abandons among the campaign's calls
    queued at or after ``opened``, none answered by a machine.

    A call counts by when the pacer queued it: the measuring window whose room allowed
    the line is the one its abandon, if any, counts in.
    """
    answers, abandons = session.execute(
        select(
            func.count(Attempt.answered_at),
            func.count(case((Attempt.status == S.ABANDONED, 1))),
        ).where(
            Attempt.campaign_id == campaign_id,
            Attempt.channel == Channel.CALL,
            Attempt.queued_at >= opened,
            not_by_machine(),
        )
    ).one()
    return int(answers), int(abandons)


# -- the KPI report ----------------------------------------------------------------------------


def rows_frame(rows: Any, columns: list[str]) -> pd.DataFrame:
    """Result rows as a frame, enum members (channel, status, answered by) as their values."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    for column in ("channel", "status", "answered_by"):
        if column in frame:
            frame[column] = frame[column].map(lambda v: getattr(v, "value", v))
    return frame


def call_attempts(conn: Connection, campaign_id: int) -> pd.DataFrame:
    """The campaign's attempts, both channels, with what the funnel counts them by."""
    return rows_frame(
        conn.execute(
            select(
                Attempt.id,
                Attempt.channel,
                Attempt.status,
                Attempt.answered_at,
                Attempt.answered_by,
                Attempt.agent_id,
                Attempt.provider_sid,
            ).where(Attempt.campaign_id == campaign_id)
        ).all(),
        ["attempt_id", "channel", "status", "answered_at", "answered_by", "agent_id", "sid"],
    )


@dataclass(frozen=True)
class CallFunnel:
    """The calls at each step of the funnel; ``machine`` flags the dials a machine took."""

    dials: pd.DataFrame
    machine: pd.Series
    live: pd.DataFrame
    connects: pd.DataFrame
    texts: int

    @property
    def abandoned(self) -> int:
        return int((self.live["status"] == S.ABANDONED.value).sum())


def call_funnel(attempts: pd.DataFrame) -> CallFunnel:
    """Dials (calls that reached the carrier), live answers (a person, not a machine or
    a fax), connects (live answers an agent took) and texts handed to the carrier."""
    reached = attempts["sid"].notna()
    calls = attempts[(attempts["channel"] == Channel.CALL.value) & reached]
    machine = (calls["status"] == S.MACHINE.value) | calls["answered_by"].isin(_MACHINES)
    live = calls[
        calls["status"].isin([s.value for s in _LIVE]) & calls["answered_at"].notna() & ~machine
    ]
    connects = live[live["agent_id"].notna() & (live["status"] != S.ABANDONED.value)]
    return CallFunnel(
        dials=calls,
        machine=machine,
        live=live,
        connects=connects,
        texts=int(((attempts["channel"] == Channel.SMS.value) & reached).sum()),
    )
