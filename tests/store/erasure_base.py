"""A store where one customer (C1, Ann Lee) has left traces in every table that can
hold them, for the erasure, export and retention tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import JSON, Engine, MetaData, String, Text, select

from store.db import transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignKind,
    Channel,
    Customer,
    Disposition,
    DncChannel,
    DncEntry,
    Group,
    ImportRun,
    InboundMessage,
    Interaction,
    InteractionKind,
    ListEntry,
)
from store.suppression import SuppressionKey

KEY = SuppressionKey(b"k" * 32)
ANN_ID = "C1"
ANN_NAME = "Ann Lee"
ANN_PHONE = "+14155550134"
OLD_PHONE = "+14155550177"  # a number Ann was called on before the current one
NOTE = "Ann asked us to call after her surgery"
SMS_BODY = "Ann here, stop texting me"
TICKET_ID = "TCK-88123"
WHEN = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def customer_id(engine: Engine, external_id: str) -> int:
    with transaction(engine) as session:
        return session.scalar(select(Customer.id).where(Customer.external_id == external_id))


def leave_traces(engine: Engine, folder: Path) -> Path:
    """Ann's list entry, calls (one still waiting), notes, texts, a ticket, a DNC entry
    and a reject file line; Bob (C2) gets a call too. Returns the reject file."""
    ann, bob = customer_id(engine, ANN_ID), customer_id(engine, "C2")
    rejects = folder / "rejects" / "customers.rejects.csv"
    rejects.parent.mkdir(exist_ok=True)
    rejects.write_text(
        "row,field,value,reason,outcome\n"
        f"2,name,{ANN_NAME},too long,row imported\n"
        "3,phone,(415) 555-0134,not a number,row imported\n"
        "4,region,Mars,unknown region,row imported\n",
        encoding="utf-8",
    )
    with transaction(engine) as session:
        campaign = Campaign(name="Spring saves", kind=CampaignKind.ANTI_CHURN, launched_at=WHEN)
        session.add(campaign)
        session.flush()
        entries = [
            ListEntry(campaign_id=campaign.id, customer_id=who, group=Group.TREATMENT)
            for who in (ann, bob)
        ]
        session.add_all(entries)
        session.flush()
        done = Attempt(
            campaign_id=campaign.id,
            list_entry_id=entries[0].id,
            customer_id=ann,
            channel=Channel.CALL,
            phone=OLD_PHONE,
            provider_sid="CA0001",
            status=AttemptStatus.COMPLETED,
            created_at=WHEN,
        )
        waiting = Attempt(
            campaign_id=campaign.id,
            list_entry_id=entries[0].id,
            customer_id=ann,
            channel=Channel.CALL,
            phone=ANN_PHONE,
            status=AttemptStatus.SCHEDULED,
            created_at=WHEN,
        )
        bobs = Attempt(
            campaign_id=campaign.id,
            customer_id=bob,
            channel=Channel.CALL,
            phone="+442079460958",
            provider_sid="CA0002",
            status=AttemptStatus.COMPLETED,
            created_at=WHEN,
        )
        session.add_all([done, waiting, bobs])
        session.flush()
        session.add_all(
            [
                Disposition(
                    attempt_id=done.id,
                    list_entry_id=entries[0].id,
                    customer_id=ann,
                    code="refused",
                    refusal_reason="price",
                    funnel_stage="offer",
                    notes=NOTE,
                    created_at=WHEN,
                ),
                InboundMessage(
                    provider_sid="SM0001",
                    phone=ANN_PHONE,
                    customer_id=ann,
                    body=SMS_BODY,
                    keyword=None,
                    reply="Thanks Ann, we will stop",
                    received_at=WHEN,
                ),
                Interaction(
                    external_id=TICKET_ID,
                    customer_id=ann,
                    kind=InteractionKind.COMPLAINT,
                    occurred_at=WHEN,
                    topic="billing",
                ),
                DncEntry(phone=OLD_PHONE, channel=DncChannel.SMS, source="import"),
                ImportRun(kind="customers", source="customers.csv", rejects_file=str(rejects)),
            ]
        )
    return rejects


def every_text_value(engine: Engine) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text and JSON cell of every table in the
    database itself, reflected, so a table or column added later is searched too."""
    reflected = MetaData()
    reflected.reflect(engine)
    found = []
    with engine.connect() as conn:
        for table in reflected.sorted_tables:
            columns = [c for c in table.c if isinstance(c.type, String | Text | JSON)]
            for column in columns:
                for value in conn.scalars(select(column).where(column.is_not(None))):
                    text = value if isinstance(value, str) else json.dumps(value)
                    found.append((table.name, column.name, text))
    return found
