"""The reaper: what a lost callback, a killed process or a flushed Redis left unsaid,
settled from the carrier and the database.

It runs every 15 s (an arq cron job, one worker a tick) and does four things:

- **Quiet calls and texts** (ringing past the ring timeout, talking past ``LONG_CALL``,
  a text not delivered after ``QUIET_AFTER``) are asked of the carrier, and its final word
  is applied. One the carrier cannot speak of (its API down) stays open and is asked again
  on the next pass: an outcome guessed now could be contradicted by the carrier later, and
  a final outcome is never replaced. Its agent is let go after ``SILENT_AFTER``, so the
  carrier's silence does not hold a person.
- **Lines with no SID** (the carrier's answer to the dial was lost, and no callback has
  brought it) are looked up in the carrier's list of our calls or texts to that number:
  one no attempt holds is this attempt's, and it is settled from it. Found nowhere
  ``LOST_AFTER`` after the dial (and after the request itself could have reached the
  carrier), the line never got there: it is closed as failed and the entry tried later.
- **Waiting attempts whose job is gone** (Redis flushed or restarted) are queued again;
  the job id is the attempt's, so a job still queued is not doubled.
- **Agents held on a call that ended** are freed (``free_held_agents``).
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial
from typing import Any

from sqlalchemy import func, or_, select, true, update
from sqlalchemy.orm import Session

from dialer.agents import AgentState, AgentStatus
from dialer.change import Change, reached_agent
from dialer.context import Dialer
from dialer.dispositions import end_recorded_wrap
from dialer.outcomes import apply_status
from dialer.provider import ProviderError
from dialer.states import FINAL, from_twilio, is_final
from store.models import AgentEvent, Attempt, AttemptStatus, Channel, Disposition

__all__ = ["LOST_AFTER", "free_held_agents", "reap", "requeue_due"]

log = logging.getLogger("telecampaign.dialer")
S = AttemptStatus
# clock seconds: a ringing line ends within the ring timeout (at most 60 s), a text is
# delivered within a minute or two; quieter than this, the carrier is asked
QUIET_AFTER = 120.0
LONG_CALL = 1800.0  # a conversation this long is asked about too
LOST_AFTER = 300.0  # no SID this long after the dial: the carrier never took the call
SILENT_AFTER = 2 * 3600.0  # the carrier unable to say this long: the agent is let go
HELD_AFTER_END = 30.0  # after a call's end, by which its own callback has moved its agent
REQUEUE_AFTER = 120.0  # a waiting attempt this old with no job lost it with Redis
# real seconds: a dial request cut off by its timeout (15 s) may still be acted on by the
# carrier a little later; until twice that, a line with no SID could yet become a call
LOST_AFTER_REAL = 30.0
Quiet = tuple[int, Channel, str | None, dt.datetime, tuple[str, str | None]]


async def reap(ctx: dict[str, Any]) -> int:
    """One pass; returns how many attempts were settled or queued again and agents freed."""
    dialer: Dialer = ctx["dialer"]
    settled = 0
    for attempt_id, channel, sid, started, numbers in await dialer.gateway.write(
        partial(_quiet, now=_now(dialer))
    ):
        settled += await _settle(dialer, attempt_id, channel, sid, started, numbers)
    queued = await requeue_due(dialer, older_than=REQUEUE_AFTER)
    return settled + queued + await free_held_agents(dialer)


def _now(dialer: Dialer) -> dt.datetime:
    return dialer.clock.utcnow()


def _quiet(session: Session, *, now: dt.datetime) -> list[Quiet]:
    ringing_quiet = now - dt.timedelta(seconds=QUIET_AFTER)
    talking_quiet = now - dt.timedelta(seconds=LONG_CALL)
    call, text = Attempt.channel == Channel.CALL, Attempt.channel == Channel.SMS
    rows = session.execute(
        select(
            Attempt.id,
            Attempt.channel,
            Attempt.provider_sid,
            Attempt.started_at,
            Attempt.phone,
            Attempt.from_number,
        ).where(
            or_(
                call & Attempt.status.in_((S.INITIATED, S.RINGING)),
                call & (Attempt.status == S.IN_PROGRESS) & (Attempt.answered_at < talking_quiet),
                # a text is claimed from scheduled to queued, then the carrier says sent
                text & Attempt.status.in_((S.QUEUED, S.SENT)),
            ),
            Attempt.started_at < ringing_quiet,
        )
    ).all()
    return [
        (int(i), channel, sid, started, (phone, from_number))
        for i, channel, sid, started, phone, from_number in rows
        if started
    ]


async def _settle(
    dialer: Dialer,
    attempt_id: int,
    channel: Channel,
    sid: str | None,
    started: dt.datetime,
    numbers: tuple[str, str | None],
) -> int:
    """Apply the carrier's final word on one quiet attempt; 1 when something moved."""
    now = _now(dialer)
    age = (now - started).total_seconds()
    status, duration = None, None
    if sid is None:
        try:
            sid = await _lost_sid(dialer, attempt_id, channel, *numbers)
        except ProviderError as error:
            log.warning("attempt %s: the carrier could not list its calls (%s)", attempt_id, error)
            return 0  # it may hold the call: asked again on the next pass
        if sid is None:
            if age < LOST_AFTER or age < dialer.clock.scale * LOST_AFTER_REAL:
                return 0
            status = S.FAILED  # never reached the carrier
    if sid is not None:
        try:
            if channel is Channel.CALL:
                word, duration = await dialer.provider.call_status(sid)
            else:
                word = await dialer.provider.message_status(sid)
            status = from_twilio(channel, word)
        except (ProviderError, ValueError) as error:
            log.warning(
                "attempt %s: the carrier could not say how it ended (%s)", attempt_id, error
            )
        if status is None or not is_final(status):
            if channel is Channel.CALL and age >= SILENT_AFTER:
                await _let_agent_go(dialer, attempt_id)
            return 0
    assert status is not None
    change = await dialer.gateway.write(
        partial(_apply, attempt_id=attempt_id, status=status, duration=duration, now=now)
    )
    if channel is Channel.CALL:
        talked = reached_agent(channel, change.after, change.agent_id)
        agent = await _end_agent(dialer, attempt_id, change.campaign_id, talked=talked)
        if agent is not None:
            log.info("attempt %s: its agent was let go after a missed callback", attempt_id)
    await dialer.after_change(change.texts, change.campaign_id)
    return 1


async def _lost_sid(
    dialer: Dialer, attempt_id: int, channel: Channel, phone: str, from_number: str | None
) -> str | None:
    """The SID of the call or text the carrier placed for an attempt whose dial answer was
    lost, kept on the attempt; None when the carrier lists none.

    It is the newest of our calls (texts) to the number that no attempt holds: a dial is
    claimed under its customer's lock and the contact policy counts one in flight, so no
    other dial to the number is made meanwhile, and an unheld one is this attempt's."""
    if channel is Channel.CALL:
        listed = [sid for sid, _, _ in await dialer.provider.calls_to(phone, from_number)]
    else:
        listed = [sid for sid, _ in await dialer.provider.messages_to(phone, from_number)]
    if not listed:
        return None

    def adopt(session: Session) -> str | None:
        held = set(
            session.scalars(select(Attempt.provider_sid).where(Attempt.provider_sid.in_(listed)))
        )
        unheld = [sid for sid in listed if sid not in held]
        if not unheld:
            return None
        taken = session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.provider_sid.is_(None))
            .values(provider_sid=unheld[0])
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return session.scalar(select(Attempt.provider_sid).where(Attempt.id == attempt_id))
        return unheld[0]

    sid = await dialer.gateway.write(adopt)
    if sid is not None:
        log.warning("attempt %s: found in the carrier's list after its answer was lost", attempt_id)
    return sid


async def _end_agent(
    dialer: Dialer,
    attempt_id: int,
    campaign_id: int | None,
    *,
    talked: bool,
    agent_id: int | None = None,
) -> int | None:
    """Where the call's own end would have sent its agent, with the agent event: wrap-up
    after a conversation, ready otherwise; the agent, or None when none held the call."""
    end = dialer.board.end_call if talked else dialer.board.release
    agent = await end(attempt_id, dialer.clock.now(), agent_id=agent_id)
    if agent is not None:
        event = AgentEvent(
            agent_id=agent,
            campaign_id=campaign_id,
            attempt_id=attempt_id,
            state="wrap" if talked else "ready",
            at=_now(dialer),
        )
        await dialer.gateway.write(partial(Session.add, instance=event))
    return agent


async def _let_agent_go(dialer: Dialer, attempt_id: int) -> None:
    """A call the carrier has said nothing of for hours: its agent (who talked on it, or
    it would not be held) goes to wrap-up; the call stays open for the carrier's word."""
    agent = await _end_agent(dialer, attempt_id, None, talked=True)
    if agent is not None:
        log.warning(
            "attempt %s: the carrier has said nothing for hours; its agent moved to wrap-up",
            attempt_id,
        )


def _apply(
    session: Session,
    *,
    attempt_id: int,
    status: AttemptStatus,
    duration: int | None,
    now: dt.datetime,
) -> Change:
    code = "silent" if status is S.FAILED else None
    return apply_status(session, attempt_id, status, now=now, duration_s=duration, error_code=code)


async def requeue_due(dialer: Dialer, *, older_than: float = 0.0) -> int:
    """Queue again every attempt the database says is waiting for a job (a call queued, a
    text scheduled and due), only those waiting ``older_than`` clock seconds or more; how
    many were asked for. arq keeps one job per id, so a job still queued stays one."""
    now = _now(dialer)
    since = now - dt.timedelta(seconds=older_than)

    def due(session: Session) -> list[tuple[int, int, Channel, dt.datetime | None]]:
        waiting_since = func.coalesce(Attempt.queued_at, Attempt.created_at)
        rows = session.execute(
            select(Attempt.id, Attempt.customer_id, Attempt.channel, Attempt.due_at).where(
                or_(
                    (Attempt.status == S.QUEUED) & (Attempt.channel == Channel.CALL),
                    (Attempt.status == S.SCHEDULED) & (Attempt.channel == Channel.SMS),
                ),
                Attempt.provider_sid.is_(None),
                waiting_since <= since,
                # on a pass, texts scheduled for later are queued again when they fall due
                or_(Attempt.channel == Channel.CALL, Attempt.due_at <= now)
                if older_than
                else true(),
            )
        ).all()
        return [(int(i), int(p), c, d) for i, p, c, d in rows]

    clock_now, queued = dialer.clock.now(), 0
    for attempt_id, customer_id, channel, due_at in await dialer.gateway.write(due):
        if channel is Channel.CALL:
            job = f"call:{attempt_id}"
            queued += await dialer.enqueue("place_call", attempt_id, customer_id, job_id=job)
        else:
            delay = due_at.timestamp() - clock_now if due_at else 0.0
            job = f"sms:{attempt_id}"
            queued += await dialer.enqueue("send_sms", attempt_id, job_id=job, delay=delay)
    if queued:
        log.info("queued again %s attempts the database holds as due", queued)
    return queued


async def free_held_agents(dialer: Dialer) -> int:
    """Agents the board holds on a call (talking, or waiting on a preview they dialed)
    whose attempt the store has as final: each goes where the call's own end would have
    sent it, wrap-up after a conversation and ready otherwise; how many were freed.

    The call's end moves its agent as its status callback arrives; an agent claimed for a
    call that was over already (a replayed answer before replays were refused), or whose
    move was lost with its process, would be held for good: no ready, pause or logout is
    allowed on a call. A call ended less than ``HELD_AFTER_END`` ago is left to its own
    callback, which is on its way.
    """
    statuses = await dialer.board.agents()
    freed = await _end_recorded_wraps(dialer, statuses)
    held = {
        status.attempt_id: status.agent_id
        for status in statuses
        if status.attempt_id is not None and status.state in (AgentState.TALK, AgentState.PREVIEW)
    }
    if not held:
        return freed
    ended_before = _now(dialer) - dt.timedelta(seconds=HELD_AFTER_END)

    def ended(session: Session) -> list[tuple[int, int | None, bool]]:
        rows = session.execute(
            select(
                Attempt.id, Attempt.campaign_id, Attempt.channel, Attempt.status, Attempt.agent_id
            ).where(
                Attempt.id.in_(list(held)),
                Attempt.status.in_(sorted(FINAL)),
                or_(Attempt.ended_at.is_(None), Attempt.ended_at < ended_before),
            )
        ).all()
        return [
            (int(i), campaign, reached_agent(channel, status, agent))
            for i, campaign, channel, status, agent in rows
        ]

    for attempt_id, campaign_id, talked in await dialer.gateway.write(ended):
        agent = held[attempt_id]
        await _end_agent(dialer, attempt_id, campaign_id, talked=talked, agent_id=agent)
        log.warning("agent %s: freed from attempt %s, which had ended", agent, attempt_id)
        freed += 1
    return freed


async def _end_recorded_wraps(dialer: Dialer, statuses: list[AgentStatus]) -> int:
    """Agents in wrap-up on a call whose outcome was recorded a while ago go ready
    (``end_recorded_wrap``); how many."""
    wrapping = {s.attempt_id: s.agent_id for s in statuses if s.state is AgentState.WRAP}
    wrapping.pop(None, None)
    if not wrapping:
        return 0
    recorded_before = _now(dialer) - dt.timedelta(seconds=HELD_AFTER_END)

    def recorded(session: Session) -> list[tuple[int, int | None]]:
        rows = session.execute(
            select(Disposition.attempt_id, Attempt.campaign_id)
            .join(Attempt, Attempt.id == Disposition.attempt_id)
            .where(
                Disposition.attempt_id.in_(list(wrapping)),
                Disposition.created_at < recorded_before,
            )
        ).all()
        return [(int(a), c) for a, c in rows if a is not None]

    freed = 0
    for attempt_id, campaign_id in await dialer.gateway.write(recorded):
        agent = wrapping[attempt_id]
        if agent is not None and await end_recorded_wrap(dialer, agent, attempt_id, campaign_id):
            freed += 1
    return freed
