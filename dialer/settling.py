"""What a final outcome makes of the list entry: the next try after the campaign's delay,
the end of the entry, or a fallback text after calls that reached no one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from campaigns.settings.model import CampaignSettings, MachineAction
from campaigns.settings.versions import in_force, settings_of
from dialer.change import ATTEMPTS, CAMPAIGNS, ENTRIES, Change, forget, one_of
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Customer,
    EntryStatus,
    ListEntry,
)

__all__ = ["UNREACHED", "new_attempt", "next_try", "settle", "settle_change"]

S = AttemptStatus
E = EntryStatus
# call outcomes that reached no one: they count towards the SMS fallback
UNREACHED = (S.BUSY, S.NO_ANSWER, S.MACHINE, S.FAILED)


def settle(session: Session, attempt: Attempt, *, now: dt.datetime) -> list[int]:
    """The consequence of a final outcome for the list entry; returns texts to send.

    A call an agent took waits for the agent's disposition. Otherwise the entry is
    tried again after the campaign's delay for the outcome, up to the policy's attempts;
    after ``sms_after_failed_calls`` calls that reached no one it gets one text instead.
    """
    return settle_change(session, Change.standing(attempt), now=now)


def settle_change(session: Session, change: Change, *, now: dt.datetime) -> list[int]:
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
    entry_status, kind, version, values, unreached, tried = row
    if entry_status in (E.DONE, E.EXCLUDED):
        return []
    decision = _decide(
        settings_of(kind, version, values),
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
    forget(session, ListEntry, entry_id)
    if not decision.text:
        return []
    entry = session.get(ListEntry, entry_id)
    assert entry is not None
    return [_queue_text(session, entry, now=now)]


def _settling() -> Select[Any]:
    """The entry, its campaign's settings, and the entry's calls that reached no one and
    that were tried (counted, not filtered on the status: SQLite keeps to the entry's
    index then)."""
    a, e, k = ATTEMPTS.c, ENTRIES.c, CAMPAIGNS.c
    calls = (a.list_entry_id == e.id) & (a.channel == Channel.CALL)
    unreached = select(func.count(case((one_of(a.status, UNREACHED), 1)))).where(calls)
    untried = (S.SCHEDULED, S.QUEUED, S.CANCELED)
    tried = select(func.count(case((~one_of(a.status, untried), 1)))).where(calls)
    return (
        select(
            e.status,
            k.kind,
            k.settings_version,
            k.settings,
            unreached.scalar_subquery(),
            tried.scalar_subquery(),
        )
        .select_from(ENTRIES.join(CAMPAIGNS, k.id == bindparam("campaign_id")))
        .where(e.id == bindparam("entry_id"))
    )


_SETTLING = _settling()
_END_ENTRY = (
    update(ENTRIES).where(ENTRIES.c.id == bindparam("entry_id")).values(status=bindparam("status"))
)
_DUE_ENTRY = _END_ENTRY.values(due_at=bindparam("due_at"))


@dataclass(frozen=True)
class _Decision:
    status: EntryStatus
    due_at: dt.datetime | None = None  # None: left as it is
    text: bool = False


def _decide(
    settings: CampaignSettings,
    outcome: AttemptStatus,
    *,
    unreached: int,
    tried: int,
    now: dt.datetime,
) -> _Decision:
    """What becomes of the entry after ``outcome``, given its calls so far."""
    if outcome is S.ABANDONED:
        # the contact policy keeps the customer out for the abandon cooldown
        return _Decision(E.PENDING, now + dt.timedelta(hours=settings.cooldowns.abandon_hours))
    if outcome is S.MACHINE and settings.machine_detection.action is MachineAction.SMS:
        return _Decision(E.DONE, text=True)  # the text instead of a voicemail, and of more calls
    after = settings.sms_after_failed_calls
    if after and unreached >= after and outcome in UNREACHED:
        return _Decision(E.DONE, text=True)
    delay = settings.retry_delay_minutes(outcome)
    if delay is None or tried >= settings.max_attempts.total:
        return _Decision(E.DONE)
    return _Decision(E.PENDING, now + dt.timedelta(minutes=delay))


def next_try(
    session: Session,
    entry: ListEntry,
    campaign: Campaign,
    outcome: AttemptStatus,
    *,
    now: dt.datetime,
) -> list[int]:
    calls = session.execute(
        select(Attempt.status).where(
            Attempt.list_entry_id == entry.id, Attempt.channel == Channel.CALL
        )
    ).scalars()
    statuses = list(calls)
    decision = _decide(
        in_force(campaign),
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
