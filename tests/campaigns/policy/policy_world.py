"""Rows and helpers for the contact policy tests: a small world in one session."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict, check_contact
from campaigns.settings.model import CampaignSettings
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

    def dnc(
        self,
        phone: str,
        channel: DncChannel,
        revoked_at: dt.datetime | None = None,
        created_at: dt.datetime = NOW - dt.timedelta(days=365),
    ) -> None:
        """A do-not-call entry, by default old enough that its opt-out cooldown is over."""
        entry = DncEntry(
            phone=phone,
            channel=channel,
            source="test",
            revoked_at=revoked_at,
            created_at=created_at,
        )
        self.add(entry)

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


def check(
    world: World,
    customer_id: int,
    *,
    policy: CampaignSettings | None = None,
    channel: Channel = Channel.CALL,
    kind: CampaignKind = CampaignKind.CROSS_SELL,
    now: dt.datetime = NOW,
    **kw: Any,
) -> Verdict:
    return check_contact(
        world.session,
        policy or CampaignSettings.for_kind(kind),
        customer_id=customer_id,
        channel=channel,
        kind=kind,
        now=now,
        **kw,
    )
