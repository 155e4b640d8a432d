"""Two launched retention lists with known figures for every filter of the monthly report.

``build_two_lists`` writes "spring retention" (40 customers) and "autumn keep" (20),
both launched on ``LAUNCH`` (March 2026); customers alternate between the segments MASS
(even positions on each list) and PREM. Everyone lost leaves on ``day(10)``.

spring retention, by position on the list:

    0-9    treated, called once, accepted; 0-4 by Anna (agent-anna), 5-9 by Bob
           (agent-bob); 9 is lost all the same
    10-19  treated, never called; 10 and 11 are lost
    20-25  holdout, lost
    26-39  holdout, kept
    offer  "A free month" for 10-19 and 30-39, "10% off for a year" for the rest

autumn keep: 0-9 treated, never called, kept; 10-19 holdout, of whom 10, 12, 14, 16
(MASS) and 11 (PREM) are lost; every offer is "10% off for a year".

Three complaints in March: spring's customer 0 (MASS), 1 and 3 (PREM).

``EXPECTED`` holds the March figures each filter must give (as of ``day(120)``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from report_base import LAUNCH, Member, build_list, day
from sqlalchemy import Engine, select, update

from store.db import transaction
from store.models import (
    Attempt,
    Disposition,
    Group,
    Interaction,
    InteractionKind,
    ListEntry,
    Role,
    User,
)

__all__ = ["AS_OF", "AUTUMN", "EXPECTED", "FREE_MONTH", "SPRING", "build_two_lists"]

SPRING, AUTUMN = "spring retention", "autumn keep"
FREE_MONTH, DISCOUNT = "A free month", "10% off for a year"
AS_OF = day(120)
T, H = Group.TREATMENT, Group.HOLDOUT

# March 2026: (customers saved, campaign cost) under each filter; contacts cost 1 and
# accepted offers 40, so each called-and-accepted customer costs 41
EXPECTED: dict[str, tuple[float, float]] = {
    "none": (3.0 + 5.0, 410.0),  # spring (0.30 - 0.15) x 20, autumn (0.5 - 0) x 10
    "campaign=spring": (3.0, 410.0),
    "campaign=autumn": (5.0, 0.0),
    "segment=MASS": (2.0 + 4.0, 205.0),  # spring (0.3 - 0.1) x 10, autumn 0.8 x 5
    "segment=PREM": (1.0 + 1.0, 205.0),  # spring (0.3 - 0.2) x 10, autumn 0.2 x 5
    "offer=free month": (-2.0, 0.0),  # spring only: (0 - 0.2) x 10
    "offer=discount": (5.0 + 5.0, 410.0),  # spring (0.6 - 0.1) x 10, autumn 5
    "agent=anna": (1.5, 205.0),  # 5 reached, none lost, against spring's 0.3
    "agent=bob": (0.5, 205.0),  # 5 reached, one lost: (0.3 - 0.2) x 5
    "segment=MASS,agent=anna": (0.9, 123.0),  # 3 reached, against MASS's 0.3
}
# March churn: (active on 1 March, lost in March, complaints)
CHURN: dict[str, tuple[int, int, int]] = {
    "all": (60, 14, 3),
    "MASS": (30, 8, 1),
    "PREM": (30, 6, 2),
}


def build_two_lists(engine: Engine) -> dict[str, Any]:
    spring = (
        [Member(T, tries=1, disposition="accepted") for _ in range(9)]
        + [Member(T, tries=1, disposition="accepted", ends_on=10)]
        + [Member(T, ends_on=10) for _ in range(2)]
        + [Member(T) for _ in range(8)]
        + [Member(H, ends_on=10) for _ in range(6)]
        + [Member(H) for _ in range(14)]
    )
    first = build_list(engine, spring, name=SPRING)
    with transaction(engine) as session:
        # build_list makes "agent-anna" for each list: the first becomes Bob
        session.execute(
            update(User)
            .where(User.username == "agent-anna")
            .values(username="agent-bob", full_name="Bob Agent")
        )
    autumn = [Member(T) for _ in range(10)] + [
        Member(H, ends_on=10 if n in (0, 1, 2, 4, 6) else None) for n in range(10)
    ]
    second = build_list(engine, autumn, name=AUTUMN)
    spring_entries = list(first["entries"])
    with transaction(engine) as session:
        anna = session.scalars(select(User.id).where(User.username == "agent-anna")).one()
        assert session.scalars(select(User.role).where(User.id == anna)).one() == Role.AGENT
        for table in (Disposition, Attempt):
            session.execute(
                update(table)
                .where(table.list_entry_id.in_(spring_entries[:5]))
                .values(agent_id=anna)
            )
        free = spring_entries[10:20] + spring_entries[30:40]
        session.execute(update(ListEntry).where(ListEntry.id.in_(free)).values(offer=FREE_MONTH))
        customers = dict(
            session.execute(
                select(ListEntry.id, ListEntry.customer_id).where(
                    ListEntry.id.in_(spring_entries[:4])
                )
            ).all()
        )
        when = dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)
        for position, kind, score, scale in (
            (0, InteractionKind.COMPLAINT, None, None),
            (1, InteractionKind.COMPLAINT, None, None),
            (2, InteractionKind.SURVEY, 5, 5),  # satisfied: not a complaint
            (3, InteractionKind.SURVEY, 2, 5),  # open dissatisfaction: a complaint
        ):
            session.add(
                Interaction(
                    customer_id=customers[spring_entries[position]],
                    kind=kind,
                    occurred_at=when,
                    score=score,
                    scale=scale,
                )
            )
    assert LAUNCH.month == 3
    return {"spring": first, "autumn": second, "anna": anna}
