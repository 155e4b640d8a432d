"""The agent console's tests share these: a running campaign whose first customer has a
full record, a call handed to an agent the way the answer webhook does it, the call's
end as the carrier reports it, and the console's JSON API called as the page calls it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dialer.context import Dialer
from dialer.outcomes import apply_status
from store.db import transaction
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    CampaignKind,
    Channel,
    Customer,
    EntryStatus,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    ModelKind,
    ModelVersion,
    Product,
    Score,
    Segment,
)
from tests.dialer.dial_base import build_running_campaign
from tests.runner.web_harness import Client

__all__ = ["NAME", "REASONS", "S", "_campaign", "_end_call", "_get", "_give_call", "_post"]


S = AttemptStatus


NAME = "Eve <b>Bold</b> *Star*"  # markup and markdown in data must come out as typed


REASONS = [
    {"code": "complaints", "text": "2 complaints in the last 90 days", "weight": 0.12},
    {"code": "contract", "text": "contract ends in 3 weeks", "weight": 0.08},
    {"code": "spend", "text": "spend fell by a third", "weight": 0.03},
]


def _campaign(engine: Engine) -> tuple[int, list[int]]:
    """A running anti-churn campaign whose first customer has a full record."""
    campaign_id, customers = build_running_campaign(
        engine, 3, kind=CampaignKind.ANTI_CHURN, name="Keep them"
    )
    first = customers[0]
    with transaction(engine) as session:
        segment = Segment(code="FAM", name="Families")
        mobile = Product(code="MOB", name="Mobile 10GB", family="Mobile", monthly_price=20.0)
        tv = Product(code="TV", name="TV Basic", family="TV", monthly_price=15.0)
        version = MatrixVersion(version=1, source="test")
        model = ModelVersion(kind=ModelKind.CHURN, version="churn-test", artifact_path="x")
        session.add_all([segment, mobile, tv, version, model])
        session.flush()
        session.add_all(
            [
                MatrixCell(matrix_version_id=version.id, segment_id=segment.id, product_id=p.id)
                for p in (mobile, tv)
            ]
        )
        customer = session.get(Customer, first)
        assert customer is not None
        customer.name = NAME
        customer.segment_id = segment.id
        customer.signup_date = dt.date(2023, 1, 15)
        session.add(
            Holding(
                customer_id=first,
                product_id=mobile.id,
                start_date=dt.date(2023, 1, 15),
                monthly_revenue=22.5,
            )
        )
        session.add(
            Score(
                customer_id=first,
                model_version_id=model.id,
                p_churn=0.62,
                reasons={"top": REASONS},
                arpu=22.5,
                clv=810.0,
                abc_class="B",
                xyz_class="X",
                lifecycle="regular",
            )
        )
        session.add_all(
            [
                Interaction(
                    customer_id=first,
                    kind=InteractionKind.COMPLAINT,
                    occurred_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                    topic="billing",
                ),
                Interaction(
                    customer_id=first,
                    kind=InteractionKind.SURVEY,
                    occurred_at=dt.datetime(2026, 10, 5, tzinfo=dt.UTC),
                    score=3,
                    scale=5,
                ),
            ]
        )
        entry = session.scalars(
            select(ListEntry).where(
                ListEntry.campaign_id == campaign_id, ListEntry.customer_id == first
            )
        ).one()
        entry.offer = "Service recovery: priority support and one month's credit"
        entry.script_template = "calls/anti-churn.md.j2"
    return campaign_id, customers


async def _give_call(dialer: Dialer, campaign_id: int, customer_id: int) -> tuple[int, int | None]:
    """An answered call for the customer's entry, claimed for the longest-ready agent,
    as the answer webhook does it; (attempt id, agent id)."""
    now = dialer.clock.utcnow()

    def dial(session: Session) -> int:
        entry = session.scalars(
            select(ListEntry).where(
                ListEntry.campaign_id == campaign_id, ListEntry.customer_id == customer_id
            )
        ).one()
        entry.status = EntryStatus.IN_PROGRESS
        attempt = Attempt(
            campaign_id=campaign_id,
            list_entry_id=entry.id,
            customer_id=customer_id,
            channel=Channel.CALL,
            phone="+12125550000",
            status=S.IN_PROGRESS,
            created_at=now,
            started_at=now,
            answered_at=now,
        )
        session.add(attempt)
        session.flush()
        return attempt.id

    attempt_id = await dialer.gateway.write(dial)
    agent = await dialer.board.claim(campaign_id, attempt_id, dialer.clock.now())

    def connected(session: Session) -> None:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.agent_id = agent
        if agent is not None:
            session.add(
                AgentEvent(
                    agent_id=agent,
                    campaign_id=campaign_id,
                    attempt_id=attempt_id,
                    state="talk",
                    at=now,
                )
            )

    await dialer.gateway.write(connected)
    return attempt_id, agent


async def _end_call(dialer: Dialer, attempt_id: int) -> None:
    """The carrier's 'completed': the attempt is final and its agent goes to wrap-up."""
    now = dialer.clock.utcnow()
    await dialer.gateway.write(
        lambda s: apply_status(s, attempt_id, S.COMPLETED, now=now, duration_s=60)
    )
    await dialer.board.end_call(attempt_id, dialer.clock.now())


async def _post(client: Client, url: str, token: str, body: dict[str, Any]) -> Any:
    response = await client.post(url, json=body, headers={"X-CSRF-Token": token})
    return response.status, await response.json()


async def _get(client: Client, url: str) -> Any:
    response = await client.get(url)
    assert response.status == 200, await response.text()
    return await response.json()
