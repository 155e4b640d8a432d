"""The pacing pass: how many lines each running campaign dials now, and queueing them.

Jobs:
    pace                every second (cron, one worker runs each tick): each running
                        campaign's pacing pass
    pace_campaign       one campaign's pass, also queued as a nudge when an agent frees
                        up or a line ends; a per-campaign lock keeps passes apart

The pacer commits an attempt row (status queued) before it queues the job that dials it,
and the job's id is the attempt's (``call:<id>``), so arq never holds two jobs for one
attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaigns.figures import measuring_window_counts
from campaigns.settings.model import CampaignSettings
from campaigns.settings.versions import in_force
from dialer.board_restore import ensure_board
from dialer.context import Dialer
from dialer.dialing import pacing_settings
from dialer.entry_taking import take_calls
from dialer.pacing import (
    PacingMode,
    PacingState,
    WindowStats,
    lines_to_dial,
    measuring_window_start,
)
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Channel,
    Disposition,
)

__all__ = ["pace", "pace_campaign"]

log = logging.getLogger("telecampaign.dialer")
S = AttemptStatus
LIVE = (S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS)


async def pace(ctx: dict[str, Any]) -> int:
    """Every running campaign's pacing pass; the number of calls queued."""
    dialer: Dialer = ctx["dialer"]
    await ensure_board(dialer)  # Redis may have lost the agents since the last tick
    campaigns = await dialer.gateway.write(
        lambda s: list(
            s.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING))
        )
    )
    return sum([await pace_campaign(ctx, campaign_id) for campaign_id in campaigns])


async def pace_campaign(ctx: dict[str, Any], campaign_id: int) -> int:
    """Queue as many calls as the campaign's pacing asks for now; the number queued."""
    dialer: Dialer = ctx["dialer"]
    lock = dialer.redis.lock(f"{dialer.prefix}:pace:{campaign_id}", timeout=30)
    if not await lock.acquire(blocking=False):
        return 0  # another worker is pacing this campaign right now
    try:
        return await _pace(dialer, campaign_id)
    finally:
        try:
            await lock.release()
        except LockError:
            log.warning("pacing lock of campaign %s expired before release", campaign_id)


async def _pace(dialer: Dialer, campaign_id: int) -> int:
    now = dialer.clock.now()
    agents = await dialer.board.campaign_agents(campaign_id)
    if not (agents.ready or agents.talk_started or agents.wrap_started):
        return 0  # nobody logged in to take a call: no line to dial
    snapshot = await dialer.gateway.write(lambda s: _snapshot(s, campaign_id, now))
    if snapshot is None:
        return 0
    dialing, ringing, unclaimed, stats = snapshot
    if dialing.pacing is PacingMode.PREVIEW:
        return 0
    # The agents once more, after the store: a call answered between the two reads then
    # counts as ringing and its agent as taken, never as neither, so no line is dialled
    # for an agent who is already talking.
    agents = await dialer.board.campaign_agents(campaign_id)
    state = PacingState(
        now=now,
        agents_ready=agents.ready,
        talk_started=agents.talk_started,
        wrap_started=agents.wrap_started,
        ringing_started=ringing,
        # the store's count, not the board's counter: a web process killed while a call
        # waited would leave the counter up for good, holding lines back
        calls_waiting=unclaimed,
        stats=stats,
    )
    lines = lines_to_dial(state, pacing_settings(dialing))
    if lines <= 0:
        return 0
    at = dialer.clock.at(now)
    calls = await dialer.gateway.write(lambda s: take_calls(s, campaign_id, lines, now=at))
    for attempt_id, customer_id in calls:
        await dialer.enqueue("place_call", attempt_id, customer_id, job_id=f"call:{attempt_id}")
    return len(calls)


def _snapshot(
    session: Session, campaign_id: int, now: float
) -> tuple[CampaignSettings, tuple[float, ...], int, WindowStats] | None:
    """The campaign's dialing settings, lines in flight, answered calls no agent has taken
    yet and windowed outcomes, or None.

    The measuring window is the current one of those that follow one another from the
    launch, and a call counts in it by when the pacer queued it: the window whose room
    allowed the line is the one its abandon, if any, counts in.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        return None
    dialing = in_force(campaign)
    pacing = pacing_settings(dialing)
    launched = campaign.launched_at.timestamp() if campaign.launched_at else 0.0
    opened = measuring_window_start(now, launched, pacing.measuring_window_seconds)
    since = dt.datetime.fromtimestamp(now - pacing.window_seconds, dt.UTC)
    ours = (Attempt.campaign_id == campaign_id) & (Attempt.channel == Channel.CALL)
    # the measuring window in two counts (the KPIs' query); the recent window and the
    # lines in flight row by row
    measured_answers, measured_abandons = measuring_window_counts(
        session, campaign_id, dt.datetime.fromtimestamp(opened, dt.UTC)
    )
    rows = session.execute(
        select(
            Attempt.status,
            Attempt.answered_by,
            Attempt.agent_id,
            Attempt.queued_at,
            Attempt.started_at,
            Attempt.answered_at,
            Attempt.ended_at,
            Disposition.created_at,
        )
        .outerjoin(Disposition, Disposition.attempt_id == Attempt.id)
        .where(ours, or_(Attempt.status.in_(LIVE), Attempt.started_at >= since))
    ).all()
    ringing: list[float] = []
    unclaimed = dials = answers = abandons = 0
    ring_seconds: list[float] = []
    talks: list[float] = []
    wraps: list[float] = []
    for status, answered_by, agent_id, queued, started, answered, ended, disposed in rows:
        human = answered is not None and answered_by is not AnsweredBy.MACHINE
        if status in (S.QUEUED, S.INITIATED, S.RINGING):
            begun = started or queued
            ringing.append(begun.timestamp() if begun else now)
        elif status is S.IN_PROGRESS and agent_id is None and human:
            unclaimed += 1  # waiting for an agent, or between its answer and its claim
        if started is None:
            continue
        if started < since:
            continue
        abandoned = status is S.ABANDONED and answered_by is not AnsweredBy.MACHINE
        dials += 1
        if human and answered is not None:
            answers += 1
            ring_seconds.append(max(0.0, (answered - started).total_seconds()))
        abandons += abandoned
        if agent_id is not None and answered is not None and ended is not None and human:
            talks.append((ended - answered).total_seconds())
            if disposed is not None:
                wraps.append(max(0.0, (disposed - ended).total_seconds()))
    defaults = WindowStats()
    stats = WindowStats(
        dials=dials,
        human_answers=answers,
        abandons=abandons,
        answer_ring_seconds=tuple(ring_seconds[-pacing.window_max_answers :]),
        mean_talk_seconds=sum(talks) / len(talks) if talks else defaults.mean_talk_seconds,
        mean_wrap_seconds=sum(wraps) / len(wraps) if wraps else defaults.mean_wrap_seconds,
        measured_answers=int(measured_answers),
        measured_abandons=int(measured_abandons),
        measured_until=opened + pacing.measuring_window_seconds,
    )
    return dialing, tuple(ringing), unclaimed, stats
