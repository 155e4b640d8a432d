"""Erasing customers on request leaves the reports of past campaigns exactly as they were:
the saved customers, the conversions and the money are anonymous facts the store keeps."""

from __future__ import annotations

from report_base import Member, build_list, day
from sqlalchemy import Engine, select

from campaigns.outcomes import attribute
from campaigns.reports import Costs, conversion_report, saved_report
from store.db import transaction
from store.erasure import erase_customers
from store.models import CampaignKind, Customer, Group, ListEntry
from store.suppression import SuppressionKey
from tests.store.erasure_base import every_text_value

T, H = Group.TREATMENT, Group.HOLDOUT
KEY = SuppressionKey(b"s" * 32)


def _erase_everyone_on(engine: Engine, name: str) -> int:
    """Erase the list's customers; then no table holds their names, ids or numbers."""
    stmt = (
        select(Customer.external_id, Customer.name, Customer.phone)
        .join(ListEntry, ListEntry.customer_id == Customer.id)
        .order_by(Customer.id)
    )
    with transaction(engine) as session:
        people = session.execute(stmt).all()
        ids = [p.external_id for p in people]
        result = erase_customers(session, ids, key=KEY)
    assert result.erased == ids
    erased = {v for p in people for v in p if v}
    assert {p.phone for p in people} - {None}  # the base's customers have numbers
    for table, column, value in every_text_value(engine):
        assert value not in erased, f"{table}.{column} still holds {value!r}"
    return len(ids)


def test_the_saved_customer_report_is_identical_after_erasure(engine: Engine) -> None:
    members = (
        [Member(T, tries=1, disposition="refused", ends_on=10) for _ in range(3)]
        + [Member(T, tries=2, disposition="accepted") for _ in range(10)]
        + [Member(T, tries=3, ends_on=30) for _ in range(3)]
        + [Member(T) for _ in range(4)]
        + [Member(H, ends_on=5) for _ in range(4)]
        + [Member(H) for _ in range(6)]
    )
    build_list(engine, members, name="spring")
    costs = Costs(2.0, 40.0)
    before = saved_report(engine, "spring", as_of=day(120), costs=costs)
    assert _erase_everyone_on(engine, "spring") == 30
    after = saved_report(engine, "spring", as_of=day(120), costs=costs)
    assert after == before
    assert after.effect.treated == 20  # the report is not empty: it counts the same people


def test_conversions_and_their_revenue_are_identical_after_erasure(engine: Engine) -> None:
    members = [Member(T, tries=1, disposition="accepted", starts_offer_on=3) for _ in range(5)]
    members += [Member(T, tries=1) for _ in range(5)] + [Member(H, starts_offer_on=4)]
    members += [Member(H) for _ in range(4)]
    build_list(engine, members, kind=CampaignKind.CROSS_SELL, offer_product="MOB_L", name="sell")
    attribute(engine, "sell", as_of=day(40))
    before = conversion_report(engine, "sell", as_of=day(40))
    _erase_everyone_on(engine, "sell")
    after = conversion_report(engine, "sell", as_of=day(40))
    assert after == before
    assert (after.claimed, after.confirmed) == (5, 5)  # the conversions are still counted
    assert after.monthly_revenue
