"""The arq worker: pacing passes, placing calls, sending texts.

The database says what is to be done; Redis only carries it. The pacer commits an
attempt row (status queued) before it queues the job that dials it, and the job's id
is the attempt's (``call:<id>``), so arq never holds two jobs for one attempt; the job
itself moves the attempt from queued to initiated by compare-and-set before it asks the
carrier, so a job that does run twice (a worker killed after the carrier call, before arq
recorded the job as done) finds the attempt already initiated and does nothing. On start
a worker queues again whatever the database says is due, so a flushed Redis loses
nothing.

Jobs:
    pace                every second (cron, one worker runs each tick): each running
                        campaign's pacing pass
    pace_campaign       one campaign's pass, also queued as a nudge when an agent frees
                        up or a line ends; a per-campaign lock keeps passes apart
    place_call          the contact policy once more, under a per-customer lock, then the
                        carrier; transient carrier errors retry with backoff (arq Retry)
    send_sms            likewise for a text (SMS fallback), rendered from templates/sms
    reap                every 15 s (dialer.reaper): quiet lines settled from the carrier,
                        jobs lost with Redis queued again, held agents freed
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from typing import Any, cast

from arq import Retry, cron
from arq.constants import in_progress_key_prefix
from arq.worker import Function, Worker, func
from redis.commands.core import AsyncScript
from redis.exceptions import LockError
from sqlalchemy import Table, Update, bindparam, case, or_, select, text, update
from sqlalchemy import func as sqlfunc
from sqlalchemy.orm import Session

from campaigns.outcomes import MEASURE_DAYS, attribute
from campaigns.policy.check import Verdict, check_contact, record_exclusion
from campaigns.policy.settings import ContactPolicy
from dialer.context import Dialer, DialerConfig, open_dialer, redis_settings
from dialer.dialing import DialingSettings
from dialer.outcomes import apply_status, new_attempt
from dialer.pacing import (
    PacingMode,
    PacingState,
    WindowStats,
    lines_to_dial,
    measuring_window_start,
)
from dialer.provider import PermanentProviderError, TransientProviderError
from dialer.reaper import reap, requeue_due
from dialer.sms import OPT_OUT_LINE, render_sms
from store.db import make_engine
from store.dialect import has_advisory_locks, is_sqlite
from store.models import (
    AgentEvent,
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Channel,
    Customer,
    Disposition,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = [
    "MAX_TRIES",
    "DialerWorker",
    "make_worker",
    "pace_campaign",
    "place_call",
    "send_sms",
    "worker_options",
]

log = logging.getLogger("telecampaign.dialer")
S = AttemptStatus
E = EntryStatus
MAX_TRIES = 6
LIVE = (S.QUEUED, S.INITIATED, S.RINGING, S.IN_PROGRESS)


def _dialer(ctx: dict[str, Any]) -> Dialer:
    dialer: Dialer = ctx["dialer"]
    return dialer


def backoff(job_try: int) -> float:
    """Real seconds before the next try of a job that met a transient error."""
    return float(min(60, 2 ** (job_try - 1)))


# -- pacing ------------------------------------------------------------------------------


async def pace(ctx: dict[str, Any]) -> int:
    """Every running campaign's pacing pass; the number of calls queued."""
    dialer = _dialer(ctx)
    campaigns = await dialer.store(
        lambda s: list(
            s.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING))
        )
    )
    return sum([await pace_campaign(ctx, campaign_id) for campaign_id in campaigns])


async def pace_campaign(ctx: dict[str, Any], campaign_id: int) -> int:
    """Queue as many calls as the campaign's pacing asks for now; the number queued."""
    dialer = _dialer(ctx)
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
    snapshot = await dialer.store(lambda s: _snapshot(s, campaign_id, now))
    if snapshot is None:
        return 0
    dialing, ringing, unclaimed, stats = snapshot
    if dialing.mode is PacingMode.PREVIEW:
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
    lines = lines_to_dial(state, dialing.pacing())
    if lines <= 0:
        return 0
    at = dialer.clock.at(now)
    calls = await dialer.store(lambda s: take_calls(s, campaign_id, lines, now=at))
    for attempt_id, customer_id in calls:
        await dialer.enqueue("place_call", attempt_id, customer_id, job_id=f"call:{attempt_id}")
    return len(calls)


def _snapshot(
    session: Session, campaign_id: int, now: float
) -> tuple[DialingSettings, tuple[float, ...], int, WindowStats] | None:
    """The campaign's dialing settings, lines in flight, answered calls no agent has taken
    yet and windowed outcomes, or None.

    The measuring window is the current one of those that follow one another from the
    launch, and a call counts in it by when the pacer queued it: the window whose room
    allowed the line is the one its abandon, if any, counts in.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        return None
    dialing = DialingSettings.of(campaign)
    pacing = dialing.pacing()
    launched = campaign.launched_at.timestamp() if campaign.launched_at else 0.0
    opened = measuring_window_start(now, launched, pacing.measuring_window_seconds)
    since = dt.datetime.fromtimestamp(now - pacing.window_seconds, dt.UTC)
    ours = (Attempt.campaign_id == campaign_id) & (Attempt.channel == Channel.CALL)
    # the measuring window in two counts; the recent window and the lines in flight row
    # by row
    not_machine = Attempt.answered_by.is_(None) | (Attempt.answered_by != AnsweredBy.MACHINE)
    measured_answers, measured_abandons = session.execute(
        select(
            sqlfunc.count(Attempt.answered_at),
            sqlfunc.count(case((Attempt.status == S.ABANDONED, 1))),
        ).where(ours, Attempt.queued_at >= dt.datetime.fromtimestamp(opened, dt.UTC), not_machine)
    ).one()
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


def take_entries(session: Session, campaign_id: int, lines: int, *, now: dt.datetime) -> list[int]:
    """The ids of the queued call attempts ``take_calls`` made."""
    return [attempt_id for attempt_id, _ in take_calls(session, campaign_id, lines, now=now)]


def take_calls(
    session: Session, campaign_id: int, lines: int, *, now: dt.datetime
) -> list[tuple[int, int]]:
    """Turn up to ``lines`` due treatment entries into queued call attempts; returns each
    attempt's id and its customer's.

    Callbacks that are due come first, then retries in the order they fell due, then new
    entries by priority. Each passes the contact policy here (so no line is spent on a
    customer who may not be called now) and again right before the dial. An entry that
    is blocked waits until its block lifts, or leaves the list for good.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return []
    policy = ContactPolicy.of(campaign)
    attempts: list[tuple[int, int]] = []
    seen: set[int] = set()
    while len(attempts) < lines:
        batch = session.scalars(
            select(ListEntry)
            .where(
                ListEntry.campaign_id == campaign_id,
                ListEntry.group == Group.TREATMENT,
                ListEntry.status.in_((E.PENDING, E.CALLBACK)),
                or_(ListEntry.due_at.is_(None), ListEntry.due_at <= now),
                ListEntry.assigned_agent_id.is_(None),
                ListEntry.id.not_in(seen) if seen else ListEntry.id.is_not(None),
            )
            .order_by(
                (ListEntry.status != E.CALLBACK),
                ListEntry.due_at.is_(None),
                ListEntry.due_at,
                ListEntry.priority.desc(),
                ListEntry.id,
            )
            .limit(max(8, 2 * (lines - len(attempts))))
        ).all()
        if not batch:
            break
        for entry in batch:
            seen.add(entry.id)
            if len(attempts) >= lines:
                break
            taken = take_entry(session, campaign, policy, entry, now=now)
            if isinstance(taken, int):
                attempts.append((taken, entry.customer_id))
    if not attempts:
        _complete_when_worked(session, campaign, now=now)
    return attempts


def take_entry(
    session: Session,
    campaign: Campaign,
    policy: ContactPolicy,
    entry: ListEntry,
    *,
    now: dt.datetime,
) -> int | Verdict | None:
    """A queued call attempt for the entry, by id; the verdict when the contact policy
    holds the entry back (kept, see ``hold``); None when someone else took the entry."""
    claimed = session.execute(
        update(ListEntry)
        .where(ListEntry.id == entry.id, ListEntry.status == entry.status)
        .values(status=E.IN_PROGRESS)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    verdict = check_entry(session, campaign, policy, entry, now=now)
    if not verdict.allowed:
        return verdict
    return new_attempt(session, entry, Channel.CALL, S.QUEUED, now=now)


def check_entry(
    session: Session,
    campaign: Campaign,
    policy: ContactPolicy,
    entry: ListEntry,
    *,
    now: dt.datetime,
) -> Verdict:
    """The contact policy on a call to the entry now; a blocked entry is held back with
    its reason (``hold``)."""
    verdict = check_contact(
        session,
        policy,
        customer_id=entry.customer_id,
        channel=Channel.CALL,
        kind=campaign.kind,
        now=now,
        list_entry_id=entry.id,
    )
    if not verdict.allowed:
        hold(session, campaign.id, entry.id, entry.customer_id, verdict)
    return verdict


def hold(
    session: Session, campaign_id: int, entry_id: int, customer_id: int, verdict: Verdict
) -> None:
    """Keep the reason a contact was not made; the entry waits for the block to lift."""
    record_exclusion(
        session,
        campaign_id=campaign_id,
        customer_id=customer_id,
        list_entry_id=entry_id,
        stage="contact",
        verdict=verdict,
    )
    lasting = verdict.lasting  # no waiting lifts it: the entry leaves the list for good
    waits = verdict.retry_at is not None and not lasting
    session.execute(
        update(ListEntry)
        .where(ListEntry.id == entry_id)
        .values(
            status=E.PENDING if waits else E.EXCLUDED,
            due_at=verdict.retry_at if waits else None,
        )
        .execution_options(synchronize_session=False)
    )


def _complete_when_worked(session: Session, campaign: Campaign, *, now: dt.datetime) -> None:
    """A running campaign with nothing left to dial, in flight or to call back is done."""
    open_entries = session.scalar(
        select(sqlfunc.count()).where(
            ListEntry.campaign_id == campaign.id,
            ListEntry.group == Group.TREATMENT,
            ListEntry.status.in_((E.PENDING, E.CALLBACK, E.IN_PROGRESS)),
        )
    )
    texts = session.scalar(
        select(sqlfunc.count()).where(
            Attempt.campaign_id == campaign.id,
            Attempt.status.in_((S.SCHEDULED, S.QUEUED, S.SENT)),
        )
    )
    if not open_entries and not texts:
        campaign.status = CampaignStatus.COMPLETED
        campaign.ended_at = now


# -- calls and texts ----------------------------------------------------------------------


async def place_call(ctx: dict[str, Any], attempt_id: int, customer_id: int | None = None) -> str:
    """Dial one queued attempt; what happened, in a word (for the job result).

    ``customer_id`` (the attempt's, for the per-customer lock) is looked up when not given.
    """
    dialer = _dialer(ctx)
    ready = await _checked(dialer, attempt_id, Channel.CALL, customer_id)
    if isinstance(ready, str):
        if ready in ("blocked", "not running"):
            await _free_previewer(dialer, attempt_id)
        return ready
    phone, dialing = ready
    try:
        sid = await dialer.provider.place_call(
            attempt_id=attempt_id,
            to=phone,
            machine_detection=dialing.machine_detection,
            ring_timeout=dialing.ring_timeout,
        )
    except TransientProviderError as error:
        return await _transient(ctx, dialer, attempt_id, S.INITIATED, error)
    except PermanentProviderError as error:
        await _failed(dialer, attempt_id, error)
        await _free_previewer(dialer, attempt_id)
        return "failed"
    await _keep_sid(dialer, attempt_id, sid)
    return "dialled"


async def _free_previewer(dialer: Dialer, attempt_id: int) -> None:
    """An agent who dialed the attempt from a preview is ready again: it never rang."""
    agent = await dialer.board.end_call(attempt_id, dialer.clock.now())
    if agent is None:
        return
    now = dialer.clock.utcnow()

    def ready(session: Session) -> None:
        campaign_id = session.scalar(select(Attempt.campaign_id).where(Attempt.id == attempt_id))
        session.add(
            AgentEvent(
                agent_id=agent,
                campaign_id=campaign_id,
                attempt_id=attempt_id,
                state="ready",
                at=now,
            )
        )

    await dialer.store(ready)


async def send_sms(ctx: dict[str, Any], attempt_id: int) -> str:
    """Send one scheduled text, rendered from the campaign kind's SMS template."""
    dialer = _dialer(ctx)
    ready = await _checked(dialer, attempt_id, Channel.SMS, None)
    if isinstance(ready, str):
        return ready
    phone, _ = ready
    body = await dialer.store(lambda s: _sms_body(s, attempt_id, dialer.config))
    try:
        sid = await dialer.provider.send_sms(attempt_id=attempt_id, to=phone, body=body)
    except TransientProviderError as error:
        return await _transient(ctx, dialer, attempt_id, S.QUEUED, error)
    except PermanentProviderError as error:
        await _failed(dialer, attempt_id, error)
        return "failed"
    await _keep_sid(dialer, attempt_id, sid)
    return "sent"


async def _checked(
    dialer: Dialer, attempt_id: int, channel: Channel, customer_id: int | None
) -> tuple[str, DialingSettings] | str:
    """``_ready_to_dial`` under the customer's lock: two workers never both pass the cap."""
    if customer_id is None:
        customer_id = await dialer.store(lambda s: s.scalar(_customer_of(attempt_id)))
    if customer_id is None:
        return "unknown"
    known = customer_id
    now = dialer.clock.utcnow()

    def check(session: Session) -> tuple[str, DialingSettings] | str:
        return _ready_to_dial(session, attempt_id, channel, now, customer_id=known)

    return await dialer.store(check)


# pg_advisory_xact_lock's first key: the customer locks' own space of advisory locks
_CUSTOMER_LOCKS = 0x7C0C
_LOCK_CUSTOMER = text("SELECT pg_advisory_xact_lock(:space, :customer_id)")


def lock_customer(session: Session, customer_id: int) -> None:
    """Hold the customer until the transaction ends: checking the contact policy and
    claiming the attempt happen one customer's contact at a time, so two workers never
    both pass a cap that only one contact fits.

    PostgreSQL: a transaction-scoped advisory lock (at READ COMMITTED the check that
    follows sees what the transaction that held it committed). SQLite: the dialer's
    transactions begin with ``BEGIN IMMEDIATE``, which already lets one writer in at a
    time, so there is nothing more to take. ``_ready_to_dial`` takes it in the same
    round trip as its first read when given the customer.
    """
    if has_advisory_locks(session):
        session.execute(_LOCK_CUSTOMER, {"space": _CUSTOMER_LOCKS, "customer_id": customer_id})


async def _keep_sid(dialer: Dialer, attempt_id: int, sid: str) -> None:
    """The carrier's id for the attempt, unless a callback already brought it.

    The carrier's first callback races the answer to the dial. On SQLite whichever comes
    second finds the id there with a read and takes no write lock; on PostgreSQL an
    UPDATE that matches nothing costs no more than that read would."""
    if is_sqlite(dialer.engine):
        known: str | None = await dialer.peek(
            lambda s: s.connection().scalar(_SID, {"attempt_id": attempt_id})
        )
        if known is not None:
            return
    await dialer.store_one(
        lambda s: s.connection().execute(_KEEP_SID, {"attempt_id": attempt_id, "sid": sid})
    )


def _customer_of(attempt_id: int) -> Any:
    return select(Attempt.customer_id).where(Attempt.id == attempt_id)


_ATTEMPTS = cast(Table, Attempt.__table__)
_CAMPAIGNS = cast(Table, Campaign.__table__)
# built once, run per call: plain columns of the tables, no ORM objects to load
_TO_DIAL = (
    select(
        _ATTEMPTS.c.status,
        _ATTEMPTS.c.provider_sid,
        _ATTEMPTS.c.customer_id,
        _ATTEMPTS.c.list_entry_id,
        _ATTEMPTS.c.phone,
        _CAMPAIGNS.c.id,
        _CAMPAIGNS.c.status,
        _CAMPAIGNS.c.kind,
        _CAMPAIGNS.c.pacing,
        _CAMPAIGNS.c.policy,
        _CAMPAIGNS.c.dialing,
    )
    .select_from(_ATTEMPTS.outerjoin(_CAMPAIGNS, _CAMPAIGNS.c.id == _ATTEMPTS.c.campaign_id))
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"))
)

_TO_DIAL_LOCKED = _TO_DIAL.add_columns(
    sqlfunc.pg_advisory_xact_lock(_CUSTOMER_LOCKS, bindparam("customer_id"))
)

_SID = select(_ATTEMPTS.c.provider_sid).where(_ATTEMPTS.c.id == bindparam("attempt_id"))
_KEEP_SID = (
    update(_ATTEMPTS)
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"), _ATTEMPTS.c.provider_sid.is_(None))
    .values(provider_sid=bindparam("sid"))
)


def _claim(channel: Channel) -> Update:
    """From waiting to started by compare-and-set: a second run of the job stops here."""
    c = _ATTEMPTS.c
    now = bindparam("now", type_=c.started_at.type)
    return (
        update(_ATTEMPTS)
        .where(c.id == bindparam("attempt_id"), c.status == _WAITING[channel])
        .values(
            status=S.INITIATED if channel is Channel.CALL else S.QUEUED,
            started_at=now,
            queued_at=sqlfunc.coalesce(c.queued_at, now),
        )
    )


# a text is claimed from scheduled to queued, a call from queued to initiated
_WAITING = {Channel.CALL: S.QUEUED, Channel.SMS: S.SCHEDULED}
_CLAIM = {channel: _claim(channel) for channel in Channel}


def _ready_to_dial(
    session: Session,
    attempt_id: int,
    channel: Channel,
    now: dt.datetime,
    *,
    customer_id: int | None = None,
) -> tuple[str, DialingSettings] | str:
    """Check the attempt once more and mark it started; a word when it must not go.

    Given the attempt's ``customer_id``, the customer's lock (``lock_customer``) is taken
    first. On PostgreSQL that is in the statement that reads the attempt: the read's
    snapshot may be older than the lock, which is harmless, as the claim below is a
    compare-and-set and the contact facts are read after, in a statement of their own.
    """
    if customer_id is not None and has_advisory_locks(session):
        params = {"attempt_id": attempt_id, "customer_id": customer_id}
        row = session.connection().execute(_TO_DIAL_LOCKED, params).one_or_none()
    else:
        if customer_id is not None:
            lock_customer(session, customer_id)
        row = session.connection().execute(_TO_DIAL, {"attempt_id": attempt_id}).one_or_none()
    if row is None:
        return "unknown"
    status, sid, customer_id, entry_id, phone, campaign_id, running, kind, *settings = row
    pacing, policy, dialing = settings[:3]  # then the lock's empty value, when taken here
    if status is not _WAITING[channel] or sid is not None:
        return "already"  # a job that ran before got this far
    if campaign_id is None:
        return "unknown"
    if running is not CampaignStatus.RUNNING and channel is Channel.CALL:
        # a paused or stopped list places no more calls; the entry waits for a resume
        apply_status(session, attempt_id, S.CANCELED, now=now, error_code="campaign_not_running")
        _reopen(session, entry_id)
        return "not running"
    verdict = check_contact(
        session,
        ContactPolicy.for_kind(kind, policy or {}),
        customer_id=customer_id,
        channel=channel,
        kind=kind,
        now=now,
        list_entry_id=entry_id,
        exclude_attempt_id=attempt_id,
    )
    if not verdict.allowed:
        apply_status(
            session,
            attempt_id,
            S.CANCELED,
            now=now,
            error_code=verdict.reason.value if verdict.reason else "policy",
        )
        if entry_id is not None and channel is Channel.CALL:
            hold(session, campaign_id, entry_id, customer_id, verdict)
        else:
            record_exclusion(
                session,
                campaign_id=campaign_id,
                customer_id=customer_id,
                list_entry_id=entry_id,
                stage="contact",
                verdict=verdict,
            )
        return "blocked"
    moved = session.connection().execute(_CLAIM[channel], {"attempt_id": attempt_id, "now": now})
    if moved.rowcount != 1:
        return "already"
    return phone, DialingSettings.of_values(kind, pacing, dialing)


def _reopen(session: Session, entry_id: int | None) -> None:
    if entry_id is None:
        return
    session.execute(
        update(ListEntry)
        .where(ListEntry.id == entry_id, ListEntry.status == E.IN_PROGRESS)
        .values(status=E.PENDING)
        .execution_options(synchronize_session=False)
    )


def _sms_body(session: Session, attempt_id: int, config: DialerConfig) -> str:
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    campaign = session.get(Campaign, attempt.campaign_id)
    customer = session.get(Customer, attempt.customer_id)
    entry = session.get(ListEntry, attempt.list_entry_id) if attempt.list_entry_id else None
    assert campaign is not None
    assert customer is not None
    first_name = customer.name.split()[0] if customer.name.strip() else None
    return render_sms(
        campaign.kind.value,
        company=config.company,
        first_name=first_name,
        callback_number=config.callback_number,
        offer=entry.offer if entry is not None else None,
        opt_out=OPT_OUT_LINE,
    ).text


async def _transient(
    ctx: dict[str, Any],
    dialer: Dialer,
    attempt_id: int,
    started: AttemptStatus,
    error: TransientProviderError,
) -> str:
    """Put the attempt back and retry the job later; give up after ``MAX_TRIES``.

    When the carrier may have placed it all the same (``maybe_placed``) the attempt stays
    started and is not tried again: a call the carrier took brings its SID with its first
    callback, and one it did not is closed by the reaper after ``LOST_AFTER``."""
    if error.maybe_placed:
        log.warning(
            "attempt %s: the carrier's answer was lost (%s); waiting for its callbacks",
            attempt_id,
            error,
        )
        return "unknown"
    job_try = int(ctx.get("job_try", 1))
    if job_try >= MAX_TRIES:
        await _failed(dialer, attempt_id, error)
        return "failed"
    back = S.QUEUED if started is S.INITIATED else S.SCHEDULED

    def undo(session: Session) -> None:
        session.execute(
            update(Attempt)
            .where(
                Attempt.id == attempt_id,
                Attempt.status == started,
                Attempt.provider_sid.is_(None),
            )
            .values(status=back, started_at=None)
            .execution_options(synchronize_session=False)
        )

    await dialer.store(undo)
    log.warning(
        "attempt %s: carrier unavailable (%s), try %s of %s",
        attempt_id,
        error.status,
        job_try,
        MAX_TRIES,
    )
    raise Retry(defer=backoff(job_try))


async def _failed(dialer: Dialer, attempt_id: int, error: Exception) -> None:
    code = getattr(error, "code", None) or getattr(error, "status", None) or "provider"
    now = dialer.clock.utcnow()
    change = await dialer.store(
        lambda s: apply_status(s, attempt_id, S.FAILED, now=now, error_code=str(code))
    )
    await dialer.after_change(change.texts, change.campaign_id)
    log.warning("attempt %s: the carrier refused it (%s)", attempt_id, code)


# -- start-up and housekeeping -----------------------------------------------------------


async def _startup(ctx: dict[str, Any]) -> None:
    config: DialerConfig = ctx["dialer_config"]
    dialer = await open_dialer(config)
    ctx["dialer"] = dialer
    await requeue_due(dialer)


async def _shutdown(ctx: dict[str, Any]) -> None:
    dialer = ctx.get("dialer")
    if dialer is not None:
        await dialer.close()


async def attribute_campaigns(ctx: dict[str, Any]) -> int:
    """Record the conversions of every list still within its windows (hourly).

    Launched lists that run, are paused, or ended less than the measurement plus the
    attribution window ago; attribution is idempotent, so each run only adds what the
    dispositions and the holdings feed show since the last.
    """
    dialer = _dialer(ctx)
    since = dialer.clock.utcnow() - dt.timedelta(days=MEASURE_DAYS + 60)

    def lists(session: Session) -> list[str]:
        return list(
            session.scalars(
                select(Campaign.name).where(
                    Campaign.launched_at.is_not(None),
                    or_(Campaign.ended_at.is_(None), Campaign.ended_at >= since),
                )
            )
        )

    names = await dialer.store(lists)
    engine = make_engine(dialer.engine.url.render_as_string(hide_password=False))
    try:
        for name in names:
            await asyncio.to_thread(attribute, engine, name)
    finally:
        engine.dispose()
    return len(names)


FUNCTIONS: list[Function] = [
    # no result kept: the attempt row says what became of it, and a result per call
    # would cost a write and an hour of Redis memory for every dial
    func(place_call, name="place_call", max_tries=MAX_TRIES, keep_result=0),
    func(send_sms, name="send_sms", max_tries=MAX_TRIES, keep_result=0),
    func(pace_campaign, name="pace_campaign", max_tries=1),
]


def worker_options(config: DialerConfig, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for this dialer's worker (``make_worker`` builds it: arq's
    ``Worker`` would run the jobs too, without ``DialerWorker``'s one-trip claims)."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["dialer_config"] = config
        await _startup(ctx)

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": [
            cron(
                pace,
                name=f"{config.prefix}:pace",
                second=set(range(60)),
                unique=True,
                run_at_startup=True,
            ),
            cron(reap, name=f"{config.prefix}:reap", second={0, 15, 30, 45}, unique=True),
            # its own engine: reads over whole lists must not hold the dialer's write lock
            cron(
                attribute_campaigns,
                name=f"{config.prefix}:attribute",
                minute=7,
                second=0,
                unique=True,
                timeout=1800,
            ),
        ],
        "redis_settings": redis_settings(config.redis_url),
        "queue_name": config.queue_name,
        "on_startup": startup,
        "on_shutdown": _shutdown,
        "max_jobs": 20,
        "keep_result": 3600,
        # a job a killed worker held is run again after this (the carrier answers in 15 s)
        "job_timeout": 60,
        "handle_signals": True,
        "poll_delay": 0.05,
    }
    options.update(overrides)
    return options


# arq's claim of one job, in one round trip: not running anywhere, still queued and due,
# then marked in progress (KEYS: the in-progress key, the queue; ARGV: the job id, now in
# ms, the in-progress key's lifetime in ms); the job's score, or nil when not ours to run
_CLAIM_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


# how long a job another worker holds is passed over before this worker asks again
ASK_AGAIN_AFTER = 0.25


class DialerWorker(Worker):
    """arq's worker, with each job claimed in one Redis round trip rather than four.

    A job stays at the head of the queue until it finishes, so every poll reads the
    jobs already running here and on the other workers again and tries to claim each:
    with arq's WATCH, EXISTS, ZSCORE and MULTI/EXEC (then UNWATCH) that was about 30
    round trips per dialled call with two workers. Here a job running on this worker
    is passed over without asking, one another worker was found running is not asked
    about again for ``ASK_AGAIN_AFTER`` seconds, and any other is claimed by one script
    that checks and marks it atomically, as arq's transaction does. Each poll's jobs
    are all due; the worker goes through them from a random place rather than from the
    head, where the other workers start too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim_job: AsyncScript | None = None
        # jobs another worker was found running: until when (monotonic) not to ask again
        self._elsewhere: dict[str, float] = {}

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if len(self._elsewhere) > 4 * self.queue_read_limit:
            now = time.monotonic()
            self._elsewhere = {job: until for job, until in self._elsewhere.items() if until > now}
        # every worker reads the same head of the queue: each starts at a place of its own
        # in it, so that two rarely reach for the same job
        start = random.randrange(len(job_ids)) if job_ids else 0
        for job_id_b in [*job_ids[start:], *job_ids[:start]]:
            job_id = job_id_b.decode()
            running = self.tasks.get(job_id)
            if running is not None and not running.done():
                continue  # running here
            if self._elsewhere.get(job_id, 0.0) > time.monotonic():
                continue  # running elsewhere a moment ago: it will be done soon
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            score = await self._claim(job_id)
            if score is None:  # running elsewhere, finished, or deferred
                self._elsewhere[job_id] = time.monotonic() + ASK_AGAIN_AFTER
                self.sem.release()
                continue
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, int(score)))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _claim(self, job_id: str) -> float | None:
        if self._claim_job is None:
            self._claim_job = self.pool.register_script(_CLAIM_JOB)
        score = await self._claim_job(
            keys=[in_progress_key_prefix + job_id, self.queue_name],
            args=[job_id, int(time.time() * 1000), int(self.in_progress_timeout_s * 1000)],
        )
        return None if score is None else float(score)


def make_worker(config: DialerConfig, **overrides: Any) -> Worker:
    """The dialer's worker for ``config``; ``overrides`` as arq's ``Worker`` takes them."""
    return DialerWorker(**worker_options(config, **overrides))
