"""Importing a file: worker processes, progress, the import run, the reject file, and
the matrix imported from CSV."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.errors import ImportFileError
from store.importer import import_file
from store.matrix_import import current_matrix
from store.models import (
    Customer,
    ImportRun,
    MatrixVersion,
)
from tests.store.import_files import (
    CUSTOMER_HEADER,
    CUSTOMERS,
    EMPTIED,
    MATRIX,
    MATRIX_LEFT_OUT,
    PRODUCTS,
    REJECTED,
    count,
    problems_of_one_row,
    rejects_of,
    run,
    stored,
    write,
)


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
