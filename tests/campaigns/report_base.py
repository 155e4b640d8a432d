"""A launched list whose outcomes are written straight into the store, for the reports.

``build_list`` puts scored customers (``planner_base``) on a campaign launched on
``LAUNCH``, treated or holdout, and writes for each what the tests choose: contact
attempts, a disposition by an agent, the day their holdings end, an offered product
started on a given day. The reports must then count exactly what was written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from planner_base import build_scored_base
from sqlalchemy import Engine, select, update

from store.db import transaction
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    Disposition,
    Group,
    Holding,
    ListEntry,
    ModelVersion,
    Product,
    Role,
    User,
)

__all__ = ["LAUNCH", "Member", "agent_waiting", "build_list", "day"]

LAUNCH = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def day(n: int) -> dt.date:
    """The day ``n`` days after the launch."""
    return LAUNCH.date() + dt.timedelta(days=n)


@dataclass
class Member:
    group: Group = Group.TREATMENT
    tries: int = 0  # contact attempts placed (first one on the launch day)
    disposition: str | None = None  # recorded by the agent on the first attempt
    ends_on: int | None = None  # days after the launch the customer's holding ends
    starts_offer_on: int | None = None  # days after the launch the offered product starts
    restart_on: int | None = None  # a new holding after the end (a product switch or return)
    extra: dict[str, object] = field(default_factory=dict)


def build_list(
    engine: Engine,
    members: list[Member],
    *,
    kind: CampaignKind = CampaignKind.ANTI_CHURN,
    offer_product: str | None = None,
    name: str = "spring retention",
    attribution_days: int = 30,
) -> dict[str, object]:
    """Write the list; returns the campaign id, the agent id and the entry ids."""
    ids = build_scored_base(engine, len(members), seed=1)
    with transaction(engine) as session:
        agent = User(
            username="agent-anna",
            full_name="Anna Agent",
            role=Role.AGENT,
            password_hash="x",
        )
        session.add(agent)
        version = session.scalars(select(ModelVersion.id)).first()
        product_id = (
            session.scalars(select(Product.id).where(Product.code == offer_product)).one()
            if offer_product
            else None
        )
        campaign = Campaign(
            name=name,
            kind=kind,
            status=CampaignStatus.RUNNING,
            launched_at=LAUNCH,
            model_version_id=version,
            attribution_days=attribution_days,
        )
        session.add(campaign)
        session.flush()
        entries = []
        for customer_id, member in zip(ids, members, strict=True):
            entry = ListEntry(
                campaign_id=campaign.id,
                customer_id=customer_id,
                product_id=product_id,
                offer="Add Mobile L" if offer_product else "10% off for a year",
                group=member.group,
                details={"clv": 1000.0},
            )
            session.add(entry)
            session.flush()
            entries.append(entry.id)
            for n in range(member.tries):
                at = LAUNCH + dt.timedelta(hours=n)
                attempt = Attempt(
                    campaign_id=campaign.id,
                    list_entry_id=entry.id,
                    customer_id=customer_id,
                    channel=Channel.CALL,
                    phone="+12125550100",
                    provider_sid=f"CA{entry.id:08d}{n:024d}",
                    status=AttemptStatus.COMPLETED,
                    started_at=at,
                    answered_at=at if member.disposition else None,
                    agent_id=agent.id if member.disposition else None,
                    created_at=at,
                    due_at=at,
                )
                session.add(attempt)
                session.flush()
                if n == 0 and member.disposition:
                    session.add(
                        Disposition(
                            attempt_id=attempt.id,
                            list_entry_id=entry.id,
                            customer_id=customer_id,
                            agent_id=agent.id,
                            code=member.disposition,
                            refusal_reason="price" if member.disposition == "refused" else None,
                            created_at=at + dt.timedelta(minutes=3),
                        )
                    )
            if member.ends_on is not None:
                session.execute(
                    update(Holding)
                    .where(Holding.customer_id == customer_id)
                    .values(end_date=day(member.ends_on))
                )
                if member.restart_on is not None:
                    _hold(session, customer_id, "BB_1", day(member.restart_on))
            if member.starts_offer_on is not None and offer_product:
                _hold(session, customer_id, offer_product, day(member.starts_offer_on))
    return {"campaign": campaign.id, "agent": agent.id, "entries": entries, "name": name}


def _hold(session: object, customer_id: int, code: str, start: dt.date) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    product = session.scalars(select(Product.id).where(Product.code == code)).one()
    session.add(
        Holding(customer_id=customer_id, product_id=product, start_date=start, monthly_revenue=39)
    )


def agent_waiting(engine: Engine, built: dict[str, object]) -> None:
    """The list's agent is ready at the launch for a minute, then pauses; no call has
    been talked yet: the first entry's call is still ringing."""
    entries = built["entries"]
    assert isinstance(entries, list)
    with transaction(engine) as session:
        entry = session.get(ListEntry, entries[0])
        assert entry is not None
        session.add(
            Attempt(
                campaign_id=entry.campaign_id,
                list_entry_id=entry.id,
                customer_id=entry.customer_id,
                channel=Channel.CALL,
                phone="+12125550100",
                provider_sid="CA" + "9" * 32,
                status=AttemptStatus.RINGING,
                started_at=LAUNCH,
                created_at=LAUNCH,
                due_at=LAUNCH,
            )
        )
        for state, seconds in (("ready", 0), ("paused", 60)):
            session.add(
                AgentEvent(
                    agent_id=built["agent"],
                    campaign_id=built["campaign"],
                    state=state,
                    at=LAUNCH + dt.timedelta(seconds=seconds),
                )
            )
