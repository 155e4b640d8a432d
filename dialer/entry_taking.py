"""Entry taking: due list entries turned into queued call attempts, each past the contact
policy; an entry the policy blocks waits for its block to lift or leaves the list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func as sqlfunc
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict, check_contact, record_exclusion
from campaigns.settings.model import CampaignSettings
from campaigns.settings.versions import in_force
from dialer.settling import new_attempt
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Channel,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = ["check_entry", "hold", "take_calls", "take_entries", "take_entry"]

S = AttemptStatus
E = EntryStatus


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
    policy = in_force(campaign)
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
    policy: CampaignSettings,
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
    policy: CampaignSettings,
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
