"""Local time: a customer's zones, the calling window, holidays, the next allowed instant."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_world import (
    AU_MOBILE,
    LONDON,
    LOS_ANGELES,
    NEW_YORK,
    NO_ZONE,
    NOW,
    RU_MOBILE,
    UTC,
    utc,
    zones,
)

from campaigns.policy.calendar import (
    customer_zones,
    in_window,
    is_holiday,
    next_allowed,
    window_problem,
)
from campaigns.settings.model import CampaignSettings, Holidays
from campaigns.settings.windows import DailyWindow, WeeklyWindow


def daily(start: dt.time, end: dt.time) -> CampaignSettings:
    return CampaignSettings(calling_window=WeeklyWindow.every_day(start, end))


# -- time zones and the calling window ---------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "timezone", "expected"),
    [
        (NEW_YORK, None, ("America/New_York",)),
        (LOS_ANGELES, None, ("America/Los_Angeles",)),
        (LONDON, None, ("Europe/London",)),
        (NEW_YORK, "Europe/London", ("Europe/London",)),  # the record wins
        (None, "Asia/Kolkata", ("Asia/Kolkata",)),
        (NEW_YORK, "Not/A_Zone", ("America/New_York",)),  # a bad record falls back
        (NO_ZONE, None, ()),
        ("12345", None, ()),
        (None, None, ()),
    ],
)
def test_zone_from_the_record_else_from_the_number(
    phone: str | None, timezone: str | None, expected: tuple[str, ...]
) -> None:
    assert tuple(z.key for z in customer_zones(phone, timezone)) == expected


def test_a_mobile_number_can_tell_several_zones() -> None:
    au = {z.key for z in customer_zones(AU_MOBILE, None)}
    assert {"Australia/Perth", "Australia/Sydney"} <= au
    assert len(customer_zones(RU_MOBILE, None)) > 5
    assert len(customer_zones("+447911123456", None)) > 1  # UK mobiles: the Crown dependencies


@pytest.mark.parametrize(
    ("zone", "instant", "inside"),
    [
        # 2025-07-15: Los Angeles PDT (-7), London BST (+1), Sydney AEST (+10), Kolkata +5:30
        ("America/Los_Angeles", utc(2025, 7, 15, 14, 59, 59), False),
        ("America/Los_Angeles", utc(2025, 7, 15, 15, 0), True),
        ("America/Los_Angeles", utc(2025, 7, 16, 3, 59, 59), True),
        ("America/Los_Angeles", utc(2025, 7, 16, 4, 0), False),
        ("Europe/London", utc(2025, 7, 15, 6, 59, 59), False),
        ("Europe/London", utc(2025, 7, 15, 7, 0), True),
        ("Europe/London", utc(2025, 7, 15, 19, 59, 59), True),
        ("Europe/London", utc(2025, 7, 15, 20, 0), False),
        ("Australia/Sydney", utc(2025, 7, 14, 21, 59, 59), False),
        ("Australia/Sydney", utc(2025, 7, 14, 22, 0), True),
        ("Australia/Sydney", utc(2025, 7, 15, 10, 59, 59), True),
        ("Australia/Sydney", utc(2025, 7, 15, 11, 0), False),
        ("Asia/Kolkata", utc(2025, 7, 15, 2, 29, 59), False),
        ("Asia/Kolkata", utc(2025, 7, 15, 2, 30), True),
        ("Asia/Kolkata", utc(2025, 7, 15, 15, 29, 59), True),
        ("Asia/Kolkata", utc(2025, 7, 15, 15, 30), False),
        # January: Sydney on daylight time (+11), London on GMT
        ("Australia/Sydney", utc(2025, 1, 14, 20, 59, 59), False),
        ("Australia/Sydney", utc(2025, 1, 14, 21, 0), True),
        ("Europe/London", utc(2025, 1, 15, 7, 59, 59), False),
        ("Europe/London", utc(2025, 1, 15, 8, 0), True),
    ],
)
def test_window_edges_in_local_time(zone: str, instant: dt.datetime, inside: bool) -> None:
    assert in_window(CampaignSettings(), zones(zone), instant) is inside


@pytest.mark.parametrize(
    ("zone", "instant", "inside"),
    [
        # US spring forward on 2025-03-09: 12:30 UTC is 07:30 EST before, 08:30 EDT after
        ("America/New_York", utc(2025, 3, 8, 12, 30), False),
        ("America/New_York", utc(2025, 3, 9, 12, 30), True),
        ("America/New_York", utc(2025, 3, 10, 12, 30), True),
        # fall back on 2025-11-02: 12:30 UTC is 08:30 EDT before, 07:30 EST after
        ("America/New_York", utc(2025, 11, 1, 12, 30), True),
        ("America/New_York", utc(2025, 11, 2, 12, 30), False),
        # the evening edge moves too: 04:30 UTC is 21:30 PDT, then 20:30 PST
        ("America/Los_Angeles", utc(2025, 11, 2, 4, 30), False),
        ("America/Los_Angeles", utc(2025, 11, 3, 4, 30), True),
    ],
)
def test_window_follows_daylight_saving(zone: str, instant: dt.datetime, inside: bool) -> None:
    assert in_window(CampaignSettings(), zones(zone), instant) is inside


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        # January: Cocos (+6:30) opens last at 01:30 UTC, Sydney and Lord Howe (+11) close
        # first at 10:00 UTC
        (utc(2025, 1, 15, 1, 0), False),
        (utc(2025, 1, 15, 1, 29, 59), False),
        (utc(2025, 1, 15, 1, 30), True),
        (utc(2025, 1, 15, 9, 59, 59), True),
        (utc(2025, 1, 15, 10, 0), False),
    ],
)
def test_a_number_in_several_zones_is_inside_the_window_in_all(
    instant: dt.datetime, inside: bool
) -> None:
    policy = CampaignSettings()
    assert in_window(policy, customer_zones(AU_MOBILE, None), instant) is inside
    # 12:00 in Sydney: fine for a Sydney landline
    assert in_window(policy, customer_zones("+61291234567", None), utc(2025, 1, 15, 1, 0))


def test_no_zone_is_never_inside_the_window() -> None:
    assert not in_window(CampaignSettings(), (), NOW)
    with pytest.raises(ValueError, match="naive"):
        in_window(CampaignSettings(), zones("Europe/London"), dt.datetime(2025, 3, 12, 12))


# -- holidays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "zone", "instant", "holiday"),
    [
        ("US", "NY", "America/New_York", utc(2025, 12, 25, 15), True),
        ("US", "NY", "America/New_York", utc(2025, 12, 24, 15), False),
        ("US", "NY", "America/New_York", utc(2025, 12, 26, 15), False),
        ("GB", "ENG", "Europe/London", utc(2025, 12, 25, 12), True),
        ("GB", "ENG", "Europe/London", utc(2025, 12, 26, 12), True),  # Boxing Day
        ("GB", None, "Europe/London", utc(2025, 12, 25, 12), True),
        # Patriots' Day is a Massachusetts holiday only
        ("US", "MA", "America/New_York", utc(2025, 4, 21, 16), True),
        ("US", "NY", "America/New_York", utc(2025, 4, 21, 16), False),
        ("US", "Atlantis", "America/New_York", utc(2025, 4, 21, 16), False),
        ("US", "Atlantis", "America/New_York", utc(2025, 12, 25, 16), True),
        # St Andrew's Day (observed on Monday 1 December 2025) in Scotland only
        ("GB", "SCT", "Europe/London", utc(2025, 12, 1, 12), True),
        ("GB", "ENG", "Europe/London", utc(2025, 12, 1, 12), False),
        # local date vs UTC date: still Christmas in Los Angeles, already 26th in UTC
        ("US", "CA", "America/Los_Angeles", utc(2025, 12, 26, 3), True),
        ("US", "CA", "America/Los_Angeles", utc(2025, 12, 25, 7), False),
        # already Christmas in Sydney, still the 24th in UTC
        ("AU", "NSW", "Australia/Sydney", utc(2025, 12, 24, 22), True),
        ("AU", "NSW", "Australia/Sydney", utc(2025, 12, 24, 12), False),
        # a country the holidays package does not know has no public holidays
        ("ZZ", None, "Europe/London", utc(2025, 12, 25, 12), False),
    ],
)
def test_public_holidays_on_the_local_date(
    country: str, region: str | None, zone: str, instant: dt.datetime, holiday: bool
) -> None:
    assert is_holiday(CampaignSettings(), country, region, zones(zone), instant) is holiday


def test_extra_dates_and_public_holidays_switched_off() -> None:
    extra = CampaignSettings(holidays=Holidays(extra=(dt.date(2025, 7, 3),)))
    ny = zones("America/New_York")
    assert is_holiday(extra, "US", "NY", ny, utc(2025, 7, 3, 15))
    assert is_holiday(extra, "ZZ", None, ny, utc(2025, 7, 3, 15))
    assert not is_holiday(extra, "US", "NY", ny, utc(2025, 7, 2, 15))
    off = CampaignSettings(holidays=Holidays(public=False, extra=(dt.date(2025, 7, 3),)))
    assert not is_holiday(off, "US", "NY", ny, utc(2025, 12, 25, 15))
    assert is_holiday(off, "US", "NY", ny, utc(2025, 7, 3, 15))


def test_a_holiday_in_any_of_the_zones_counts() -> None:
    # 2025-12-25 14:00 UTC: 22:00 on the 25th in Perth, 01:00 on the 26th in Sydney
    extra = CampaignSettings(holidays=Holidays(public=False, extra=(dt.date(2025, 12, 25),)))
    at = utc(2025, 12, 25, 14)
    assert not is_holiday(extra, "AU", None, zones("Australia/Sydney"), at)
    assert is_holiday(extra, "AU", None, zones("Australia/Perth"), at)
    assert is_holiday(extra, "AU", None, zones("Australia/Sydney", "Australia/Perth"), at)


# -- the next allowed instant -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "zone", "now", "expected"),
    [
        (CampaignSettings(), "America/New_York", NOW, NOW),
        # before 08:00: that morning
        (CampaignSettings(), "America/New_York", utc(2025, 3, 12, 11, 59), utc(2025, 3, 12, 12)),
        # Christmas Eve evening: past Christmas Day to 08:00 EST on the 26th
        (CampaignSettings(), "America/New_York", utc(2025, 12, 25, 3), utc(2025, 12, 26, 13)),
        # a window that opens at 02:30 on the night the clocks skip 02:00-03:00: 03:00 EDT
        (
            daily(dt.time(2, 30), dt.time(21)),
            "America/New_York",
            utc(2025, 3, 9, 6),
            utc(2025, 3, 9, 7),
        ),
        # a window that closes at 01:30 on the night 01:00-02:00 repeats: open again at
        # 01:00 EST, when the clocks go back
        (
            daily(dt.time(0), dt.time(1, 30)),
            "America/New_York",
            utc(2025, 11, 2, 5, 30),
            utc(2025, 11, 2, 6),
        ),
        # Friday night in London: Saturday 08:00
        (CampaignSettings(), "Europe/London", utc(2025, 3, 14, 21), utc(2025, 3, 15, 8)),
        # Kolkata keeps half hours
        (CampaignSettings(), "Asia/Kolkata", utc(2025, 3, 12, 16), utc(2025, 3, 13, 2, 30)),
    ],
)
def test_next_allowed(
    policy: CampaignSettings, zone: str, now: dt.datetime, expected: dt.datetime
) -> None:
    country = {"America": "US", "Europe": "GB", "Asia": "IN"}[zone.split("/")[0]]
    assert next_allowed(policy, zones(zone), country, None, now) == expected


def test_next_allowed_over_several_zones_or_none() -> None:
    policy = CampaignSettings()
    ru = customer_zones(RU_MOBILE, None)
    found = next_allowed(policy, ru, "RU", None, NOW)
    assert found is not None
    assert found >= NOW
    assert in_window(policy, ru, found)
    assert not is_holiday(policy, "RU", None, ru, found)
    assert next_allowed(policy, (), "US", None, NOW) is None
    # 09:00-17:00 everywhere from Kaliningrad's neighbours to Kamchatka: never
    narrow = daily(dt.time(9), dt.time(17))
    assert next_allowed(narrow, ru, "RU", None, NOW) is None
    # a year of extra dates blocks every day the search looks at
    every_day = tuple(dt.date(2025, 3, 12) + dt.timedelta(days=d) for d in range(401))
    closed = CampaignSettings(holidays=Holidays(extra=every_day))
    assert next_allowed(closed, zones("Europe/London"), "GB", None, NOW) is None


ZONE_NAMES = [
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "Europe/London",
    "Europe/Moscow",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
]


@st.composite
def policies(draw: st.DrawFn) -> CampaignSettings:
    days = draw(st.lists(day_windows(), min_size=7, max_size=7))
    if all(day is None for day in days):
        days[draw(st.integers(0, 6))] = draw(day_windows(closed=False))
    extra = draw(st.lists(st.dates(dt.date(2024, 12, 20), dt.date(2025, 1, 20)), max_size=10))
    return CampaignSettings(
        calling_window=WeeklyWindow(days=tuple(days)),
        holidays=Holidays(extra=tuple(extra), public=draw(st.booleans())),
    )


@st.composite
def day_windows(draw: st.DrawFn, closed: bool = True) -> DailyWindow | None:
    """One weekday's window, or (some of the time) no calls that day."""
    if closed and draw(st.integers(0, 4)) == 0:
        return None
    start = draw(st.times(max_value=dt.time(22, 59)))
    end = draw(st.times(min_value=dt.time(start.hour + 1), max_value=dt.time(23, 59, 59)))
    return DailyWindow(start=start, end=end)


@settings(max_examples=60, deadline=None)
@given(
    policy=policies(),
    names=st.lists(st.sampled_from(ZONE_NAMES), min_size=1, max_size=3, unique=True),
    country=st.sampled_from(["US", "GB", "AU", "IN", "CL", "ZZ"]),
    now=st.datetimes(dt.datetime(2024, 12, 1), dt.datetime(2026, 1, 31), timezones=st.just(UTC)),
)
def test_next_allowed_is_the_first_allowed_instant(
    policy: CampaignSettings, names: list[str], country: str, now: dt.datetime
) -> None:
    zs = zones(*names)

    def allowed(at: dt.datetime) -> bool:
        return in_window(policy, zs, at) and not is_holiday(policy, country, None, zs, at)

    found = next_allowed(policy, zs, country, None, now)
    if found is None:
        return
    assert found >= now
    assert found.tzinfo is UTC
    assert allowed(found)
    # nothing just before it was allowed, unless it is now itself
    assert found == now or not allowed(found - dt.timedelta(microseconds=1))


def test_each_weekday_keeps_its_own_window_across_a_dst_change() -> None:
    # London's clocks go forward on Sunday 30 March 2025; Sunday has no calls
    policy = CampaignSettings(
        calling_window=WeeklyWindow.model_validate(
            {"mon-fri": "09:30-19:45", "sat": "10:00-13:00", "sun": None}
        )
    )
    london = zones("Europe/London")
    saturday_late = utc(2025, 3, 29, 13)  # 13:00 GMT: Saturday's window just closed
    assert not in_window(policy, london, saturday_late)
    assert in_window(policy, london, saturday_late - dt.timedelta(seconds=1))
    # Monday 09:30 BST is 08:30 UTC, an hour earlier than it was the Monday before
    assert next_allowed(policy, london, "GB", None, saturday_late) == utc(2025, 3, 31, 8, 30)
    assert next_allowed(policy, london, "GB", None, utc(2025, 3, 22, 13)) == utc(2025, 3, 24, 9, 30)
    assert window_problem(policy, london, utc(2025, 3, 30, 12)) == (
        "no calls on Sundays local time in Europe/London"
    )
    assert window_problem(policy, london, utc(2025, 3, 31, 19)) == (
        "outside 09:30-19:45 local time in Europe/London"
    )
    assert window_problem(policy, london, utc(2025, 3, 31, 18, 44)) is None
