"""A campaign's KPIs judged against its own abandon limit, the one its dialing runs to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from campaigns.kpis import CampaignKpis, kpi_report
from campaigns.lifecycle import get_campaign
from campaigns.settings.versions import in_force

__all__ = ["kpis_for"]


def kpis_for(engine: Engine, name: str, as_of: dt.date | None = None) -> CampaignKpis:
    """The KPIs with the campaign's own abandon limit (from its dialing settings)."""
    limit = in_force(get_campaign(engine, name)).abandon_target
    return kpi_report(engine, name, abandon_limit=limit, as_of=as_of)
