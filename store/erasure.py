"""Erasing a person on request (GDPR art. 17), everywhere the store keeps them.

What identifies the person is removed or replaced for good: the name, the customer id
the site's systems know them by (replaced with ``erased-<row id>``), the number, the
region, time zone and language, the ids and topics of their complaints and surveys, the
agents' notes, the bodies of their texts and our replies, the numbers on their calls and
texts, and the lines of reject files that hold any of these. Their consents are
withdrawn and whatever was still waiting to reach them (list entries, queued calls and
texts) is called off.

What the reports count stays, anonymous: the customer row with its segment, type,
country, dates and churn, the list entries, attempts, dispositions (code, refusal reason
and stage), conversions, holdings and bills. A report for a past campaign reads the
same before and after.

What stays of the person is a keyed hash of their customer id and of each number they
had (``store.suppression``): an import refuses them, and a number another customer still
holds goes on the do-not-call list for every channel, so nobody calls it again.

``erase_customers`` is the one entry point; it returns an ``ErasureResult`` and leaves
the commit to the caller, so the whole erasure is one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from store.db import rows_changed
from store.erasure_files import scrub_files
from store.models import (
    Attempt,
    AttemptStatus,
    Customer,
    Disposition,
    DncChannel,
    DncEntry,
    EntryStatus,
    InboundMessage,
    Interaction,
    ListEntry,
)
from store.suppression import CUSTOMER_ID, PHONE, SuppressionKey, suppress, suppressed

__all__ = ["ERASED_PREFIX", "ErasureResult", "erase_customers"]

ERASED_PREFIX = "erased-"
ERASURE_SOURCE = "erasure"
_NOT_YET_PLACED = (AttemptStatus.SCHEDULED, AttemptStatus.QUEUED)
_WAITING = (EntryStatus.PENDING, EntryStatus.CALLBACK)
_CHUNK = 500  # ids per query: SQLite's limit on bound values is lower than a request's ids


@dataclass
class ErasureResult:
    """Which ids were erased, which were not found, and how much was removed."""

    erased: list[str] = field(default_factory=list)
    already_erased: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    """Counts by what was removed or replaced (``notes``: 3, ...): never the data."""

    def count(self, what: str, n: int) -> None:
        self.removed[what] = self.removed.get(what, 0) + n

    def as_json(self) -> dict[str, Any]:
        return {
            "erased": self.erased,
            "already_erased": self.already_erased,
            "unknown": self.unknown,
            "removed": dict(sorted(self.removed.items())),
        }


def erase_customers(
    session: Session,
    ids: Iterable[str],
    *,
    key: SuppressionKey,
    files: Sequence[Path] = (),
    now: dt.datetime | None = None,
) -> ErasureResult:
    """Erase the customers with these external ids; see the module docstring.

    An id not in the store is listed in ``unknown`` (or ``already_erased`` when its hash
    is on the suppression list), never an error. ``files`` are the CSV files outside the
    database to clean as well (reject files, exports): their lines holding an erased
    value are removed.
    """
    now = now or dt.datetime.now(dt.UTC)
    result = ErasureResult()
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    found: dict[str, Customer] = {}
    for start in range(0, len(wanted), _CHUNK):
        stmt = select(Customer).where(Customer.external_id.in_(wanted[start : start + _CHUNK]))
        found.update((c.external_id, c) for c in session.scalars(stmt))
    gone = suppressed(session, key, CUSTOMER_ID, [i for i in wanted if i not in found])
    erased_values: set[str] = set()
    for external_id in wanted:
        customer = found.get(external_id)
        if customer is None or customer.erased_at is not None:
            known = external_id in gone or customer is not None  # "erased-12" names one
            (result.already_erased if known else result.unknown).append(external_id)
            continue
        erased_values |= _erase_one(session, customer, key, now, result)
        result.erased.append(external_id)
    if erased_values:
        result.count("file_lines", scrub_files(files, erased_values))
    return result


def _erase_one(
    session: Session,
    customer: Customer,
    key: SuppressionKey,
    now: dt.datetime,
    result: ErasureResult,
) -> set[str]:
    """Erase one customer; returns the values erased, for the files to be cleaned of."""
    phones = _phones_of(session, customer)
    suppress(session, key, CUSTOMER_ID, [customer.external_id])
    suppress(session, key, PHONE, phones)
    values = {customer.external_id, customer.name, *phones}
    _block_shared_numbers(session, customer.id, phones, result)
    _call_off(session, customer.id, now, result)
    result.count("attempt_phones", _blank_attempt_numbers(session, customer.id))
    result.count("notes", _drop_notes(session, customer.id))
    result.count("message_bodies", _drop_messages(session, customer.id, phones))
    values |= _drop_interaction_details(session, customer.id, result)
    customer.external_id = f"{ERASED_PREFIX}{customer.id}"
    customer.name = ""
    customer.phone = None
    customer.region = customer.timezone = customer.language = None
    customer.call_consent = customer.sms_consent = False
    customer.erased_at = now
    result.count("customers", 1)
    session.flush()
    return {v for v in values if v}


def _phones_of(session: Session, customer: Customer) -> set[str]:
    """Every number the store links to the customer: theirs now, their calls' and texts'."""
    phones = {customer.phone} if customer.phone else set()
    phones |= set(session.scalars(select(Attempt.phone).where(Attempt.customer_id == customer.id)))
    phones |= set(
        session.scalars(
            select(InboundMessage.phone).where(InboundMessage.customer_id == customer.id)
        )
    )
    return {p for p in phones if p}


def _block_shared_numbers(
    session: Session, customer_id: int, phones: set[str], result: ErasureResult
) -> None:
    """A number another customer still holds stays in the store as theirs: it goes on the
    do-not-call list, since calling it may reach the erased person. Entries for numbers
    nobody else holds are removed: the suppression hash blocks those."""
    shared: set[str] = set(
        session.scalars(
            select(Customer.phone).where(Customer.phone.in_(phones), Customer.id != customer_id)
        )
    )
    dropped = rows_changed(session, delete(DncEntry).where(DncEntry.phone.in_(phones - shared)))
    result.count("dnc_entries", dropped)
    for phone in sorted(shared):
        entry = session.scalar(
            select(DncEntry).where(DncEntry.phone == phone, DncEntry.channel == DncChannel.ALL)
        )
        if entry is None:
            session.add(DncEntry(phone=phone, channel=DncChannel.ALL, source=ERASURE_SOURCE))
        else:
            entry.revoked_at = None
    result.count("shared_numbers_blocked", len(shared))


def _call_off(session: Session, customer_id: int, now: dt.datetime, result: ErasureResult) -> None:
    """Nothing still waiting may reach the person: entries excluded, unplaced dials
    canceled (a job that takes one finds it no longer queued and does nothing)."""
    entries = rows_changed(
        session,
        update(ListEntry)
        .where(ListEntry.customer_id == customer_id, ListEntry.status.in_(_WAITING))
        .values(status=EntryStatus.EXCLUDED, due_at=None),
    )
    attempts = rows_changed(
        session,
        update(Attempt)
        .where(Attempt.customer_id == customer_id, Attempt.status.in_(_NOT_YET_PLACED))
        .values(status=AttemptStatus.CANCELED, ended_at=now),
    )
    result.count("entries_called_off", entries)
    result.count("attempts_called_off", attempts)


def _blank_attempt_numbers(session: Session, customer_id: int) -> int:
    stmt = (
        update(Attempt)
        .where(Attempt.customer_id == customer_id, Attempt.phone != "")
        .values(phone="")
    )
    return rows_changed(session, stmt)


def _drop_notes(session: Session, customer_id: int) -> int:
    stmt = (
        update(Disposition)
        .where(Disposition.customer_id == customer_id, Disposition.notes.is_not(None))
        .values(notes=None)
    )
    return rows_changed(session, stmt)


def _drop_messages(session: Session, customer_id: int, phones: set[str]) -> int:
    """Their texts, also those from their number that no customer was matched to."""
    stmt = (
        update(InboundMessage)
        .where(or_(InboundMessage.customer_id == customer_id, InboundMessage.phone.in_(phones)))
        .values(body="", reply=None, phone="")
    )
    return rows_changed(session, stmt)


def _drop_interaction_details(
    session: Session, customer_id: int, result: ErasureResult
) -> set[str]:
    """Complaints and surveys keep kind, dates and score (the reports count them); their
    ids in the site's other systems and their topics go. Returns the ids."""
    ids = session.scalars(
        select(Interaction.external_id).where(Interaction.customer_id == customer_id)
    ).all()
    session.execute(
        update(Interaction)
        .where(Interaction.customer_id == customer_id)
        .values(external_id=None, topic=None)
    )
    result.count("interaction_details", len(ids))
    return {i for i in ids if i}
