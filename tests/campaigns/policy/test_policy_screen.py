"""The bulk screen: it agrees with the per-contact check, in chunks or in one pass."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_world import (
    AU_MOBILE,
    LONDON,
    LOS_ANGELES,
    NEW_YORK,
    NO_ZONE,
    NOW,
    RU_MOBILE,
    R,
    World,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from campaigns.policy import screen as screen_module
from campaigns.policy.calendar import customer_zones
from campaigns.policy.check import check_contact
from campaigns.policy.screen import screen
from campaigns.settings.model import CampaignSettings
from store.models import (
    AttemptStatus,
    CampaignKind,
    Channel,
    DncChannel,
)

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
    policy: CampaignSettings,
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
    policy = CampaignSettings.for_kind(kind)
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
    policy = CampaignSettings.for_kind(CampaignKind.CROSS_SELL)
    frame = pd.DataFrame(pairs, columns=["customer_id", "product_id"])
    conn = world.session.connection()
    whole = screen(conn, policy, frame, kind=CampaignKind.CROSS_SELL, channel=Channel.CALL, now=NOW)
    monkeypatch.setattr(screen_module, "CHUNK", 2)
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
        CampaignSettings.for_kind(CampaignKind.ANTI_CHURN),
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
                    st.sampled_from(PHONES[1:]),
                    st.sampled_from(list(DncChannel)),
                    st.booleans(),
                    st.integers(0, 60),  # days ago
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
        "policy": CampaignSettings.model_validate(
            {
                "contact_cap": {
                    "contacts": draw(st.integers(1, 4)),
                    "days": draw(st.integers(1, 40)),
                },
                "cooldowns": {
                    "refusal_days": draw(st.integers(1, 120)),
                    "abandon_hours": draw(st.integers(1, 100)),
                    "opt_out_days": draw(st.integers(1, 45)),
                },
                "exclude_open_complaints": draw(st.booleans()),
            }
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
        for phone, channel, revoked, days_ago in history["dnc"]:
            opted = NOW - dt.timedelta(days=days_ago, hours=1)
            w.dnc(phone, channel, NOW - dt.timedelta(hours=1) if revoked else None, opted)
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
