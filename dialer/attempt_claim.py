"""The job's claim of its attempt: the attempt checked once more under the customer's
lock, then moved from waiting to started by compare-and-set.

A job that does run twice (a worker killed after the carrier call, before arq recorded
the job as done) finds the attempt already started and does nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, Update, bindparam, select, text, update
from sqlalchemy import func as sqlfunc
from sqlalchemy.orm import Session

from campaigns.policy.check import check_contact, record_exclusion
from campaigns.settings.caller_id import caller_id_for
from campaigns.settings.model import CampaignSettings
from campaigns.settings.versions import settings_of
from dialer.context import Dialer
from dialer.entry_taking import hold
from dialer.outcomes import apply_status
from store.dialect import has_advisory_locks
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Channel,
    EntryStatus,
    ListEntry,
)

__all__ = ["claim_attempt", "lock_customer"]

S = AttemptStatus
E = EntryStatus


class Ready(NamedTuple):
    """An attempt claimed for dialing: the number, the settings in force, the caller ID
    (None: the provider's own)."""

    phone: str
    settings: CampaignSettings
    from_number: str | None


async def claim_attempt(
    dialer: Dialer, attempt_id: int, channel: Channel, customer_id: int | None
) -> Ready | str:
    """``_ready_to_dial`` under the customer's lock: two workers never both pass the cap."""
    if customer_id is None:
        customer_id = await dialer.gateway.write(lambda s: s.scalar(_customer_of(attempt_id)))
    if customer_id is None:
        return "unknown"
    known = customer_id
    now = dialer.clock.utcnow()

    shown = dialer.provider.from_number

    def check(session: Session) -> Ready | str:
        return _ready_to_dial(
            session, attempt_id, channel, now, customer_id=known, default_from=shown
        )

    return await dialer.gateway.write(check)


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
        _CAMPAIGNS.c.settings_version,
        _CAMPAIGNS.c.settings,
    )
    .select_from(_ATTEMPTS.outerjoin(_CAMPAIGNS, _CAMPAIGNS.c.id == _ATTEMPTS.c.campaign_id))
    .where(_ATTEMPTS.c.id == bindparam("attempt_id"))
)

_TO_DIAL_LOCKED = _TO_DIAL.add_columns(
    sqlfunc.pg_advisory_xact_lock(_CUSTOMER_LOCKS, bindparam("customer_id"))
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
            settings_version=bindparam("version"),
            from_number=bindparam("from_number"),
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
    default_from: str | None = None,
) -> Ready | str:
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
    status, sid, customer_id, entry_id, phone, campaign_id, running, kind, *stored = row
    version, values = stored[:2]  # then the lock's empty value, when taken here
    if status is not _WAITING[channel] or sid is not None:
        return "already"  # a job that ran before got this far
    if campaign_id is None:
        return "unknown"
    if running is not CampaignStatus.RUNNING and channel is Channel.CALL:
        # a paused or stopped list places no more calls; the entry waits for a resume
        apply_status(session, attempt_id, S.CANCELED, now=now, error_code="campaign_not_running")
        _reopen(session, entry_id)
        return "not running"
    settings = settings_of(kind, version, values)
    verdict = check_contact(
        session,
        settings,
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
    # the caller ID is kept before the dial: a dial whose answer is lost is found by it
    shown = caller_id_for(settings.caller_id, phone, default_from)
    claim = {"attempt_id": attempt_id, "now": now, "version": version, "from_number": shown}
    moved = session.connection().execute(_CLAIM[channel], claim)
    if moved.rowcount != 1:
        return "already"
    return Ready(phone, settings, shown)


def _reopen(session: Session, entry_id: int | None) -> None:
    if entry_id is None:
        return
    session.execute(
        update(ListEntry)
        .where(ListEntry.id == entry_id, ListEntry.status == E.IN_PROGRESS)
        .values(status=E.PENDING)
        .execution_options(synchronize_session=False)
    )
