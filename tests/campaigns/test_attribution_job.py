"""The worker's hourly attribution records the conversions of lists still in their windows."""

from __future__ import annotations

import asyncio
import datetime as dt

from report_base import LAUNCH, Member, build_list
from sqlalchemy import Engine, func, select, update

from dialer.attribution import attribute_campaigns
from dialer.clock import DialerClock
from dialer.gateway import StoreGateway
from store.db import transaction
from store.models import Campaign, CampaignKind, CampaignStatus, Conversion, Group


class _Dialer:
    """What the job uses of the dialer: its engine, its clock and its store gateway."""

    def __init__(self, engine: Engine, now: dt.datetime) -> None:
        self.engine = engine
        self.clock = DialerClock.starting(now, 1.0)
        self.gateway = StoreGateway(engine)


def test_lists_in_their_windows_get_their_conversions(engine: Engine) -> None:
    members = [
        Member(Group.TREATMENT, tries=1, disposition="accepted", starts_offer_on=3),
        Member(Group.HOLDOUT, starts_offer_on=5),
    ]
    build_list(engine, members, kind=CampaignKind.CROSS_SELL, offer_product="MOB_L", name="a")
    # a list that ended long ago is left alone
    with transaction(engine) as session:
        session.add(
            Campaign(
                name="old",
                kind=CampaignKind.CROSS_SELL,
                status=CampaignStatus.STOPPED,
                launched_at=LAUNCH - dt.timedelta(days=400),
                ended_at=LAUNCH - dt.timedelta(days=380),
            )
        )
    ctx = {"dialer": _Dialer(engine, LAUNCH + dt.timedelta(days=20))}
    assert asyncio.run(attribute_campaigns(ctx)) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Conversion)).scalar_one() == 2
        assert conn.execute(select(func.count()).where(Conversion.confirmed)).scalar_one() == 2
    with transaction(engine) as session:
        session.execute(update(Campaign).where(Campaign.name == "a").values(ended_at=LAUNCH))
    assert asyncio.run(attribute_campaigns(ctx)) == 1  # ended 20 days ago: still measured
