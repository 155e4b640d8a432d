"""The KPI funnel keeps its order whatever the store holds: dials >= live answers >=
connects >= right-party contacts >= conversions >= confirmed, on random attempts,
dispositions and conversions, inconsistent ones included (a conversation recorded on a
machine, an accepted offer on a call never answered, a text with a disposition)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_base import build_scored_base
from report_base import LAUNCH, Member, build_list, day
from sqlalchemy import Engine, select, update

from campaigns.kpis import CampaignKpis, kpi_report
from store.db import transaction
from store.models import (
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Channel,
    Conversion,
    Disposition,
    DispositionCode,
    Product,
    Role,
    User,
)

POOL = 4  # customers the rows are spread over, so one customer has several attempts
_names = itertools.count()


@dataclass(frozen=True)
class Pool:
    customers: list[int]
    agent: int
    product: int


@dataclass(frozen=True)
class Row:
    """One attempt and what was recorded on it, consistent or not."""

    customer: int  # index into the pool
    channel: Channel
    status: AttemptStatus
    placed: bool  # the carrier gave it a sid
    answered: bool
    answered_by: AnsweredBy | None
    agent: bool
    code: DispositionCode | None
    coded_by_agent: bool


rows = st.builds(
    Row,
    customer=st.integers(0, POOL - 1),
    channel=st.sampled_from(list(Channel)),
    status=st.sampled_from(list(AttemptStatus)),
    placed=st.booleans(),
    answered=st.booleans(),
    answered_by=st.sampled_from([None, *AnsweredBy]),
    agent=st.booleans(),
    code=st.sampled_from([None, *DispositionCode]),
    coded_by_agent=st.booleans(),
)
# customer -> their conversion on the list: confirmed by the feed or not
conversions = st.dictionaries(st.integers(0, POOL - 1), st.booleans(), max_size=POOL)


@pytest.fixture
def pool(engine: Engine) -> Pool:
    """Built once for all the examples; each example writes a campaign of its own."""
    customers = build_scored_base(engine, POOL, seed=1)
    with transaction(engine) as session:
        agent = User(
            username="agent-anna", full_name="Anna Agent", role=Role.AGENT, password_hash="x"
        )
        session.add(agent)
        session.flush()
        product = session.scalars(select(Product.id)).first()
        assert product is not None
        return Pool(customers, agent.id, product)


def _write(engine: Engine, pool: Pool, attempts: list[Row], converted: dict[int, bool]) -> str:
    name = f"funnel {next(_names)}"
    with transaction(engine) as session:
        campaign = Campaign(
            name=name,
            kind=CampaignKind.CROSS_SELL,
            status=CampaignStatus.RUNNING,
            launched_at=LAUNCH,
        )
        session.add(campaign)
        session.flush()
        for n, row in enumerate(attempts):
            customer = pool.customers[row.customer]
            attempt = Attempt(
                campaign_id=campaign.id,
                customer_id=customer,
                channel=row.channel,
                phone="+12125550100",
                provider_sid=f"CA{campaign.id:08d}{n:024d}" if row.placed else None,
                status=row.status,
                answered_at=LAUNCH if row.answered else None,
                answered_by=row.answered_by,
                agent_id=pool.agent if row.agent else None,
                created_at=LAUNCH,
                due_at=LAUNCH,
            )
            session.add(attempt)
            session.flush()
            if row.code is not None:
                session.add(
                    Disposition(
                        attempt_id=attempt.id,
                        customer_id=customer,
                        agent_id=pool.agent if row.coded_by_agent else None,
                        code=row.code.value,
                        refusal_reason="price" if row.code is DispositionCode.REFUSED else None,
                        created_at=LAUNCH + dt.timedelta(minutes=3),
                    )
                )
        for index, confirmed in converted.items():
            session.add(
                Conversion(
                    customer_id=pool.customers[index],
                    product_id=pool.product,
                    campaign_id=campaign.id,
                    revenue=20,
                    occurred_at=LAUNCH + dt.timedelta(days=2),
                    source="feed",
                    confirmed=confirmed,
                )
            )
    return name


def _assert_ordered(kpis: CampaignKpis) -> None:
    funnel = [
        kpis.dials,
        kpis.live_answers,
        kpis.connects,
        kpis.contacts,
        kpis.conversions,
        kpis.confirmed,
    ]
    assert funnel == sorted(funnel, reverse=True), funnel
    assert kpis.abandoned <= kpis.live_answers
    assert sum(kpis.refusals_by_reason.values()) <= kpis.contacts - kpis.conversions
    assert kpis.service_level is None or 0 <= kpis.service_level <= 1
    assert kpis.conversion_rate is None or kpis.conversion_rate <= 1
    assert sum(a.contacts for a in kpis.agents) <= kpis.contacts
    for agent in kpis.agents:
        assert agent.contacts >= agent.conversions == agent.new_sales + agent.repeat_sales


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(attempts=st.lists(rows, max_size=8), converted=conversions)
def test_the_funnel_keeps_its_order_whatever_the_rows_say(
    engine: Engine, pool: Pool, attempts: list[Row], converted: dict[int, bool]
) -> None:
    name = _write(engine, pool, attempts, converted)
    _assert_ordered(kpi_report(engine, name, abandon_limit=0.03, as_of=day(30)))


def test_a_refusal_recorded_on_a_machine_is_no_contact(engine: Engine) -> None:
    built = build_list(engine, [Member(tries=1, disposition="refused"), Member()])
    with transaction(engine) as session:
        session.execute(
            update(Attempt)
            .where(Attempt.campaign_id == built["campaign"])
            .values(status=AttemptStatus.MACHINE, answered_by=AnsweredBy.MACHINE)
        )
    kpis = kpi_report(engine, str(built["name"]), abandon_limit=0.03, as_of=day(30))
    assert (kpis.dials, kpis.machines, kpis.live_answers, kpis.connects) == (1, 1, 0, 0)
    assert (kpis.contacts, kpis.refusals_by_reason) == (0, {})
    assert kpis.dispositions == {"refused": 1}  # recorded all the same
    (anna,) = kpis.agents
    assert anna.contacts == 0
