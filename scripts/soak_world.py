"""The soak's world: a seeded customer base over US and European time zones, three lists
worked at once (predictive, progressive, preview).

Customers are written straight into the store, not planned: the soak is about the
dialer, and a list holding customers on the do-not-call list, without consent, opted out
of texts or in the holdout is what the dialer's own check right before each contact must
catch. Each customer is on one list only (as the planner keeps them), so two calls to one
number are always the dialer's doing.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from campaigns.settings.model import CampaignSettings
from store.db import transaction
from store.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Customer,
    CustomerType,
    DncChannel,
    DncEntry,
    EntryStatus,
    Group,
    ListEntry,
)

__all__ = ["LISTS", "ZONES", "SoakBase", "write_base"]

# (country, zone, number prefix, digits after it): numbers the phonenumbers package
# takes as valid fixed lines of that place
ZONES = (
    ("US", "America/New_York", "+1212", 7),
    ("US", "America/Chicago", "+1312", 7),
    ("US", "America/Denver", "+1303", 7),
    ("US", "America/Los_Angeles", "+1213", 7),
    ("PL", "Europe/Warsaw", "+4822", 7),
    ("LT", "Europe/Vilnius", "+3705", 7),
    ("GB", "Europe/London", "+44207", 7),
)
# the three lists: (name, kind, pacing, abandon target); a customer is on one of them
LISTS = (
    ("soak-predictive", CampaignKind.ANTI_CHURN, "predictive", 0.01),
    ("soak-progressive", CampaignKind.CROSS_SELL, "progressive", 0.03),
    ("soak-preview", CampaignKind.WIN_BACK, "preview", 0.01),
)
PREVIEW_SHARE = 0.04  # the preview list is worked by a few people: keep it small
HOLDOUT = 0.05
NO_CALL_CONSENT = 0.04
DNC_SHARE = 0.03
SMS_OPT_OUT_SHARE = 0.03


@dataclass(frozen=True)
class SoakBase:
    campaigns: dict[str, int]  # list name -> campaign id
    customers: int


def _phone(rng_index: int, prefix: str, digits: int) -> str:
    first = 2 * 10 ** (digits - 1)  # a leading 2: a plain subscriber number everywhere
    return f"{prefix}{first + rng_index:0{digits}d}"


def write_base(engine: Engine, customers: int, seed: int, launched: dt.datetime) -> SoakBase:
    """``customers`` customers spread over ``ZONES`` and the three running lists."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    with transaction(engine) as session:
        campaigns = {}
        for name, kind, pacing, target in LISTS:
            campaign = Campaign(
                name=f"{name}-{tag}",
                kind=kind,
                status=CampaignStatus.RUNNING,
                settings=CampaignSettings.for_kind(
                    kind, {"pacing": pacing, "abandon_target": target, "sms_after_failed_calls": 2}
                ).as_json(),
                settings_version=1,
                plan={},
                launched_at=launched,
            )
            session.add(campaign)
            session.flush()
            campaigns[name] = campaign.id
        rows: list[dict[str, Any]] = []
        dnc: list[dict[str, Any]] = []
        for n in range(customers):
            country, zone, prefix, digits = ZONES[n % len(ZONES)]
            phone = _phone(n // len(ZONES), prefix, digits)
            rows.append(
                {
                    "external_id": f"soak-{tag}-{n:07d}",
                    "name": f"Soak Customer {n}",
                    "phone": phone,
                    "country": country,
                    "timezone": zone,
                    "customer_type": CustomerType.B2C,
                    "call_consent": rng.random() >= NO_CALL_CONSENT,
                    "sms_consent": True,
                }
            )
            draw = rng.random()
            if draw < DNC_SHARE:
                dnc.append({"phone": phone, "channel": DncChannel.ALL, "created_at": launched})
            elif draw < DNC_SHARE + SMS_OPT_OUT_SHARE:
                dnc.append({"phone": phone, "channel": DncChannel.SMS, "created_at": launched})
        session.execute(insert(Customer), rows)
        if dnc:
            session.execute(insert(DncEntry), [{**row, "source": "soak"} for row in dnc])
        ids = session.scalars(
            select(Customer.id).where(Customer.external_id.like(f"soak-{tag}-%"))
        ).all()
        entries: list[dict[str, Any]] = []
        for customer_id in ids:
            draw = rng.random()
            if draw < PREVIEW_SHARE:
                name = "soak-preview"
            else:
                name = "soak-predictive" if rng.random() < 0.5 else "soak-progressive"
            entries.append(
                {
                    "campaign_id": campaigns[name],
                    "customer_id": customer_id,
                    "group": Group.HOLDOUT if rng.random() < HOLDOUT else Group.TREATMENT,
                    "status": EntryStatus.PENDING,
                    "priority": rng.randint(0, 9),
                    "offer": "Loyalty discount",
                    "details": {},
                }
            )
        session.execute(insert(ListEntry), entries)
    return SoakBase(campaigns=campaigns, customers=customers)
