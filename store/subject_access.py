"""Everything the store holds about one person, for a subject-access request (GDPR art. 15).

The record is read from the table definitions, not from a list kept by hand: every table
with a ``customer_id`` column gives its rows about the customer, with every column, and
the do-not-call entries and texts of their number are added. A table added later is in
the answer without anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from store.models import Base, Customer, DncEntry, InboundMessage, Segment

__all__ = ["customer_record"]


def customer_record(session: Session, external_id: str) -> dict[str, Any] | None:
    """The person's data as plain JSON values, or None when no customer has this id."""
    customer = session.scalar(select(Customer).where(Customer.external_id == external_id))
    if customer is None:
        return None
    customers = _table(Customer)
    record: dict[str, Any] = {
        "customer": _row(session, customers, customers.c.id == customer.id)[0],
        "segment": session.scalar(select(Segment.code).where(Segment.id == customer.segment_id)),
    }
    for table in Base.metadata.sorted_tables:
        if "customer_id" in table.c and table.name != InboundMessage.__tablename__:
            record[table.name] = _row(session, table, table.c.customer_id == customer.id)
    messages = _table(InboundMessage)
    theirs = messages.c.customer_id == customer.id
    if customer.phone:
        theirs = or_(theirs, messages.c.phone == customer.phone)
    record[messages.name] = _row(session, messages, theirs)
    dnc = _table(DncEntry)
    record[dnc.name] = _row(session, dnc, dnc.c.phone == customer.phone) if customer.phone else []
    return record


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _row(session: Session, table: Table, where: Any) -> list[dict[str, Any]]:
    rows = session.execute(select(table).where(where).order_by(table.c.id)).mappings()
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
