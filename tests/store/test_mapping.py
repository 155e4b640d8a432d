"""Mapping a file's own column names and values onto an import kind's fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.errors import MappingError
from store.importer import import_file
from store.models import (
    Customer,
)
from tests.store.import_files import (
    EMPTIED,
    MATRIX,
    PRODUCTS,
    count,
    problems_of_one_row,
    run,
    stored,
    write,
)


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
