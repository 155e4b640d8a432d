"""The importer: every row rule with a failing row, idempotence, and bad files."""

from __future__ import annotations

import csv
import datetime as dt
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict, check_contact
from campaigns.policy.settings import ContactPolicy
from store.csvsource import open_csv
from store.errors import ImportFileError, MappingError, SchemaNotReadyError
from store.importer import ImportResult, import_file
from store.matrix_import import current_matrix
from store.models import (
    Base,
    Billing,
    CampaignKind,
    Channel,
    Customer,
    CustomerType,
    DncChannel,
    DncEntry,
    ExclusionReason,
    Holding,
    ImportRun,
    Interaction,
    MatrixVersion,
    Product,
    Segment,
)

PRODUCTS = """product_code,name,family,tier,monthly_price,monthly_margin
MOB_S,Mobile S,MOBILE,1,15,6
MOB_L,Mobile L,MOBILE,2,35.50,14
BB_100,Broadband 100,BROADBAND,1,30,
"""
MATRIX = """segment,segment_name,MOB_S,MOB_L,BB_100
B2C_YOUNG,Young adults,x,x,
B2C_FAMILY,Families,,x,x
"""
CUSTOMER_HEADER = (
    "customer_id,name,phone,country,region,timezone,language,customer_type,segment,"
    "call_consent,sms_consent,signup_date,contract_end\n"
)
CUSTOMERS = CUSTOMER_HEADER + (
    "C1,Ann Lee,(415) 555-0134,US,CA,,en,B2C,B2C_YOUNG,yes,no,2020-01-05,\n"
    "C2,Bob Ray,+442079460958,,London,Europe/London,en,b2c,B2C_FAMILY,yes,yes,2021-03-01,"
    "2027-01-01\n"
    "C3,Acme Ltd,212-555-0199,US,NY,America/New_York,en,B2B,,no,no,,\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def run(engine: Engine, tmp_path: Path, kind: str, text: str, **kwargs: Any) -> ImportResult:
    return import_file(
        engine, kind, write(tmp_path, f"{kind}.csv", text), rejects_dir=tmp_path, **kwargs
    )


def rejects_of(result: ImportResult) -> list[dict[str, str]]:
    assert result.rejects_file is not None
    with result.rejects_file.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def count(engine: Engine, model: type[Base]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def base(engine: Engine, tmp_path: Path) -> Engine:
    """Products, the matrix and three customers."""
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    result = run(engine, tmp_path, "customers", CUSTOMERS)
    assert (result.imported, result.rejected) == (3, 0)
    return engine


REJECTED = "row rejected"
EMPTIED, KEPT = "row imported, this field left empty", "row imported, stored value kept"
DERIVED = "row imported, this field derived from the others"
MATRIX_LEFT_OUT = "row imported without this field"


def only_reject(result: ImportResult) -> dict[str, str]:
    rows = rejects_of(result)
    assert result.rejected == 1, rows
    assert len(rows) == 1, rows
    return rows[0]


def problems_of_one_row(result: ImportResult, outcome: str) -> list[dict[str, str]]:
    """The reject file's lines, all of one row and with ``outcome``; checks the counts."""
    rows = rejects_of(result)
    assert {(r["row"], r["outcome"]) for r in rows} == {(rows[0]["row"], outcome)}, rows
    counts = (1, 0) if outcome == REJECTED else (0, len(rows))
    assert (result.rejected, result.warnings) == counts, rows
    return rows


def stored(engine: Engine, column: Any, *where: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(column).where(*where)).scalar_one()


# --- customers --------------------------------------------------------------------


def test_customers_are_stored_normalised(base: Engine) -> None:
    with base.connect() as conn:
        rows = {c.external_id: c for c in conn.execute(select(Customer))}
    assert rows["C1"].phone == "+14155550134"
    assert rows["C1"].country == "US"
    assert rows["C2"].country == "GB", "country is derived from the number when blank"
    assert rows["C2"].customer_type == CustomerType.B2C
    assert rows["C3"].segment_id is None
    assert rows["C2"].contract_end == dt.date(2027, 1, 1)
    assert rows["C1"].call_consent is True
    assert rows["C1"].sms_consent is False


GOOD_CUSTOMER = "C1,Ann Lee,(415) 555-0134,US,CA,,en,B2C,B2C_YOUNG,yes,no,2020-01-05,\n"


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("C9,,(415) 555-0101,US,,,,B2C,B2C_YOUNG,yes,no,,", "name", "required"),
        ("C9,Al,(415) 555-0101,US,,,,B2C,B2C_YOUNG,yes,no", "(row)", "has 11 fields"),
        ("C1,Twin,(415) 555-0102,US,,,,B2C,B2C_YOUNG,yes,no,,", "customer_id", "duplicate key"),
        (",Al,(415) 555-0101,US,,,,B2C,B2C_YOUNG,yes,no,,", "customer_id", "required"),
    ],
)
def test_a_bad_key_or_required_field_rejects_the_customer(
    engine: Engine, tmp_path: Path, line: str, field: str, reason: str
) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    result = run(engine, tmp_path, "customers", CUSTOMER_HEADER + GOOD_CUSTOMER + line + "\n")
    reject = only_reject(result)
    assert reject["row"] == "3", "lines are counted as a spreadsheet shows them"
    assert (reject["field"], reject["outcome"]) == (field, REJECTED)
    assert reason in reject["reason"]
    assert (result.read, result.imported) == (2, 1), "the good row is stored"


def customer_line(**cells: str) -> str:
    """A customer row of CUSTOMER_HEADER: C9, Al, a good US number, with ``cells`` changed."""
    row = dict.fromkeys(CUSTOMER_HEADER.strip().split(","), "")
    row.update(customer_id="C9", name="Al", phone="(415) 555-0101", country="US")
    row.update(customer_type="B2C", call_consent="yes", sms_consent="no")
    return ",".join({**row, **cells}.values()) + "\n"


@pytest.mark.parametrize(
    ("field", "value", "reason", "empty"),
    [
        ("phone", "12", "not a valid phone number", None),
        ("phone", "n/a", "not a phone number", None),
        ("country", "USA", "pattern", "US"),  # told by the phone number instead
        ("timezone", "Mars/Base", "IANA", None),
        ("customer_type", "B2X", "B2C", CustomerType.B2C),
        ("segment", "NOPE", "unknown segment", None),
        ("call_consent", "maybe", "yes/no", False),
        ("signup_date", "2020-13-01", "not a date", None),
        ("contract_end", "01/02/2027", "not a date", None),
    ],
)
def test_any_other_bad_field_is_stored_empty_and_the_customer_kept(
    engine: Engine, tmp_path: Path, field: str, value: str, reason: str, empty: Any
) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    text = CUSTOMER_HEADER + GOOD_CUSTOMER + customer_line(**{field: value})
    result = run(engine, tmp_path, "customers", text)
    (problem,) = problems_of_one_row(result, DERIVED if field == "country" else EMPTIED)
    assert (problem["row"], problem["field"], problem["value"]) == ("3", field, value)
    assert reason in problem["reason"]
    assert (result.read, result.imported, result.as_json()["warnings"]) == (2, 2, 1)
    column = Customer.segment_id if field == "segment" else getattr(Customer, field)
    assert stored(engine, column, Customer.external_id == "C9") == empty
    assert stored(engine, Customer.name, Customer.external_id == "C9") == "Al"


def test_a_bad_descriptive_field_keeps_the_stored_value_a_bad_contact_field_does_not(
    base: Engine, tmp_path: Path
) -> None:
    garbled = CUSTOMERS.replace("(415) 555-0134", "0000").replace("yes,no,2020-01-05", "?,no,2020")
    result = run(base, tmp_path, "customers", garbled)
    assert [(r["field"], r["outcome"]) for r in rejects_of(result)] == [
        ("phone", EMPTIED),
        ("call_consent", EMPTIED),
        ("signup_date", KEPT),
    ]
    assert (result.updated, result.unchanged, result.warnings) == (1, 2, 3)
    with base.connect() as conn:
        c1 = conn.execute(
            select(Customer.phone, Customer.call_consent, Customer.signup_date).where(
                Customer.external_id == "C1"
            )
        ).one()
    assert tuple(c1) == (None, False, dt.date(2020, 1, 5)), "no number, no consent, same date"
    renamed = run(base, tmp_path, "customers", garbled.replace("Ann Lee", "Ann Leigh"))
    assert (renamed.updated, renamed.warnings) == (1, 3), "the good fields are still updated"
    assert stored(base, Customer.signup_date, Customer.name == "Ann Leigh") == dt.date(2020, 1, 5)


def with_cell(text: str, customer_id: str, column: str, value: str) -> str:
    """The CSV ``text`` with one cell of one customer's row changed."""
    header, *rows = text.splitlines()
    names = header.split(",")
    changed = []
    for row in rows:
        cells = dict(zip(names, row.split(","), strict=True))
        if cells["customer_id"] == customer_id:
            cells[column] = value
        changed.append(",".join(cells.values()))
    return "\n".join([header, *changed]) + "\n"


NOON_IN_LONDON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)  # a Tuesday


def verdict(engine: Engine, external_id: str, channel: Channel) -> Verdict:
    kind = CampaignKind.ANTI_CHURN
    with Session(engine) as session:
        customer_id = stored(engine, Customer.id, Customer.external_id == external_id)
        return check_contact(
            session,
            ContactPolicy.for_kind(kind),
            customer_id=customer_id,
            channel=channel,
            kind=kind,
            now=NOON_IN_LONDON,
        )


@pytest.mark.parametrize(
    ("field", "bad", "empty", "channel", "reason"),
    [
        ("phone", "n/a", None, Channel.CALL, ExclusionReason.NO_PHONE),
        ("phone", "12", None, Channel.SMS, ExclusionReason.NO_PHONE),
        ("call_consent", "maybe", False, Channel.CALL, ExclusionReason.NO_CONSENT),
        ("sms_consent", "?", False, Channel.SMS, ExclusionReason.NO_CONSENT),
    ],
)
def test_a_bad_number_or_consent_on_a_stored_customer_stops_contact(
    base: Engine,
    tmp_path: Path,
    field: str,
    bad: str,
    empty: Any,
    channel: Channel,
    reason: ExclusionReason,
) -> None:
    """Issue 19, point 9: the old number may be someone else's now, the old consent withdrawn."""
    assert verdict(base, "C2", channel) == Verdict(allowed=True)
    result = run(base, tmp_path, "customers", with_cell(CUSTOMERS, "C2", field, bad))
    (problem,) = problems_of_one_row(result, EMPTIED)
    assert (problem["row"], problem["field"], problem["value"]) == ("3", field, bad)
    assert (result.updated, result.unchanged) == (1, 2)
    assert stored(base, getattr(Customer, field), Customer.external_id == "C2") is empty
    assert stored(base, Customer.name, Customer.external_id == "C2") == "Bob Ray", "still kept"
    assert verdict(base, "C2", channel).reason is reason


@pytest.mark.parametrize(
    "text",
    ["customer_id,name,phone\nC2,Bob Ray,n/a\n", with_cell(CUSTOMERS, "C2", "phone", "n/a")],
    ids=["no country column", "country blank"],
)
def test_a_stored_customer_whose_number_told_the_country_keeps_it(
    base: Engine, tmp_path: Path, text: str
) -> None:
    """Rejecting the row for want of a country would leave the old number callable."""
    result = run(base, tmp_path, "customers", text)
    assert [(r["field"], r["outcome"]) for r in rejects_of(result)] == [("phone", EMPTIED)]
    assert (result.updated, result.rejected) == (1, 0)
    with base.connect() as conn:
        c2 = conn.execute(
            select(Customer.phone, Customer.country).where(Customer.external_id == "C2")
        ).one()
    assert tuple(c2) == (None, "GB")


def test_a_bad_country_with_no_number_keeps_the_stored_one(base: Engine, tmp_path: Path) -> None:
    result = run(base, tmp_path, "customers", "customer_id,name,phone,country\nC1,Ann Lee,,USA\n")
    assert [(r["field"], r["outcome"]) for r in rejects_of(result)] == [("country", KEPT)]
    with base.connect() as conn:
        c1 = conn.execute(
            select(Customer.phone, Customer.country).where(Customer.external_id == "C1")
        ).one()
    assert tuple(c1) == (None, "US"), "a blank number is no number"


def test_a_bad_time_zone_on_a_stored_customer_is_emptied(base: Engine, tmp_path: Path) -> None:
    """The zone sets the hours a call may ring; without it the number's zones decide."""
    result = run(base, tmp_path, "customers", with_cell(CUSTOMERS, "C2", "timezone", "Mars/Base"))
    assert [(r["field"], r["outcome"]) for r in rejects_of(result)] == [("timezone", EMPTIED)]
    assert stored(base, Customer.timezone, Customer.external_id == "C2") is None


@pytest.mark.parametrize(
    ("field", "bad", "kept"),
    [
        ("region", "R" * 65, "London"),
        ("language", "a-language-name-too-long", "en"),
        ("customer_type", "B2X", CustomerType.B2C),
        ("segment", "NOPE", "B2C_FAMILY"),
        ("contract_end", "01/02/2027", dt.date(2027, 1, 1)),
    ],
)
def test_a_bad_descriptive_field_on_a_stored_customer_keeps_its_value(
    base: Engine, tmp_path: Path, field: str, bad: str, kept: Any
) -> None:
    result = run(base, tmp_path, "customers", with_cell(CUSTOMERS, "C2", field, bad))
    (problem,) = problems_of_one_row(result, KEPT)
    assert (problem["field"], result.unchanged) == (field, 3)
    column = Segment.code if field == "segment" else getattr(Customer, field)
    with base.connect() as conn:
        value = conn.execute(
            select(column)
            .select_from(Customer)
            .outerjoin(Segment, Customer.segment_id == Segment.id)
            .where(Customer.external_id == "C2")
        ).scalar_one()
    assert value == kept


def test_a_customer_with_a_bad_phone_keeps_their_holdings_and_bills(
    engine: Engine, tmp_path: Path
) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    customers = run(engine, tmp_path, "customers", CUSTOMERS.replace("(415) 555-0134", "n/a"))
    assert (customers.imported, customers.rejected, customers.warnings) == (3, 0, 1)
    assert stored(engine, Customer.phone, Customer.external_id == "C1") is None
    holdings = run(engine, tmp_path, "holdings", HOLDINGS)
    billing = run(engine, tmp_path, "billing", BILLING)
    assert (holdings.imported, holdings.rejected) == (2, 0)
    assert (billing.imported, billing.rejected) == (3, 0)


def test_a_customer_without_a_phone_is_kept_but_needs_a_country(
    engine: Engine, tmp_path: Path
) -> None:
    text = CUSTOMER_HEADER + "N1,No Phone,,US,,,,B2C,,yes,no,,\nN2,Nowhere,,,,,,B2C,,yes,no,,\n"
    result = run(engine, tmp_path, "customers", text)
    assert (result.imported, result.rejected) == (1, 1)
    assert only_reject(result) == {
        "row": "3",
        "field": "country",
        "value": "",
        "reason": "give the country when there is no phone number",
        "outcome": REJECTED,
    }
    with engine.connect() as conn:
        assert conn.execute(select(Customer.phone, Customer.country)).one() == (None, "US")
    unusable = run(engine, tmp_path, "customers", CUSTOMER_HEADER + "N3,Al,n/a,,,,,B2C,,,,,\n")
    rows = problems_of_one_row(unusable, REJECTED)
    assert [r["field"] for r in rows] == ["phone", "country"], "no phone left to tell the country"


def test_default_region_reads_national_numbers(engine: Engine, tmp_path: Path) -> None:
    text = CUSTOMER_HEADER + "G1,Gail,020 7946 0958,,,,,B2C,,yes,no,,\n"
    us = run(engine, tmp_path, "customers", text)
    assert us.rejected == 1, "a UK national number is not valid in the US"
    gb = run(engine, tmp_path, "customers", text, default_region="GB")
    assert gb.imported == 1
    with engine.connect() as conn:
        assert conn.execute(select(Customer.phone, Customer.country)).one() == (
            "+442079460958",
            "GB",
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


def test_worker_processes_give_the_same_result(engine: Engine, tmp_path: Path) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    lines = [
        f"W{i},Name {i},(415) 555-{i % 10000:04d},US,,,,B2C,B2C_YOUNG,yes,no,," for i in range(1200)
    ]
    lines[700] = "W700,,(415) 555-0700,US,,,,B2C,B2C_YOUNG,yes,no,,"
    lines[900] = "W1,Twin,(415) 555-0901,US,,,,B2C,B2C_YOUNG,yes,no,,"
    text = CUSTOMER_HEADER + "\n".join(lines) + "\n"
    result = run(engine, tmp_path, "customers", text, workers=1, batch_size=100)
    assert (result.read, result.imported, result.rejected) == (1200, 1198, 2)
    assert [(r["row"], r["field"]) for r in rejects_of(result)] == [
        ("702", "name"),
        ("902", "customer_id"),
    ]
    again = run(engine, tmp_path, "customers", text, workers=1, batch_size=100)
    assert (again.unchanged, again.rejected) == (1198, 2)
    lines[300] = "W300,Name 300,n/a,,,,,B2C,B2C_YOUNG,yes,no,,"  # the stored record lends US
    garbled = run(
        engine,
        tmp_path,
        "customers",
        CUSTOMER_HEADER + "\n".join(lines) + "\n",
        workers=1,
        batch_size=100,
    )
    assert (garbled.updated, garbled.rejected) == (1, 2)
    assert ("302", "phone", EMPTIED) in [
        (r["row"], r["field"], r["outcome"]) for r in rejects_of(garbled)
    ]
    assert stored(engine, Customer.phone, Customer.external_id == "W300") is None


def test_progress_is_reported(base: Engine, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    run(base, tmp_path, "customers", CUSTOMERS, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (3, 3)


def test_an_import_run_is_recorded(base: Engine, tmp_path: Path) -> None:
    with base.connect() as conn:
        runs = conn.execute(select(ImportRun.kind, ImportRun.status, ImportRun.imported)).all()
    assert ("customers", "done", 3) in runs


def test_rejects_go_to_the_requested_file(base: Engine, tmp_path: Path) -> None:
    target = tmp_path / "out" / "bad.csv"
    result = import_file(
        base,
        "customers",
        write(tmp_path, "c.csv", CUSTOMER_HEADER + "C9,,1,US,,,,B2C,,yes,no,,\n"),
        rejects_path=target,
    )
    assert result.rejects_file == target
    assert target.read_text(encoding="utf-8").splitlines()[0] == "row,field,value,reason,outcome"


def test_the_rejects_file_is_private_also_when_it_replaces_one(
    base: Engine, tmp_path: Path
) -> None:
    target = tmp_path / "bad.csv"
    target.write_text("an older file\n", encoding="utf-8")
    target.chmod(0o644)
    bad = write(tmp_path, "c.csv", CUSTOMER_HEADER + "C9,,1,US,,,,B2C,,yes,no,,\n")
    assert import_file(base, "customers", bad, rejects_path=target).rejected == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    fresh = import_file(base, "customers", bad, rejects_dir=tmp_path / "rejects")
    assert fresh.rejects_file is not None
    assert stat.S_IMODE(fresh.rejects_file.stat().st_mode) == 0o600


def test_the_rejects_file_writes_formulas_as_text(base: Engine, tmp_path: Path) -> None:
    link = "=HYPERLINK(1)+@SUM(A1)"
    text = CUSTOMER_HEADER + f"C9,Al,{link},US,,,,B2C,,yes,no,,\n"
    (problem,) = problems_of_one_row(run(base, tmp_path, "customers", text), EMPTIED)
    assert (problem["field"], problem["value"]) == ("phone", "'" + link)


def test_no_rejects_file_when_nothing_was_rejected(base: Engine, tmp_path: Path) -> None:
    result = run(base, tmp_path, "customers", CUSTOMERS)
    assert result.rejects_file is None
    assert result.as_json()["rejects_file"] is None


# --- mapping ----------------------------------------------------------------------


def test_mapping_imports_an_export_without_editing_it(engine: Engine, tmp_path: Path) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    export = (
        "Customer ID,First,Last,Phone Number,Plan,Do Not Call,Joined,Churn\n"
        "X-1,Ann,Lee,(415) 555-0134,Gold,N,05/01/2020,No\n"
        "X-2,Bob,Ray,(415) 555-0135,Silver,Y,01/03/2021,Yes\n"
    )
    mapping = write(
        tmp_path,
        "map.yaml",
        """
customer_id: "Customer ID"
name: {columns: [First, Last], join: " "}
phone: "Phone Number"
segment: {column: Plan, map: {Gold: B2C_YOUNG, Silver: B2C_FAMILY}}
call_consent: {column: "Do Not Call", true: ["N"], false: ["Y"]}
signup_date: {column: Joined, format: "%d/%m/%Y"}
churned: {column: Churn, true: [Yes]}
customer_type: {value: B2C}
""",
    )
    result = import_file(
        engine, "customers", write(tmp_path, "export.csv", export), mapping_file=mapping
    )
    assert (result.imported, result.rejected) == (2, 0)
    with engine.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(select(Customer))}
    assert rows["X-1"].name == "Ann Lee"
    assert rows["X-1"].call_consent is True
    assert rows["X-2"].call_consent is False
    assert rows["X-1"].signup_date == dt.date(2020, 1, 5)
    assert rows["X-2"].churned is True
    assert rows["X-1"].churned is False


def test_mapping_with_a_value_outside_true_and_false_leaves_the_field_out(
    engine: Engine, tmp_path: Path
) -> None:
    mapping = write(tmp_path, "m.yaml", 'call_consent: {column: DNC, true: ["N"], false: ["Y"]}\n')
    text = "customer_id,name,phone,DNC\nA,Al,(415) 555-0134,?\n"
    result = import_file(
        engine,
        "customers",
        write(tmp_path, "c.csv", text),
        mapping_file=mapping,
        rejects_dir=tmp_path,
    )
    (problem,) = problems_of_one_row(result, EMPTIED)
    assert problem["field"] == "call_consent"
    assert "expected one of" in problem["reason"]
    assert stored(engine, Customer.call_consent, Customer.external_id == "A") is False


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("phone_number: Phone\n", "does not have"),
        ("phone: {colum: Phone}\n", "unknown key"),
        ("phone: Telephone\n", "does not have"),
        ("phone: {column: Phone, value: x}\n", "exactly one of"),
        ("- just a list\n", "top level"),
        ("phone: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_mapping_fails_before_writing(
    engine: Engine, tmp_path: Path, mapping: str, message: str
) -> None:
    text = "customer_id,name,Phone\nA,Al,(415) 555-0134\n"
    with pytest.raises(MappingError, match=message):
        import_file(
            engine,
            "customers",
            write(tmp_path, "c.csv", text),
            mapping_file=write(tmp_path, "m.yaml", mapping),
        )
    assert count(engine, Customer) == 0


# --- bad files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        ("customer_id,name,phone\nC1,Zoë,(415) 555-0134\n".encode("latin-1"), "not valid utf-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"customer_id,name,phone\n\x00\x01\x02", "binary"),
        (b"customer_id,region\nC1,CA\n", r"missing required column\(s\) name"),
        (b'{"customers": [{"id": 1}]}\n', "missing required column"),
        (b"customer_id,name,name\nC1,Al,Al\n", "repeats column"),
    ],
)
def test_unusable_file_leaves_the_database_untouched(
    base: Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    before = count(base, Customer), count(base, ImportRun)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_file(base, "customers", path)
    assert (count(base, Customer), count(base, ImportRun)) == before


def test_other_encodings_import_when_named(engine: Engine, tmp_path: Path) -> None:
    text = "customer_id;name;phone\nC1;Zoë Ça;(415) 555-0134\n"
    path = tmp_path / "latin.csv"
    path.write_bytes(text.encode("cp1252"))
    result = import_file(engine, "customers", path, encoding="cp1252")
    assert result.imported == 1, "semicolon-separated files are read too"
    with engine.connect() as conn:
        assert conn.execute(select(Customer.name)).scalar_one() == "Zoë Ça"


def test_missing_file_and_unknown_kind(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_file(engine, "customers", tmp_path / "nope.csv")
    with pytest.raises(ImportFileError, match="unknown import kind"):
        import_file(engine, "leads", tmp_path / "nope.csv")


def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    from store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotReadyError, match="db upgrade"):
        import_file(engine, "customers", write(tmp_path, "c.csv", CUSTOMERS))
    engine.dispose()


def test_a_byte_order_mark_is_not_part_of_the_first_column(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffcustomer_id,name,phone\nC1,Al,(415) 555-0134\n".encode())
    assert import_file(engine, "customers", path).imported == 1


UNICODE_TEXT = (
    "customer_id\tname\tphone\r\nC1\tZoë Ça\t(415) 555-0134\r\nC2\t李\t(415) 555-0135\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32"])
def test_a_file_with_a_byte_order_mark_just_imports(
    engine: Engine, tmp_path: Path, encoding: str
) -> None:
    """Excel's "Unicode text" is UTF-16 LE with a mark; the default --encoding reads it."""
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + UNICODE_TEXT.encode(encoding))
    result = import_file(engine, "customers", path)
    assert (result.imported, result.rejected) == (2, 0)
    with engine.connect() as conn:
        assert set(conn.execute(select(Customer.name)).scalars()) == {"Zoë Ça", "李"}


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_mark_is_named_with_the_encoding_to_pass(
    engine: Engine, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes(UNICODE_TEXT.encode(encoding))
    with pytest.raises(ImportFileError, match=f"UTF-16.*pass --encoding {encoding}\\b"):
        import_file(engine, "customers", path)
    assert count(engine, Customer) == 0
    assert import_file(engine, "customers", path, encoding=encoding).imported == 2


# Characters whose low byte is 0 (U+4E00, the ideographic space U+3000, U+0100) put
# NUL bytes on both sides of a BOM-less UTF-16 file.
CHINESE_TEXT = (
    "customer_id,name,phone,region\r\n"
    "C1,王一,+8613800138000,上海\u3000浦东\r\nC2,李一一,+8613800138001,北京\r\n"
)
POLISH_TEXT = (
    "customer_id,name,phone,region\r\n"
    "C1,Zażółć Gęślą,+48123456789,Łódź\r\nC2,Ādams Kalniņš,+48123456780,Gdańsk\r\n"
)  # the second a Latvian name: Ā is U+0100


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [CHINESE_TEXT, POLISH_TEXT], ids=["chinese", "polish"])
def test_utf16_of_any_script_without_a_mark_is_named(
    engine: Engine, tmp_path: Path, text: str, encoding: str
) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(ImportFileError, match=f"UTF-16.*pass --encoding {encoding}\\b"):
        import_file(engine, "customers", path)
    assert import_file(engine, "customers", path, encoding=encoding).imported == 2


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_few_latin_characters_is_named(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "chinese.csv"
    path.write_bytes(
        "客户编号,姓名,电话\r\n一号,王一一,一二三\r\n二号,李\u3000四,四五六\r\n".encode(encoding)
    )
    with pytest.raises(ImportFileError, match=f"pass --encoding {encoding}\\b"):
        open_csv(path)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x00" * 200,  # NULs on both sides alike
        b"\x01\x00\x02\x00" * 100,  # on one side, but beside control characters
        bytes(range(256)) * 4,
        b"customer_id,name\n" + b"\x00\x01\x02",
    ],
)
def test_binary_data_is_not_taken_for_utf16(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match="binary file"):
        open_csv(path)


@pytest.mark.parametrize(
    ("text", "line", "until"),
    [
        ('C1,"Ann Lee,(415) 555-0134\nC2,Bob,(415) 555-0135\nC3,Cy,(415) 555-0136\n', 2, "end"),
        ('C1,Ann,(415) 555-0134\nC2,"Bob,(415) 555-0135\nC3,"Cy",(415) 555-0136\n', 3, "line 4"),
        ('C1,Ann,(415) 555-0134\nC2,Bob,"(415) 555-0135\n', 3, "end"),
    ],
)
def test_an_unclosed_quote_is_refused_with_its_line(
    base: Engine, tmp_path: Path, text: str, line: int, until: str
) -> None:
    before = count(base, Customer), count(base, ImportRun)
    path = write(tmp_path, "quote.csv", "customer_id,name,phone\n" + text)
    with pytest.raises(ImportFileError, match=f"line {line}: a quote opens a field") as caught:
        import_file(base, "customers", path)
    assert until in str(caught.value)
    assert (count(base, Customer), count(base, ImportRun)) == before


def test_a_quoted_field_over_several_lines_still_imports(engine: Engine, tmp_path: Path) -> None:
    text = 'customer_id,name,phone\nC1,"Ann\nLee",(415) 555-0134\nC2,Bob,(415) 555-0135\n'
    result = import_file(engine, "customers", write(tmp_path, "multi.csv", text))
    assert (result.imported, result.rejected) == (2, 0)


# --- products and the matrix ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field", "reason", "outcome"),
    [
        ("TV,TV,TV,0,10,", "tier", "greater than or equal to 1", EMPTIED),
        ("TV,TV,TV,1,$10,", "monthly_price", "not a number", REJECTED),
        ("TV,TV,TV,1,-5,", "monthly_price", "greater than or equal to 0", REJECTED),
        ("TV,TV,TV,one,10,", "tier", "whole number", EMPTIED),
        ("TV,TV,TV,1,10,ten", "monthly_margin", "not a number", EMPTIED),
        (",TV,TV,1,10,", "product_code", "required", REJECTED),
    ],
)
def test_product_row_rules(
    engine: Engine, tmp_path: Path, line: str, field: str, reason: str, outcome: str
) -> None:
    result = run(engine, tmp_path, "products", PRODUCTS + line + "\n")
    (problem,) = problems_of_one_row(result, outcome)
    assert (problem["field"], problem["row"]) == (field, "5")
    assert reason in problem["reason"]
    assert count(engine, Product) == (3 if outcome == REJECTED else 4)
    if outcome == EMPTIED:
        tier, margin = stored(engine, Product.tier, Product.code == "TV"), None
        assert (tier, stored(engine, Product.monthly_margin, Product.code == "TV")) == (1, margin)


def test_matrix_is_versioned_and_reimport_keeps_the_version(engine: Engine, tmp_path: Path) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    first = run(engine, tmp_path, "matrix", MATRIX)
    assert (first.imported, first.rejected) == (2, 0)
    assert current_matrix(engine) == (
        1,
        {
            ("B2C_YOUNG", "MOB_S"),
            ("B2C_YOUNG", "MOB_L"),
            ("B2C_FAMILY", "MOB_L"),
            ("B2C_FAMILY", "BB_100"),
        },
    )
    again = run(engine, tmp_path, "matrix", MATRIX)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert count(engine, MatrixVersion) == 1
    changed = run(engine, tmp_path, "matrix", MATRIX.replace("Families,,x,x", "Families,x,x,x"))
    assert changed.updated == 1
    version, cells = current_matrix(engine)
    assert version == 2
    assert ("B2C_FAMILY", "MOB_S") in cells


def test_matrix_rules(engine: Engine, tmp_path: Path) -> None:
    run(engine, tmp_path, "products", PRODUCTS)
    run(engine, tmp_path, "matrix", MATRIX)
    bad_mark = MATRIX.replace("Families,,x,x", "Families,x,maybe,")
    result = run(engine, tmp_path, "matrix", bad_mark)
    (problem,) = problems_of_one_row(result, MATRIX_LEFT_OUT)
    assert (problem["field"], problem["value"]) == ("MOB_L", "maybe")
    _, cells = current_matrix(engine)
    assert {c for c in cells if c[0] == "B2C_FAMILY"} == {
        ("B2C_FAMILY", "MOB_S"),
        ("B2C_FAMILY", "MOB_L"),
    }, "the row is taken, the cell with a bad mark keeps its state"
    bad_code = run(
        engine, tmp_path, "matrix", MATRIX + "B2C_WITH_A_CODE_FAR_LONGER_THAN_32,x,x,,\n"
    )
    assert problems_of_one_row(bad_code, REJECTED)[0]["field"] == "segment"
    with pytest.raises(ImportFileError, match="TV_XL are not known product codes"):
        run(engine, tmp_path, "matrix", "segment,MOB_S,TV_XL\nB2C_YOUNG,x,x\n")
    duplicate = run(engine, tmp_path, "matrix", MATRIX + "B2C_YOUNG,Again,x,,\n")
    assert rejects_of(duplicate)[0]["reason"].startswith("duplicate key")


# --- holdings, billing, interactions, dnc -------------------------------------------------


HOLDINGS = """customer_id,product_code,start_date,end_date,monthly_revenue
C1,MOB_S,2020-01-05,,14.50
C2,MOB_L,2021-03-01,2024-03-01,35.5
"""


@pytest.mark.parametrize(
    ("line", "field", "reason", "outcome"),
    [
        ("C404,MOB_S,2020-01-01,,10", "customer_id", "unknown customer", REJECTED),
        ("C1,TV_XL,2020-01-01,,10", "product_code", "unknown product", REJECTED),
        ("C1,MOB_L,2020-01-01,2019-01-01,10", "end_date", "before start_date", EMPTIED),
        ("C1,MOB_L,2020-01-01,someday,10", "end_date", "not a date", EMPTIED),
        ("C1,MOB_L,,,10", "start_date", "required", REJECTED),
        ("C1,MOB_L,2020-01-01,,ten", "monthly_revenue", "not a number", REJECTED),
        ("C1,MOB_S,2020-01-05,,14.50", "customer_id", "duplicate key", REJECTED),
    ],
)
def test_holding_row_rules(
    base: Engine, tmp_path: Path, line: str, field: str, reason: str, outcome: str
) -> None:
    result = run(base, tmp_path, "holdings", HOLDINGS + line + "\n")
    (problem,) = problems_of_one_row(result, outcome)
    assert problem["field"] == field
    assert reason in problem["reason"]
    assert count(base, Holding) == (2 if outcome == REJECTED else 3)
    if outcome == EMPTIED:
        assert stored(base, Holding.end_date, Holding.start_date == dt.date(2020, 1, 1)) is None
        return
    again = run(base, tmp_path, "holdings", HOLDINGS)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)


BILLING = """customer_id,month,amount,days_late
C1,2026-01,14.50,0
C1,2026-02,14.50,
C2,2026-02-17,35.50,12
"""


@pytest.mark.parametrize(
    ("line", "field", "reason", "outcome"),
    [
        ("C1,2026-13,14.5,0", "month", "not a date", REJECTED),
        ("C1,2026-03,14.5,-2", "days_late", "greater than or equal to 0", EMPTIED),
        ("C1,2026-03,,0", "amount", "required", REJECTED),
        ("C404,2026-03,14.5,0", "customer_id", "unknown customer", REJECTED),
        ("C2,2026-02,35.5,0", "customer_id", "duplicate key", REJECTED),
    ],
)
def test_billing_row_rules(
    base: Engine, tmp_path: Path, line: str, field: str, reason: str, outcome: str
) -> None:
    result = run(base, tmp_path, "billing", BILLING + line + "\n")
    (problem,) = problems_of_one_row(result, outcome)
    assert problem["field"] == field
    assert reason in problem["reason"]
    with base.connect() as conn:
        months = set(conn.execute(select(Billing.month)).scalars())
    march = {dt.date(2026, 3, 1)} if outcome == EMPTIED else set()
    assert months == {dt.date(2026, 1, 1), dt.date(2026, 2, 1)} | march


INTERACTIONS = """interaction_id,customer_id,kind,occurred_at,channel,topic,score,scale,closed_at
I1,C1,complaint,2026-09-01T10:00:00Z,phone,billing,,,2026-09-03T10:00:00Z
I2,C1,survey,2026-09-05T10:00:00+02:00,email,,3,5,
I3,C2,exit,2024-03-01T09:00:00Z,phone,price,,,
"""


@pytest.mark.parametrize(
    ("line", "fields", "reason", "outcome"),
    [
        ("I9,C1,survey,2026-09-06T10:00:00Z,,,,10,", ["score"], "needs a score", REJECTED),
        # a survey's score left out leaves a survey without one
        (
            "I9,C1,survey,2026-09-06T10:00:00Z,,,8,5,",
            ["score", "score"],
            "not on the 1-5 scale",
            REJECTED,
        ),
        (
            "I9,C1,survey,2026-09-06T10:00:00Z,,,8,7,",
            ["scale", "score", "score"],
            "5 or 10",
            REJECTED,
        ),
        ("I9,C1,complaint,2026-09-06T10:00:00Z,,,8,7,", ["scale", "score"], "5 or 10", EMPTIED),
        (
            "I9,C1,complaint,2026-09-06T10:00:00Z,,,,,2026-09-01T00:00:00Z",
            ["closed_at"],
            "before",
            EMPTIED,
        ),
        ("I9,C1,praise,2026-09-06T10:00:00Z,,,,,", ["kind"], "complaint", REJECTED),
        ("I9,C1,ticket,yesterday,,,,,", ["occurred_at"], "not a date-time", REJECTED),
    ],
)
def test_interaction_row_rules(
    base: Engine, tmp_path: Path, line: str, fields: list[str], reason: str, outcome: str
) -> None:
    result = run(base, tmp_path, "interactions", INTERACTIONS + line + "\n")
    problems = problems_of_one_row(result, outcome)
    assert [p["field"] for p in problems] == fields
    assert reason in problems[0]["reason"]
    assert count(base, Interaction) == (3 if outcome == REJECTED else 4)
    with base.connect() as conn:
        survey = conn.execute(
            select(Interaction.occurred_at, Interaction.score, Interaction.scale).where(
                Interaction.kind == "survey"
            )
        ).one()
    assert survey == (dt.datetime(2026, 9, 5, 8, 0, tzinfo=dt.UTC), 3, 5)


def test_a_bad_closing_date_reopens_a_stored_complaint(base: Engine, tmp_path: Path) -> None:
    """A complaint not known to be closed keeps the customer off the lists that exclude them."""
    run(base, tmp_path, "interactions", INTERACTIONS)
    closed_at = "2026-09-03T10:00:00Z"
    result = run(base, tmp_path, "interactions", INTERACTIONS.replace(closed_at, "soon"))
    (problem,) = problems_of_one_row(result, EMPTIED)
    assert (problem["field"], result.updated) == ("closed_at", 1)
    where = Interaction.kind == "complaint"
    assert stored(base, Interaction.closed_at, where) is None
    assert stored(base, Interaction.topic, where) == "billing"


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
