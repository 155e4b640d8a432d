"""The customer card: what an agent (or a manager) sees about one customer on a campaign.

``customer_card`` reads the store once and returns plain JSON-able data: who the customer
is and their local zone, the products they hold and those targeted at their segment,
value (ARPU, CLV, ABC/XYZ, lifecycle), churn risk with its reasons, recent complaints
and surveys, and earlier contacts. Pages and the API both serve it as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.value import is_dissatisfied
from store.models import (
    Attempt,
    Campaign,
    Customer,
    Disposition,
    Holding,
    Interaction,
    InteractionKind,
    ListEntry,
    MatrixCell,
    MatrixVersion,
    Product,
    Score,
    Segment,
)

__all__ = ["CardError", "customer_card", "customer_zone", "iso"]

RECENT_INTERACTIONS = 5
RECENT_CONTACTS = 10


class CardError(LookupError):
    """The customer (or the campaign) asked for does not exist."""


def iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer_zone(name: str | None) -> ZoneInfo | None:
    """The customer's zone, or None when it is unknown or not a zone the system knows."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _months_between(start: dt.date, end: dt.date) -> int:
    return max(0, (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day))


def _tenure_text(months: int | None) -> str:
    if months is None:
        return "a while"
    if months < 12:
        return f"{months} month{'s' * (months != 1)}" if months else "less than a month"
    years, rest = divmod(months, 12)
    text = f"{years} year{'s' * (years != 1)}"
    return f"{text} and {rest} month{'s' * (rest != 1)}" if rest else text


def _products_text(names: list[str]) -> str:
    if not names:
        return "your services"
    if len(names) == 1:
        return f"your {names[0]}"
    return f"your {', '.join(names[:-1])} and {names[-1]}"


def _score(session: Session, customer_id: int, campaign: Campaign | None) -> Score | None:
    """The score the campaign was planned on, else the customer's latest one."""
    if campaign is not None and campaign.model_version_id is not None:
        planned = session.scalars(
            select(Score).where(
                Score.customer_id == customer_id,
                Score.model_version_id == campaign.model_version_id,
            )
        ).first()
        if planned is not None:
            return planned
    return session.scalars(
        select(Score)
        .where(Score.customer_id == customer_id)
        .order_by(Score.scored_at.desc(), Score.id.desc())
        .limit(1)
    ).first()


def _targeted(session: Session, segment_id: int | None) -> list[Product]:
    """Products the newest segment x product matrix targets at the segment."""
    if segment_id is None:
        return []
    newest = select(MatrixVersion.id).order_by(MatrixVersion.version.desc()).limit(1)
    return list(
        session.scalars(
            select(Product)
            .join(MatrixCell, MatrixCell.product_id == Product.id)
            .where(
                MatrixCell.segment_id == segment_id,
                MatrixCell.matrix_version_id == newest.scalar_subquery(),
            )
            .order_by(Product.family, Product.tier, Product.name)
        )
    )


def _interaction(row: Interaction) -> dict[str, Any]:
    at_risk = None
    if row.score is not None and row.scale is not None:
        at_risk = bool(is_dissatisfied([row.score], [row.scale])[0])
    return {
        "kind": row.kind.value,
        "at": iso(row.occurred_at),
        "channel": row.channel,
        "topic": row.topic,
        "score": row.score,
        "scale": row.scale,
        "at_risk": at_risk,
        "open": row.closed_at is None and row.kind is not InteractionKind.SURVEY,
    }


def _recent(session: Session, customer_id: int, kinds: tuple[InteractionKind, ...]) -> list[Any]:
    rows = session.scalars(
        select(Interaction)
        .where(Interaction.customer_id == customer_id, Interaction.kind.in_(kinds))
        .order_by(Interaction.occurred_at.desc())
        .limit(RECENT_INTERACTIONS)
    )
    return [_interaction(row) for row in rows]


def _contacts(session: Session, customer_id: int, skip_attempt: int | None) -> list[Any]:
    rows = session.execute(
        select(Attempt, Disposition, Campaign.name)
        .outerjoin(Disposition, Disposition.attempt_id == Attempt.id)
        .outerjoin(Campaign, Campaign.id == Attempt.campaign_id)
        .where(Attempt.customer_id == customer_id, Attempt.id != (skip_attempt or 0))
        .order_by(Attempt.created_at.desc(), Attempt.id.desc())
        .limit(RECENT_CONTACTS)
    ).all()
    return [
        {
            "attempt_id": attempt.id,
            "at": iso(attempt.answered_at or attempt.started_at or attempt.created_at),
            "channel": attempt.channel.value,
            "status": attempt.status.value,
            "campaign": campaign_name,
            "disposition": disposition.code if disposition is not None else None,
            "refusal_reason": disposition.refusal_reason if disposition is not None else None,
            "notes": disposition.notes if disposition is not None else None,
        }
        for attempt, disposition, campaign_name in rows
    ]


def customer_card(
    session: Session,
    customer_id: int,
    campaign_id: int | None,
    *,
    today: dt.date | None = None,
    skip_attempt: int | None = None,
) -> dict[str, Any]:
    """Everything about the customer an agent needs on a call, as plain data.

    ``skip_attempt`` leaves the call in progress out of the earlier contacts; ``today``
    (the dialer clock's date) dates tenure. Raises ``CardError`` for an unknown customer.
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CardError(f"no customer with id {customer_id}")
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign_id is not None and campaign is None:
        raise CardError(f"no campaign with id {campaign_id}")
    today = today or dt.datetime.now(dt.UTC).date()
    holdings = _Holdings.of(session, customer, today)
    score = _score(session, customer_id, campaign)
    entry = (
        session.scalars(
            select(ListEntry).where(
                ListEntry.campaign_id == campaign_id, ListEntry.customer_id == customer_id
            )
        ).first()
        if campaign_id is not None
        else None
    )
    return {
        "customer": _customer_json(session, customer, holdings),
        "products": holdings.products_json(),
        "value": _value_json(score),
        "risk": _risk_json(score),
        "complaints": _recent(
            session, customer_id, (InteractionKind.COMPLAINT, InteractionKind.TICKET)
        ),
        "surveys": _recent(session, customer_id, (InteractionKind.SURVEY,)),
        "contacts": _contacts(session, customer_id, skip_attempt),
        "campaign": (
            {"id": campaign.id, "name": campaign.name, "kind": campaign.kind.value}
            if campaign is not None
            else None
        ),
        "offer": _offer_json(session, entry) if entry is not None else None,
    }


@dataclass(frozen=True)
class _Holdings:
    """The products the customer holds today, those targeted at their segment, and the
    tenure their first product or signup gives them."""

    held: list[dict[str, Any]]
    targeted: list[dict[str, Any]]
    names: list[str]
    tenure: int | None

    @classmethod
    def of(cls, session: Session, customer: Customer, today: dt.date) -> _Holdings:
        holdings = session.execute(
            select(Holding, Product)
            .join(Product, Product.id == Holding.product_id)
            .where(Holding.customer_id == customer.id)
            .order_by(Holding.start_date)
        ).all()
        current = [
            (holding, product)
            for holding, product in holdings
            if holding.end_date is None or holding.end_date >= today
        ]
        held = [
            {
                "code": product.code,
                "name": product.name,
                "family": product.family,
                "since": iso(holding.start_date),
                "monthly_revenue": holding.monthly_revenue,
            }
            for holding, product in current
        ]
        held_codes = {item["code"] for item in held}
        targeted = [
            {
                "code": product.code,
                "name": product.name,
                "family": product.family,
                "monthly_price": product.monthly_price,
                "held": product.code in held_codes,
            }
            for product in _targeted(session, customer.segment_id)
        ]
        first = min(
            [h.start_date for h, _ in holdings]
            + ([customer.signup_date] if customer.signup_date else []),
            default=None,
        )
        end = customer.churned_on if customer.churned and customer.churned_on else today
        tenure = _months_between(first, end) if first is not None else None
        return cls(held, targeted, [product.name for _, product in current], tenure)

    def products_json(self) -> dict[str, Any]:
        targeted = self.targeted
        return {
            "held": self.held,
            "targeted": targeted,
            # customer maturity: products held of those targeted at the segment
            "maturity": (
                round(sum(1 for t in targeted if t["held"]) / len(targeted), 3)
                if targeted
                else None
            ),
        }


def _customer_json(session: Session, customer: Customer, holdings: _Holdings) -> dict[str, Any]:
    segment = session.get(Segment, customer.segment_id) if customer.segment_id else None
    zone = customer_zone(customer.timezone)
    return {
        "id": customer.id,
        "external_id": customer.external_id,
        "name": customer.name,
        "first_name": customer.name.split()[0] if customer.name.split() else customer.name,
        "phone": customer.phone,
        "country": customer.country,
        "region": customer.region,
        "timezone": zone.key if zone is not None else None,
        "language": customer.language,
        "type": customer.customer_type.value,
        "segment": {"code": segment.code, "name": segment.name} if segment else None,
        "signup_date": iso(customer.signup_date),
        "contract_end": iso(customer.contract_end),
        "churned": customer.churned,
        "churned_on": iso(customer.churned_on),
        "tenure_months": holdings.tenure,
        "tenure_text": _tenure_text(holdings.tenure),
        "products_text": _products_text(holdings.names),
        "product_count": len(holdings.names),
    }


def _value_json(score: Score | None) -> dict[str, Any]:
    return {
        "arpu": score.arpu if score else None,
        "clv": score.clv if score else None,
        "abc": score.abc_class if score else None,
        "xyz": score.xyz_class if score else None,
        "lifecycle": score.lifecycle if score else None,
    }


def _risk_json(score: Score | None) -> dict[str, Any]:
    reasons = list(((score.reasons if score else None) or {}).get("top") or [])[:3]
    return {
        "p_churn": score.p_churn if score else None,
        "uplift": score.uplift if score else None,
        "scored_at": iso(score.scored_at) if score else None,
        "reasons": [
            {"code": r.get("code"), "text": r.get("text"), "weight": r.get("weight")}
            for r in reasons
            if isinstance(r, dict)
        ],
    }


def _offer_json(session: Session, entry: ListEntry) -> dict[str, Any]:
    product = session.get(Product, entry.product_id) if entry.product_id else None
    return {
        "text": entry.offer,
        "product": (
            {
                "code": product.code,
                "name": product.name,
                "family": product.family,
                "monthly_price": product.monthly_price,
            }
            if product is not None
            else None
        ),
        "script_template": entry.script_template,
        "details": dict(entry.details or {}),
        "list_entry_id": entry.id,
    }
