"""The contact policy settings: defaults, validation, per-kind defaults, JSON."""

from __future__ import annotations

import datetime as dt
import json

import pydantic
import pytest
from policy_world import (
    UTC,
)

from campaigns.policy.settings import ContactPolicy
from store.models import (
    Campaign,
    CampaignKind,
)

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
