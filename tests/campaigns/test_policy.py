"""The contact policy: each rule at its boundary, on both databases; bulk and single agree."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import phonenumbers
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns import policy as policy_module
from campaigns.policy import (
    ContactPolicy,
    Verdict,
    check_contact,
    customer_zones,
    in_window,
    is_holiday,
    next_allowed,
    record_exclusion,
    screen,
)
from store.importer import import_file
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    Channel,
    Customer,
    CustomerType,
    Disposition,
    DispositionCode,
    DncChannel,
    DncEntry,
    Exclusion,
    ExclusionReason,
    Group,
    Interaction,
    InteractionKind,
    ListEntry,
    Product,
)

UTC = dt.UTC
Row = TypeVar("Row")
R = ExclusionReason
NOW = dt.datetime(2025, 3, 12, 17, 0, tzinfo=UTC)  # a Wednesday, 13:00 in New York (EDT)
NEW_YORK = "+12125550123"
LOS_ANGELES = "+13105550123"
LONDON = "+442079460000"
AU_MOBILE = "+61412345678"
RU_MOBILE = "+79161234567"
NO_ZONE = "+80012345678"  # international freephone: no place, no zone


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def zones(*names: str) -> tuple[ZoneInfo, ...]:
    return tuple(ZoneInfo(name) for name in names)


# -- the policy object ------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    policy = ContactPolicy()
    assert (policy.window_start, policy.window_end) == (dt.time(8), dt.time(21))
    assert (policy.max_contacts, policy.contact_period_days) == (3, 30)
    assert (policy.refusal_cooldown_days, policy.abandon_cooldown_hours) == (90, 72)
    assert policy.max_attempts == 6
    assert policy.skip_public_holidays
    assert policy.exclude_open_complaints
    with pytest.raises(pydantic.ValidationError):
        policy.max_contacts = 4


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"window_start": "21:00", "window_end": "08:00"}, "window_start"),
        ({"window_start": "09:00", "window_end": "09:00"}, "window_end"),
        ({"window_start": dt.time(8, tzinfo=UTC)}, "window_start"),
        ({"max_contacts": 0}, "max_contacts"),
        ({"contact_period_days": -1}, "contact_period_days"),
        ({"refusal_cooldown_days": 0}, "refusal_cooldown_days"),
        ({"abandon_cooldown_hours": 0}, "abandon_cooldown_hours"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_calls": 2}, "max_calls"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(fields: dict[str, object], named: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=named):
        ContactPolicy.for_kind(CampaignKind.CROSS_SELL, fields)


@pytest.mark.parametrize("kind", list(CampaignKind))
def test_open_complaints_keep_customers_off_sales_lists_only(kind: CampaignKind) -> None:
    assert ContactPolicy.for_kind(kind).exclude_open_complaints == kind.excludes_open_complaints
    assert ContactPolicy.for_kind(kind, {"exclude_open_complaints": True}).exclude_open_complaints


@pytest.mark.parametrize("kind", list(CampaignKind))
def test_policy_round_trips_through_json(kind: CampaignKind) -> None:
    policy = ContactPolicy.for_kind(
        kind,
        {
            "window_start": "09:30",
            "window_end": dt.time(20, 15, 30),
            "extra_holidays": [dt.date(2025, 7, 3), "2025-01-02", dt.date(2025, 7, 3)],
            "max_contacts": 5,
            "skip_public_holidays": False,
        },
    )
    assert policy.extra_holidays == (dt.date(2025, 1, 2), dt.date(2025, 7, 3))
    stored = json.loads(json.dumps(policy.as_json()))
    assert ContactPolicy.for_kind(kind, stored) == policy
    assert ContactPolicy.for_kind(kind, ContactPolicy().as_json()) == ContactPolicy()


def test_a_campaign_runs_under_its_kind_and_its_overrides() -> None:
    campaign = Campaign(name="x", kind=CampaignKind.ANTI_CHURN, policy={"max_contacts": 2})
    assert ContactPolicy.of(campaign) == ContactPolicy(
        max_contacts=2, exclude_open_complaints=False
    )
    assert ContactPolicy.of(Campaign(name="y", kind=CampaignKind.UP_SELL, policy={})) == (
        ContactPolicy()
    )


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
    assert in_window(ContactPolicy(), zones(zone), instant) is inside


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
    assert in_window(ContactPolicy(), zones(zone), instant) is inside


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
    policy = ContactPolicy()
    assert in_window(policy, customer_zones(AU_MOBILE, None), instant) is inside
    # 12:00 in Sydney: fine for a Sydney landline
    assert in_window(policy, customer_zones("+61291234567", None), utc(2025, 1, 15, 1, 0))


def test_no_zone_is_never_inside_the_window() -> None:
    assert not in_window(ContactPolicy(), (), NOW)
    with pytest.raises(ValueError, match="naive"):
        in_window(ContactPolicy(), zones("Europe/London"), dt.datetime(2025, 3, 12, 12))


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
    assert is_holiday(ContactPolicy(), country, region, zones(zone), instant) is holiday


def test_extra_dates_and_public_holidays_switched_off() -> None:
    extra = ContactPolicy(extra_holidays=(dt.date(2025, 7, 3),))
    ny = zones("America/New_York")
    assert is_holiday(extra, "US", "NY", ny, utc(2025, 7, 3, 15))
    assert is_holiday(extra, "ZZ", None, ny, utc(2025, 7, 3, 15))
    assert not is_holiday(extra, "US", "NY", ny, utc(2025, 7, 2, 15))
    off = ContactPolicy(skip_public_holidays=False, extra_holidays=(dt.date(2025, 7, 3),))
    assert not is_holiday(off, "US", "NY", ny, utc(2025, 12, 25, 15))
    assert is_holiday(off, "US", "NY", ny, utc(2025, 7, 3, 15))


def test_a_holiday_in_any_of_the_zones_counts() -> None:
    # 2025-12-25 14:00 UTC: 22:00 on the 25th in Perth, 01:00 on the 26th in Sydney
    extra = ContactPolicy(skip_public_holidays=False, extra_holidays=(dt.date(2025, 12, 25),))
    at = utc(2025, 12, 25, 14)
    assert not is_holiday(extra, "AU", None, zones("Australia/Sydney"), at)
    assert is_holiday(extra, "AU", None, zones("Australia/Perth"), at)
    assert is_holiday(extra, "AU", None, zones("Australia/Sydney", "Australia/Perth"), at)


# -- the next allowed instant -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "zone", "now", "expected"),
    [
        (ContactPolicy(), "America/New_York", NOW, NOW),
        # before 08:00: that morning
        (ContactPolicy(), "America/New_York", utc(2025, 3, 12, 11, 59), utc(2025, 3, 12, 12)),
        # Christmas Eve evening: past Christmas Day to 08:00 EST on the 26th
        (ContactPolicy(), "America/New_York", utc(2025, 12, 25, 3), utc(2025, 12, 26, 13)),
        # a window that opens at 02:30 on the night the clocks skip 02:00-03:00: 03:00 EDT
        (
            ContactPolicy(window_start=dt.time(2, 30)),
            "America/New_York",
            utc(2025, 3, 9, 6),
            utc(2025, 3, 9, 7),
        ),
        # a window that closes at 01:30 on the night 01:00-02:00 repeats: open again at
        # 01:00 EST, when the clocks go back
        (
            ContactPolicy(window_start=dt.time(0), window_end=dt.time(1, 30)),
            "America/New_York",
            utc(2025, 11, 2, 5, 30),
            utc(2025, 11, 2, 6),
        ),
        # Friday night in London: Saturday 08:00
        (ContactPolicy(), "Europe/London", utc(2025, 3, 14, 21), utc(2025, 3, 15, 8)),
        # Kolkata keeps half hours
        (ContactPolicy(), "Asia/Kolkata", utc(2025, 3, 12, 16), utc(2025, 3, 13, 2, 30)),
    ],
)
def test_next_allowed(
    policy: ContactPolicy, zone: str, now: dt.datetime, expected: dt.datetime
) -> None:
    country = {"America": "US", "Europe": "GB", "Asia": "IN"}[zone.split("/")[0]]
    assert next_allowed(policy, zones(zone), country, None, now) == expected


def test_next_allowed_over_several_zones_or_none() -> None:
    policy = ContactPolicy()
    ru = customer_zones(RU_MOBILE, None)
    found = next_allowed(policy, ru, "RU", None, NOW)
    assert found is not None
    assert found >= NOW
    assert in_window(policy, ru, found)
    assert not is_holiday(policy, "RU", None, ru, found)
    assert next_allowed(policy, (), "US", None, NOW) is None
    # 09:00-17:00 everywhere from Kaliningrad's neighbours to Kamchatka: never
    narrow = ContactPolicy(window_start=dt.time(9), window_end=dt.time(17))
    assert next_allowed(narrow, ru, "RU", None, NOW) is None
    # a year of extra dates blocks every day the search looks at
    every_day = tuple(dt.date(2025, 3, 12) + dt.timedelta(days=d) for d in range(401))
    closed = ContactPolicy(extra_holidays=every_day)
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
def policies(draw: st.DrawFn) -> ContactPolicy:
    start = draw(st.times(max_value=dt.time(22, 59)))
    end = draw(st.times(min_value=dt.time(start.hour + 1), max_value=dt.time(23, 59, 59)))
    extra = draw(st.lists(st.dates(dt.date(2024, 12, 20), dt.date(2025, 1, 20)), max_size=10))
    return ContactPolicy(
        window_start=start,
        window_end=end,
        extra_holidays=tuple(extra),
        skip_public_holidays=draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(
    policy=policies(),
    names=st.lists(st.sampled_from(ZONE_NAMES), min_size=1, max_size=3, unique=True),
    country=st.sampled_from(["US", "GB", "AU", "IN", "CL", "ZZ"]),
    now=st.datetimes(dt.datetime(2024, 12, 1), dt.datetime(2026, 1, 31), timezones=st.just(UTC)),
)
def test_next_allowed_is_the_first_allowed_instant(
    policy: ContactPolicy, names: list[str], country: str, now: dt.datetime
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


# -- the store: one contact ----------------------------------------------------------------


class World:
    """Rows for policy tests, written through one session that the test rolls back."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._n = itertools.count(1)
        self.products = [
            self.add(Product(code=f"P{i}", name=f"P{i}", family="F", monthly_price=10))
            for i in range(3)
        ]

    def add(self, row: Row) -> Row:
        self.session.add(row)
        self.session.flush()
        return row

    def customer(
        self,
        phone: str | None = NEW_YORK,
        *,
        timezone: str | None = None,
        country: str = "US",
        region: str | None = "NY",
        call: bool = True,
        sms: bool = True,
    ) -> int:
        n = next(self._n)
        return self.add(
            Customer(
                external_id=f"C{n}",
                name=f"Customer {n}",
                phone=phone,
                country=country,
                region=region,
                timezone=timezone,
                customer_type=CustomerType.B2C,
                call_consent=call,
                sms_consent=sms,
            )
        ).id

    def entry(
        self,
        customer_id: int,
        kind: CampaignKind = CampaignKind.CROSS_SELL,
        product: int | None = None,
    ) -> int:
        campaign = self.add(Campaign(name=f"campaign {next(self._n)}", kind=kind))
        return self.add(
            ListEntry(
                campaign_id=campaign.id,
                customer_id=customer_id,
                product_id=product,
                group=Group.TREATMENT,
            )
        ).id

    def attempt(
        self,
        customer_id: int,
        at: dt.datetime,
        status: AttemptStatus = AttemptStatus.COMPLETED,
        channel: Channel = Channel.CALL,
        entry: int | None = None,
    ) -> int:
        if entry is None:
            entry = self.entry(customer_id)
        campaign_id = self.session.get_one(ListEntry, entry).campaign_id
        return self.add(
            Attempt(
                campaign_id=campaign_id,
                list_entry_id=entry,
                customer_id=customer_id,
                channel=channel,
                phone=NEW_YORK,
                status=status,
                created_at=at - dt.timedelta(minutes=5),
                started_at=at,
            )
        ).id

    def refusal(
        self,
        customer_id: int,
        at: dt.datetime,
        kind: CampaignKind = CampaignKind.CROSS_SELL,
        product: int | None = None,
    ) -> None:
        entry = self.entry(customer_id, kind, product)
        attempt = self.attempt(customer_id, at - dt.timedelta(minutes=5), entry=entry)
        self.add(
            Disposition(
                attempt_id=attempt,
                list_entry_id=entry,
                customer_id=customer_id,
                code=DispositionCode.REFUSED.value,
                created_at=at,
            )
        )

    def dnc(self, phone: str, channel: DncChannel, revoked_at: dt.datetime | None = None) -> None:
        self.add(DncEntry(phone=phone, channel=channel, source="test", revoked_at=revoked_at))

    def interaction(
        self,
        customer_id: int,
        kind: InteractionKind = InteractionKind.COMPLAINT,
        closed_at: dt.datetime | None = None,
    ) -> None:
        self.add(
            Interaction(
                customer_id=customer_id,
                kind=kind,
                occurred_at=NOW - dt.timedelta(days=next(self._n)),
                closed_at=closed_at,
            )
        )


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    with Session(engine) as session:
        yield World(session)
        session.rollback()


def check(
    world: World,
    customer_id: int,
    *,
    policy: ContactPolicy | None = None,
    channel: Channel = Channel.CALL,
    kind: CampaignKind = CampaignKind.CROSS_SELL,
    now: dt.datetime = NOW,
    **kw: Any,
) -> Verdict:
    return check_contact(
        world.session,
        policy or ContactPolicy.for_kind(kind),
        customer_id=customer_id,
        channel=channel,
        kind=kind,
        now=now,
        **kw,
    )


def test_an_ordinary_customer_may_be_called(world: World) -> None:
    assert check(world, world.customer()) == Verdict(allowed=True)


def test_permanent_blocks_have_no_retry_time(world: World) -> None:
    no_phone = check(world, world.customer(None))
    assert (no_phone.reason, no_phone.retry_at) == (R.NO_PHONE, None)
    texts_only = world.customer(call=False, sms=True)
    verdict = check(world, texts_only)
    assert (verdict.reason, verdict.retry_at) == (R.NO_CONSENT, None)
    assert check(world, texts_only, channel=Channel.SMS).allowed
    calls_only = world.customer(sms=False)
    assert check(world, calls_only, channel=Channel.SMS).reason == R.NO_CONSENT
    nowhere = check(world, world.customer(NO_ZONE))
    assert (nowhere.reason, nowhere.retry_at) == (R.NO_TIMEZONE, None)
    assert check(world, world.customer(NO_ZONE, timezone="America/Chicago")).allowed
    with pytest.raises(LookupError):
        check(world, 10_000)


@pytest.mark.parametrize(
    ("listed", "channel", "reason"),
    [
        (DncChannel.ALL, Channel.CALL, R.DO_NOT_CALL),
        (DncChannel.ALL, Channel.SMS, R.OPTED_OUT),
        (DncChannel.CALL, Channel.CALL, R.DO_NOT_CALL),
        (DncChannel.CALL, Channel.SMS, None),
        (DncChannel.SMS, Channel.SMS, R.OPTED_OUT),
        (DncChannel.SMS, Channel.CALL, None),
    ],
)
def test_do_not_call_and_opt_outs_by_channel(
    world: World, listed: DncChannel, channel: Channel, reason: R | None
) -> None:
    customer = world.customer(LONDON, country="GB", region="ENG")
    world.dnc(LONDON, listed)
    verdict = check(world, customer, channel=channel)
    assert verdict.reason == reason
    assert verdict.allowed is (reason is None)
    assert verdict.retry_at is None
    assert "+44" not in (verdict.detail or "")


def test_a_revoked_do_not_call_entry_no_longer_blocks(world: World) -> None:
    customer = world.customer()
    world.dnc(NEW_YORK, DncChannel.ALL, revoked_at=NOW - dt.timedelta(days=1))
    assert check(world, customer).allowed


@pytest.mark.parametrize("kind", list(CampaignKind))
def test_open_complaint_blocks_sales_calls_only(world: World, kind: CampaignKind) -> None:
    customer = world.customer()
    world.interaction(customer)
    verdict = check(world, customer, kind=kind)
    assert verdict.reason == (R.OPEN_COMPLAINT if kind.excludes_open_complaints else None)
    settled = world.customer()
    world.interaction(settled, closed_at=NOW - dt.timedelta(days=1))
    world.interaction(settled, InteractionKind.TICKET)
    assert check(world, settled, kind=kind).allowed


def test_cap_counts_every_campaign_and_channel(world: World) -> None:
    customer = world.customer()
    oldest = utc(2025, 2, 20, 15)  # + 30 days: Saturday 22 March, 11:00 in New York
    world.attempt(customer, oldest)
    world.attempt(customer, NOW - dt.timedelta(days=3), AttemptStatus.NO_ANSWER)
    world.attempt(customer, NOW - dt.timedelta(days=1), AttemptStatus.DELIVERED, Channel.SMS)
    for channel in Channel:
        verdict = check(world, customer, channel=channel)
        assert verdict.reason == R.CONTACT_CAP
        assert verdict.retry_at == oldest + dt.timedelta(days=30)
        assert check(world, customer, channel=channel, now=oldest + dt.timedelta(days=30)).allowed
    assert check(world, customer, policy=ContactPolicy(max_contacts=4)).allowed


def test_cap_leaves_out_old_and_unplaced_attempts(world: World) -> None:
    customer = world.customer()
    world.attempt(customer, NOW - dt.timedelta(days=31))
    world.attempt(customer, NOW - dt.timedelta(days=30))  # exactly a period ago: aged out
    for status in (
        AttemptStatus.SCHEDULED,
        AttemptStatus.QUEUED,
        AttemptStatus.CANCELED,
        AttemptStatus.FAILED,
    ):
        world.attempt(customer, NOW - dt.timedelta(hours=2), status)
    world.attempt(customer, NOW - dt.timedelta(days=2), AttemptStatus.BUSY)
    world.attempt(customer, NOW - dt.timedelta(days=1), AttemptStatus.SENT, Channel.SMS)
    assert check(world, customer).allowed
    placing = world.attempt(customer, NOW, AttemptStatus.INITIATED)
    assert check(world, customer).reason == R.CONTACT_CAP
    assert check(world, customer, exclude_attempt_id=placing).allowed


def test_cap_lifting_outside_the_window_retries_when_it_opens(world: World) -> None:
    customer = world.customer()
    late = utc(2025, 2, 20, 2)  # + 30 days: 22:00 on Friday 21 March in New York
    world.attempt(customer, late)
    world.attempt(customer, NOW - dt.timedelta(days=2))
    world.attempt(customer, NOW - dt.timedelta(days=1))
    assert check(world, customer).retry_at == utc(2025, 3, 22, 12)  # Saturday 08:00 EDT


@pytest.mark.parametrize(("days_ago", "blocked"), [(89, True), (90, False), (91, False)])
def test_refusal_cooldown_ends_on_day_90(world: World, days_ago: int, blocked: bool) -> None:
    customer = world.customer()
    product, other = world.products[0].id, world.products[1].id
    world.refusal(customer, NOW - dt.timedelta(days=days_ago), product=product)
    verdict = check(world, customer, product_id=product)
    assert verdict.reason == (R.REFUSAL_COOLDOWN if blocked else None)
    if blocked:
        assert verdict.retry_at == NOW + dt.timedelta(days=1)
    assert check(world, customer, product_id=other).allowed
    assert check(world, customer, kind=CampaignKind.ANTI_CHURN).allowed


def test_a_product_less_offer_is_the_same_within_a_campaign_kind(world: World) -> None:
    customer = world.customer()
    world.refusal(customer, NOW - dt.timedelta(days=10), CampaignKind.ANTI_CHURN)
    assert check(world, customer, kind=CampaignKind.ANTI_CHURN).reason == R.REFUSAL_COOLDOWN
    assert check(world, customer, kind=CampaignKind.FOLLOW_UP).allowed
    product = world.products[0].id
    assert check(world, customer, kind=CampaignKind.ANTI_CHURN, product_id=product).allowed


def test_the_offer_defaults_to_the_list_entrys_product(world: World) -> None:
    customer = world.customer()
    product = world.products[2].id
    world.refusal(customer, NOW - dt.timedelta(days=10), product=product)
    entry = world.entry(customer, CampaignKind.UP_SELL, product)
    assert check(world, customer, list_entry_id=entry).reason == R.REFUSAL_COOLDOWN


def test_abandoned_call_cooldown_holds_back_calls_for_72_hours(world: World) -> None:
    customer = world.customer()
    abandoned = NOW - dt.timedelta(hours=71, minutes=59)
    world.attempt(customer, abandoned, AttemptStatus.ABANDONED)
    verdict = check(world, customer)
    assert verdict.reason == R.ABANDON_COOLDOWN
    assert verdict.retry_at == abandoned + dt.timedelta(hours=72)
    assert check(world, customer, channel=Channel.SMS).allowed
    assert check(world, customer, now=abandoned + dt.timedelta(hours=72)).allowed


def test_max_attempts_per_list_entry(world: World) -> None:
    policy = ContactPolicy(max_attempts=3, max_contacts=100)
    customer = world.customer()
    entry = world.entry(customer)
    world.attempt(customer, NOW - dt.timedelta(days=40), entry=entry)
    world.attempt(customer, NOW - dt.timedelta(days=1), AttemptStatus.CANCELED, entry=entry)
    world.attempt(customer, NOW - dt.timedelta(days=1), AttemptStatus.FAILED, entry=entry)
    assert check(world, customer, policy=policy, list_entry_id=entry).allowed
    placing = world.attempt(customer, NOW, AttemptStatus.QUEUED, entry=entry)
    last = world.attempt(customer, NOW - dt.timedelta(hours=1), AttemptStatus.BUSY, entry=entry)
    verdict = check(world, customer, policy=policy, list_entry_id=entry)
    assert (verdict.reason, verdict.retry_at) == (R.MAX_ATTEMPTS, None)
    kept = check(world, customer, policy=policy, list_entry_id=entry, exclude_attempt_id=last)
    assert kept.allowed
    assert (
        check(
            world, customer, policy=policy, list_entry_id=entry, exclude_attempt_id=placing
        ).reason
        == R.MAX_ATTEMPTS
    )
    with pytest.raises(LookupError):
        check(world, customer, list_entry_id=10_000)


def test_window_and_holidays_in_the_customers_local_time(world: World) -> None:
    ny = world.customer()
    early = check(world, ny, now=utc(2025, 3, 12, 11, 59, 59))  # 07:59:59 EDT
    assert (early.reason, early.retry_at) == (R.OUTSIDE_WINDOW, utc(2025, 3, 12, 12))
    assert "America/New_York" in (early.detail or "")
    christmas = check(world, ny, now=utc(2025, 12, 25, 15))
    assert (christmas.reason, christmas.retry_at) == (R.HOLIDAY, utc(2025, 12, 26, 13))
    # the zone on record wins: 21:30 in London is too late, 17:30 in New York is not
    london = world.customer(NEW_YORK, timezone="Europe/London")
    assert check(world, london, now=utc(2025, 3, 12, 21, 30)).reason == R.OUTSIDE_WINDOW
    assert check(world, ny, now=utc(2025, 3, 12, 21, 30)).allowed
    # an Australian mobile must suit Perth and Sydney alike
    au = world.customer(AU_MOBILE, country="AU", region=None)
    assert check(world, au, now=utc(2025, 1, 15, 1)).reason == R.OUTSIDE_WINDOW
    assert check(world, au, now=utc(2025, 1, 15, 2)).allowed


def test_exclusions_are_recorded_with_their_reason(world: World) -> None:
    customer = world.customer(call=False)
    entry = world.entry(customer)
    campaign_id = world.session.get_one(ListEntry, entry).campaign_id
    verdict = check(world, customer)
    row = record_exclusion(
        world.session,
        campaign_id=campaign_id,
        customer_id=customer,
        list_entry_id=entry,
        stage="contact",
        verdict=verdict,
    )
    stored = world.session.scalars(select(Exclusion).where(Exclusion.id == row.id)).one()
    assert (stored.reason, stored.stage, stored.detail) == (
        R.NO_CONSENT,
        "contact",
        "no consent to calls",
    )
    with pytest.raises(ValueError, match="refused verdict"):
        record_exclusion(
            world.session,
            campaign_id=campaign_id,
            customer_id=customer,
            list_entry_id=None,
            stage="plan",
            verdict=Verdict(allowed=True),
        )
    with pytest.raises(ValueError, match="stage"):
        record_exclusion(
            world.session,
            campaign_id=campaign_id,
            customer_id=customer,
            list_entry_id=None,
            stage="dial",
            verdict=verdict,
        )


def test_a_customer_imported_with_an_unusable_phone_is_neither_called_nor_texted(
    engine: Engine, tmp_path: Path
) -> None:
    """The importer keeps a customer whose phone it cannot read, with no phone on record."""
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,phone,country,timezone,call_consent,sms_consent\n"
        "G1,Garbled,555-01,US,America/New_York,yes,yes\n"
        "G2,Fine,(212) 555-0123,US,America/New_York,yes,yes\n",
        encoding="utf-8",
    )
    result = import_file(engine, "customers", path, rejects_dir=tmp_path)
    assert (result.imported, result.rejected, result.warnings) == (2, 0, 1)
    with Session(engine) as session:
        ids = dict(session.execute(select(Customer.external_id, Customer.id)).all())
        candidates = pd.DataFrame({"customer_id": [ids["G1"], ids["G2"]], "product_id": [None] * 2})
        candidates["product_id"] = candidates["product_id"].astype("Int64")
        for channel in Channel:
            for kind in (CampaignKind.ANTI_CHURN, CampaignKind.CROSS_SELL):
                policy = ContactPolicy.for_kind(kind)
                screened = screen(
                    session.connection(), policy, candidates, kind=kind, channel=channel, now=NOW
                )
                assert screened.tolist() == ["no_phone", None], (channel, kind)
                verdict = check_contact(
                    session,
                    policy,
                    customer_id=ids["G1"],
                    channel=channel,
                    kind=kind,
                    now=NOW,
                )
                assert (verdict.reason, verdict.retry_at) == (R.NO_PHONE, None)


# -- the store: in bulk ---------------------------------------------------------------------


def mixed_population(world: World) -> list[tuple[int, int | None]]:
    """One customer per rule and a few that pass; (customer, product) candidates."""
    w = world
    p0, p1 = w.products[0].id, w.products[1].id
    ok = w.customer()
    no_phone = w.customer(None)
    no_call = w.customer(call=False)
    no_sms = w.customer(sms=False)
    listed = w.customer("+12125550155")
    w.dnc("+12125550155", DncChannel.CALL)
    stopped = w.customer("+12125550156")
    w.dnc("+12125550156", DncChannel.SMS)
    everything = w.customer("+12125550157")
    w.dnc("+12125550157", DncChannel.ALL)
    revoked = w.customer("+12125550158")
    w.dnc("+12125550158", DncChannel.ALL, revoked_at=NOW - dt.timedelta(days=3))
    nowhere = w.customer(NO_ZONE)
    badzone = w.customer(NO_ZONE, timezone="Nowhere/Land")
    complaining = w.customer()
    w.interaction(complaining)
    capped = w.customer(LONDON, country="GB", region="ENG")
    for days in (1, 5, 9):
        channel = Channel.SMS if days == 5 else Channel.CALL
        w.attempt(capped, NOW - dt.timedelta(days=days), channel=channel)
    abandoned = w.customer(LOS_ANGELES, region="CA")
    w.attempt(abandoned, NOW - dt.timedelta(hours=10), AttemptStatus.ABANDONED)
    refused = w.customer(AU_MOBILE, country="AU", region="NSW")
    w.refusal(refused, NOW - dt.timedelta(days=20), product=p0)
    refused_retention = w.customer(timezone="America/Denver")
    w.refusal(refused_retention, NOW - dt.timedelta(days=20), CampaignKind.ANTI_CHURN)
    w.refusal(refused_retention, NOW - dt.timedelta(days=20), CampaignKind.FOLLOW_UP)
    many = w.customer(RU_MOBILE, country="RU", region=None)
    w.interaction(many)
    w.attempt(many, NOW - dt.timedelta(hours=1), AttemptStatus.ABANDONED)
    people = [
        ok,
        no_phone,
        no_call,
        no_sms,
        listed,
        stopped,
        everything,
        revoked,
        nowhere,
        badzone,
        complaining,
        capped,
        abandoned,
        many,
    ]
    pairs: list[tuple[int, int | None]] = [(c, None) for c in people]
    pairs += [(c, p) for c in (refused, refused_retention, ok) for p in (None, p0, p1)]
    return pairs


def check_all(
    world: World,
    pairs: list[tuple[int, int | None]],
    policy: ContactPolicy,
    kind: CampaignKind,
    channel: Channel,
    now: dt.datetime = NOW,
) -> list[str | None]:
    """What check_contact says of each pair, leaving out the window and holidays."""
    out = []
    for customer, product in pairs:
        verdict = check_contact(
            world.session,
            policy,
            customer_id=customer,
            channel=channel,
            kind=kind,
            now=now,
            product_id=product,
        )
        assert "+" not in (verdict.detail or "")  # no phone numbers in what is stored
        late = verdict.reason in (R.OUTSIDE_WINDOW, R.HOLIDAY)
        out.append(None if verdict.allowed or late else str(verdict.reason))
    return out


@pytest.mark.parametrize("kind", list(CampaignKind))
@pytest.mark.parametrize("channel", list(Channel))
def test_screen_agrees_with_check_contact(
    world: World, kind: CampaignKind, channel: Channel
) -> None:
    pairs = mixed_population(world)
    policy = ContactPolicy.for_kind(kind)
    candidates = pd.DataFrame(pairs, columns=["customer_id", "product_id"])
    candidates["product_id"] = candidates["product_id"].astype("Int64")
    candidates.index = pd.Index(range(100, 100 + len(pairs)))
    got = screen(
        world.session.connection(), policy, candidates, kind=kind, channel=channel, now=NOW
    )
    assert got.index.equals(candidates.index)
    assert got.tolist() == check_all(world, pairs, policy, kind, channel)
    # every reason a list can meet shows up somewhere
    seen = set(got.dropna())
    assert {"no_phone", "no_consent", "no_timezone", "contact_cap", "refusal_cooldown"} <= seen
    assert ("do_not_call" if channel is Channel.CALL else "opted_out") in seen
    assert ("abandon_cooldown" in seen) is (channel is Channel.CALL)
    assert ("open_complaint" in seen) is kind.excludes_open_complaints


def test_screen_reads_in_chunks_sparse_or_dense(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = mixed_population(world)
    policy = ContactPolicy.for_kind(CampaignKind.CROSS_SELL)
    frame = pd.DataFrame(pairs, columns=["customer_id", "product_id"])
    conn = world.session.connection()
    whole = screen(conn, policy, frame, kind=CampaignKind.CROSS_SELL, channel=Channel.CALL, now=NOW)
    monkeypatch.setattr(policy_module, "CHUNK", 2)
    ids = frame["customer_id"]
    ends = frame[ids.isin([ids.min(), ids.max()])]  # far apart: read by id lists
    sparse = frame[ids % 5 == 0]
    # the whole frame is read in one pass, the others chunk by chunk
    for part in (frame, sparse, ends, frame.iloc[:0]):
        chunked = screen(
            conn, policy, part, kind=CampaignKind.CROSS_SELL, channel=Channel.CALL, now=NOW
        )
        pd.testing.assert_series_equal(chunked, whole.loc[part.index])
    unknown = pd.DataFrame({"customer_id": [10_000], "product_id": [None]})
    with pytest.raises(ValueError, match="not in the store"):
        screen(conn, policy, unknown, kind=CampaignKind.CROSS_SELL, channel=Channel.CALL, now=NOW)


def test_screen_knows_the_zones_of_every_countrys_numbers(world: World) -> None:
    """Screen goes by country code; phonenumbers, on every region's example numbers, agrees."""
    numbers = {
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
        )
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    } | {
        phonenumbers.format_number(
            phonenumbers.example_number_for_non_geo_entity(code),
            phonenumbers.PhoneNumberFormat.E164,
        )
        for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    }
    numbers = {n for n in numbers if len(n) <= 16}
    ids = [world.customer(number) for number in sorted(numbers)]
    got = screen(
        world.session.connection(),
        ContactPolicy.for_kind(CampaignKind.ANTI_CHURN),
        pd.DataFrame({"customer_id": ids, "product_id": None}),
        kind=CampaignKind.ANTI_CHURN,
        channel=Channel.CALL,
        now=NOW,
    )
    expected = [None if customer_zones(n, None) else "no_timezone" for n in sorted(numbers)]
    assert got.tolist() == expected
    assert 0 < expected.count("no_timezone") < len(expected) / 10


PHONES = [None, NEW_YORK, LOS_ANGELES, LONDON, AU_MOBILE, NO_ZONE]
STATUSES = list(AttemptStatus)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    people = [
        {
            "phone": draw(st.sampled_from(PHONES)),
            "timezone": draw(st.sampled_from([None, None, "Europe/London", "Bad/Zone"])),
            "call": draw(st.booleans()),
            "sms": draw(st.booleans()),
        }
        for _ in range(n)
    ]
    who = st.integers(0, n - 1)
    return {
        "people": people,
        "dnc": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(PHONES[1:]), st.sampled_from(list(DncChannel)), st.booleans()
                ),
                max_size=3,
                unique_by=lambda t: (t[0], t[1]),
            )
        ),
        "attempts": draw(
            st.lists(
                st.tuples(
                    who,
                    st.sampled_from(STATUSES),
                    st.sampled_from(list(Channel)),
                    st.integers(0, 45 * 24),  # hours ago
                ),
                max_size=8,
            )
        ),
        "refusals": draw(
            st.lists(
                st.tuples(
                    who,
                    st.sampled_from(list(CampaignKind)),
                    st.sampled_from([None, 0, 1]),
                    st.integers(0, 130),  # days ago
                ),
                max_size=4,
            )
        ),
        "complaints": draw(st.lists(st.tuples(who, st.booleans()), max_size=3)),
        "policy": ContactPolicy(
            max_contacts=draw(st.integers(1, 4)),
            contact_period_days=draw(st.integers(1, 40)),
            refusal_cooldown_days=draw(st.integers(1, 120)),
            abandon_cooldown_hours=draw(st.integers(1, 100)),
            exclude_open_complaints=draw(st.booleans()),
        ),
        "kind": draw(st.sampled_from(list(CampaignKind))),
        "channel": draw(st.sampled_from(list(Channel))),
        "products": draw(st.lists(st.sampled_from([None, 0, 1]), min_size=1, max_size=2)),
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_screen_and_check_contact_agree_on_random_histories(
    engine: Engine, history: dict[str, Any]
) -> None:
    """Whatever screen lets through, check_contact lets through too (bar window, holiday)."""
    with engine.connect() as conn, conn.begin() as outer:
        session = Session(bind=conn)
        w = World(session)
        ids = [
            w.customer(p["phone"], timezone=p["timezone"], call=p["call"], sms=p["sms"])
            for p in history["people"]
        ]
        for phone, channel, revoked in history["dnc"]:
            w.dnc(phone, channel, NOW - dt.timedelta(days=1) if revoked else None)
        for who, status, channel, hours in history["attempts"]:
            w.attempt(ids[who], NOW - dt.timedelta(hours=hours), status, channel)
        for who, kind, product, days in history["refusals"]:
            pid = None if product is None else w.products[product].id
            w.refusal(ids[who], NOW - dt.timedelta(days=days), kind, pid)
        for who, closed in history["complaints"]:
            w.interaction(ids[who], closed_at=NOW if closed else None)
        pairs = [
            (c, None if p is None else w.products[p].id) for c in ids for p in history["products"]
        ]
        policy, kind, channel = history["policy"], history["kind"], history["channel"]
        candidates = pd.DataFrame(pairs, columns=["customer_id", "product_id"])
        got = screen(conn, policy, candidates, kind=kind, channel=channel, now=NOW)
        assert got.tolist() == check_all(w, pairs, policy, kind, channel)
        session.close()
        outer.rollback()
