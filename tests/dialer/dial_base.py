"""A running campaign written straight into the store, for the dialer's tests.

Customers get real-looking numbers in the zones asked for, consent to calls and texts,
and a treatment entry each on one running campaign; nothing else (no scores, no
matrix) is needed to dial them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from campaigns.settings.model import CampaignSettings
from store.db import transaction
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Customer,
    CustomerType,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = ["ZONES", "build_running_campaign", "phone_for"]

# (country, zone, area code) for numbers whose zone the phone number also tells
ZONES = {
    "America/New_York": ("US", "212"),
    "America/Chicago": ("US", "312"),
    "America/Denver": ("US", "303"),
    "America/Los_Angeles": ("US", "213"),
    "Europe/London": ("GB", "20"),
}


def phone_for(zone: str, n: int) -> str:
    country, area = ZONES[zone]
    if country == "GB":
        return f"+44{area}7946{n:04d}"
    return f"+1{area}555{n:04d}"


def build_running_campaign(
    engine: Engine,
    customers: int,
    *,
    zones: Sequence[str] = ("America/New_York",),
    kind: CampaignKind = CampaignKind.CROSS_SELL,
    pacing: str = "progressive",
    settings: dict[str, Any] | None = None,
    holdout: int = 0,
    name: str = "test campaign",
    first: int = 0,
) -> tuple[int, list[int]]:
    """A running campaign with ``customers`` treatment entries (and ``holdout`` holdout
    ones); returns the campaign id and the treatment entries' customer ids."""
    with transaction(engine) as session:
        campaign = Campaign(
            name=name,
            kind=kind,
            status=CampaignStatus.RUNNING,
            settings=CampaignSettings.for_kind(
                kind, {"pacing": pacing, **(settings or {})}
            ).as_json(),
            plan={},
            launched_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        )
        session.add(campaign)
        session.flush()
        treated = []
        for i in range(customers + holdout):
            n = first + i
            zone = zones[i % len(zones)]
            country = ZONES[zone][0]
            customer = Customer(
                external_id=f"D{campaign.id:03d}-{n:06d}",
                name=f"Customer {n}",
                phone=phone_for(zone, n),
                country=country,
                timezone=zone,
                customer_type=CustomerType.B2C,
                call_consent=True,
                sms_consent=True,
            )
            session.add(customer)
            session.flush()
            group = Group.TREATMENT if i < customers else Group.HOLDOUT
            session.add(
                ListEntry(
                    campaign_id=campaign.id,
                    customer_id=customer.id,
                    group=group,
                    status=EntryStatus.PENDING,
                    priority=customers + holdout - i,
                    offer="Family plan",
                    details={},
                )
            )
            if group is Group.TREATMENT:
                treated.append(customer.id)
        return campaign.id, treated
