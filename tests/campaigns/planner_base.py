"""A small scored base written straight into the store, for the planner's tests.

The planner reads scores, not models, so a base with chosen risks and values (and a
churn model version row that points nowhere) shows exactly who it must pick. The
planner's tests also share a request made at a fixed time, the entries a plan stored,
and a past list entry with its disposition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from campaigns.plan_request import PlanRequest
from store.db import transaction
from store.models import (
    Billing,
    CampaignKind,
    Customer,
    CustomerType,
    EntryStatus,
    Group,
    Holding,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    ModelKind,
    ModelVersion,
    Product,
    Score,
    Segment,
)

__all__ = ["NOW", "ScoredBase", "_disposed", "_entries", "_request", "build_scored_base"]

ScoredBase = Callable[..., list[int]]  # the conftest's scored_base fixture
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York


def _request(kind: CampaignKind = CampaignKind.ANTI_CHURN, **kw: object) -> PlanRequest:
    kw.setdefault("name", f"{kind.value}-list")
    kw.setdefault("seed", 1)
    kw.setdefault("now", NOW)
    return PlanRequest(kind=kind, **kw)  # type: ignore[arg-type]


def _entries(engine: Engine, campaign_id: int) -> list[ListEntry]:
    with transaction(engine) as session:
        return list(session.scalars(select(ListEntry).where(ListEntry.campaign_id == campaign_id)))


def _disposed(
    session: Session,
    campaign_id: int,
    customer_id: int,
    product_id: int | None,
    code: str,
    when: dt.datetime,
) -> None:
    """A past list entry of ``campaign_id`` and the disposition an agent gave it."""
    from store.models import Disposition

    entry = ListEntry(
        campaign_id=campaign_id,
        customer_id=customer_id,
        product_id=product_id,
        group=Group.TREATMENT,
        status=EntryStatus.DONE,
    )
    session.add(entry)
    session.flush()
    refused = code == "refused"
    session.add(
        Disposition(
            list_entry_id=entry.id,
            customer_id=customer_id,
            code=code,
            refusal_reason="price" if refused else None,
            created_at=when,
        )
    )


def build_scored_base(
    engine: Engine, n: int = 200, seed: int = 0, p_churn: list[float] | None = None
) -> list[int]:
    """Write ``n`` scored customers in New York; returns their ids in insertion order."""
    rng = np.random.default_rng(seed)
    with transaction(engine) as session:
        if session.scalars(select(Segment.id)).first() is None:
            _catalogue(session)
        segments = session.scalars(select(Segment.id).order_by(Segment.id)).all()
        mobile_s = session.scalars(select(Product.id).where(Product.code == "MOB_S")).one()
        mv = session.scalars(
            select(ModelVersion).where(ModelVersion.kind == ModelKind.CHURN)
        ).first()
        if mv is None:
            mv = ModelVersion(
                kind=ModelKind.CHURN,
                version="churn-test-v1",
                artifact_path="/nonexistent/model.skops",
                active=True,
            )
            session.add(mv)
            session.flush()
        start = session.scalars(select(Customer.id).order_by(Customer.id.desc())).first() or 0
        ids = []
        for i in range(n):
            number = start + i + 1
            customer = Customer(
                external_id=f"T{number:06d}",
                name=f"Customer {number}",
                phone=f"+1212{2000000 + number:07d}",
                country="US",
                region="NY",
                timezone="America/New_York",
                customer_type=CustomerType.B2C,
                segment_id=segments[i % len(segments)],
                call_consent=True,
                sms_consent=True,
                signup_date=dt.date(2022, 1, 1),
            )
            session.add(customer)
            session.flush()
            ids.append(customer.id)
        session.execute(
            insert(Billing),
            [{"customer_id": c, "month": dt.date(2026, 10, 1), "amount": 30.0} for c in ids],
        )
        session.execute(
            insert(Holding),
            [
                {
                    "customer_id": c,
                    "product_id": mobile_s,
                    "start_date": dt.date(2022, 1, 1),
                    "monthly_revenue": 30.0,
                }
                for c in ids
            ],
        )
        risks = p_churn if p_churn is not None else rng.uniform(0.01, 0.5, n).tolist()
        session.execute(
            insert(Score),
            [
                {
                    "customer_id": c,
                    "model_version_id": mv.id,
                    "p_churn": p,
                    "uplift": None,
                    "reasons": {"top": [{"code": "contract", "text": "contract ends soon"}]},
                    "arpu": 30.0,
                    "clv": float(rng.uniform(500, 3000)),
                    "abc_class": "ABC"[i % 3],
                    "xyz_class": "X",
                    "lifecycle": "regular",
                }
                for i, (c, p) in enumerate(zip(ids, risks, strict=True))
            ],
        )
    return ids


def _catalogue(session: Session) -> None:
    segments = [Segment(code="MASS", name="Mass market"), Segment(code="PREM", name="Premium")]
    products = [
        Product(
            code="MOB_S",
            name="Mobile S",
            family="MOBILE",
            tier=1,
            monthly_price=19,
            monthly_margin=8,
        ),
        Product(
            code="MOB_L",
            name="Mobile L",
            family="MOBILE",
            tier=2,
            monthly_price=39,
            monthly_margin=20,
        ),
        Product(
            code="BB_1",
            name="Fiber 100",
            family="BROADBAND",
            tier=1,
            monthly_price=35,
            monthly_margin=12,
        ),
    ]
    session.add_all(segments + products)
    session.flush()
    version = MatrixVersion(version=1, source="test")
    session.add(version)
    session.flush()
    session.add_all(
        MatrixCell(matrix_version_id=version.id, segment_id=s.id, product_id=p.id)
        for s in segments
        for p in products
    )
