"""The soak's world: a seeded customer base over US and European time zones, three lists
worked at once (predictive, progressive, preview).

Customers are written straight into the store, not planned: the soak is about the
dialer, and a list holding customers on the do-not-call list, without consent, opted out
of texts or in the holdout is what the dialer's own check right before each contact must
catch. Each customer is on one list only (as the planner keeps them), so two calls to one
number are always the dialer's doing.

Each list runs under its own settings, drawn from the seed (``draw_settings``): a calling
window per weekday, a contact cap, tries per day and in all, and a retry delay per outcome,
so the reconciliation can hold each contact to the settings of the campaign that made it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from campaigns.settings.model import RETRIED, CampaignSettings
from campaigns.settings.resolve import resolve
from campaigns.settings.windows import DAYS
from scripts.soak_checks import Rules
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

__all__ = ["DRAWN_KEYS", "LISTS", "ZONES", "SoakBase", "draw_settings", "write_base"]

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
# the settings each list runs under that the soak chooses (drawn, or from ``LISTS``)
DRAWN_KEYS = (
    "calling_window",
    "contact_cap",
    "max_attempts",
    "retry_minutes",
    "abandon_target",
    "pacing",
    "sms_after_failed_calls",
)
NO_CALL_DAY_SHARE = 0.15  # each weekday but the first a list may rest on
# half-hour steps: a day opens 08:00-11:00 and closes 17:00-21:00, within the US profile's
# 08:00-21:00 and at least six hours long, so a simulated day always has hours to dial
_OPENS = [dt.time(8 + half // 2, 30 * (half % 2)) for half in range(7)]
_CLOSES = [dt.time(17 + half // 2, 30 * (half % 2)) for half in range(9)]
# the longest retry delay drawn per outcome; the shortest is the checks' spacing between
# two calls to one number, which a retry must not undercut
_RETRY_UP_TO = {"busy": 60, "no-answer": 180, "machine": 300, "failed": 120, "canceled": 60}


@dataclass(frozen=True)
class SoakBase:
    campaigns: dict[str, int]  # list name -> campaign id
    customers: int
    settings: dict[str, dict[str, Any]]  # list name -> the settings the soak chose for it


def draw_settings(rng: random.Random, first_day: dt.date) -> dict[str, Any]:
    """One list's own settings, at random: a window per weekday (none on some days, never
    on ``first_day``'s weekday, when the soak starts), a cap of 2-4 contacts in 7-30 days,
    1-3 tries a day and 2-6 in all, and a retry delay per outcome."""
    window: dict[str, str | None] = {}
    for index, day in enumerate(DAYS):
        if index != first_day.weekday() and rng.random() < NO_CALL_DAY_SHARE:
            window[day] = None
        else:
            window[day] = f"{rng.choice(_OPENS):%H:%M}-{rng.choice(_CLOSES):%H:%M}"
    per_day = rng.randint(1, 3)
    shortest = int(Rules().spacing.total_seconds() // 60)
    return {
        "calling_window": window,
        "contact_cap": {"contacts": rng.randint(2, 4), "days": rng.randint(7, 30)},
        "max_attempts": {"per_day": per_day, "total": rng.randint(max(2, per_day), 6)},
        "retry_minutes": {
            outcome.value: rng.randint(shortest, _RETRY_UP_TO[outcome.value]) for outcome in RETRIED
        },
    }


def _phone(rng_index: int, prefix: str, digits: int) -> str:
    first = 2 * 10 ** (digits - 1)  # a leading 2: a plain subscriber number everywhere
    return f"{prefix}{first + rng_index:0{digits}d}"


def write_base(engine: Engine, customers: int, seed: int, launched: dt.datetime) -> SoakBase:
    """``customers`` customers spread over ``ZONES`` and the three running lists."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    drawn = _drawn_settings(seed, launched.date())
    with transaction(engine) as session:
        campaigns = {}
        for name, kind, _, _ in LISTS:
            campaign = Campaign(
                name=f"{name}-{tag}",
                kind=kind,
                status=CampaignStatus.RUNNING,
                settings=drawn[name].as_json(),
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
    settings = {name: _as_drawn(drawn[name]) for name in campaigns}
    return SoakBase(campaigns=campaigns, customers=customers, settings=settings)


def _as_drawn(settings: CampaignSettings) -> dict[str, Any]:
    """The keys the soak sets, as a settings file would give them: enough to run the same
    lists again from a failure's output."""
    values = settings.as_json()
    return {key: values[key] for key in DRAWN_KEYS}


def _drawn_settings(seed: int, first_day: dt.date) -> dict[str, CampaignSettings]:
    """Each list's settings, drawn from the seed apart from the customers (the same base
    with other settings is another seed), resolved as the product would under the
    regulatory profiles of every country in ``ZONES``: a draw no profile allows fails here."""
    rng = random.Random(f"soak-settings-{seed}")
    countries = {country for country, *_ in ZONES}
    out = {}
    for name, kind, pacing, target in LISTS:
        own = draw_settings(rng, first_day)
        own.update(pacing=pacing, abandon_target=target, sms_after_failed_calls=2)
        out[name] = resolve(kind, {}, own, countries)
    return out
