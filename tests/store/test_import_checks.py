"""Importing rows: each kind's row rules, and what becomes of an unusable field (left
empty, kept as stored, lent by the stored record) and of the row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from campaigns.policy.check import Verdict, check_contact
from campaigns.settings.model import CampaignSettings
from store.models import (
    Billing,
    CampaignKind,
    Channel,
    Customer,
    CustomerType,
    ExclusionReason,
    Holding,
    Interaction,
    Product,
    Segment,
)
from tests.store.import_files import (
    CUSTOMER_HEADER,
    CUSTOMERS,
    DERIVED,
    EMPTIED,
    KEPT,
    MATRIX,
    PRODUCTS,
    REJECTED,
    count,
    only_reject,
    problems_of_one_row,
    rejects_of,
    run,
    stored,
)


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
            CampaignSettings.for_kind(kind),
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
