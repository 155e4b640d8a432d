"""The contact rules, each stated once: its place in the order, whether waiting lifts it,
and the SQL that tells it, used alike by the bulk screen and the per-contact check.

A rule's predicates take their instants and kind as values or bound parameters, so the
screen can fill them in for one run and the check can prepare its statement once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers.tzdata import TIMEZONE_DATA
from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from campaigns.settings.model import CampaignSettings
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    Channel,
    Customer,
    Disposition,
    DispositionCode,
    DncChannel,
    DncEntry,
    ExclusionReason,
    Interaction,
    InteractionKind,
    ListEntry,
)

__all__ = [
    "CHECK_ORDER",
    "CONTACTED",
    "DNC_REASON",
    "LASTING_REASONS",
    "RULES",
    "SCREEN_ORDER",
    "TRIED",
    "Rule",
    "abandoned_call",
    "consent",
    "counts_for_cap",
    "happened_at",
    "history_since",
    "no_phone",
    "number_blocked",
    "one_of",
    "open_complaint",
    "recent_opt_out",
    "recent_refusals",
    "refusal_of",
    "zoned_number",
]

R = ExclusionReason


@dataclass(frozen=True)
class Rule:
    """One contact rule, by the reason a contact fails it."""

    reason: ExclusionReason
    # applied in bulk when a list is built; the others only by the dialer's check
    screened: bool
    # no waiting lifts it: the dialer takes the entry off the list for good (an open
    # complaint lifts when it is closed, at a time nobody knows)
    lasting: bool


# in the order a verdict names them: the first that fails
RULES: tuple[Rule, ...] = (
    Rule(R.NO_PHONE, screened=True, lasting=True),
    Rule(R.NO_CONSENT, screened=True, lasting=True),
    Rule(R.DO_NOT_CALL, screened=True, lasting=True),
    Rule(R.OPTED_OUT, screened=True, lasting=True),
    Rule(R.NO_TIMEZONE, screened=True, lasting=True),
    Rule(R.OPEN_COMPLAINT, screened=True, lasting=True),
    Rule(R.MAX_ATTEMPTS, screened=False, lasting=True),
    Rule(R.MAX_ATTEMPTS_TODAY, screened=False, lasting=False),
    Rule(R.CONTACT_CAP, screened=True, lasting=False),
    Rule(R.ABANDON_COOLDOWN, screened=True, lasting=False),
    Rule(R.OPT_OUT_COOLDOWN, screened=True, lasting=False),
    Rule(R.REFUSAL_COOLDOWN, screened=True, lasting=False),
    Rule(R.OUTSIDE_WINDOW, screened=False, lasting=False),
    Rule(R.HOLIDAY, screened=False, lasting=False),
)
CHECK_ORDER: tuple[ExclusionReason, ...] = tuple(rule.reason for rule in RULES)
SCREEN_ORDER: tuple[ExclusionReason, ...] = tuple(rule.reason for rule in RULES if rule.screened)
LASTING_REASONS = frozenset(rule.reason for rule in RULES if rule.lasting)

S = AttemptStatus
# reached the carrier: the phone rang or the text was handed over
CONTACTED = (
    S.INITIATED,
    S.RINGING,
    S.IN_PROGRESS,
    S.COMPLETED,
    S.BUSY,
    S.NO_ANSWER,
    S.ABANDONED,
    S.MACHINE,
    S.SENT,
    S.DELIVERED,
    S.UNDELIVERED,
)
# max attempts counts failed ones too: a number that fails every time must stop
TRIED = (*CONTACTED, S.FAILED)

Instant = dt.datetime | ColumnElement[dt.datetime]


def one_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` with a parameter per value, rendered once: an expanding IN
    (SQLAlchemy's default) is rendered again on every execution."""
    return column.in_([literal(value, column.type) for value in values])  # type: ignore[no-any-return]


def happened_at() -> ColumnElement[dt.datetime]:
    """When an attempt happened: its start, else its creation."""
    return func.coalesce(Attempt.started_at, Attempt.created_at)


def history_since(policy: CampaignSettings, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Attempts after these instants count for the cap and the abandon cooldown."""
    return (
        now - dt.timedelta(days=policy.contact_cap.days),
        now - dt.timedelta(hours=policy.cooldowns.abandon_hours),
    )


# -- no_phone, no_consent -----------------------------------------------------------------


def no_phone() -> ColumnElement[bool]:
    return or_(Customer.phone.is_(None), Customer.phone == "")


def consent(channel: Channel) -> InstrumentedAttribute[bool]:
    """The customer's consent to this channel."""
    return Customer.call_consent if channel is Channel.CALL else Customer.sms_consent


# -- do_not_call, opted_out ---------------------------------------------------------------

_DNC_CHANNELS = {
    Channel.CALL: (DncChannel.CALL, DncChannel.ALL),
    Channel.SMS: (DncChannel.SMS, DncChannel.ALL),
}
DNC_REASON = {Channel.CALL: R.DO_NOT_CALL, Channel.SMS: R.OPTED_OUT}


def recent_opt_out(since: Any) -> Any:
    """The last opt-out in force for the customer's number, on any channel, after
    ``since``: the other channels wait out the opt-out cooldown too."""
    return (
        select(func.max(DncEntry.created_at))
        .where(
            DncEntry.phone == Customer.phone,
            DncEntry.revoked_at.is_(None),
            DncEntry.created_at > since,
        )
        .scalar_subquery()
    )


def number_blocked(channel: Channel) -> ColumnElement[bool]:
    """A do-not-call entry in force for this channel (it matches the number exactly)."""
    return and_(DncEntry.revoked_at.is_(None), one_of(DncEntry.channel, _DNC_CHANNELS[channel]))


# -- no_timezone: the check asks phonenumbers about the number itself ----------------------


def _zoned_codes() -> dict[int, list[str]]:
    """E.164 country prefixes ("+1", "+44") that phonenumbers has time zones for, by length."""
    codes: dict[int, list[str]] = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        if str(code) in TIMEZONE_DATA:
            codes.setdefault(len(str(code)) + 1, []).append(f"+{code}")
    return codes


_ZONED_CODES = _zoned_codes()


def zoned_number(phone: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
    """In bulk: a stored (so valid) number whose country code phonenumbers has zones for."""
    # Every valid number of such a code gets zones from phonenumbers (its data has a
    # zone list for each whole country code): numbers need not be parsed one by one.
    return or_(*(func.substr(phone, 1, n).in_(codes) for n, codes in _ZONED_CODES.items()))


# -- open_complaint -----------------------------------------------------------------------


def open_complaint() -> ColumnElement[bool]:
    return and_(Interaction.kind == InteractionKind.COMPLAINT, Interaction.closed_at.is_(None))


# -- contact_cap, abandon_cooldown: counted, not filtered on the status, since a filter on
# it sends SQLite down the status index, through every customer's attempts ----------------


def counts_for_cap(since: Instant) -> ColumnElement[bool]:
    """An attempt that reached the customer within the cap's period."""
    return and_(one_of(Attempt.status, CONTACTED), happened_at() > since)


def abandoned_call(channel: Channel, since: Instant) -> ColumnElement[bool]:
    """An abandoned call within the cooldown; a text waits for none."""
    if channel is not Channel.CALL:
        return false()
    return and_(Attempt.status == AttemptStatus.ABANDONED, happened_at() > since)


# -- refusal_cooldown ---------------------------------------------------------------------


def refusal_of(kind: CampaignKind | ColumnElement[str], since: Instant) -> ColumnElement[bool]:
    """A refusal within the cooldown of a product, or of a product-less offer of ``kind``.

    Needs the disposition joined to its list entry and campaign (see ``recent_refusals``).
    """
    return and_(
        Disposition.code == DispositionCode.REFUSED.value,
        Disposition.created_at > since,
        or_(ListEntry.product_id.is_not(None), Campaign.kind == kind),
    )


def recent_refusals(
    policy: CampaignSettings, kind: CampaignKind, now: dt.datetime
) -> Select[int, int | None, dt.datetime]:
    """Recent refusals and the product refused; None: a product-less offer of ``kind``."""
    return (
        select(Disposition.customer_id, ListEntry.product_id, Disposition.created_at)
        .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
        .join(Campaign, Campaign.id == ListEntry.campaign_id)
        .where(refusal_of(kind, now - dt.timedelta(days=policy.cooldowns.refusal_days)))
    )
