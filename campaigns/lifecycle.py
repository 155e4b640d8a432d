"""A campaign's status: planned -> running <-> paused -> stopped or completed.

Only these moves are allowed; anything else is refused with the status the campaign
is in, so a manager never launches a stopped list by mistake or resumes a planned one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select

from campaigns.errors import CampaignError, CampaignNotFoundError
from store.db import transaction
from store.models import Campaign, CampaignStatus

__all__ = ["MOVES", "get_campaign", "move"]

S = CampaignStatus
# action -> (statuses it starts from, status it leads to)
MOVES: dict[str, tuple[tuple[CampaignStatus, ...], CampaignStatus]] = {
    "launch": ((S.PLANNED,), S.RUNNING),
    "pause": ((S.RUNNING,), S.PAUSED),
    "resume": ((S.PAUSED,), S.RUNNING),
    "stop": ((S.PLANNED, S.RUNNING, S.PAUSED), S.STOPPED),
    "complete": ((S.RUNNING, S.PAUSED), S.COMPLETED),
}


def get_campaign(engine: Engine, name: str) -> Campaign:
    with transaction(engine) as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if campaign is None:
        raise CampaignNotFoundError(name)
    return campaign


def move(engine: Engine, name: str, action: str, *, now: dt.datetime | None = None) -> Campaign:
    """Apply ``action`` to the campaign named ``name`` and return it as stored."""
    sources, target = MOVES[action]
    now = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        campaign = session.scalars(
            select(Campaign).where(Campaign.name == name).with_for_update()
        ).first()
        if campaign is None:
            raise CampaignNotFoundError(name)
        if campaign.status not in sources:
            allowed = " or ".join(s.value for s in sources)
            raise CampaignError(
                f"cannot {action} {name!r}: it is {campaign.status.value}, not {allowed}"
            )
        campaign.status = target
        if action == "launch":
            campaign.launched_at = now
        if target in (S.STOPPED, S.COMPLETED):
            campaign.ended_at = now
    return campaign
