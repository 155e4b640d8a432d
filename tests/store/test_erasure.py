"""Erasure removes a person from every table and file, keeps what the reports count, and
keeps them from coming back through an import."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.db import transaction
from store.erasure import erase_customers
from store.errors import ImportFileError
from store.models import (
    Attempt,
    AttemptStatus,
    Customer,
    Disposition,
    DncChannel,
    DncEntry,
    EntryStatus,
    InboundMessage,
    Interaction,
    ListEntry,
    Suppression,
)
from tests.store.erasure_base import (
    ANN_ID,
    ANN_NAME,
    ANN_PHONE,
    KEY,
    NOTE,
    OLD_PHONE,
    SMS_BODY,
    TICKET_ID,
    customer_id,
    every_text_value,
    leave_traces,
)
from tests.store.import_files import CUSTOMER_HEADER, rejects_of, run

ERASED_TEXTS = (ANN_NAME, ANN_PHONE, OLD_PHONE, NOTE, SMS_BODY, TICKET_ID, "Thanks Ann")


def _erase(engine: Engine, ids: list[str], files: tuple[Path, ...] = ()) -> dict[str, object]:
    with transaction(engine) as session:
        return erase_customers(session, ids, key=KEY, files=files).as_json()


def test_no_table_holds_an_erased_value_afterwards(base: Engine, tmp_path: Path) -> None:
    leave_traces(base, tmp_path)
    before = every_text_value(base)
    assert any(v == ANN_NAME for _, _, v in before)  # the search finds what is there
    assert any(v == NOTE for _, _, v in before)

    _erase(base, [ANN_ID])

    for table, column, value in every_text_value(base):
        for erased in ERASED_TEXTS:
            assert erased not in value, f"{table}.{column} still holds {erased!r}"
        assert value != ANN_ID, f"{table}.{column} still holds the customer id"
        assert "4155550134" not in value
        assert "4155550177" not in value


def test_reports_keep_their_anonymous_facts(base: Engine, tmp_path: Path) -> None:
    leave_traces(base, tmp_path)
    ann = customer_id(base, ANN_ID)
    result = _erase(base, [ANN_ID])
    assert result["erased"] == [ANN_ID]
    with transaction(base) as session:
        customer = session.get(Customer, ann)
        assert customer is not None
        assert customer.external_id == f"erased-{ann}"
        assert customer.erased_at is not None
        assert (customer.country, customer.segment_id is not None) == ("US", True)
        assert not customer.call_consent
        assert not customer.sms_consent
        disposition = session.scalars(select(Disposition)).one()
        assert (disposition.code, disposition.refusal_reason, disposition.funnel_stage) == (
            "refused",
            "price",
            "offer",
        )
        assert disposition.notes is None
        complaint = session.scalars(select(Interaction)).one()
        assert (complaint.kind.value, complaint.topic) == ("complaint", None)
        statuses = sorted(a.status for a in session.scalars(select(Attempt)))
        # the call made stays a call made; the one still waiting is called off
        assert statuses.count(AttemptStatus.COMPLETED) == 2
        assert statuses.count(AttemptStatus.CANCELED) == 1
        entry = session.scalars(select(ListEntry).where(ListEntry.customer_id == ann)).one()
        assert entry.status is EntryStatus.EXCLUDED
        message = session.scalars(select(InboundMessage)).one()
        assert (message.body, message.reply, message.customer_id) == ("", None, ann)


def test_other_customers_are_left_as_they_were(base: Engine, tmp_path: Path) -> None:
    leave_traces(base, tmp_path)
    _erase(base, [ANN_ID])
    with transaction(base) as session:
        bob = session.scalars(select(Customer).where(Customer.external_id == "C2")).one()
        assert (bob.name, bob.phone) == ("Bob Ray", "+442079460958")
        bobs_call = session.scalars(select(Attempt).where(Attempt.customer_id == bob.id)).one()
        assert bobs_call.phone == "+442079460958"


def test_unknown_and_already_erased_ids_are_listed_not_fatal(base: Engine) -> None:
    ann = customer_id(base, ANN_ID)
    first = _erase(base, [ANN_ID, "NOPE", ANN_ID])
    assert (first["erased"], first["unknown"], first["already_erased"]) == ([ANN_ID], ["NOPE"], [])
    # by the id erased, or by the id the erased row has now
    again = _erase(base, [ANN_ID, "C2", f"erased-{ann}"])
    assert (again["erased"], again["unknown"]) == (["C2"], [])
    assert again["already_erased"] == [ANN_ID, f"erased-{ann}"]


def test_only_keyed_hashes_of_the_id_and_numbers_stay(base: Engine, tmp_path: Path) -> None:
    leave_traces(base, tmp_path)
    _erase(base, [ANN_ID])
    with transaction(base) as session:
        stored = {(s.kind, s.digest) for s in session.scalars(select(Suppression))}
    expected = {
        ("customer_id", KEY.digest("customer_id", ANN_ID)),
        ("phone", KEY.digest("phone", ANN_PHONE)),
        ("phone", KEY.digest("phone", OLD_PHONE)),
    }
    assert stored == expected
    # another site's key gives other hashes: the table is useless without the key
    other = type(KEY)(b"o" * 32)
    assert other.digest("phone", ANN_PHONE) != KEY.digest("phone", ANN_PHONE)


def test_a_number_another_customer_holds_goes_on_the_do_not_call_list(
    base: Engine, tmp_path: Path
) -> None:
    with transaction(base) as session:
        acme = session.scalars(select(Customer).where(Customer.external_id == "C3")).one()
        acme.phone = ANN_PHONE  # the same household line
    _erase(base, [ANN_ID])
    with transaction(base) as session:
        entries = {(e.phone, e.channel) for e in session.scalars(select(DncEntry))}
    assert entries == {(ANN_PHONE, DncChannel.ALL)}


def test_reject_files_lose_the_lines_that_hold_the_person(base: Engine, tmp_path: Path) -> None:
    rejects = leave_traces(base, tmp_path)
    result = _erase(base, [ANN_ID], files=(rejects,))
    assert result["removed"]["file_lines"] == 2  # type: ignore[index]
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines == ["row,field,value,reason,outcome", "4,region,Mars,unknown region,row imported"]
    assert rejects.stat().st_mode & 0o777 == 0o600


def test_an_import_brings_neither_the_id_nor_a_number_back(base: Engine, tmp_path: Path) -> None:
    _erase(base, [ANN_ID])
    again = CUSTOMER_HEADER + (
        "C1,Ann Lee,+1 415 555 0199,US,CA,,en,B2C,B2C_YOUNG,yes,no,2020-01-05,\n"
        "C9,Dan Roe,(415) 555-0134,US,CA,,en,B2C,B2C_YOUNG,yes,no,2020-01-05,\n"
        "C10,Cat Poe,(415) 555-0111,US,CA,,en,B2C,B2C_YOUNG,yes,no,2020-01-05,\n"
    )
    result = run(base, tmp_path, "customers", again, suppression=KEY)
    # the erased id is refused; the line Ann had goes to nobody: Dan is stored without it
    assert (result.imported, result.rejected, result.warnings) == (2, 1, 1)
    rejects = rejects_of(result)
    assert [(r["row"], r["field"], r["value"], r["outcome"]) for r in rejects] == [
        ("2", "customer_id", "", "row rejected"),
        ("3", "phone", "", "row imported, this field left empty"),
    ]
    assert all("erased on request" in r["reason"] for r in rejects)
    with transaction(base) as session:
        phones = dict(session.execute(select(Customer.external_id, Customer.phone)).all())
    assert "C1" not in phones
    assert (phones["C9"], phones["C10"]) == (None, "+14155550111")


def test_a_stored_customer_given_an_erased_number_loses_it(base: Engine, tmp_path: Path) -> None:
    _erase(base, [ANN_ID])
    moved = CUSTOMER_HEADER + (
        "C2,Bob Ray,(415) 555-0134,,London,Europe/London,en,b2c,B2C_FAMILY,yes,yes,2021-03-01,\n"
    )
    result = run(base, tmp_path, "customers", moved, suppression=KEY)
    assert (result.updated, result.rejected, result.warnings) == (1, 0, 1)
    with transaction(base) as session:
        bob = session.scalars(select(Customer).where(Customer.external_id == "C2")).one()
    assert (bob.name, bob.phone) == ("Bob Ray", None)


def test_an_import_without_the_key_is_refused_once_anyone_was_erased(
    base: Engine, tmp_path: Path
) -> None:
    _erase(base, [ANN_ID])
    with pytest.raises(ImportFileError, match="erased on request"):
        run(base, tmp_path, "customers", CUSTOMER_HEADER)
