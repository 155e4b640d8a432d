"""The agent's own lists and figures: open call-backs, and today's calls and contacts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from runner.web.card import customer_zone, iso
from runner.web.console_common import (
    CONTACTS,
    D,
    _dialer,
    _Invalid,
    _read,
)
from runner.web.keys import USER
from store.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Customer,
    Disposition,
    EntryStatus,
    ListEntry,
)

__all__ = ["agent_callbacks", "agent_today"]

# -- the agent's lists and figures --------------------------------------------------------


async def agent_callbacks(request: web.Request) -> web.Response:
    dialer, user = _dialer(request), request[USER]
    now = dialer.clock.utcnow()

    def read(session: Session) -> list[dict[str, Any]]:
        mine = select(Disposition.list_entry_id).where(
            Disposition.agent_id == user.id, Disposition.code == D.CALLBACK.value
        )
        rows = session.execute(
            select(ListEntry, Customer.name, Customer.timezone, Campaign.name, Campaign.status)
            .join(Customer, Customer.id == ListEntry.customer_id)
            .join(Campaign, Campaign.id == ListEntry.campaign_id)
            .where(
                ListEntry.status == EntryStatus.CALLBACK,
                or_(
                    ListEntry.assigned_agent_id == user.id,
                    and_(ListEntry.assigned_agent_id.is_(None), ListEntry.id.in_(mine)),
                ),
            )
            .order_by(ListEntry.due_at, ListEntry.id)
            .limit(200)
        ).all()
        return [
            {
                "list_entry_id": entry.id,
                "customer": name,
                "customer_timezone": zone,
                "campaign": campaign,
                "campaign_id": entry.campaign_id,
                "campaign_running": running is CampaignStatus.RUNNING,
                "callback_at": iso(entry.due_at),
                "shared": entry.assigned_agent_id is None,
                "overdue": entry.due_at is not None and entry.due_at <= now,
            }
            for entry, name, zone, campaign, running in rows
        ]

    return web.json_response({"callbacks": await _read(request, read)})


async def agent_today(request: web.Request) -> web.Response:
    """Today's figures, 'today' in the viewer's zone (``?tz=``; UTC when not given)."""
    dialer, user = _dialer(request), request[USER]
    zone_name = request.query.get("tz") or "UTC"
    zone = customer_zone(zone_name)
    if zone is None:
        raise _Invalid("tz", f"{zone_name!r} is not a time zone (like Europe/London)")
    now = dialer.clock.utcnow()
    start = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), zone).astimezone(dt.UTC)

    def read(session: Session) -> dict[str, Any]:
        calls: list[tuple[dt.datetime, dt.datetime | None]] = [
            (answered, ended)
            for answered, ended in session.execute(
                select(Attempt.answered_at, Attempt.ended_at).where(
                    Attempt.agent_id == user.id, Attempt.answered_at >= start
                )
            )
            if answered is not None
        ]
        codes = dict(
            session.execute(
                select(Disposition.code, func.count())
                .where(Disposition.agent_id == user.id, Disposition.created_at >= start)
                .group_by(Disposition.code)
            ).all()
        )
        talk = sum(
            max(0.0, ((ended or now) - answered).total_seconds()) for answered, ended in calls
        )
        return {
            "from": iso(start),
            "timezone": zone.key,
            "calls": len(calls),
            "contacts": sum(n for code, n in codes.items() if code in CONTACTS),
            "conversions": int(codes.get(D.ACCEPTED.value, 0)),
            "talk_seconds": round(talk),
            "dispositions": {code: int(n) for code, n in codes.items()},
        }

    return web.json_response(await _read(request, read))
