"""Recording a call's outcome (its disposition): one service for the agent console and
the simulated agents alike.

``find_call`` looks up an agent's call; ``record_outcome`` checks the outcome, records
it with the agent's move in the history, moves the agent on the board and asks for what
the outcome brings (its texts, a pacing pass); ``record_disposition`` is its store write,
in the caller's transaction. Errors, each a ``DispositionError``:

    CallNotFound          no such call, or not the agent's: the two look the same
    NoConversation        the call never reached an agent
    InvalidOutcome        a field of the outcome cannot be used; ``field`` names it
    CallStillConnected    the agent is still talking on it
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.outcomes import claim_conversion
from dialer.agents import AgentState, AgentStatus, BoardError
from dialer.change import reached_agent
from dialer.context import Dialer
from dialer.settling import next_try
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    Campaign,
    Customer,
    Disposition,
    DispositionCode,
    DncChannel,
    DncEntry,
    EntryStatus,
    ListEntry,
)

__all__ = [
    "FUNNEL_STAGES",
    "PAUSE_CODES",
    "AgentCall",
    "CallNotFound",
    "CallStillConnected",
    "DispositionError",
    "InvalidOutcome",
    "NoConversation",
    "Outcome",
    "Recorded",
    "Unreached",
    "WrapUp",
    "end_recorded_wrap",
    "find_call",
    "record_disposition",
    "record_outcome",
]

log = logging.getLogger("telecampaign.dispositions")
S = AttemptStatus
E = EntryStatus
D = DispositionCode

PAUSE_CODES: Final = ("break", "lunch", "training", "meeting", "technical", "coaching")
# where in the conversation a refusal came: the stages the KPIs count refusals by
FUNNEL_STAGES: Final = (
    ("contact", "Opening"),
    ("needs", "Needs"),
    ("offer", "Offer"),
    ("objection", "Objections"),
    ("closing", "Closing"),
)
_AFTER_WRAP = (AgentState.READY, AgentState.PAUSED, AgentState.OFFLINE)
# dispositions that end the entry: the customer was spoken to (or must not be again)
_CLOSING = frozenset({D.ACCEPTED, D.REFUSED, D.WRONG_PERSON, D.DO_NOT_CALL})
_RETRY_AS = {D.VOICEMAIL: S.MACHINE, D.NO_ANSWER: S.NO_ANSWER}
# what ``checked`` compares an outcome against, made once rather than per outcome
_CODES = frozenset(c.value for c in D)
_CHOOSE_CODE = "choose an outcome: " + ", ".join(c.value for c in D)
_STAGES = frozenset(value for value, _ in FUNNEL_STAGES)


class DispositionError(ValueError):
    """A disposition that cannot be recorded; the message says which field and why."""


class InvalidOutcome(DispositionError):
    """A field of a disposition that cannot be used, and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NoConversation(DispositionError):
    """A disposition for an attempt that never reached an agent: there is nothing to say
    the conversation came to (a machine, no answer, busy, failed, abandoned, a text)."""

    def __init__(self) -> None:
        super().__init__("this call never reached an agent: no disposition to record")


class CallNotFound(DispositionError):
    """No call of that id is the agent's."""


class CallStillConnected(DispositionError):
    def __init__(self) -> None:
        super().__init__("The call is still connected: record its outcome once it has ended.")


class Unreached(enum.Enum):
    """What to do when the call turns out never to have reached the agent."""

    REFUSE = "refuse"  # raise NoConversation: nothing is written
    RELEASE = "release"  # the wrap-up ends all the same, with nothing recorded


@dataclass(frozen=True)
class Outcome:
    """What the agent says the call came to; ``code`` is checked by ``record_outcome``."""

    code: str | None
    refusal_reason: str | None = None
    funnel_stage: str | None = None
    callback_at: dt.datetime | None = None
    callback_shared: bool = False
    notes: str | None = None


@dataclass(frozen=True)
class WrapUp:
    """Where the agent goes after the call: ready, paused (for ``pause_code``) or offline."""

    then: str = AgentState.READY.value
    pause_code: str | None = None


@dataclass(frozen=True)
class AgentCall:
    attempt: Attempt
    zone: str | None  # the customer's time zone, by name
    disposition: Disposition | None  # recorded already


@dataclass(frozen=True)
class Recorded:
    """A recorded outcome; ``disposition`` None when nothing was (``Unreached.RELEASE``)."""

    disposition: Disposition | None
    repeated: bool = False
    campaign_id: int | None = None
    status: AgentStatus | None = None  # the agent after the wrap-up


def record_disposition(
    session: Session,
    *,
    attempt_id: int,
    agent_id: int | None,
    code: DispositionCode | str,
    now: dt.datetime,
    refusal_reason: str | None = None,
    funnel_stage: str | None = None,
    callback_at: dt.datetime | None = None,
    callback_shared: bool = False,
    notes: str | None = None,
) -> tuple[Disposition, list[int]]:
    """Record what the agent (or a simulated one) said the call came to.

    Idempotent per attempt: a second click returns the first disposition unchanged.
    Returns the disposition and any texts to send. ``NoConversation`` for an attempt no
    agent talked on (``reached_agent``): a machine's or an unanswered call's outcome is
    the carrier's, and a "refused" on it would count a refusal no one made.
    """
    try:
        code = DispositionCode(code)
    except ValueError:
        known = ", ".join(c.value for c in DispositionCode)
        raise InvalidOutcome("code", f"{code!r} is not a disposition; one of {known}") from None
    existing = session.scalars(
        select(Disposition).where(Disposition.attempt_id == attempt_id)
    ).first()
    if existing is not None:
        return existing, []
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        raise LookupError(f"no attempt with id {attempt_id}")
    if not reached_agent(attempt.channel, attempt.status, attempt.agent_id):
        raise NoConversation
    if code is D.REFUSED and not (refusal_reason and refusal_reason.strip()):
        raise InvalidOutcome("refusal_reason", "say why the customer refused")
    if code is D.CALLBACK:
        if callback_at is None:
            raise InvalidOutcome("callback_at", "give the time to call back")
        if callback_at.tzinfo is None:
            raise InvalidOutcome("callback_at", "give the time with its time zone")
        if callback_at <= now:
            raise InvalidOutcome("callback_at", "the call-back time must be in the future")
    disposition = Disposition(
        attempt_id=attempt_id,
        list_entry_id=attempt.list_entry_id,
        customer_id=attempt.customer_id,
        agent_id=agent_id,
        code=code.value,
        refusal_reason=refusal_reason.strip()[:120] if refusal_reason else None,
        funnel_stage=funnel_stage[:32] if funnel_stage else None,
        callback_at=callback_at if code is D.CALLBACK else None,
        callback_shared=callback_shared if code is D.CALLBACK else False,
        notes=notes,
        created_at=now,
    )
    session.add(disposition)
    if code is D.DO_NOT_CALL:
        _do_not_call(session, attempt.phone, now=now)
    texts: list[int] = []
    entry = session.get(ListEntry, attempt.list_entry_id) if attempt.list_entry_id else None
    campaign = session.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
    if entry is not None and entry.status not in (E.DONE, E.EXCLUDED):
        if code in _CLOSING:
            entry.status = E.DONE
            if code is D.ACCEPTED:
                claim_conversion(session, entry=entry, at=now)
        elif code is D.CALLBACK:
            entry.status = E.CALLBACK
            entry.due_at = callback_at
            entry.assigned_agent_id = None if callback_shared else agent_id
        elif campaign is not None:
            texts = next_try(session, entry, campaign, _RETRY_AS[code], now=now)
    session.flush()
    return disposition, texts


def _do_not_call(session: Session, phone: str, *, now: dt.datetime) -> None:
    listed = session.scalar(
        select(func.count()).where(
            DncEntry.phone == phone,
            DncEntry.channel == DncChannel.ALL,
            DncEntry.revoked_at.is_(None),
        )
    )
    if not listed:
        session.add(
            DncEntry(
                phone=phone,
                channel=DncChannel.ALL,
                source="agent",
                reason="asked on a call not to be contacted again",
                created_at=now,
            )
        )


async def find_call(dialer: Dialer, agent_id: int, attempt_id: int) -> AgentCall:
    """The agent's call, with its customer's zone and its disposition if recorded; for a
    call no agent talked on and none recorded, ``NoConversation``."""
    taker = await dialer.board.agent_of(attempt_id)

    def own(session: Session) -> AgentCall | None:
        attempt = session.get(Attempt, attempt_id)
        if attempt is None or (attempt.agent_id or taker) != agent_id:
            return None
        zone = session.scalar(select(Customer.timezone).where(Customer.id == attempt.customer_id))
        done = session.scalars(
            select(Disposition).where(Disposition.attempt_id == attempt_id)
        ).first()
        return AgentCall(attempt, zone, done)

    found = await dialer.gateway.read_apart(own, quick=True)
    if found is None:  # someone else's call looks the same as no call: nothing leaks
        raise CallNotFound(f"no call {attempt_id} of yours")
    attempt = found.attempt
    if found.disposition is None and not reached_agent(
        attempt.channel, attempt.status, attempt.agent_id
    ):
        raise NoConversation
    return found


def checked(outcome: Outcome) -> Outcome:
    """The outcome as it is recorded; ``InvalidOutcome`` for the first field that cannot
    be used."""
    if outcome.code not in _CODES:
        raise InvalidOutcome("code", _CHOOSE_CODE)
    code = D(outcome.code)
    reason, stage = outcome.refusal_reason, outcome.funnel_stage
    if code is D.REFUSED:
        if reason is None:
            raise InvalidOutcome("refusal_reason", "say why the customer refused")
        if stage not in _STAGES:
            raise InvalidOutcome("funnel_stage", "choose the stage the customer refused at")
    elif code is D.ACCEPTED:
        stage = "closed"  # the funnel report counts a sale at the close
    else:
        reason = stage = None
    callback_at, shared = None, False
    if code is D.CALLBACK:
        if outcome.callback_at is None:
            raise InvalidOutcome("callback_at", "give the time to call back")
        callback_at, shared = outcome.callback_at, outcome.callback_shared
    return replace(
        outcome,
        code=code.value,
        refusal_reason=reason,
        funnel_stage=stage,
        callback_at=callback_at,
        callback_shared=shared,
    )


def after_wrap(wrap: WrapUp) -> tuple[AgentState, str | None]:
    """The agent's state after the wrap-up and its pause code; ``InvalidOutcome`` when
    either cannot be used."""
    if wrap.then not in _AFTER_WRAP:
        raise InvalidOutcome("then", "after the call: ready, paused or offline")
    then = AgentState(wrap.then)
    pause_code = wrap.pause_code if then is AgentState.PAUSED else None
    if then is AgentState.PAUSED and pause_code not in PAUSE_CODES:
        raise InvalidOutcome("pause_code", f"choose a pause reason: {', '.join(PAUSE_CODES)}")
    return then, pause_code


async def record_outcome(
    dialer: Dialer,
    *,
    agent_id: int,
    attempt_id: int,
    outcome: Outcome | Callable[[Session, Attempt], Outcome],
    wrap: WrapUp = WrapUp(),
    unreached: Unreached = Unreached.REFUSE,
) -> Recorded:
    """Record the outcome of the agent's call and end the agent's wrap-up; a repeat gives
    the first disposition back (``repeated``), moving nothing.

    ``outcome`` may be decided in the recording transaction from the attempt (a simulated
    agent's draw); it is checked there, as a given one is checked before anything else.
    """
    if isinstance(outcome, Outcome):
        outcome = checked(outcome)  # the outcome's fields first, then the wrap-up's
    then, pause_code = after_wrap(wrap)
    status = await dialer.board.status(agent_id)
    if status.state is AgentState.TALK and status.attempt_id == attempt_id:
        raise CallStillConnected
    now = dialer.clock.utcnow()

    def record(session: Session) -> tuple[Disposition | None, int | None, list[int]]:
        attempt = session.get(Attempt, attempt_id)
        if attempt is None:
            if unreached is Unreached.RELEASE:
                return None, None, []
            raise CallNotFound(f"no call {attempt_id}")
        said = checked(outcome(session, attempt)) if callable(outcome) else outcome
        row: Disposition | None = None
        texts: list[int] = []
        try:
            row, texts = record_disposition(
                session,
                attempt_id=attempt_id,
                agent_id=agent_id,
                code=str(said.code),
                now=now,
                refusal_reason=said.refusal_reason,
                funnel_stage=said.funnel_stage,
                callback_at=said.callback_at,
                callback_shared=said.callback_shared,
                notes=said.notes,
            )
        except NoConversation:
            if unreached is Unreached.REFUSE:
                raise
        session.add(
            AgentEvent(
                agent_id=agent_id,
                campaign_id=attempt.campaign_id,
                attempt_id=attempt_id,
                state=then.value,
                pause_code=pause_code,
                at=now,
            )
        )
        return row, attempt.campaign_id, texts

    try:
        row, campaign_id, texts = await dialer.gateway.write(record)
    except IntegrityError:
        # a second click raced the first: the first one's row is the answer
        repeat = await dialer.gateway.write(
            lambda s: s.scalars(
                select(Disposition).where(Disposition.attempt_id == attempt_id)
            ).first()
        )
        if repeat is None:
            raise
        return Recorded(repeat, repeated=True)
    status = await _finish_wrap(dialer, agent_id, attempt_id, then, pause_code)
    if row is not None:
        await dialer.after_change(texts, campaign_id)
    return Recorded(row, campaign_id=campaign_id, status=status)


async def end_recorded_wrap(
    dialer: Dialer, agent_id: int, attempt_id: int, campaign_id: int | None
) -> AgentStatus | None:
    """Make ready an agent still in wrap-up on a call whose outcome is recorded, with the
    move in the history; None when the agent is not in that wrap-up. A board put back from
    the store's history (``dialer.board_restore``) read before the outcome was written can
    leave one there, and a recorded outcome is never asked for again."""
    status = await dialer.board.status(agent_id)
    if status.state is not AgentState.WRAP or status.attempt_id != attempt_id:
        return None
    try:
        status = await dialer.board.finish_wrap(agent_id, attempt_id, dialer.clock.now())
    except BoardError:
        return None  # moved on meanwhile
    at = dialer.clock.utcnow()
    event = AgentEvent(
        agent_id=agent_id, campaign_id=campaign_id, attempt_id=attempt_id, state="ready", at=at
    )
    await dialer.gateway.write(lambda s: s.add(event))
    log.warning("agent %s: wrap-up of attempt %s ended, its outcome was in", agent_id, attempt_id)
    return status


async def _finish_wrap(
    dialer: Dialer, agent_id: int, attempt_id: int, then: AgentState, pause_code: str | None
) -> AgentStatus:
    try:
        return await dialer.board.finish_wrap(
            agent_id, attempt_id, dialer.clock.now(), then=then, code=pause_code
        )
    except BoardError as error:
        log.warning("attempt %s: disposition kept, board not moved (%s)", attempt_id, error)
        return await dialer.board.status(agent_id)
