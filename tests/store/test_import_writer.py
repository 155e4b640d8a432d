"""Storing imported rows: upserted by their natural key, so a second import changes only
what changed, and columns a file lacks keep their stored values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, select

from store.models import (
    Customer,
    DncChannel,
    DncEntry,
)
from tests.store.import_files import (
    CUSTOMERS,
    count,
    run,
)


def test_reimport_changes_nothing_and_updates_what_changed(base: Engine, tmp_path: Path) -> None:
    again = run(base, tmp_path, "customers", CUSTOMERS)
    assert (again.read, again.imported, again.updated, again.unchanged) == (3, 0, 0, 3)
    changed = CUSTOMERS.replace("Ann Lee", "Ann Leigh")
    result = run(base, tmp_path, "customers", changed)
    assert (result.imported, result.updated, result.unchanged) == (0, 1, 2)
    assert count(base, Customer) == 3
    with base.connect() as conn:
        names = set(conn.execute(select(Customer.name)).scalars())
    assert "Ann Leigh" in names


def test_columns_missing_from_a_file_keep_their_stored_values(base: Engine, tmp_path: Path) -> None:
    partial = "customer_id,name,phone\nC1,Ann Lee,(415) 555-0134\n"
    result = run(base, tmp_path, "customers", partial)
    assert result.unchanged == 1
    with base.connect() as conn:
        region, segment = conn.execute(
            select(Customer.region, Customer.segment_id).where(Customer.external_id == "C1")
        ).one()
    assert region == "CA"
    assert segment is not None


def test_dnc_entries_are_upserted_and_reactivated(base: Engine, tmp_path: Path) -> None:
    text = (
        "phone,channel,source,reason\n"
        "(415) 555-0134,call,complaint,asked on call\n"
        "+14155550135,SMS,,\n"
    )
    first = run(base, tmp_path, "dnc", text)
    assert first.imported == 2
    with base.begin() as conn:
        conn.execute(DncEntry.__table__.update().values(revoked_at=dt.datetime.now(dt.UTC)))
    again = run(base, tmp_path, "dnc", text)
    assert again.updated == 2, "listing a number again takes back an opt-in"
    with base.connect() as conn:
        rows = conn.execute(select(DncEntry.phone, DncEntry.channel, DncEntry.revoked_at)).all()
    assert ("+14155550135", DncChannel.SMS, None) in rows
    bad = run(base, tmp_path, "dnc", "phone,channel\n555,call\n+14155550136,fax\n")
    assert bad.rejected == 2
