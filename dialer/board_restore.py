"""The agent board rebuilt from the store after Redis lost it.

Redis may keep nothing on disk, so a restart or a flush empties the board while agents
sit at their consoles and calls ring for them: every call answered then would find
nobody and be abandoned. The store keeps each agent's moves (``AgentEvent``); the last
one of each agent says where the board had them. The pacer checks the board on each tick
and an answered call that finds nobody checks it too, and whichever comes first puts
the agents back (``AgentBoard.restore``: an agent who moved since keeps that move).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from weakref import WeakKeyDictionary

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.agents import AgentBoard, AgentState, AgentStatus
from dialer.context import Dialer
from dialer.states import is_final
from store.models import AgentEvent, Attempt, AttemptStatus, Disposition

__all__ = ["RESTORE_WITHIN", "ensure_board", "restore_board"]

log = logging.getLogger("telecampaign.dialer")
# clock seconds: an agent at work moves (a call, a wrap-up, a pause) well within this.
# One put back who had gone would have lines dialled for nobody; one left out only logs
# in again
RESTORE_WITHIN = 3600.0
_RESTORING: WeakKeyDictionary[AgentBoard, asyncio.Task[int]] = WeakKeyDictionary()


async def ensure_board(dialer: Dialer) -> bool:
    """Restore the board if Redis lost it; whether it had to be."""
    if await dialer.board.intact():
        return False
    await restore_board(dialer)
    return True


async def restore_board(dialer: Dialer) -> int:
    """Put every agent back as the store last saw them; how many were. Calls that come
    together share one restore."""
    running = _RESTORING.get(dialer.board)
    if running is None or running.done():
        running = asyncio.get_running_loop().create_task(_restore(dialer))
        _RESTORING[dialer.board] = running
    return await asyncio.shield(running)


async def _restore(dialer: Dialer) -> int:
    since = dialer.clock.utcnow() - dt.timedelta(seconds=RESTORE_WITHIN)
    statuses = await dialer.gateway.read(lambda s: last_states(s, since))
    restored = await dialer.board.restore(statuses)
    if restored:
        log.warning("the agent board was lost with Redis: %s agents put back", restored)
    else:  # a new Redis, or nobody at work when it was lost
        log.info("the agent board was built afresh: no agent to put back")
    return restored


def last_states(session: Session, since: dt.datetime) -> list[AgentStatus]:
    """Each agent's state by their last recorded move since ``since``; a talk whose call
    has ended is the wrap-up the call's end would have begun, and a call whose outcome is
    recorded leaves its agent ready."""
    last = (
        select(func.max(AgentEvent.id))
        .where(AgentEvent.at >= since)
        .group_by(AgentEvent.agent_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            AgentEvent.agent_id,
            AgentEvent.state,
            AgentEvent.campaign_id,
            AgentEvent.attempt_id,
            AgentEvent.pause_code,
            AgentEvent.at,
            Attempt.status,
            Disposition.id,
        )
        .outerjoin(Attempt, Attempt.id == AgentEvent.attempt_id)
        .outerjoin(Disposition, Disposition.attempt_id == AgentEvent.attempt_id)
        .where(AgentEvent.id.in_(last))
    ).all()
    statuses = []
    for agent_id, state, campaign_id, attempt_id, pause_code, at, call_status, said in rows:
        status = _status(state, attempt_id, call_status)
        if status in (AgentState.TALK, AgentState.WRAP) and said is not None:
            status = AgentState.READY  # the outcome is in: no wrap-up is left
        if status is None or campaign_id is None:
            continue
        on_call = status in (AgentState.TALK, AgentState.WRAP)
        statuses.append(
            AgentStatus(
                agent_id=agent_id,
                state=status,
                campaign_id=campaign_id,
                attempt_id=attempt_id if on_call else None,
                since=at.timestamp(),
                pause_code=pause_code if status is AgentState.PAUSED else None,
            )
        )
    return statuses


def _status(
    state: str, attempt_id: int | None, call_status: AttemptStatus | None
) -> AgentState | None:
    try:
        recorded = AgentState(state)
    except ValueError:
        return None
    if recorded is AgentState.PREVIEW:
        return AgentState.READY  # the entry held for the preview went with Redis
    if recorded in (AgentState.TALK, AgentState.WRAP) and attempt_id is None:
        return AgentState.READY
    if recorded is AgentState.TALK and call_status is not None and is_final(call_status):
        return AgentState.WRAP
    if recorded is AgentState.OFFLINE:
        return None
    return recorded
