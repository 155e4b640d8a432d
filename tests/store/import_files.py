"""Files and checks the import tests share."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from store.importer import ImportResult, import_file
from store.models import (
    Base,
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
