"""The contact policy for one contact: the check the dialer runs right before each call
or SMS, by every rule in ``CHECK_ORDER``, and the exclusion it keeps when one fails."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    case,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from campaigns.policy.calendar import (
    as_utc,
    customer_zones,
    is_holiday,
    next_allowed,
    window_problem,
)
from campaigns.policy.rules import (
    DNC_REASON,
    LASTING_REASONS,
    TRIED,
    abandoned_call,
    consent,
    counts_for_cap,
    happened_at,
    history_since,
    no_phone,
    number_blocked,
    one_of,
    open_complaint,
    recent_opt_out,
    refusal_of,
)
from campaigns.settings.model import CampaignSettings
from store.models import (
    Attempt,
    Campaign,
    CampaignKind,
    Channel,
    Customer,
    Disposition,
    DncChannel,
    DncEntry,
    Exclusion,
    ExclusionReason,
    Interaction,
    ListEntry,
)

__all__ = ["STAGES", "Verdict", "check_contact", "record_exclusion"]

R = ExclusionReason
STAGES = ("plan", "contact")
Block = tuple[ExclusionReason, str, dt.datetime]


@dataclass(frozen=True)
class Verdict:
    """Whether one contact may go ahead; ``detail`` is plain words without PII."""

    allowed: bool
    reason: ExclusionReason | None = None
    detail: str | None = None
    # the first instant inside the window, on a working day, after every temporary block
    # seen now has lifted; None for a permanent block or when no such instant comes
    retry_at: dt.datetime | None = None

    @property
    def lasting(self) -> bool:
        """Refused by a rule no waiting lifts: the list entry is given up."""
        return self.reason in LASTING_REASONS


def check_contact(
    session: Session,
    policy: CampaignSettings,
    *,
    customer_id: int,
    channel: Channel,
    kind: CampaignKind,
    now: dt.datetime,
    list_entry_id: int | None = None,
    product_id: int | None = None,
    exclude_attempt_id: int | None = None,
) -> Verdict:
    """Whether this contact may be made now, by every rule in ``CHECK_ORDER``.

    ``exclude_attempt_id`` is the attempt about to be placed: it counts neither for the
    cap nor for the entry's attempts. ``product_id`` defaults to the list entry's.
    """
    now = as_utc(now)
    facts = _facts(
        session,
        policy,
        customer_id=customer_id,
        channel=channel,
        kind=kind,
        now=now,
        list_entry_id=list_entry_id,
        product_id=product_id,
        exclude_attempt_id=exclude_attempt_id,
    )
    zones = customer_zones(facts.phone, facts.zone_name) if facts.phone else ()
    country, region = facts.country, facts.region
    lasting = _lasting_block(policy, facts, zones, channel, kind)
    if lasting is not None:
        return Verdict(allowed=False, reason=lasting[0], detail=lasting[1])
    blocks = _cooldowns(policy, facts)
    if facts.contacts >= policy.contact_cap.contacts:
        blocks = _cap(session, policy, customer_id, now, exclude_attempt_id) + blocks
    if list_entry_id is not None and facts.tried >= policy.max_attempts.per_day:
        today = _tried_today(session, policy, list_entry_id, zones, now, exclude_attempt_id)
        blocks = today + blocks
    if not blocks:
        outside = window_problem(policy, zones, now)
        if outside is not None:
            blocks.append((R.OUTSIDE_WINDOW, outside, now))
        elif is_holiday(policy, country, region, zones, now):
            blocks.append((R.HOLIDAY, "a holiday where the customer is", now))
    if not blocks:
        return Verdict(allowed=True)
    reason, detail, _ = blocks[0]
    lifts = max(at for _, _, at in blocks)
    return Verdict(
        allowed=False,
        reason=reason,
        detail=detail,
        retry_at=next_allowed(policy, zones, country, region, max(lifts, now)),
    )


@dataclass(frozen=True)
class _Facts:
    """What one contact check needs from the store, read in one statement."""

    phone: str | None
    country: str
    region: str | None
    zone_name: str | None
    no_phone: bool
    no_consent: bool
    dnc_channel: DncChannel | None
    open_complaint: bool
    tried: int
    # the customer's contacts in the cap's period, the last abandoned call in the
    # cooldown, the last refusal of this offer in its cooldown
    contacts: int
    abandoned_at: dt.datetime | None
    refused_at: dt.datetime | None
    opted_out_at: dt.datetime | None  # on any channel, within the opt-out cooldown


def _facts(
    session: Session,
    policy: CampaignSettings,
    *,
    customer_id: int,
    channel: Channel,
    kind: CampaignKind,
    now: dt.datetime,
    list_entry_id: int | None,
    product_id: int | None,
    exclude_attempt_id: int | None,
) -> _Facts:
    """The customer, the number's block, an open complaint, the entry's attempts so far
    and the customer's recent history: scalar subqueries of one SELECT, one round trip."""
    statement = _facts_statement(
        channel,
        complaints=policy.exclude_open_complaints,
        entry=list_entry_id is not None,
        product=product_id is not None,
        exclude=exclude_attempt_id is not None,
    )
    cap_since, abandon_since = history_since(policy, now)
    row = session.execute(
        statement,
        {
            "customer_id": customer_id,
            "entry_id": list_entry_id,
            "product_id": product_id,
            "exclude_id": exclude_attempt_id,
            "cap_since": cap_since,
            "abandon_since": abandon_since,
            "history_since": min(cap_since, abandon_since),
            "refusal_since": now - dt.timedelta(days=policy.cooldowns.refusal_days),
            "opt_out_since": now - dt.timedelta(days=policy.cooldowns.opt_out_days),
            "kind": kind,
        },
    ).one_or_none()
    if row is None:
        raise LookupError(f"no customer with id {customer_id}")
    if list_entry_id is not None and row.entry_id is None:
        raise LookupError(f"no list entry with id {list_entry_id}")
    return _Facts(
        phone=row.phone,
        country=row.country,
        region=row.region,
        zone_name=row.timezone,
        no_phone=bool(row.no_phone),
        no_consent=bool(row.no_consent),
        dnc_channel=DncChannel(row.dnc) if row.dnc is not None else None,
        open_complaint=row.complaint is not None,
        tried=int(row.tried or 0),
        contacts=int(row.contacts or 0),
        abandoned_at=row.abandoned_at,
        refused_at=row.refused_at,
        opted_out_at=row.opted_out_at,
    )


_Instant = Attempt.started_at.type


@functools.cache
def _facts_statement(
    channel: Channel, *, complaints: bool, entry: bool, product: bool, exclude: bool
) -> Select[Any]:
    """``_facts``'s SELECT, built once per shape; the values are bound parameters."""
    not_this = Attempt.id != bindparam("exclude_id") if exclude else true()
    entry_id, entry_product, tried = (
        _entry_columns(not_this) if entry else (null(), null(), literal(0))
    )
    offer = bindparam("product_id", type_=Integer) if product else entry_product
    return select(
        Customer.phone,
        Customer.country,
        Customer.region,
        Customer.timezone,
        no_phone().label("no_phone"),
        (~consent(channel)).label("no_consent"),
        entry_id.label("entry_id"),
        _blocking_entry(channel).label("dnc"),
        (_complaint() if complaints else null()).label("complaint"),
        tried.label("tried"),
        *_history_columns(channel, not_this),
        _last_refusal(offer).label("refused_at"),
        recent_opt_out(bindparam("opt_out_since", type_=_Instant)).label("opted_out_at"),
    ).where(Customer.id == bindparam("customer_id"))


def _blocking_entry(channel: Channel) -> Any:
    """The channel of a do-not-call entry blocking the customer's number, if any."""
    return (
        select(DncEntry.channel)
        .where(number_blocked(channel), DncEntry.phone == Customer.phone)
        .limit(1)
        .scalar_subquery()
    )


def _complaint() -> Any:
    return (
        select(Interaction.id)
        .where(Interaction.customer_id == Customer.id, open_complaint())
        .limit(1)
        .scalar_subquery()
    )


def _entry_columns(not_this: ColumnElement[bool]) -> tuple[Any, Any, Any]:
    """The entry's id (None: no such entry), its product, and its attempts so far."""
    # read through an alias: the refusals join list_entries themselves
    listed = aliased(ListEntry)
    this_entry = listed.id == bindparam("entry_id")
    return (
        select(listed.id).where(this_entry).scalar_subquery(),
        select(listed.product_id).where(this_entry).scalar_subquery(),
        select(func.count())
        .where(
            Attempt.list_entry_id == bindparam("entry_id"),
            one_of(Attempt.status, TRIED),
            not_this,
        )
        .scalar_subquery(),
    )


def _history_columns(channel: Channel, not_this: ColumnElement[bool]) -> tuple[Any, Any]:
    """The contacts counting for the cap, and the last abandoned call in its cooldown."""
    happened = happened_at()
    recent = (
        Attempt.customer_id == Customer.id,
        happened > bindparam("history_since", type_=_Instant),
        not_this,
    )
    cap_since = bindparam("cap_since", type_=_Instant)
    abandoned = abandoned_call(channel, bindparam("abandon_since", type_=_Instant))
    return (
        select(func.count(case((counts_for_cap(cap_since), 1))))
        .where(*recent)
        .scalar_subquery()
        .label("contacts"),
        select(func.max(case((abandoned, happened))))
        .where(*recent)
        .scalar_subquery()
        .label("abandoned_at"),
    )


def _last_refusal(offer: Any) -> Any:
    """The last refusal of this offer (a product, or none) within its cooldown."""
    return (
        select(func.max(Disposition.created_at))
        .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
        .join(Campaign, Campaign.id == ListEntry.campaign_id)
        .where(
            Disposition.customer_id == Customer.id,
            refusal_of(
                bindparam("kind", type_=Campaign.kind.type),
                bindparam("refusal_since", type_=_Instant),
            ),
            ListEntry.product_id.is_not_distinct_from(offer),
        )
        .scalar_subquery()
    )


def _lasting_block(
    policy: CampaignSettings,
    facts: _Facts,
    zones: tuple[ZoneInfo, ...],
    channel: Channel,
    kind: CampaignKind,
) -> tuple[ExclusionReason, str] | None:
    """The first block no waiting lifts: no number, consent, do-not-call, zone, ..."""
    if facts.no_phone:
        return R.NO_PHONE, "no phone number on record"
    if facts.no_consent:
        return R.NO_CONSENT, "no consent to " + ("calls" if channel is Channel.CALL else "texts")
    if facts.dnc_channel is not None:
        blocking = facts.dnc_channel
        listed = "every channel" if blocking is DncChannel.ALL else f"{blocking.value}s"
        return DNC_REASON[channel], f"the number is blocked for {listed}"
    if not zones:
        return R.NO_TIMEZONE, "no time zone on record and none from the number"
    if facts.open_complaint:
        return R.OPEN_COMPLAINT, f"an open complaint, and this is a {kind.value} campaign"
    if facts.tried >= policy.max_attempts.total:
        return R.MAX_ATTEMPTS, f"{facts.tried} attempts made, at most {policy.max_attempts.total}"
    return None


def _cooldowns(policy: CampaignSettings, facts: _Facts) -> list[Block]:
    """The cooldowns in force, each with the instant it lifts."""
    blocks = []
    if facts.abandoned_at is not None:
        blocks.append(
            (
                R.ABANDON_COOLDOWN,
                f"a call abandoned in the last {policy.cooldowns.abandon_hours} hours",
                facts.abandoned_at + dt.timedelta(hours=policy.cooldowns.abandon_hours),
            )
        )
    if facts.opted_out_at is not None:
        blocks.append(
            (
                R.OPT_OUT_COOLDOWN,
                f"opted out of a channel in the last {policy.cooldowns.opt_out_days} days",
                facts.opted_out_at + dt.timedelta(days=policy.cooldowns.opt_out_days),
            )
        )
    if facts.refused_at is not None:
        blocks.append(
            (
                R.REFUSAL_COOLDOWN,
                f"refused this offer in the last {policy.cooldowns.refusal_days} days",
                facts.refused_at + dt.timedelta(days=policy.cooldowns.refusal_days),
            )
        )
    return blocks


def _tried_today(
    session: Session,
    policy: CampaignSettings,
    entry_id: int,
    zones: tuple[ZoneInfo, ...],
    now: dt.datetime,
    exclude_attempt_id: int | None,
) -> list[Block]:
    """The per-day limit, reached: tries of the entry since the customer's local midnight
    (the earliest, over several zones), lifting at the next one (the latest)."""
    starts = [_local_midnight(now, zone, 0) for zone in zones] or [_local_midnight(now, dt.UTC, 0)]
    ends = [_local_midnight(now, zone, 1) for zone in zones] or [_local_midnight(now, dt.UTC, 1)]
    query = select(func.count()).where(
        Attempt.list_entry_id == entry_id,
        one_of(Attempt.status, TRIED),
        happened_at() >= min(starts),
    )
    if exclude_attempt_id is not None:
        query = query.where(Attempt.id != exclude_attempt_id)
    today = int(session.scalar(query) or 0)
    if today < policy.max_attempts.per_day:
        return []
    limit = policy.max_attempts.per_day
    return [(R.MAX_ATTEMPTS_TODAY, f"{today} tries today, at most {limit} a day", max(ends))]


def _local_midnight(now: dt.datetime, zone: dt.tzinfo, days: int) -> dt.datetime:
    """The UTC instant the local day ``days`` after today's begins in ``zone``."""
    day = now.astimezone(zone).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)


def _cap(
    session: Session,
    policy: CampaignSettings,
    customer_id: int,
    now: dt.datetime,
    exclude_attempt_id: int | None,
) -> list[Block]:
    """The cap, reached: it lifts when enough of the oldest contacts leave the period."""
    cap_since, _ = history_since(policy, now)
    happened = happened_at()
    not_this = Attempt.id != exclude_attempt_id if exclude_attempt_id is not None else true()
    # the contacts one by one, the status counted rather than filtered on
    recent = session.execute(
        select(happened, counts_for_cap(cap_since)).where(
            Attempt.customer_id == customer_id, happened > cap_since, not_this
        )
    ).all()
    contacts = sorted(at for at, counts in recent if counts)
    if len(contacts) < policy.contact_cap.contacts:
        return []
    oldest = contacts[len(contacts) - policy.contact_cap.contacts]
    return [
        (
            R.CONTACT_CAP,
            f"{len(contacts)} contacts in the last {policy.contact_cap.days} days, "
            f"at most {policy.contact_cap.contacts}",
            oldest + dt.timedelta(days=policy.contact_cap.days),
        )
    ]


def record_exclusion(
    session: Session,
    *,
    campaign_id: int,
    customer_id: int,
    list_entry_id: int | None,
    stage: str,
    verdict: Verdict,
) -> Exclusion:
    """Keep a refused verdict with its reason; ``stage`` is "plan" or "contact"."""
    if verdict.allowed or verdict.reason is None:
        raise ValueError("only a refused verdict with a reason is recorded as an exclusion")
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: one of {', '.join(STAGES)}")
    exclusion = Exclusion(
        campaign_id=campaign_id,
        customer_id=customer_id,
        list_entry_id=list_entry_id,
        stage=stage,
        reason=verdict.reason,
        detail=verdict.detail[:200] if verdict.detail else None,
    )
    session.add(exclusion)
    session.flush()
    return exclusion
