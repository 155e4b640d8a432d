"""The contact policy: whom a campaign may call or text, when, and how often.

One ``ContactPolicy`` per campaign, kept as JSON on the campaign. It is applied twice:
``screen`` in bulk when a list is built, and ``check_contact`` by the dialer right
before each call or SMS. Both name the first rule that fails, in one fixed order:

    no_phone            no number on record
    no_consent          no consent to this channel (call_consent, sms_consent)
    do_not_call         a call to a number on the do-not-call list (channel call or all)
    opted_out           an SMS to a number that opted out (channel sms or all)
    no_timezone         no zone on record and none the number tells
    open_complaint      an unresolved complaint, for sales kinds only (see ``for_kind``)
    max_attempts        the list entry was tried enough (check_contact only)
    contact_cap         enough contacts in the rolling period, all campaigns, both channels
    abandon_cooldown    a call of ours was abandoned lately (calls only)
    refusal_cooldown    the customer refused this offer lately
    outside_window      not inside the calling window in every zone (check_contact only)
    holiday             a public holiday or an extra date there (check_contact only)

From no_phone to no_timezone, and max_attempts, the blocks are permanent for the dialer
(no retry time); an open complaint lifts when it is closed, at a time nobody knows. For
the others a verdict says when to try again: the first instant inside the window, on a
working day, after every temporary block seen has lifted.

Choices, each for a reason:

- A contact, for the cap, is an attempt that reached the carrier (initiated, ringing,
  in-progress, completed, busy, no-answer, abandoned, sent, delivered, undelivered):
  the customer's phone rang or a text was handed over. Scheduled and queued attempts
  have not happened yet, canceled ones never will, failed ones were turned away before
  reaching the phone. Max attempts also counts failed ones: a number that fails every
  time must stop being dialled.
- An attempt happened at ``started_at``, else at ``created_at``; a refusal at the
  disposition's ``created_at``. A past event weighs while ``now < event + period``:
  a refusal exactly 90 days old no longer blocks, an attempt exactly 30 days old no
  longer counts. Later attempts count too: a worker whose clock is a little behind
  another's must not miss a call just placed.
- The abandoned-call cooldown holds back calls only: Ofcom's rule is about repeat
  calls, and a text is not a silent call. It goes by customer, not by number.
- A refusal is of the same offer when the list entries share a product; entries without
  a product (retention offers) share an offer within one campaign kind. A refusal is tied
  to its offer through the disposition's list entry; one recorded without it does not count.
- Do-not-call entries match the customer's number exactly (both are E.164) and count
  while ``revoked_at`` is NULL.
- The zone on record wins over the number's; a number can tell several zones (a mobile
  of a country with several), and then every one of them must be inside the window and
  on a working day. A zone name that does not load counts as no zone.
- Holidays are the ``holidays`` package's public ones (observed days included) for the
  customer's country, and region when the package knows it as a subdivision, on the local
  date in each zone; a country it does not know has only the extra dates.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np
import numpy.typing as npt
import pandas as pd
import phonenumbers
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

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
    Exclusion,
    ExclusionReason,
    Interaction,
    InteractionKind,
    ListEntry,
)

__all__ = [
    "CHECK_ORDER",
    "SCREEN_ORDER",
    "ContactPolicy",
    "Verdict",
    "check_contact",
    "customer_zones",
    "in_window",
    "is_holiday",
    "next_allowed",
    "record_exclusion",
    "screen",
]

R = ExclusionReason
SCREEN_ORDER: tuple[ExclusionReason, ...] = (
    R.NO_PHONE,
    R.NO_CONSENT,
    R.DO_NOT_CALL,
    R.OPTED_OUT,
    R.NO_TIMEZONE,
    R.OPEN_COMPLAINT,
    R.CONTACT_CAP,
    R.ABANDON_COOLDOWN,
    R.REFUSAL_COOLDOWN,
)
CHECK_ORDER: tuple[ExclusionReason, ...] = (
    *SCREEN_ORDER[:6],
    R.MAX_ATTEMPTS,
    *SCREEN_ORDER[6:],
    R.OUTSIDE_WINDOW,
    R.HOLIDAY,
)

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
TRIED = (*CONTACTED, S.FAILED)
STAGES = ("plan", "contact")
CHUNK = 50_000
# first look a week ahead, then far enough for a year of holidays and DST changes
_FIRST_LOOK = dt.timedelta(days=8)
_HORIZON = dt.timedelta(days=400)
_DAY = dt.timedelta(days=1)
_DNC_CHANNELS = {
    Channel.CALL: (DncChannel.CALL, DncChannel.ALL),
    Channel.SMS: (DncChannel.SMS, DncChannel.ALL),
}
_DNC_REASON = {Channel.CALL: R.DO_NOT_CALL, Channel.SMS: R.OPTED_OUT}

Days = Annotated[int, Field(gt=0, le=3660)]
Count = Annotated[int, Field(gt=0, le=1000)]


class ContactPolicy(BaseModel):
    """How a campaign may contact customers; every field has a sane default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_start: dt.time = dt.time(8, 0)
    window_end: dt.time = dt.time(21, 0)
    skip_public_holidays: bool = True
    extra_holidays: tuple[dt.date, ...] = ()
    max_contacts: Count = 3
    contact_period_days: Days = 30
    refusal_cooldown_days: Days = 90
    abandon_cooldown_hours: Annotated[int, Field(gt=0, le=3660 * 24)] = 72
    max_attempts: Count = 6
    exclude_open_complaints: bool = True

    @field_validator("window_start", "window_end")
    @classmethod
    def _wall_clock(cls, value: dt.time, info: ValidationInfo) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError(f"{info.field_name}: a local wall-clock time, without a zone")
        return value

    @field_validator("extra_holidays")
    @classmethod
    def _sorted_dates(cls, value: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _window_order(self) -> ContactPolicy:
        if not self.window_start < self.window_end:
            raise ValueError(
                f"window_start ({self.window_start:%H:%M}) must be before "
                f"window_end ({self.window_end:%H:%M}); a window cannot span midnight"
            )
        return self

    @classmethod
    def for_kind(
        cls, kind: CampaignKind, overrides: Mapping[str, Any] | None = None
    ) -> ContactPolicy:
        """Defaults for a campaign kind, then the overrides; unknown names are refused."""
        base = {"exclude_open_complaints": CampaignKind(kind).excludes_open_complaints}
        return cls.model_validate({**base, **(overrides or {})})

    @classmethod
    def of(cls, campaign: Campaign) -> ContactPolicy:
        """The policy a campaign runs under: its stored overrides on its kind's defaults."""
        return cls.for_kind(campaign.kind, campaign.policy or {})

    def as_json(self) -> dict[str, Any]:
        """Every field, JSON-safe; stored whole so later default changes leave it alone."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Verdict:
    """Whether one contact may go ahead; ``detail`` is plain words without PII."""

    allowed: bool
    reason: ExclusionReason | None = None
    detail: str | None = None
    # the first instant inside the window, on a working day, after every temporary block
    # seen now has lifted; None for a permanent block or when no such instant comes
    retry_at: dt.datetime | None = None


# -- local time -------------------------------------------------------------------------


def customer_zones(phone: str | None, timezone: str | None) -> tuple[ZoneInfo, ...]:
    """The zones a customer may be in: the one on record, else those of the number."""
    if timezone:
        zone = _zone(timezone)
        if zone is not None:
            return (zone,)
    if phone:
        return _number_zones(phone)
    return ()


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.lru_cache(maxsize=1 << 16)
def _number_zones(phone: str) -> tuple[ZoneInfo, ...]:
    # about 30 µs a number, almost all in telling its type: cached for the dialer's
    # repeated checks (screen goes by country code instead)
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = [_zone(name) for name in time_zones_for_number(number) if name != UNKNOWN_TIMEZONE]
    if not zones or any(zone is None for zone in zones):
        return ()
    return tuple(zone for zone in zones if zone is not None)


def in_window(policy: ContactPolicy, zones: Sequence[ZoneInfo], now: dt.datetime) -> bool:
    """Whether ``now`` is inside the calling window in every zone (none known: no)."""
    now = _utc(now)
    return bool(zones) and all(
        policy.window_start <= now.astimezone(zone).time() < policy.window_end for zone in zones
    )


def is_holiday(
    policy: ContactPolicy,
    country: str,
    region: str | None,
    zones: Sequence[ZoneInfo],
    now: dt.datetime,
) -> bool:
    """Whether the local date in any zone is a holiday; with no zone, the UTC date."""
    now = _utc(now)
    blocked = _blocked_dates(policy, country, region)
    return any(blocked(now.astimezone(zone).date()) for zone in zones or (dt.UTC,))


def next_allowed(
    policy: ContactPolicy,
    zones: Sequence[ZoneInfo],
    country: str,
    region: str | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """The first UTC instant >= now inside the window on a working day in every zone.

    None with no zone, or when the zones share no such instant within 400 days (a
    narrow window over a number that spans many zones).
    """
    now = _utc(now)
    if not zones:
        return None
    blocked = _blocked_dates(policy, country, region)
    for ahead in (_FIRST_LOOK, _HORIZON):
        common: list[tuple[dt.datetime, dt.datetime]] | None = None
        for zone in zones:
            spans = _open_spans(policy, zone, now, now + ahead, blocked)
            common = spans if common is None else _intersect(common, spans)
            if not common:
                break
        if common:
            return common[0][0]
    return None


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: give `now` a time zone (UTC)")
    return now.astimezone(dt.UTC)


def _blocked_dates(
    policy: ContactPolicy, country: str, region: str | None
) -> Callable[[dt.date], bool]:
    extra = frozenset(policy.extra_holidays)
    calendar = _public_holidays(country, region) if policy.skip_public_holidays else None
    if calendar is None:
        return extra.__contains__
    return lambda day: day in extra or day in calendar


@functools.lru_cache(maxsize=512)
def _public_holidays(country: str, region: str | None) -> holidays.HolidayBase | None:
    """The country's public holidays, with the region's when the package knows it.

    The holidays package answers a country or subdivision it does not know with
    NotImplementedError; then the country alone, or no calendar at all, is used.
    """
    for subdiv in (region, region.upper()) if region else ():
        try:
            return holidays.country_holidays(country.upper(), subdiv=subdiv)
        except NotImplementedError:
            continue
    try:
        return holidays.country_holidays(country.upper())
    except NotImplementedError:
        return None


def _open_spans(
    policy: ContactPolicy,
    zone: ZoneInfo,
    start: dt.datetime,
    stop: dt.datetime,
    blocked: Callable[[dt.date], bool],
) -> list[tuple[dt.datetime, dt.datetime]]:
    """UTC spans of [start, stop) inside the window on a working local date in ``zone``.

    Worked out per stretch of constant UTC offset, so a window edge inside a DST gap or
    a repeated hour lands where the wall clock really crosses it.
    """
    spans = []
    for lo, hi, offset in _constant_offsets(zone, start, stop):
        day, last = (lo + offset).date(), (hi + offset).date()
        while day <= last:
            if not blocked(day):
                a = max(lo, dt.datetime.combine(day, policy.window_start, dt.UTC) - offset)
                b = min(hi, dt.datetime.combine(day, policy.window_end, dt.UTC) - offset)
                if a < b:
                    spans.append((a, b))
            day += _DAY
    return spans


def _constant_offsets(
    zone: ZoneInfo, start: dt.datetime, stop: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.datetime, dt.timedelta]]:
    """[from, to) stretches of [start, stop) over which the zone's offset is constant."""
    since, offset, probe = start, _offset(zone, start), start
    while probe < stop:
        step = min(probe + _DAY, stop)
        if _offset(zone, step) == offset:
            probe = step
            continue
        change = _transition(zone, probe, step, offset)
        yield since, change, offset
        since, offset, probe = change, _offset(zone, change), change
    yield since, stop, offset


def _transition(
    zone: ZoneInfo, lo: dt.datetime, hi: dt.datetime, offset: dt.timedelta
) -> dt.datetime:
    """The instant in (lo, hi] the offset stops being ``offset``; changes fall on seconds."""
    a, b = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while b - a > 1:
        mid = (a + b) // 2
        if _offset(zone, dt.datetime.fromtimestamp(mid, dt.UTC)) == offset:
            a = mid
        else:
            b = mid
    return dt.datetime.fromtimestamp(b, dt.UTC)


def _offset(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _intersect(
    xs: list[tuple[dt.datetime, dt.datetime]], ys: list[tuple[dt.datetime, dt.datetime]]
) -> list[tuple[dt.datetime, dt.datetime]]:
    out = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if lo < hi:
            out.append((lo, hi))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


# -- what the store says: shared by screen and check_contact -----------------------------


def _happened_at() -> ColumnElement[dt.datetime]:
    return func.coalesce(Attempt.started_at, Attempt.created_at)


def _history_since(policy: ContactPolicy, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Attempts after these instants count for the cap and the abandon cooldown."""
    return (
        now - dt.timedelta(days=policy.contact_period_days),
        now - dt.timedelta(hours=policy.abandon_cooldown_hours),
    )


def _blocked_phones(channel: Channel) -> Select[str]:
    return select(DncEntry.phone).where(
        DncEntry.revoked_at.is_(None), DncEntry.channel.in_(_DNC_CHANNELS[channel])
    )


def _open_complaint() -> ColumnElement[bool]:
    return and_(Interaction.kind == InteractionKind.COMPLAINT, Interaction.closed_at.is_(None))


def _refusals(
    policy: ContactPolicy, kind: CampaignKind, now: dt.datetime
) -> Select[int, int | None, dt.datetime]:
    """Recent refusals and the product refused; None: a product-less offer of ``kind``."""
    return (
        select(Disposition.customer_id, ListEntry.product_id, Disposition.created_at)
        .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
        .join(Campaign, Campaign.id == ListEntry.campaign_id)
        .where(
            Disposition.code == DispositionCode.REFUSED.value,
            Disposition.created_at > now - dt.timedelta(days=policy.refusal_cooldown_days),
            or_(ListEntry.product_id.is_not(None), Campaign.kind == kind),
        )
    )


def _zoned_codes() -> dict[int, list[str]]:
    """E.164 country prefixes ("+1", "+44") that phonenumbers has time zones for, by length."""
    codes: dict[int, list[str]] = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        if str(code) in TIMEZONE_DATA:
            codes.setdefault(len(str(code)) + 1, []).append(f"+{code}")
    return codes


_ZONED_CODES = _zoned_codes()


def _zoned_number(phone: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
    # Every valid number of such a code gets zones from phonenumbers (its data has a
    # zone list for each whole country code): numbers need not be parsed one by one.
    return or_(*(func.substr(phone, 1, n).in_(codes) for n, codes in _ZONED_CODES.items()))


# -- in bulk, when a list is built --------------------------------------------------------

_RANK = {reason: rank for rank, reason in enumerate(SCREEN_ORDER)}
_PASS = len(SCREEN_ORDER)
_REASONS = np.array([reason.value for reason in SCREEN_ORDER] + [None], dtype=object)
Among = Callable[[InstrumentedAttribute[int]], ColumnElement[bool]]


def screen(
    conn: Connection,
    policy: ContactPolicy,
    candidates: pd.DataFrame,
    *,
    kind: CampaignKind,
    channel: Channel,
    now: dt.datetime,
) -> pd.Series:
    """The first rule each candidate fails, in ``SCREEN_ORDER``, or None.

    ``candidates`` holds customer_id and product_id (nullable; a customer may appear
    once per product); the answer is aligned to its index. The calling window and
    holidays are left to the dialer, since a list is called over days.

    A handful of set queries do the work, none per customer. Customers are read in
    id-ordered chunks, returning only those who fail. Attempts, dispositions and the
    do-not-call list are not stored in customer order, so for a large share of the base
    each is read once, in one pass, rather than chunk by chunk through an index.

    A stored number is taken as valid (the importer admits no other): its zones are
    known when phonenumbers knows zones for its country code. ``check_contact`` asks
    phonenumbers about the number itself.
    """
    now = _utc(now)
    customer_ids = candidates["customer_id"].to_numpy(dtype=np.int64)
    unique = _sorted_unique(customer_ids)
    ranks = np.full(len(unique), _PASS, dtype=np.int8)
    refused: list[pd.DataFrame] = []
    if len(unique):
        lo, hi = int(unique[0]), int(unique[-1])
        in_one_pass = len(unique) > CHUNK and 4 * len(unique) > hi - lo
        if in_one_pass:
            whole = _scan(conn, lo, hi)
            refused.append(
                _mark_history(conn, policy, kind, channel, now, whole, unique, ranks, one_pass=True)
            )
        for first in range(0, len(unique), CHUNK):
            part = unique[first : first + CHUNK]
            among = _among(part)
            _mark_people(conn, policy, channel, among, part, unique, ranks)
            if not in_one_pass:
                refused.append(
                    _mark_history(
                        conn, policy, kind, channel, now, among, unique, ranks, one_pass=False
                    )
                )
    row_ranks = ranks[np.searchsorted(unique, customer_ids)]
    if refused:
        products = candidates["product_id"].astype("Int64")
        same = _same_offer(customer_ids, products, pd.concat(refused, ignore_index=True))
        row_ranks[same] = np.minimum(row_ranks[same], _RANK[R.REFUSAL_COOLDOWN])
    return pd.Series(_REASONS[row_ranks], index=candidates.index, dtype=object, name="reason")


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # np.unique hashes first: a plain sort is many times faster on a million ids
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _scan(conn: Connection, lo: int, hi: int) -> Among:
    """A filter on a customer-id column that reads the table through, in one pass."""
    return lambda column: _unindexed(conn, column).between(lo, hi)


def _unindexed(conn: Connection, column: InstrumentedAttribute[int]) -> ColumnElement[int]:
    """On SQLite the column as an expression, ``id + 0``, so no index is used for it.

    Lacking statistics, SQLite would otherwise walk the customer index through most of
    a table, one random read per row, to filter or to group in id order. PostgreSQL
    plans by its statistics, which the expression would hide from it.
    """
    if conn.dialect.name != "sqlite":
        return column.expression
    return column + literal_column("0", Integer)


def _among(ids: npt.NDArray[np.int64]) -> Among:
    """A filter on a customer-id column for the sorted ``ids``."""
    lo, hi = int(ids[0]), int(ids[-1])
    if hi - lo < 4 * len(ids):  # dense: a range reads few others
        return lambda column: column.between(lo, hi)
    # ints written into the SQL once: SQLite allows only so many bound parameters, and
    # SQLAlchemy renders a long literal list slowly, again for every query
    listed: ColumnElement[Any] = literal_column("(" + ",".join(map(str, ids.tolist())) + ")")
    return lambda column: column.op("IN", is_comparison=True)(listed)


def _mark(
    ranks: npt.NDArray[np.int8],
    unique: npt.NDArray[np.int64],
    blocked: Sequence[int],
    reason: ExclusionReason,
) -> None:
    """Lower the rank of the candidates among ``blocked`` to ``reason``'s."""
    ids = np.fromiter(blocked, np.int64, len(blocked))
    at = np.searchsorted(unique, ids).clip(0, max(len(unique) - 1, 0))
    at = at[unique[at] == ids]
    ranks[at] = np.minimum(ranks[at], _RANK[reason])


def _mark_people(
    conn: Connection,
    policy: ContactPolicy,
    channel: Channel,
    among: Among,
    part: npt.NDArray[np.int64],
    unique: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int8],
) -> None:
    """Rules read from the customer rows of one chunk, and open complaints."""
    # the ids as one string: a row per customer would cost more than all the rules
    listed = conn.scalar(
        select(func.aggregate_strings(cast(Customer.id, String), ",")).where(among(Customer.id))
    )
    stored = np.array(listed.split(","), dtype=np.int64) if listed else np.empty(0, np.int64)
    missing = part[~np.isin(part, stored)]
    if len(missing):
        raise ValueError(
            f"candidates name {len(missing)} customers not in the store, e.g. {missing[0]}"
        )
    names = conn.scalars(select(Customer.timezone).where(among(Customer.id)).distinct()).all()
    unknown = [name for name in names if name is not None and _zone(name) is None]
    consent = Customer.call_consent if channel is Channel.CALL else Customer.sms_consent
    zoneless = or_(Customer.timezone.is_(None), Customer.timezone.in_(unknown))
    rank = case(
        (or_(Customer.phone.is_(None), Customer.phone == ""), _RANK[R.NO_PHONE]),
        (~consent, _RANK[R.NO_CONSENT]),
        (and_(zoneless, ~_zoned_number(Customer.phone)), _RANK[R.NO_TIMEZONE]),
    )
    failing = conn.execute(select(Customer.id, rank).where(among(Customer.id), rank.is_not(None)))
    by_rank: dict[int, list[int]] = {}
    for customer_id, rule in failing:
        by_rank.setdefault(rule, []).append(customer_id)
    for rule, ids in by_rank.items():
        _mark(ranks, unique, ids, SCREEN_ORDER[rule])
    if policy.exclude_open_complaints:
        complaining = conn.scalars(
            select(Interaction.customer_id)
            .where(among(Interaction.customer_id), _open_complaint())
            .distinct()
        ).all()
        _mark(ranks, unique, complaining, R.OPEN_COMPLAINT)


def _mark_history(
    conn: Connection,
    policy: ContactPolicy,
    kind: CampaignKind,
    channel: Channel,
    now: dt.datetime,
    among: Among,
    unique: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int8],
    *,
    one_pass: bool,
) -> pd.DataFrame:
    """Do-not-call, cap and abandoned calls marked; the recent refusals returned.

    ``one_pass``: ``among`` spans a large share of the base, read through once.
    """
    blocked = _blocked_phones(channel)
    listed = conn.scalars(
        select(Customer.id).where(
            among(Customer.id),
            # the whole list once against the phone index, or each customer's number
            # looked up in it: SQLite would pair the list with an id list otherwise
            Customer.phone.in_(blocked.scalar_subquery())
            if one_pass
            else blocked.where(DncEntry.phone == Customer.phone).exists(),
        )
    ).all()
    _mark(ranks, unique, listed, _DNC_REASON[channel])
    # the status is counted, not filtered on: a filter on it sends SQLite down its index
    cap_since, abandon_since = _history_since(policy, now)
    happened = _happened_at()
    contacts = func.sum(
        case((and_(Attempt.status.in_(CONTACTED), happened > cap_since), 1), else_=0)
    )
    is_abandoned = and_(Attempt.status == AttemptStatus.ABANDONED, happened > abandon_since)
    if channel is not Channel.CALL:
        is_abandoned = false()  # texts wait for no abandoned call
    abandoned = func.max(case((is_abandoned, 1), else_=0))
    who = _unindexed(conn, Attempt.customer_id)
    history = conn.execute(
        select(who, contacts >= policy.max_contacts, abandoned == 1)
        .where(among(Attempt.customer_id), happened > min(cap_since, abandon_since))
        .group_by(who)
        .having(or_(contacts >= policy.max_contacts, abandoned == 1))
    ).all()
    _mark(ranks, unique, [c for c, capped, _ in history if capped], R.CONTACT_CAP)
    _mark(ranks, unique, [c for c, _, cooling in history if cooling], R.ABANDON_COOLDOWN)
    refusals = conn.execute(
        _refusals(policy, kind, now)
        .with_only_columns(_unindexed(conn, Disposition.customer_id), ListEntry.product_id)
        .where(among(Disposition.customer_id))
        .group_by(_unindexed(conn, Disposition.customer_id), ListEntry.product_id)
    ).all()
    return pd.DataFrame(
        {
            "customer_id": np.fromiter((r[0] for r in refusals), np.int64, len(refusals)),
            "product_id": pd.array([r[1] for r in refusals], dtype="Int64"),
        }
    )


def _same_offer(
    customer_ids: npt.NDArray[np.int64], products: pd.Series, refused: pd.DataFrame
) -> npt.NDArray[np.bool_]:
    """Which candidate rows refused the same offer: same product, or both product-less."""
    refused_product = refused["product_id"].astype("Int64")
    has = refused_product.notna().to_numpy(bool)
    refused_ids = refused["customer_id"].to_numpy(np.int64)
    pairs = pd.MultiIndex.from_arrays([refused_ids[has], refused_product[has].to_numpy(np.int64)])
    wanted = products.notna().to_numpy(bool)
    out = np.zeros(len(customer_ids), bool)
    if wanted.any() and len(pairs):
        rows = pd.MultiIndex.from_arrays(
            [customer_ids[wanted], products[wanted].to_numpy(np.int64)]
        )
        out[wanted] = rows.isin(pairs)
    out[~wanted] = np.isin(customer_ids[~wanted], refused_ids[~has])
    return out


# -- one contact, right before it is made ------------------------------------------------


def check_contact(
    session: Session,
    policy: ContactPolicy,
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
    now = _utc(now)
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
    if list_entry_id is not None and product_id is None:
        product_id = facts.entry_product_id
    zones = customer_zones(facts.phone, facts.zone_name) if facts.phone else ()
    country, region = facts.country, facts.region
    lasting = _lasting_block(policy, facts, zones, channel, kind)
    if lasting is not None:
        return Verdict(allowed=False, reason=lasting[0], detail=lasting[1])
    if facts.contacts >= policy.max_contacts:
        # capped: the lift time needs the contacts one by one
        not_this = Attempt.id != exclude_attempt_id if exclude_attempt_id is not None else true()
        blocks = _passing_blocks(
            session, policy, customer_id, channel, kind, product_id, now, not_this
        )
    else:
        blocks = _cooldowns(policy, facts, channel)
    if not blocks:
        if not in_window(policy, zones, now):
            where = next(
                z.key
                for z in zones
                if not policy.window_start <= now.astimezone(z).time() < policy.window_end
            )
            window = f"{policy.window_start:%H:%M}-{policy.window_end:%H:%M}"
            blocks.append((R.OUTSIDE_WINDOW, f"outside {window} local time in {where}", now))
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
    consent: bool
    entry_product_id: int | None
    dnc_channel: DncChannel | None
    open_complaint: bool
    tried: int
    # the customer's contacts in the cap's period, the last abandoned call in the
    # cooldown, the last refusal of this offer in its cooldown
    contacts: int
    abandoned_at: dt.datetime | None
    refused_at: dt.datetime | None


def _facts(
    session: Session,
    policy: ContactPolicy,
    *,
    customer_id: int,
    channel: Channel,
    kind: CampaignKind,
    now: dt.datetime,
    list_entry_id: int | None,
    product_id: int | None,
    exclude_attempt_id: int | None,
) -> _Facts:
    """The customer, the entry's product, the number's block, an open complaint, the
    entry's attempts so far and the customer's recent history: scalar subqueries of one
    SELECT, one round trip."""
    statement = _facts_statement(
        channel,
        complaints=policy.exclude_open_complaints,
        entry=list_entry_id is not None,
        product=product_id is not None,
        exclude=exclude_attempt_id is not None,
    )
    cap_since, abandon_since = _history_since(policy, now)
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
            "refusal_since": now - dt.timedelta(days=policy.refusal_cooldown_days),
            "kind": kind,
        },
    ).one_or_none()
    if row is None:
        raise LookupError(f"no customer with id {customer_id}")
    (
        phone,
        country,
        region,
        zone,
        consent,
        entry,
        entry_product_id,
        blocked,
        open_,
        count,
        contacts,
        abandoned_at,
        refused_at,
    ) = row
    if list_entry_id is not None and entry is None:
        raise LookupError(f"no list entry with id {list_entry_id}")
    return _Facts(
        phone=phone,
        country=country,
        region=region,
        zone_name=zone,
        consent=bool(consent),
        entry_product_id=entry_product_id,
        dnc_channel=DncChannel(blocked) if blocked is not None else None,
        open_complaint=open_ is not None,
        tried=int(count or 0),
        contacts=int(contacts or 0),
        abandoned_at=abandoned_at,
        refused_at=refused_at,
    )


@functools.cache
def _facts_statement(
    channel: Channel, *, complaints: bool, entry: bool, product: bool, exclude: bool
) -> Select[Any]:
    """``_facts``'s SELECT, built once per shape; the values are bound parameters.

    The history is counted, not filtered on the status: a filter on it sends SQLite
    down the status index, through every customer's attempts.
    """
    dnc = (
        select(DncEntry.channel)
        .where(
            DncEntry.revoked_at.is_(None),
            _one_of(DncEntry.channel, _DNC_CHANNELS[channel]),
            DncEntry.phone == Customer.phone,
        )
        .limit(1)
        .scalar_subquery()
    )
    complaint = (
        select(Interaction.id)
        .where(Interaction.customer_id == Customer.id, _open_complaint())
        .limit(1)
        .scalar_subquery()
        if complaints
        else null()
    )
    not_this = Attempt.id != bindparam("exclude_id") if exclude else true()
    # the entry read through an alias: the refusals below join list_entries themselves
    listed = aliased(ListEntry)
    entry_id: Any = null()
    entry_product: Any = null()
    tried: Any = literal(0)
    if entry:
        entry_id = select(listed.id).where(listed.id == bindparam("entry_id")).scalar_subquery()
        entry_product = (
            select(listed.product_id).where(listed.id == bindparam("entry_id")).scalar_subquery()
        )
        tried = (
            select(func.count())
            .where(
                Attempt.list_entry_id == bindparam("entry_id"),
                _one_of(Attempt.status, TRIED),
                not_this,
            )
            .scalar_subquery()
        )
    happened = _happened_at()
    recent = (
        Attempt.customer_id == Customer.id,
        happened > bindparam("history_since", type_=Attempt.started_at.type),
        not_this,
    )
    cap_since = bindparam("cap_since", type_=Attempt.started_at.type)
    abandon_since = bindparam("abandon_since", type_=Attempt.started_at.type)
    contacts = (
        select(
            func.count(case((and_(_one_of(Attempt.status, CONTACTED), happened > cap_since), 1)))
        )
        .where(*recent)
        .scalar_subquery()
    )
    abandoned = (
        select(
            func.max(
                case(
                    (
                        and_(Attempt.status == AttemptStatus.ABANDONED, happened > abandon_since),
                        happened,
                    )
                )
            )
        )
        .where(*recent)
        .scalar_subquery()
    )
    offer = bindparam("product_id", type_=Integer) if product else entry_product
    refused = (
        select(func.max(Disposition.created_at))
        .join(ListEntry, ListEntry.id == Disposition.list_entry_id)
        .join(Campaign, Campaign.id == ListEntry.campaign_id)
        .where(
            Disposition.customer_id == Customer.id,
            Disposition.code == DispositionCode.REFUSED.value,
            Disposition.created_at > bindparam("refusal_since", type_=Attempt.started_at.type),
            or_(
                ListEntry.product_id.is_not(None),
                Campaign.kind == bindparam("kind", type_=Campaign.kind.type),
            ),
            ListEntry.product_id.is_not_distinct_from(offer),
        )
        .scalar_subquery()
    )
    return select(
        Customer.phone,
        Customer.country,
        Customer.region,
        Customer.timezone,
        Customer.call_consent if channel is Channel.CALL else Customer.sms_consent,
        entry_id,
        entry_product,
        dnc,
        complaint,
        tried,
        contacts,
        abandoned,
        refused,
    ).where(Customer.id == bindparam("customer_id"))


def _one_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` with a parameter per value, rendered once: an expanding IN
    (SQLAlchemy's default) is rendered again on every execution."""
    return column.in_([literal(value, column.type) for value in values])  # type: ignore[no-any-return]


def _cooldowns(
    policy: ContactPolicy, facts: _Facts, channel: Channel
) -> list[tuple[ExclusionReason, str, dt.datetime]]:
    """The cooldowns in force, each with the instant it lifts (the cap is not reached)."""
    blocks = []
    if channel is Channel.CALL and facts.abandoned_at is not None:
        blocks.append(
            (
                R.ABANDON_COOLDOWN,
                f"a call abandoned in the last {policy.abandon_cooldown_hours} hours",
                facts.abandoned_at + dt.timedelta(hours=policy.abandon_cooldown_hours),
            )
        )
    if facts.refused_at is not None:
        blocks.append(
            (
                R.REFUSAL_COOLDOWN,
                f"refused this offer in the last {policy.refusal_cooldown_days} days",
                facts.refused_at + dt.timedelta(days=policy.refusal_cooldown_days),
            )
        )
    return blocks


def _lasting_block(
    policy: ContactPolicy,
    facts: _Facts,
    zones: tuple[ZoneInfo, ...],
    channel: Channel,
    kind: CampaignKind,
) -> tuple[ExclusionReason, str] | None:
    """The first block no waiting lifts: no number, consent, do-not-call, zone, ..."""
    if not facts.phone:
        return R.NO_PHONE, "no phone number on record"
    if not facts.consent:
        return R.NO_CONSENT, "no consent to " + ("calls" if channel is Channel.CALL else "texts")
    if facts.dnc_channel is not None:
        blocking = facts.dnc_channel
        listed = "every channel" if blocking is DncChannel.ALL else f"{blocking.value}s"
        return _DNC_REASON[channel], f"the number is blocked for {listed}"
    if not zones:
        return R.NO_TIMEZONE, "no time zone on record and none from the number"
    if facts.open_complaint:
        return R.OPEN_COMPLAINT, f"an open complaint, and this is a {kind.value} campaign"
    if facts.tried >= policy.max_attempts:
        return R.MAX_ATTEMPTS, f"{facts.tried} attempts made, at most {policy.max_attempts}"
    return None


def _passing_blocks(
    session: Session,
    policy: ContactPolicy,
    customer_id: int,
    channel: Channel,
    kind: CampaignKind,
    product_id: int | None,
    now: dt.datetime,
    not_this: ColumnElement[bool],
) -> list[tuple[ExclusionReason, str, dt.datetime]]:
    """The cap and cooldowns in force, each with the instant it lifts."""
    blocks = []
    cap_since, abandon_since = _history_since(policy, now)
    happened = _happened_at()
    # one read of the customer's recent attempts; a filter on the status would send
    # SQLite down the status index, through every customer's attempts
    recent = session.execute(
        select(Attempt.status, happened).where(
            Attempt.customer_id == customer_id,
            happened > min(cap_since, abandon_since),
            not_this,
        )
    ).all()
    contacts = sorted(at for status, at in recent if status in CONTACTED and at > cap_since)
    if len(contacts) >= policy.max_contacts:
        # it lifts when enough of the oldest have aged out of the period
        oldest = contacts[len(contacts) - policy.max_contacts]
        blocks.append(
            (
                R.CONTACT_CAP,
                f"{len(contacts)} contacts in the last {policy.contact_period_days} days, "
                f"at most {policy.max_contacts}",
                oldest + dt.timedelta(days=policy.contact_period_days),
            )
        )
    abandoned = [at for status, at in recent if status is S.ABANDONED and at > abandon_since]
    if channel is Channel.CALL and abandoned:
        blocks.append(
            (
                R.ABANDON_COOLDOWN,
                f"a call abandoned in the last {policy.abandon_cooldown_hours} hours",
                max(abandoned) + dt.timedelta(hours=policy.abandon_cooldown_hours),
            )
        )
    refused = [
        at
        for _, refused_product, at in session.execute(
            _refusals(policy, kind, now).where(Disposition.customer_id == customer_id)
        ).all()
        if refused_product == product_id
    ]
    if refused:
        blocks.append(
            (
                R.REFUSAL_COOLDOWN,
                f"refused this offer in the last {policy.refusal_cooldown_days} days",
                max(refused) + dt.timedelta(days=policy.refusal_cooldown_days),
            )
        )
    return blocks


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
