"""The import kinds: each kind's row schema, table and keys, and how a row becomes a
record, its codes and external ids resolved to database keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from store.models import Base, Billing, Customer, DncEntry, Holding, Interaction, Product
from store.schemas import (
    BillingRow,
    CustomerRow,
    DncRow,
    HoldingRow,
    InteractionRow,
    ProductRow,
    Row,
)

__all__ = ["KINDS", "SPECS", "KindSpec", "Refs", "RowRejected"]

KINDS = ("products", "matrix", "customers", "holdings", "billing", "interactions", "dnc")


class RowRejected(Exception):
    def __init__(self, field: str, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value or "", reason


@dataclass
class Refs:
    """Codes and external ids the rows refer to, resolved to database keys."""

    segments: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)

    def segment(self, code: str | None) -> int | None:
        if code is None:
            return None
        if code not in self.segments:
            raise RowRejected(
                "segment", code, "unknown segment: import the matrix first or fix the code"
            )
        return self.segments[code]

    def product(self, code: str) -> int:
        if code not in self.products:
            raise RowRejected(
                "product_code", code, "unknown product: import products first or fix the code"
            )
        return self.products[code]

    def customer(self, external_id: str) -> int:
        if external_id not in self.customers:
            raise RowRejected(
                "customer_id", external_id, "unknown customer: import customers first or fix the id"
            )
        return self.customers[external_id]


@dataclass(frozen=True)
class KindSpec:
    """How rows of one import kind become records of one table."""

    schema: type[Row]
    model: type[Base]
    file_key: tuple[str, ...]
    key: tuple[str, ...]
    to_record: Callable[[Any, Refs], dict[str, Any]]
    columns: Mapping[str, tuple[str, ...]]
    """Row field -> the table columns it writes; a field the file lacks writes nothing."""
    keeps_stored: frozenset[str] = frozenset()
    """Descriptive fields: left out of a row (unusable), they keep the stored values of
    the columns no other field of the file writes. Any other field left out is stored
    empty, so a field that allows or times contact never stays on an old value."""
    refers_to_customers: bool = False
    always: tuple[str, ...] = ()
    """Columns written on every update whatever the file holds."""
    lends: tuple[str, ...] = ()
    """Fields a stored record lends a row that needs them only because another field was
    left out: the customer's country, told by a number that turned out unusable. Named
    as the column; only for kinds keyed by one field of the file as written."""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.schema.model_fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.schema.model_fields.items() if f.is_required())


def _product(row: ProductRow, refs: Refs) -> dict[str, Any]:
    return {
        "code": row.product_code,
        "name": row.name,
        "family": row.family,
        "tier": row.tier,
        "monthly_price": row.monthly_price,
        "monthly_margin": row.monthly_margin,
    }


def _customer(row: CustomerRow, refs: Refs) -> dict[str, Any]:
    return {
        "external_id": row.customer_id,
        "name": row.name,
        "phone": row.phone,
        "country": row.country,
        "region": row.region,
        "timezone": row.timezone,
        "language": row.language,
        "customer_type": row.customer_type,
        "segment_id": refs.segment(row.segment),
        "call_consent": row.call_consent,
        "sms_consent": row.sms_consent,
        "signup_date": row.signup_date,
        "contract_end": row.contract_end,
        "churned": row.churned,
        "churned_on": row.churned_on,
    }


def _holding(row: HoldingRow, refs: Refs) -> dict[str, Any]:
    return {
        "customer_id": refs.customer(row.customer_id),
        "product_id": refs.product(row.product_code),
        "start_date": row.start_date,
        "end_date": row.end_date,
        "monthly_revenue": row.monthly_revenue,
    }


def _billing(row: BillingRow, refs: Refs) -> dict[str, Any]:
    return {
        "customer_id": refs.customer(row.customer_id),
        "month": row.month,
        "amount": row.amount,
        "days_late": row.days_late,
    }


def _interaction(row: InteractionRow, refs: Refs) -> dict[str, Any]:
    return {
        "external_id": row.interaction_id,
        "customer_id": refs.customer(row.customer_id),
        "kind": row.kind,
        "occurred_at": row.occurred_at,
        "channel": row.channel,
        "topic": row.topic,
        "score": row.score,
        "scale": row.scale,
        "closed_at": row.closed_at,
    }


def _dnc(row: DncRow, refs: Refs) -> dict[str, Any]:
    return {
        "phone": row.phone,
        "channel": row.channel,
        "source": row.source,
        "reason": row.reason,
        "revoked_at": None,
    }


def _same_names(*names: str, **renamed: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {**{n: (n,) for n in names}, **renamed}


SPECS: dict[str, KindSpec] = {
    "products": KindSpec(
        ProductRow,
        Product,
        ("product_code",),
        ("code",),
        _product,
        _same_names(
            "name", "family", "tier", "monthly_price", "monthly_margin", product_code=("code",)
        ),
        # a catalogue: nothing in it allows a contact
        keeps_stored=frozenset({"name", "family", "tier", "monthly_price", "monthly_margin"}),
    ),
    "customers": KindSpec(
        CustomerRow,
        Customer,
        ("customer_id",),
        ("external_id",),
        _customer,
        _same_names(
            "name",
            "region",
            "timezone",
            "language",
            "customer_type",
            "call_consent",
            "sms_consent",
            "signup_date",
            "contract_end",
            customer_id=("external_id",),
            phone=("phone", "country"),  # country is derived from the number when absent
            country=("country",),
            segment=("segment_id",),
            churned=("churned",),
            churned_on=("churned_on", "churned"),
        ),
        # Kept: what describes the customer. Stored empty instead: phone (the old number
        # may be someone else's now), call_consent and sms_consent (no consent is the only
        # safe reading of a garbled one), timezone (it sets the hours a call may ring:
        # without it the number's zones decide, or the customer is not called). The
        # country is never left out alone: the number tells it, or the record lends it.
        keeps_stored=frozenset(
            {
                "name",
                "region",  # a stale region only adds another region's holidays
                "language",
                "customer_type",
                "segment",  # what to offer, not whether to call
                "signup_date",
                "contract_end",
                "churned",
                "churned_on",
            }
        ),
        lends=("country",),
    ),
    "holdings": KindSpec(
        HoldingRow,
        Holding,
        ("customer_id", "product_code", "start_date"),
        ("customer_id", "product_id", "start_date"),
        _holding,
        _same_names(
            "customer_id", "start_date", "end_date", "monthly_revenue", product_code=("product_id",)
        ),
        keeps_stored=frozenset({"end_date", "monthly_revenue"}),  # what was held, for how much
        refers_to_customers=True,
    ),
    "billing": KindSpec(
        BillingRow,
        Billing,
        ("customer_id", "month"),
        ("customer_id", "month"),
        _billing,
        _same_names("customer_id", "month", "amount", "days_late"),
        keeps_stored=frozenset({"amount", "days_late"}),
        refers_to_customers=True,
    ),
    "interactions": KindSpec(
        InteractionRow,
        Interaction,
        ("customer_id", "kind", "occurred_at"),
        ("customer_id", "kind", "occurred_at"),
        _interaction,
        _same_names(
            "customer_id",
            "kind",
            "occurred_at",
            "channel",
            "topic",
            "score",
            "scale",
            "closed_at",
            interaction_id=("external_id",),
        ),
        # Not closed_at: a complaint not known to be closed is open, and an open complaint
        # keeps the customer off the lists that exclude them.
        keeps_stored=frozenset({"interaction_id", "channel", "topic", "score", "scale"}),
        refers_to_customers=True,
    ),
    "dnc": KindSpec(
        DncRow,
        DncEntry,
        ("phone", "channel"),
        ("phone", "channel"),
        _dnc,
        _same_names("phone", "channel", "source", "reason"),
        keeps_stored=frozenset({"source", "reason"}),  # the number stays blocked either way
        always=("revoked_at",),  # listing a number again takes back an earlier opt-in
    ),
}
