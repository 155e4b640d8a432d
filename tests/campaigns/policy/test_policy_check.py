"""The per-contact check: each rule at its boundary, on both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from policy_world import (
    AU_MOBILE,
    LONDON,
    NEW_YORK,
    NO_ZONE,
    NOW,
    R,
    World,
    check,
    utc,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict, check_contact, record_exclusion
from campaigns.policy.screen import screen
from campaigns.settings.model import CampaignSettings
from store.importer import import_file
from store.models import (
    AttemptStatus,
    CampaignKind,
    Channel,
    Customer,
    DncChannel,
    Exclusion,
    InteractionKind,
    ListEntry,
)

# -- the store: one contact ----------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("listed", "channel"), [(DncChannel.SMS, Channel.CALL), (DncChannel.CALL, Channel.SMS)]
)
def test_an_opt_out_keeps_the_other_channel_quiet_for_its_cooldown(
    world: World, listed: DncChannel, channel: Channel
) -> None:
    customer = world.customer(LONDON, country="GB", region="ENG")
    opted = NOW - dt.timedelta(days=29, hours=23)
    world.dnc(LONDON, listed, created_at=opted)
    verdict = check(world, customer, channel=channel)
    assert verdict.reason == R.OPT_OUT_COOLDOWN
    assert verdict.retry_at is not None
    assert verdict.retry_at >= opted + dt.timedelta(days=30)
    later = check(world, customer, channel=channel, now=opted + dt.timedelta(days=30, minutes=1))
    assert later.allowed, later
    # a shorter cooldown lifts sooner
    short = CampaignSettings.for_kind(CampaignKind.CROSS_SELL, {"cooldowns": {"opt_out_days": 7}})
    assert check(world, customer, channel=channel, policy=short).allowed


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
    assert check(world, customer, policy=own({"contact_cap": {"contacts": 4}})).allowed


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
    policy = own({"max_attempts": {"total": 3, "per_day": 10}, "contact_cap": {"contacts": 100}})
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


def test_tries_a_day_count_from_the_customers_local_midnight(world: World) -> None:
    policy = own({"max_attempts": {"per_day": 2}, "contact_cap": {"contacts": 100}})
    customer = world.customer()  # New York: NOW is 13:00 EDT
    entry = world.entry(customer)
    world.attempt(customer, utc(2025, 3, 12, 3, 59), AttemptStatus.NO_ANSWER, entry=entry)
    world.attempt(customer, utc(2025, 3, 12, 4, 30), AttemptStatus.NO_ANSWER, entry=entry)
    assert check(world, customer, policy=policy, list_entry_id=entry).allowed  # 23:59 was yesterday
    world.attempt(customer, utc(2025, 3, 12, 12), AttemptStatus.BUSY, entry=entry)  # 08:00 EDT
    verdict = check(world, customer, policy=policy, list_entry_id=entry)
    assert verdict.reason == R.MAX_ATTEMPTS_TODAY
    # lifts at local midnight, then waits for the window: 08:00 EDT tomorrow
    assert verdict.retry_at == utc(2025, 3, 13, 12)
    args = {"policy": policy, "list_entry_id": entry}
    assert check(world, customer, **args, now=utc(2025, 3, 13, 4)).reason == R.OUTSIDE_WINDOW
    assert check(world, customer, **args, now=utc(2025, 3, 13, 12)).allowed
    # the attempt being placed does not count against itself
    placing = world.attempt(customer, NOW, AttemptStatus.QUEUED, entry=entry)
    roomy = own({"max_attempts": {"per_day": 3}, "contact_cap": {"contacts": 100}})
    assert check(
        world, customer, policy=roomy, list_entry_id=entry, exclude_attempt_id=placing
    ).allowed


def own(values: dict[str, Any]) -> CampaignSettings:
    return CampaignSettings.for_kind(CampaignKind.CROSS_SELL, values)


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
                policy = CampaignSettings.for_kind(kind)
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
