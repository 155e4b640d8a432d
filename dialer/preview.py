"""Preview dialing in the store: which customer an agent sees next, the dial, the skip.

In a campaign paced in preview mode nothing is dialed on its own: an agent asks for the
next customer, reads the card, and dials or skips. The same way, in any mode, an agent
calls back the customers who asked for them personally (call-backs assigned to the
agent, which the pacer leaves alone). The agent board (``dialer.agents``) holds the
agent and reserves the entry meanwhile; this module chooses and dials:

- ``candidates``: the entries an agent may preview now, in the order to offer them: the
  agent's own call-backs that are due, then (preview campaigns only) what the pacer's
  ``take_calls`` would dial next. Each passes the contact policy at that moment; one that
  does not is held back with its reason, exactly as the pacer holds it.
- ``start_call``: the dial: the entry is claimed, the policy checked once more, and a
  queued call attempt made, which the worker's ``place_call`` dials (checking again).
- ``skip_entry``: the agent passed: the entry comes round again after ``SKIP_DELAY``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict
from campaigns.settings.versions import in_force
from dialer.entry_taking import check_entry, take_entry
from dialer.outcomes import apply_status
from dialer.pacing import PacingMode
from store.models import (
    AttemptStatus,
    Campaign,
    CampaignStatus,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = [
    "SKIP_DELAY",
    "Candidate",
    "PreviewError",
    "cancel_call",
    "candidates",
    "skip_entry",
    "start_call",
]

E = EntryStatus
SKIP_DELAY = dt.timedelta(minutes=15)  # a skipped customer is offered again after this
_OPEN = (E.PENDING, E.CALLBACK)


class PreviewError(Exception):
    """The agent cannot preview or dial this entry; the message says why, without PII."""


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    customer_id: int
    personal: bool  # a call-back the customer asked of this agent


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status is not CampaignStatus.RUNNING:
        raise PreviewError(f"campaign {campaign_id} is not running")
    return campaign


def is_preview(campaign: Campaign) -> bool:
    return in_force(campaign).pacing is PacingMode.PREVIEW


def candidates(
    session: Session,
    campaign_id: int,
    agent_id: int,
    *,
    now: dt.datetime,
    exclude: set[int] | frozenset[int] = frozenset(),
    entry_id: int | None = None,
    limit: int = 5,
) -> list[Candidate] | str:
    """Up to ``limit`` entries the agent may preview now, best first; with ``entry_id``,
    that entry alone (one of the agent's call-backs, or any due entry of a preview
    campaign), or why not: a ``PreviewError``, or the contact policy's reason as text
    (returned, so that the transaction keeps the entry's hold). ``exclude``: entries
    other agents are previewing."""
    campaign = _campaign(session, campaign_id)
    policy = in_force(campaign)
    shared = is_preview(campaign)
    due = or_(ListEntry.due_at.is_(None), ListEntry.due_at <= now)
    # an own call-back the policy held back waits as pending, still the agent's
    mine = ListEntry.status.in_(_OPEN) & (ListEntry.assigned_agent_id == agent_id)
    anyone = ListEntry.status.in_(_OPEN) & ListEntry.assigned_agent_id.is_(None)
    query = select(ListEntry).where(
        ListEntry.campaign_id == campaign_id,
        ListEntry.group == Group.TREATMENT,
        due,
        or_(mine, anyone) if shared else mine,
    )
    if entry_id is not None:
        if entry_id in exclude:
            raise PreviewError(f"another agent is previewing entry {entry_id}")
        entry = session.scalars(query.where(ListEntry.id == entry_id)).one_or_none()
        if entry is None:
            raise PreviewError(
                f"entry {entry_id} is not due for a call from you on campaign {campaign_id}"
                + ("" if shared else " (it dials for you; only your own call-backs are yours)")
            )
        verdict = check_entry(session, campaign, policy, entry, now=now)
        if not verdict.allowed:  # returned, not raised: the hold is kept
            return f"the contact policy holds entry {entry_id} back: {_why(verdict)}"
        return [Candidate(entry.id, entry.customer_id, entry.assigned_agent_id == agent_id)]
    if exclude:
        query = query.where(ListEntry.id.not_in(sorted(exclude)))
    found: list[Candidate] = []
    seen: set[int] = set()
    while len(found) < limit:
        batch = session.scalars(
            query.where(ListEntry.id.not_in(sorted(seen)) if seen else ListEntry.id.is_not(None))
            .order_by(
                ListEntry.assigned_agent_id.is_(None),  # the agent's own call-backs first
                ListEntry.status != E.CALLBACK,
                ListEntry.due_at.is_(None),
                ListEntry.due_at,
                ListEntry.priority.desc(),
                ListEntry.id,
            )
            .limit(2 * limit)
        ).all()
        if not batch:
            break
        for entry in batch:
            seen.add(entry.id)
            if check_entry(session, campaign, policy, entry, now=now).allowed:
                found.append(
                    Candidate(entry.id, entry.customer_id, entry.assigned_agent_id == agent_id)
                )
                if len(found) >= limit:
                    break
    return found


def _why(verdict: Verdict) -> str:
    reason = verdict.reason.value.replace("_", " ") if verdict.reason else "policy"
    return f"{reason} ({verdict.detail})" if verdict.detail else reason


def start_call(
    session: Session, *, entry_id: int, agent_id: int, now: dt.datetime
) -> tuple[int, int] | str:
    """The agent dials the entry they previewed: a queued call attempt (its id and the
    customer's); or why not: a ``PreviewError`` (the entry was worked meanwhile), or the
    contact policy's reason as text (returned, so that the transaction keeps the hold)."""
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise PreviewError(f"no list entry {entry_id}")
    campaign = _campaign(session, entry.campaign_id)
    if entry.status not in _OPEN or entry.assigned_agent_id not in (None, agent_id):
        raise PreviewError(f"entry {entry_id} is no longer waiting for a call")
    taken = take_entry(session, campaign, in_force(campaign), entry, now=now)
    if taken is None:
        raise PreviewError(f"entry {entry_id} is no longer waiting for a call")
    if isinstance(taken, Verdict):
        return f"the contact policy holds entry {entry_id} back now: {_why(taken)}"
    return taken, entry.customer_id


def cancel_call(session: Session, attempt_id: int, *, now: dt.datetime) -> None:
    """Undo a dial that never went out (the agent left the preview meanwhile): the
    attempt is canceled and its entry waits for a call again."""
    change = apply_status(
        session, attempt_id, AttemptStatus.CANCELED, now=now, error_code="no_agent"
    )
    if change.list_entry_id is not None:
        session.execute(
            update(ListEntry)
            .where(ListEntry.id == change.list_entry_id, ListEntry.status == E.IN_PROGRESS)
            .values(status=E.PENDING)
            .execution_options(synchronize_session=False)
        )


def skip_entry(session: Session, *, entry_id: int, now: dt.datetime) -> None:
    """Offer the entry again after ``SKIP_DELAY``, to whoever previews next."""
    session.execute(
        update(ListEntry)
        .where(ListEntry.id == entry_id, ListEntry.status.in_(_OPEN))
        .values(due_at=now + SKIP_DELAY)
        .execution_options(synchronize_session=False)
    )
