"""What happens in the store when an attempt moves: statuses, retries, SMS fallback,
dispositions.

Everything here is synchronous store work on one ``Session`` (the caller's transaction),
shared by the webhooks, the worker jobs and the simulated agents, so every path records
an outcome the same way.

An attempt's status is written by compare-and-set (``UPDATE ... WHERE status = <what
was read>``), not by locking: two callbacks for one call that race each other both end
in ``advance``'s furthest state, and the consequences of an outcome (the entry's next
try, a fallback text) run exactly once, in the transaction that made the status final.

An update that names the carrier's id for its call or text (``provider_sid``) is for
that call only: it applies while the attempt has no id yet (the id is then kept, in the
same compare-and-set) or has that one, and changes nothing on an attempt that is final
or is another call's. Twilio's signature has no timestamp, so a signed callback can be
replayed: only the call it was for, and only while that call is live, may act on it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Update,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from campaigns.outcomes import claim_conversion
from campaigns.policy import ContactPolicy
from dialer.dialing import DialingSettings
from dialer.pacing import PacingSettings
from dialer.states import advance, behind, is_final, rank
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Customer,
    Disposition,
    DispositionCode,
    DncChannel,
    DncEntry,
    EntryStatus,
    ListEntry,
)

__all__ = [
    "UNREACHED",
    "Change",
    "DispositionError",
    "NoConversation",
    "apply_status",
    "move_on",
    "new_attempt",
    "reached_agent",
    "record_disposition",
    "settle",
]

S = AttemptStatus
E = EntryStatus
D = DispositionCode
# call outcomes that reached no one: they count towards the SMS fallback
UNREACHED = (S.BUSY, S.NO_ANSWER, S.MACHINE, S.FAILED)
# a person answered and no agent came within this many seconds: an abandoned call
ABANDON_GRACE_SECONDS = PacingSettings().agent_connect_grace
# dispositions that end the entry: the customer was spoken to (or must not be again)
_CLOSING = frozenset({D.ACCEPTED, D.REFUSED, D.WRONG_PERSON, D.DO_NOT_CALL})
_RETRY_AS = {D.VOICEMAIL: S.MACHINE, D.NO_ANSWER: S.NO_ANSWER}
# a call an agent took is one of these while and after they talk; every other status
# (a machine, no answer, busy, failed, canceled, abandoned) is a call no one talked on
_CONVERSED = (S.IN_PROGRESS, S.COMPLETED)


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


def reached_agent(channel: Channel, status: AttemptStatus, agent_id: int | None) -> bool:
    """Whether the attempt is a call an agent took and talked on: the only attempts with
    an outcome of a conversation to record, and the only ones whose agent wraps up."""
    return channel is Channel.CALL and agent_id is not None and status in _CONVERSED


@dataclass
class Change:
    """One status update as applied: what it was, what it is, and what follows from it."""

    attempt_id: int
    channel: Channel
    campaign_id: int | None
    list_entry_id: int | None
    agent_id: int | None
    before: AttemptStatus
    after: AttemptStatus
    # texts to send now that this outcome is known (SMS fallback)
    texts: list[int] = field(default_factory=list)
    # the update was for an attempt already final, or for another call than the
    # attempt's: it changed nothing, and nothing may follow from it
    ignored: bool = False

    @classmethod
    def standing(cls, attempt: Attempt, *, ignored: bool = False) -> Change:
        """The attempt as it stands: a change that moved nothing."""
        return cls(
            attempt_id=attempt.id,
            channel=attempt.channel,
            campaign_id=attempt.campaign_id,
            list_entry_id=attempt.list_entry_id,
            agent_id=attempt.agent_id,
            before=attempt.status,
            after=attempt.status,
            ignored=ignored,
        )

    @property
    def moved(self) -> bool:
        return self.before is not self.after

    @property
    def became_final(self) -> bool:
        return not is_final(self.before) and is_final(self.after)


def apply_status(
    session: Session,
    attempt_id: int,
    incoming: AttemptStatus,
    *,
    now: dt.datetime,
    provider_sid: str | None = None,
    duration_s: int | None = None,
    answered_by: AnsweredBy | None = None,
    error_code: str | None = None,
) -> Change:
    """Move an attempt towards ``incoming`` (never back) and settle a final outcome.

    Duplicated and out-of-order updates are harmless: a status the attempt is already
    past changes nothing, but the facts it carries (the SID, the duration, who answered)
    are still kept where none are recorded yet. An attempt that is final takes nothing
    more, nor does one whose SID is not ``provider_sid`` (``Change.ignored``); the one
    fact still kept is who answered a call that ended (see ``_late_answerer``).
    """
    if not is_final(incoming) and duration_s is None and error_code is None:
        moved = _move_on(session, attempt_id, incoming, now, provider_sid, answered_by)
        if moved is not None:
            return moved
    elif is_final(incoming):
        ended = _end(
            session, attempt_id, incoming, now, provider_sid, duration_s, answered_by, error_code
        )
        if ended is not None:
            return ended
    while True:
        attempt = session.get(Attempt, attempt_id, populate_existing=True)
        if attempt is None:
            raise LookupError(f"no attempt with id {attempt_id}")
        before = attempt.status
        if is_final(before) or _foreign(attempt.provider_sid, provider_sid):
            if _late_answerer(session, attempt, provider_sid, answered_by):
                session.expire(attempt)
            return _ignored(attempt)
        after = advance(attempt.channel, before, incoming)
        values: dict[str, object] = {"status": after}
        if provider_sid and attempt.provider_sid is None:
            values["provider_sid"] = provider_sid
        if answered_by is not None and attempt.answered_by is None:
            values["answered_by"] = answered_by
        if error_code and attempt.error_code is None and after is incoming:
            values["error_code"] = error_code[:32]
        if duration_s is not None and attempt.duration_s is None and is_final(incoming):
            values["duration_s"] = duration_s
        if incoming in (S.INITIATED, S.RINGING, S.SENT) and attempt.started_at is None:
            values["started_at"] = now
        if incoming is S.IN_PROGRESS and attempt.answered_at is None:
            values["answered_at"] = now
        if is_final(after) and attempt.ended_at is None and is_final(incoming):
            values["ended_at"] = now
        if after is before and len(values) == 1:
            break
        swapped = session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.status == before, _ours(provider_sid))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if swapped.rowcount == 1:  # type: ignore[attr-defined]
            break
        # another writer moved it between our read and write: read again
    change = Change(
        attempt_id=attempt_id,
        channel=attempt.channel,
        campaign_id=attempt.campaign_id,
        list_entry_id=attempt.list_entry_id,
        agent_id=attempt.agent_id,
        before=before,
        after=after,
    )
    if change.became_final:
        session.expire(attempt)
        change.texts = _settle(session, change, now=now)
    return change


def _foreign(stored: str | None, incoming: str | None) -> bool:
    """Whether an update naming the call ``incoming`` is for another call than the one
    the attempt keeps (``stored``); an attempt with no id yet takes the first it is told."""
    return bool(incoming) and stored is not None and stored != incoming


def _ours(provider_sid: str | None) -> ColumnElement[bool]:
    """The compare-and-set's condition on the SID: none yet, or the update's own."""
    if not provider_sid:
        return true()
    return or_(Attempt.provider_sid.is_(None), Attempt.provider_sid == provider_sid)


def _late_answerer(
    session: Session,
    attempt: Attempt,
    provider_sid: str | None,
    answered_by: AnsweredBy | None,
) -> bool:
    """Keep who answered a call that ended (we marked it abandoned, or the carrier said
    completed) before answering-machine detection reported; whether it was kept.

    The one fact a final attempt still takes, from its own call and where none is
    recorded: a live answer is one a person gave, and pacing's abandon room, the KPIs and
    the disposition rules count on it, so a machine's verdict must not be lost to the
    order the callbacks arrived in (an agent who hears a greeting and hangs up ends the
    call before detection reports). It moves no status, agent or time.
    """
    if (
        answered_by is None
        or attempt.answered_at is None
        or attempt.answered_by is not None
        or not provider_sid
        or attempt.provider_sid != provider_sid
    ):
        return False
    kept = session.execute(
        update(Attempt)
        .where(
            Attempt.id == attempt.id,
            Attempt.answered_at.is_not(None),
            Attempt.answered_by.is_(None),
            Attempt.provider_sid == provider_sid,
        )
        .values(answered_by=answered_by)
        .execution_options(synchronize_session=False)
    )
    rows: int = kept.rowcount  # type: ignore[attr-defined]
    return rows == 1


def _ignored(attempt: Attempt) -> Change:
    return Change.standing(attempt, ignored=True)


_ATTEMPTS = cast(Table, Attempt.__table__)
_ENTRIES = cast(Table, ListEntry.__table__)
_CAMPAIGNS = cast(Table, Campaign.__table__)
# Core statements on the tables, built once: the ORM's bulk-update machinery and the
# statement building cost more than the round trip on these paths, run per callback
_CHANGED = (
    _ATTEMPTS.c.channel,
    _ATTEMPTS.c.campaign_id,
    _ATTEMPTS.c.list_entry_id,
    _ATTEMPTS.c.agent_id,
)


def _one_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` with a parameter per value, rendered once: an expanding IN
    (SQLAlchemy's default) is rendered again on every execution."""
    return column.in_([literal(value, column.type) for value in values])  # type: ignore[no-any-return]


def _facts(
    provider_sid: str | None,
    answered_by: AnsweredBy | None,
    error_code: str | None = None,
    duration_s: int | None = None,
) -> dict[str, Any]:
    """The facts a callback brings that the attempt row keeps, by column."""
    facts: dict[str, Any] = {}
    if provider_sid:
        facts["provider_sid"] = provider_sid
    if answered_by is not None:
        facts["answered_by"] = answered_by
    if error_code:
        facts["error_code"] = error_code[:32]
    if duration_s is not None:
        facts["duration_s"] = duration_s
    return facts


def _forget(session: Session, model: type[Any], row_id: int) -> None:
    """Expire an object of the session that a Core UPDATE just changed under it."""
    loaded = session.identity_map.get(session.identity_key(model, row_id))
    if loaded is not None:
        session.expire(loaded)


@functools.cache
def _end_statement(incoming: AttemptStatus, facts: frozenset[str]) -> tuple[Update, AttemptStatus]:
    """``UPDATE ... RETURNING`` moving an attempt from a status that is not final to the
    final ``incoming``; ``facts`` names the columns kept where none are recorded yet."""
    c = _ATTEMPTS.c
    values: dict[str, Any] = {
        "status": _unconnected(incoming, facts) if incoming is S.COMPLETED else incoming,
        "ended_at": func.coalesce(c.ended_at, bindparam("now", type_=c.ended_at.type)),
    }
    for name in facts:
        column = c[name]
        values[name] = func.coalesce(column, bindparam(f"new_{name}", type_=column.type))
    before = []
    behind_it = S.QUEUED
    for channel in Channel:
        try:
            top = rank(channel, incoming)
        except KeyError:
            continue
        lower = [s for s in AttemptStatus if not is_final(s) and _below(channel, s, top)]
        before.append((c.channel == channel) & _one_of(c.status, lower))
        behind_it = lower[-1]
    if not before:
        raise ValueError(f"{incoming.value} is not a status an attempt can have")
    statement = (
        update(_ATTEMPTS)
        .where(c.id == bindparam("attempt_id"), or_(*before), _sid_is_ours(facts))
        .values(**values)
        .returning(*_CHANGED, c.status)
    )
    return statement, behind_it


def _unconnected(incoming: AttemptStatus, facts: frozenset[str]) -> Any:
    """The carrier's ``completed`` for an answered call that no agent took, that no
    machine answered, and that lasted the 2 s grace or longer, is an abandoned call: a
    person answered and nobody came (our answer webhook never ran, or never finished).
    A caller who hung up within the grace is a completed call, as is a machine's."""
    c = _ATTEMPTS.c
    duration = (
        bindparam("new_duration_s", type_=c.duration_s.type)
        if "duration_s" in facts
        else literal(None, c.duration_s.type)
    )
    person = or_(
        c.answered_by.is_(None), c.answered_by.not_in((AnsweredBy.MACHINE, AnsweredBy.FAX))
    )
    return case(
        (
            (c.channel == Channel.CALL)
            & c.answered_at.is_not(None)
            & c.agent_id.is_(None)
            & person
            & (func.coalesce(duration, ABANDON_GRACE_SECONDS) >= ABANDON_GRACE_SECONDS),
            literal(S.ABANDONED, c.status.type),
        ),
        else_=literal(incoming, c.status.type),
    )


def _sid_is_ours(facts: frozenset[str]) -> ColumnElement[bool]:
    """For a statement given ``new_provider_sid``: the attempt has no SID yet or that one
    (``_ours`` with the SID as a parameter, for statements built once)."""
    if "provider_sid" not in facts:
        return true()
    c = _ATTEMPTS.c
    sid = bindparam("new_provider_sid", type_=c.provider_sid.type)
    return or_(c.provider_sid.is_(None), c.provider_sid == sid)


def _below(channel: Channel, status: AttemptStatus, top: int) -> bool:
    try:
        return rank(channel, status) < top
    except KeyError:
        return False


def _end(
    session: Session,
    attempt_id: int,
    incoming: AttemptStatus,
    now: dt.datetime,
    provider_sid: str | None,
    duration_s: int | None,
    answered_by: AnsweredBy | None,
    error_code: str | None,
) -> Change | None:
    """A final status for an attempt not yet final: one UPDATE, then the settlement.
    None when the attempt is final already (or not there): the caller reads."""
    facts = _facts(provider_sid, answered_by, error_code, duration_s)
    statement, behind_it = _end_statement(incoming, frozenset(facts))
    params = {f"new_{name}": value for name, value in facts.items()}
    row = (
        session.connection()
        .execute(statement, {"attempt_id": attempt_id, "now": now, **params})
        .first()
    )
    if row is None:
        return None
    _forget(session, Attempt, attempt_id)
    channel, campaign_id, entry_id, agent_id, after = row
    change = Change(
        attempt_id=attempt_id,
        channel=Channel(channel),
        campaign_id=campaign_id,
        list_entry_id=entry_id,
        agent_id=agent_id,
        before=behind_it,  # some status that is not final: which one is not read
        after=AttemptStatus(after),
    )
    change.texts = _settle(session, change, now=now)
    return change


_STANDING = select(
    _ATTEMPTS.c.status, _ATTEMPTS.c.provider_sid, _ATTEMPTS.c.answered_by, *_CHANGED
).where(_ATTEMPTS.c.id == bindparam("attempt_id"))


def unchanged(
    session: Session,
    attempt_id: int,
    incoming: AttemptStatus,
    *,
    provider_sid: str | None = None,
    answered_by: AnsweredBy | None = None,
) -> Change | None:
    """The attempt as it stands, when ``incoming`` (not final) would change nothing on it:
    it is at that status or past it and already has the facts the update brings, or it
    takes nothing from the update (final, or another call's: ``Change.ignored``). None
    when there is something to write, or no such attempt: ``move_on`` or
    ``apply_status`` decides.

    A read: a repeated or late progress callback (the carrier's "initiated" for a call
    the worker marked initiated itself) takes no write lock.
    """
    if is_final(incoming):
        raise ValueError(f"{incoming.value} is final: apply_status settles it")
    row = session.connection().execute(_STANDING, {"attempt_id": attempt_id}).first()
    if row is None:
        return None
    status, sid, by, channel, campaign_id, entry_id, agent_id = row
    channel = Channel(channel)
    ignored = is_final(status) or _foreign(sid, provider_sid)
    new_fact = bool(provider_sid and sid is None) or (answered_by is not None and by is None)
    if ignored:
        # who answered is still kept on an abandoned call: ``_late_answerer``
        to_write = answered_by is not None and status is S.ABANDONED and by is None
    else:
        past_it = channel in behind(incoming)[0] and advance(channel, status, incoming) is status
        to_write = new_fact or not past_it
    if to_write:
        return None
    return Change(
        attempt_id=attempt_id,
        channel=channel,
        campaign_id=campaign_id,
        list_entry_id=entry_id,
        agent_id=agent_id,
        before=status,
        after=status,
        ignored=ignored,
    )


def move_on(
    session: Session,
    attempt_id: int,
    incoming: AttemptStatus,
    *,
    now: dt.datetime,
    provider_sid: str | None = None,
    answered_by: AnsweredBy | None = None,
) -> Change | None:
    """``apply_status`` for a status that is not final, when one statement does it all
    (the attempt is behind it or at it); None when ``apply_status`` must decide.

    Nothing follows from such a move, so it needs no transaction of its own.
    """
    if is_final(incoming):
        raise ValueError(f"{incoming.value} is final: apply_status settles it")
    return _move_on(session, attempt_id, incoming, now, provider_sid, answered_by)


@functools.cache
def _move_statement(
    incoming: AttemptStatus, facts: frozenset[str]
) -> tuple[Update, tuple[AttemptStatus, ...]]:
    """``UPDATE ... RETURNING`` for ``_move_on``, and the statuses it moves on from."""
    c = _ATTEMPTS.c
    channels, lower = behind(incoming)
    values: dict[str, Any] = {"status": incoming}
    for name in facts:
        column = c[name]
        values[name] = func.coalesce(column, bindparam(f"new_{name}", type_=column.type))
    now = bindparam("now", type_=c.started_at.type)
    if incoming in (S.INITIATED, S.RINGING, S.SENT):
        values["started_at"] = func.coalesce(c.started_at, now)
    if incoming is S.IN_PROGRESS:
        values["answered_at"] = func.coalesce(c.answered_at, now)
    statement = (
        update(_ATTEMPTS)
        .where(
            c.id == bindparam("attempt_id"),
            _one_of(c.channel, channels),
            # at it already: a repeat, whose facts (the SID) may still be missing
            _one_of(c.status, (*lower, incoming)),
            _sid_is_ours(facts),
        )
        .values(**values)
        .returning(*_CHANGED)
    )
    return statement, lower


def _move_on(
    session: Session,
    attempt_id: int,
    incoming: AttemptStatus,
    now: dt.datetime,
    provider_sid: str | None,
    answered_by: AnsweredBy | None,
) -> Change | None:
    """A status that is not final, for an attempt behind it or at it: one UPDATE, nothing
    to settle. None when the attempt is past it (or not there): the caller reads."""
    facts = _facts(provider_sid, answered_by)
    statement, lower = _move_statement(incoming, frozenset(facts))
    params = {f"new_{name}": value for name, value in facts.items()}
    row = (
        session.connection()
        .execute(statement, {"attempt_id": attempt_id, "now": now, **params})
        .first()
    )
    if row is None:
        return None
    _forget(session, Attempt, attempt_id)
    channel, campaign_id, entry_id, agent_id = row
    return Change(
        attempt_id=attempt_id,
        channel=Channel(channel),
        campaign_id=campaign_id,
        list_entry_id=entry_id,
        agent_id=agent_id,
        before=lower[-1],  # some status behind it: which one is not read
        after=incoming,
    )


def settle(session: Session, attempt: Attempt, *, now: dt.datetime) -> list[int]:
    """The consequence of a final outcome for the list entry; returns texts to send.

    A call an agent took waits for the agent's disposition. Otherwise the entry is
    tried again after the campaign's delay for the outcome, up to the policy's attempts;
    after ``sms_after_failed_calls`` calls that reached no one it gets one text instead.
    """
    return _settle(session, Change.standing(attempt), now=now)


def _settle(session: Session, change: Change, *, now: dt.datetime) -> list[int]:
    """``settle`` for an attempt just made final, from what its update returned."""
    entry_id, campaign_id = change.list_entry_id, change.campaign_id
    if entry_id is None or campaign_id is None or change.channel is Channel.SMS:
        return []
    status = change.after
    if status is S.COMPLETED and change.agent_id is not None:
        return []  # the agent's disposition decides
    if status is S.COMPLETED:
        status = S.NO_ANSWER  # hung up before anyone took it: as if unanswered
    row = (
        session.connection()
        .execute(_SETTLING, {"entry_id": entry_id, "campaign_id": campaign_id})
        .one_or_none()
    )
    if row is None:
        return []
    entry_status, kind, pacing, policy, dialing, unreached, tried = row
    if entry_status in (E.DONE, E.EXCLUDED):
        return []
    decision = _decide(
        DialingSettings.of_values(kind, pacing, dialing),
        ContactPolicy.for_kind(kind, policy or {}),
        status,
        unreached=int(unreached or 0),
        tried=int(tried or 0),
        now=now,
    )
    if decision.due_at is None:
        session.connection().execute(_END_ENTRY, {"entry_id": entry_id, "status": decision.status})
    else:
        values = {"entry_id": entry_id, "status": decision.status, "due_at": decision.due_at}
        session.connection().execute(_DUE_ENTRY, values)
    _forget(session, ListEntry, entry_id)
    if not decision.text:
        return []
    entry = session.get(ListEntry, entry_id)
    assert entry is not None
    return [_queue_text(session, entry, now=now)]


def _settling() -> Select[Any]:
    """The entry, its campaign's settings, and the entry's calls that reached no one and
    that were tried (counted, not filtered on the status: SQLite keeps to the entry's
    index then)."""
    a, e, k = _ATTEMPTS.c, _ENTRIES.c, _CAMPAIGNS.c
    calls = (a.list_entry_id == e.id) & (a.channel == Channel.CALL)
    unreached = select(func.count(case((_one_of(a.status, UNREACHED), 1)))).where(calls)
    untried = (S.SCHEDULED, S.QUEUED, S.CANCELED)
    tried = select(func.count(case((~_one_of(a.status, untried), 1)))).where(calls)
    return (
        select(
            e.status,
            k.kind,
            k.pacing,
            k.policy,
            k.dialing,
            unreached.scalar_subquery(),
            tried.scalar_subquery(),
        )
        .select_from(_ENTRIES.join(_CAMPAIGNS, k.id == bindparam("campaign_id")))
        .where(e.id == bindparam("entry_id"))
    )


_SETTLING = _settling()
_END_ENTRY = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("entry_id"))
    .values(status=bindparam("status"))
)
_DUE_ENTRY = _END_ENTRY.values(due_at=bindparam("due_at"))


@dataclass(frozen=True)
class _Decision:
    status: EntryStatus
    due_at: dt.datetime | None = None  # None: left as it is
    text: bool = False


def _decide(
    dialing: DialingSettings,
    policy: ContactPolicy,
    outcome: AttemptStatus,
    *,
    unreached: int,
    tried: int,
    now: dt.datetime,
) -> _Decision:
    """What becomes of the entry after ``outcome``, given its calls so far."""
    if outcome is S.ABANDONED:
        # the contact policy keeps the customer out for the abandon cooldown
        return _Decision(E.PENDING, now + dt.timedelta(hours=policy.abandon_cooldown_hours))
    after = dialing.sms_after_failed_calls
    if after and unreached >= after and outcome in UNREACHED:
        return _Decision(E.DONE, text=True)
    delay = dialing.retry_delay_minutes(outcome)
    if delay is None or tried >= policy.max_attempts:
        return _Decision(E.DONE)
    return _Decision(E.PENDING, now + dt.timedelta(minutes=delay))


def _next_try(
    session: Session,
    entry: ListEntry,
    campaign: Campaign,
    outcome: AttemptStatus,
    *,
    now: dt.datetime,
) -> list[int]:
    dialing = DialingSettings.of(campaign)
    policy = ContactPolicy.of(campaign)
    calls = session.execute(
        select(Attempt.status).where(
            Attempt.list_entry_id == entry.id, Attempt.channel == Channel.CALL
        )
    ).scalars()
    statuses = list(calls)
    decision = _decide(
        dialing,
        policy,
        outcome,
        unreached=sum(s in UNREACHED for s in statuses),
        tried=sum(s not in (S.SCHEDULED, S.QUEUED, S.CANCELED) for s in statuses),
        now=now,
    )
    entry.status = decision.status
    if decision.due_at is not None:
        entry.due_at = decision.due_at
    return [_queue_text(session, entry, now=now)] if decision.text else []


def _queue_text(session: Session, entry: ListEntry, *, now: dt.datetime) -> int:
    """A scheduled SMS attempt for the entry; the caller queues its job after commit."""
    already = session.scalar(
        select(Attempt.id).where(Attempt.list_entry_id == entry.id, Attempt.channel == Channel.SMS)
    )
    if already is not None:
        return int(already)
    return new_attempt(session, entry, Channel.SMS, S.SCHEDULED, now=now)


def new_attempt(
    session: Session,
    entry: ListEntry,
    channel: Channel,
    status: AttemptStatus,
    *,
    now: dt.datetime,
) -> int:
    """A new attempt row for the entry, to the customer's number on record; its id."""
    phone = session.scalar(select(Customer.phone).where(Customer.id == entry.customer_id))
    attempt = Attempt(
        campaign_id=entry.campaign_id,
        list_entry_id=entry.id,
        customer_id=entry.customer_id,
        channel=channel,
        phone=phone or "",
        status=status,
        created_at=now,
        due_at=now,
        queued_at=now if status is S.QUEUED else None,
    )
    session.add(attempt)
    session.flush()
    return attempt.id


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
            texts = _next_try(session, entry, campaign, _RETRY_AS[code], now=now)
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
