"""What happens in the store when an attempt moves: its status and the facts the carrier
brings. What a final status makes of the list entry is ``dialer.settling``; what the
agent says the call came to is ``dialer.dispositions``.

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
from typing import Any

from sqlalchemy import (
    ColumnElement,
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

from dialer.change import ATTEMPTS, Change, forget, one_of
from dialer.pacing import PacingSettings
from dialer.settling import settle_change
from dialer.states import advance, behind, is_final, rank
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Channel,
    DispositionCode,
    EntryStatus,
)

__all__ = ["apply_status", "move_on", "unchanged"]

S = AttemptStatus
E = EntryStatus
D = DispositionCode
# a person answered and no agent came within this many seconds: an abandoned call
ABANDON_GRACE_SECONDS = PacingSettings().agent_connect_grace


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
        change.texts = settle_change(session, change, now=now)
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


# Core statements on the tables, built once: the ORM's bulk-update machinery and the
# statement building cost more than the round trip on these paths, run per callback
_CHANGED = (
    ATTEMPTS.c.channel,
    ATTEMPTS.c.campaign_id,
    ATTEMPTS.c.list_entry_id,
    ATTEMPTS.c.agent_id,
)


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


@functools.cache
def _end_statement(incoming: AttemptStatus, facts: frozenset[str]) -> tuple[Update, AttemptStatus]:
    """``UPDATE ... RETURNING`` moving an attempt from a status that is not final to the
    final ``incoming``; ``facts`` names the columns kept where none are recorded yet."""
    c = ATTEMPTS.c
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
        before.append((c.channel == channel) & one_of(c.status, lower))
        behind_it = lower[-1]
    if not before:
        raise ValueError(f"{incoming.value} is not a status an attempt can have")
    statement = (
        update(ATTEMPTS)
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
    c = ATTEMPTS.c
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
    c = ATTEMPTS.c
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
    forget(session, Attempt, attempt_id)
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
    change.texts = settle_change(session, change, now=now)
    return change


_STANDING = select(
    ATTEMPTS.c.status, ATTEMPTS.c.provider_sid, ATTEMPTS.c.answered_by, *_CHANGED
).where(ATTEMPTS.c.id == bindparam("attempt_id"))


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
    c = ATTEMPTS.c
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
        update(ATTEMPTS)
        .where(
            c.id == bindparam("attempt_id"),
            one_of(c.channel, channels),
            # at it already: a repeat, whose facts (the SID) may still be missing
            one_of(c.status, (*lower, incoming)),
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
    forget(session, Attempt, attempt_id)
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
