"""Local time for the contact policy: a customer's zones, the calling window, holidays,
and the next instant a contact may be made."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

from campaigns.settings.model import CampaignSettings

__all__ = [
    "as_utc",
    "customer_zones",
    "in_window",
    "is_holiday",
    "known_zone",
    "next_allowed",
    "window_problem",
]

# first look a week ahead, then far enough for a year of holidays and DST changes
_FIRST_LOOK = dt.timedelta(days=8)
_HORIZON = dt.timedelta(days=400)
_DAY = dt.timedelta(days=1)


def customer_zones(phone: str | None, timezone: str | None) -> tuple[ZoneInfo, ...]:
    """The zones a customer may be in: the one on record, else those of the number."""
    if timezone:
        zone = known_zone(timezone)
        if zone is not None:
            return (zone,)
    if phone:
        return _number_zones(phone)
    return ()


@functools.lru_cache(maxsize=1024)
def known_zone(name: str) -> ZoneInfo | None:
    """The zone of this name; None when it does not load."""
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
    zones = [known_zone(name) for name in time_zones_for_number(number) if name != UNKNOWN_TIMEZONE]
    if not zones or any(zone is None for zone in zones):
        return ()
    return tuple(zone for zone in zones if zone is not None)


def in_window(policy: CampaignSettings, zones: Sequence[ZoneInfo], now: dt.datetime) -> bool:
    """Whether ``now`` is inside the calling window in every zone (none known: no)."""
    now = as_utc(now)
    return bool(zones) and all(_open_at(policy, now.astimezone(zone)) for zone in zones)


def window_problem(
    policy: CampaignSettings, zones: Sequence[ZoneInfo], now: dt.datetime
) -> str | None:
    """Why ``now`` is outside the calling window in one of the zones; None: inside."""
    for zone in zones:
        local = as_utc(now).astimezone(zone)
        if not _open_at(policy, local):
            window = policy.calling_window.on(local.date())
            said = f"outside {window}" if window else f"no calls on {local:%A}s"
            return f"{said} local time in {zone.key}"
    return None


def _open_at(policy: CampaignSettings, local: dt.datetime) -> bool:
    window = policy.calling_window.on(local.date())
    return window is not None and window.contains(local.time())


def is_holiday(
    policy: CampaignSettings,
    country: str,
    region: str | None,
    zones: Sequence[ZoneInfo],
    now: dt.datetime,
) -> bool:
    """Whether the local date in any zone is a holiday; with no zone, the UTC date."""
    now = as_utc(now)
    blocked = _blocked_dates(policy, country, region)
    return any(blocked(now.astimezone(zone).date()) for zone in zones or (dt.UTC,))


def next_allowed(
    policy: CampaignSettings,
    zones: Sequence[ZoneInfo],
    country: str,
    region: str | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """The first UTC instant >= now inside the window on a working day in every zone.

    None with no zone, or when the zones share no such instant within 400 days (a
    narrow window over a number that spans many zones).
    """
    now = as_utc(now)
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


def as_utc(now: dt.datetime) -> dt.datetime:
    """``now`` in UTC; a naive datetime is refused, its zone unknown."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: give `now` a time zone (UTC)")
    return now.astimezone(dt.UTC)


def _blocked_dates(
    policy: CampaignSettings, country: str, region: str | None
) -> Callable[[dt.date], bool]:
    extra = frozenset(policy.holidays.extra)
    calendar = _public_holidays(country, region) if policy.holidays.public else None
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
    policy: CampaignSettings,
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
            window = policy.calling_window.on(day)
            if window is not None and not blocked(day):
                a = max(lo, dt.datetime.combine(day, window.start, dt.UTC) - offset)
                b = min(hi, dt.datetime.combine(day, window.end, dt.UTC) - offset)
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
