"""No dial outside the customer's local window or to an opted-out number: the pacer's
pick and the re-check right before the dial, across time zones and DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from campaigns.settings.versions import set_campaign_settings
from dialer.attempt_claim import _ready_to_dial
from dialer.entry_taking import take_entries
from store.db import transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Customer,
    DncChannel,
    DncEntry,
    EntryStatus,
    Exclusion,
    ListEntry,
)
from tests.dialer.dial_base import ZONES, build_running_campaign

S = AttemptStatus
ALL_ZONES = tuple(ZONES)


def _allowed(customer: Customer, at: dt.datetime) -> bool:
    local = at.astimezone(ZoneInfo(customer.timezone or "UTC"))
    closed = holidays.country_holidays(customer.country)
    return dt.time(8) <= local.time() < dt.time(21) and local.date() not in closed


def _dialled_zones(engine: Engine, campaign_id: int, at: dt.datetime) -> set[str]:
    with transaction(engine) as session:
        attempts = take_entries(session, campaign_id, 100, now=at)
        zones = session.scalars(
            select(Customer.timezone)
            .join(Attempt, Attempt.customer_id == Customer.id)
            .where(Attempt.id.in_(attempts))
        ).all()
    return {z for z in zones if z}


def test_dst_start_and_end_move_the_window_by_an_hour(engine: Engine) -> None:
    # 12:30 UTC on the day US clocks go forward: 08:30 EDT in New York (07:30 had it
    # stayed EST), 07:30 CDT in Chicago
    spring, _ = build_running_campaign(engine, 10, zones=ALL_ZONES, name="spring")
    assert _dialled_zones(engine, spring, dt.datetime(2026, 3, 8, 12, 30, tzinfo=dt.UTC)) == {
        "America/New_York",
        "Europe/London",
    }
    # the day they go back: 07:30 EST in New York; London (GMT) is at 12:30
    autumn, _ = build_running_campaign(engine, 10, zones=ALL_ZONES, name="autumn", first=100)
    assert _dialled_zones(engine, autumn, dt.datetime(2026, 11, 1, 12, 30, tzinfo=dt.UTC)) == {
        "Europe/London"
    }
    # London's clocks go forward on 29 March: 20:30 UTC is 21:30 BST, closed
    late, _ = build_running_campaign(engine, 10, zones=ALL_ZONES, name="late", first=200)
    assert "Europe/London" not in _dialled_zones(
        engine, late, dt.datetime(2026, 3, 30, 20, 30, tzinfo=dt.UTC)
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
        lambda d: d.replace(tzinfo=dt.UTC)
    ),
    opted_out=st.sets(st.integers(0, 14), max_size=5),
)
def test_the_pacer_never_queues_a_call_outside_the_window_or_to_an_opted_out_number(
    engine: Engine, at: dt.datetime, opted_out: set[int]
) -> None:
    with transaction(engine) as session:
        session.execute(update(ListEntry).values(status=EntryStatus.DONE))
        first = (session.scalar(select(Customer.id).order_by(Customer.id.desc())) or 0) + 1
    campaign_id, customers = build_running_campaign(
        engine, 15, zones=ALL_ZONES, name=f"c{first}", first=first
    )
    with transaction(engine) as session:
        for index in opted_out:
            phone = session.get(Customer, customers[index]).phone  # type: ignore[union-attr]
            channel = DncChannel.CALL if index % 2 else DncChannel.ALL
            session.add(DncEntry(phone=phone, channel=channel, source="test"))
    with transaction(engine) as session:
        attempts = take_entries(session, campaign_id, 15, now=at)
        for attempt_id in attempts:
            attempt = session.get(Attempt, attempt_id)
            assert attempt is not None
            customer = session.get(Customer, attempt.customer_id)
            assert customer is not None
            assert _allowed(customer, at), f"queued at {at} for {customer.timezone}"
            assert customers.index(customer.id) not in opted_out
        blocked = set(
            session.scalars(
                select(Exclusion.reason).where(Exclusion.campaign_id == campaign_id)
            ).all()
        )
        left_out = 15 - len(attempts)
        assert not left_out or blocked, "every entry left out has its reason stored"


def test_the_check_right_before_the_dial_stops_a_call_whose_window_closed(
    engine: Engine,
) -> None:
    campaign_id, _ = build_running_campaign(engine, 1, zones=("America/Los_Angeles",))
    queued = dt.datetime(2026, 11, 25, 4, 55, tzinfo=dt.UTC)  # 20:55 in Los Angeles
    with transaction(engine) as session:
        (attempt_id,) = take_entries(session, campaign_id, 1, now=queued)
    # the job runs ten minutes later, after 21:00 there
    late = queued + dt.timedelta(minutes=10)
    with transaction(engine) as session:
        assert _ready_to_dial(session, attempt_id, Channel.CALL, late) == "blocked"
    with transaction(engine) as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        assert attempt.status is S.CANCELED
        assert attempt.started_at is None
        entry = session.get(ListEntry, attempt.list_entry_id)
        assert entry is not None
        assert entry.status is EntryStatus.PENDING
        # it waits for 08:00 the next morning there
        assert entry.due_at == dt.datetime(2026, 11, 25, 16, 0, tzinfo=dt.UTC)
        # and a second run of the same job does nothing more
        assert _ready_to_dial(session, attempt_id, Channel.CALL, late) == "already"


def test_an_opt_out_between_queueing_and_dialling_stops_the_call(engine: Engine) -> None:
    campaign_id, (customer_id,) = build_running_campaign(engine, 1)
    at = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)
    with transaction(engine) as session:
        (attempt_id,) = take_entries(session, campaign_id, 1, now=at)
        phone = session.get(Customer, customer_id).phone  # type: ignore[union-attr]
        session.add(DncEntry(phone=phone, channel=DncChannel.ALL, source="agent"))
    with transaction(engine) as session:
        assert _ready_to_dial(session, attempt_id, Channel.CALL, at) == "blocked"
        entry = session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id)).one()
        assert entry.status is EntryStatus.EXCLUDED


def test_a_settings_change_holds_from_the_next_decision_and_leaves_done_attempts_alone(
    engine: Engine,
) -> None:
    campaign_id, _ = build_running_campaign(engine, 2, zones=("America/New_York",))
    at = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)  # Wednesday, 12:00 in New York
    with transaction(engine) as session:
        first, second = take_entries(session, campaign_id, 2, now=at)
        assert not isinstance(_ready_to_dial(session, first, Channel.CALL, at), str)
    with transaction(engine) as session:
        campaign = session.get_one(Campaign, campaign_id)
        # the manager moves Wednesday's calls to the afternoon, after the first was claimed
        set_campaign_settings(
            session, campaign, {"calling_window": {"mon-fri": "13:00-20:00"}}, "web:ana"
        )
    with transaction(engine) as session:
        assert _ready_to_dial(session, second, Channel.CALL, at) == "blocked"
        done = session.get_one(Attempt, first)
        # the attempt claimed before keeps the version it was made under, and its status
        assert (done.status, done.settings_version) == (S.INITIATED, 0)
        assert session.get_one(Campaign, campaign_id).settings_version == 1
        entry = session.get_one(Attempt, second).list_entry_id
        # the held entry waits for 13:00 in New York
        assert session.get_one(ListEntry, entry).due_at == dt.datetime(
            2026, 11, 25, 18, 0, tzinfo=dt.UTC
        )
