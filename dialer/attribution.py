"""Attribution as a worker job: the conversions of every list still within its windows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaigns.outcomes import MEASURE_DAYS, attribute
from dialer.context import Dialer
from dialer.gateway import StoreGateway
from store.db import make_engine
from store.models import Campaign

__all__ = ["attribute_campaigns"]


async def attribute_campaigns(ctx: dict[str, Any]) -> int:
    """Record the conversions of every list still within its windows (hourly).

    Launched lists that run, are paused, or ended less than the measurement plus the
    attribution window ago; attribution is idempotent, so each run only adds what the
    dispositions and the holdings feed show since the last.
    """
    dialer: Dialer = ctx["dialer"]
    since = dialer.clock.utcnow() - dt.timedelta(days=MEASURE_DAYS + 60)

    def lists(session: Session) -> list[str]:
        return list(
            session.scalars(
                select(Campaign.name).where(
                    Campaign.launched_at.is_not(None),
                    or_(Campaign.ended_at.is_(None), Campaign.ended_at >= since),
                )
            )
        )

    names = await dialer.gateway.write(lists)
    # an engine of its own: reads over whole lists must not hold the dialer's write lock
    apart = StoreGateway(make_engine(dialer.engine.url.render_as_string(hide_password=False)))
    try:
        for name in names:
            await apart.batch(attribute, name)
    finally:
        apart.close()
        apart.engine.dispose()
    return len(names)
