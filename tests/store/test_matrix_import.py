"""The matrix from YAML: the same rules and versioning as from CSV, rows named by line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from store.errors import ImportFileError
from store.importer import ImportResult, import_file
from store.matrix_import import current_matrix
from store.models import ImportRun, MatrixVersion, Segment

PRODUCTS = """product_code,name,family,tier,monthly_price
MOB_S,Mobile S,MOBILE,1,15
MOB_L,Mobile L,MOBILE,2,35
BB_100,Fiber 100,BROADBAND,1,30
0123,Legacy bundle,LEGACY,1,10
"""
MATRIX_CSV = """segment,segment_name,MOB_S,MOB_L,BB_100
B2C_YOUNG,Young adults,x,x,
B2C_FAMILY,Families,,x,x
"""
MATRIX_YAML = """# the same matrix as MATRIX_CSV
segments:
  B2C_YOUNG: {name: Young adults, products: [MOB_S, MOB_L]}
  B2C_FAMILY:
    name: Families
    products:
      - MOB_L
      - BB_100
"""
CELLS = {
    ("B2C_YOUNG", "MOB_S"),
    ("B2C_YOUNG", "MOB_L"),
    ("B2C_FAMILY", "MOB_L"),
    ("B2C_FAMILY", "BB_100"),
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(engine: Engine, tmp_path: Path, text: str, name: str = "matrix.yaml") -> ImportResult:
    return import_file(engine, "matrix", write(tmp_path, name, text), rejects_dir=tmp_path)


def rejects_of(result: ImportResult) -> list[dict[str, str]]:
    assert result.rejects_file is not None
    with result.rejects_file.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(MatrixVersion)).scalar_one()


@pytest.fixture
def products(engine: Engine, tmp_path: Path) -> Engine:
    import_file(engine, "products", write(tmp_path, "products.csv", PRODUCTS))
    return engine


def test_yaml_is_versioned_like_csv(products: Engine, tmp_path: Path) -> None:
    first = run(products, tmp_path, MATRIX_YAML)
    assert (first.read, first.imported, first.rejected) == (2, 2, 0)
    assert current_matrix(products) == (1, CELLS)
    with products.connect() as conn:
        names = dict(conn.execute(select(Segment.code, Segment.name)).all())
    assert names == {"B2C_YOUNG": "Young adults", "B2C_FAMILY": "Families"}
    again = run(products, tmp_path, MATRIX_YAML, "matrix.yml")
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    same_as_csv = run(products, tmp_path, MATRIX_CSV, "matrix.csv")
    assert (same_as_csv.updated, versions(products)) == (0, 1)
    changed = run(products, tmp_path, MATRIX_YAML.replace("[MOB_S, MOB_L]", "[MOB_S]"))
    assert changed.updated == 1
    assert current_matrix(products) == (2, CELLS - {("B2C_YOUNG", "MOB_L")})
    with products.connect() as conn:
        source = conn.execute(select(MatrixVersion.source).where(MatrixVersion.version == 2))
        assert source.scalar_one() == "matrix.yaml"


def test_codes_are_read_as_written(products: Engine, tmp_path: Path) -> None:
    # Plain YAML would read NO as false and 0123 as the number 83.
    result = run(
        products,
        tmp_path,
        "segments:\n  NO: {name: Norway, products: [0123, MOB_S]}\n  EMPTY:\n  NONE: {name: ~}\n",
    )
    assert (result.imported, result.rejected) == (3, 0)
    assert current_matrix(products) == (1, {("NO", "0123"), ("NO", "MOB_S")})
    with products.connect() as conn:
        names = dict(conn.execute(select(Segment.code, Segment.name)).all())
    assert names == {"NO": "Norway", "EMPTY": "EMPTY", "NONE": "NONE"}


def test_bad_entries_are_listed_with_their_line(products: Engine, tmp_path: Path) -> None:
    run(products, tmp_path, MATRIX_YAML)
    result = run(
        products,
        tmp_path,
        """segments:
  B2C_YOUNG: {name: Young adults, products: [MOB_S, TV_XL]}
  B2C_FAMILY: {name: Families, products: [BB_100]}
  B2C_SENIOR: {name: Seniors, products: MOB_S}
  B2C_FAMILY: {name: Again, products: [MOB_S]}
  B2B: {name: Business, product: [MOB_S]}
  B2B_WITH_A_CODE_FAR_LONGER_THAN_32: {products: [MOB_S]}
  B2C_LIST: [MOB_S]
""",
    )
    rejects = {
        (r["row"], r["field"], r["value"]): (r["reason"], r["outcome"]) for r in rejects_of(result)
    }
    kept, rejected = "row imported without this field", "row rejected"
    assert rejects[("2", "products", "TV_XL")] == (
        "not a known product code (segment B2C_YOUNG): import products first or fix the code",
        kept,
    )
    assert rejects[("4", "products", "")] == ("expected a list of product codes", kept)
    assert rejects[("5", "segment", "B2C_FAMILY")] == ("duplicate key: also on line 3", rejected)
    assert rejects[("6", "product", "")] == ("unknown key: use name and products", kept)
    reason, outcome = rejects[("7", "segment", "B2B_WITH_A_CODE_FAR_LONGER_THAN_32")]
    assert ("at most 32 characters" in reason, outcome) == (True, rejected)
    assert rejects[("8", "segment", "B2C_LIST")] == (
        "expected {name: ..., products: [...]}",
        rejected,
    )
    assert (result.read, result.imported, result.updated, result.rejected) == (7, 2, 1, 3)
    assert result.warnings == 3
    # A list with a bad item drops no cell; the accepted family row changed its own.
    assert current_matrix(products) == (
        2,
        {("B2C_YOUNG", "MOB_S"), ("B2C_YOUNG", "MOB_L"), ("B2C_FAMILY", "BB_100")},
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segments: [B2C_YOUNG]\n", "expected `segments:` with one entry per segment"),
        ("segment:\n  B2C_YOUNG: {products: [MOB_S]}\n", "has top-level key(s) segment"),
        ("segments: {B2C: {products: [MOB_S]}\n", "is not valid YAML"),
        ("segments:\n", "has no segments"),
        ("segments: {}\n", "has no segments"),
        ("# nothing\n", "expected `segments:`"),
    ],
)
def test_unusable_yaml_stops_before_anything_is_written(
    products: Engine, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(products, tmp_path, text)
    with products.connect() as conn:
        kinds = conn.execute(select(ImportRun.kind)).scalars().all()
    assert kinds == ["products"]
    assert versions(products) == 0


def test_a_mapping_is_for_csv_only(products: Engine, tmp_path: Path) -> None:
    mapping = write(tmp_path, "mapping.yaml", "segment: Seg\n")
    with pytest.raises(ImportFileError, match="mapping applies to CSV files only"):
        import_file(
            products, "matrix", write(tmp_path, "m.yaml", MATRIX_YAML), mapping_file=mapping
        )


def test_a_one_line_file(products: Engine, tmp_path: Path) -> None:
    result = run(products, tmp_path, "segments: {B2C_YOUNG: {products: [MOB_S, MOB_L]}}")
    assert (result.read, result.imported) == (1, 1)
    assert current_matrix(products) == (1, {("B2C_YOUNG", "MOB_S"), ("B2C_YOUNG", "MOB_L")})
    typo = run(products, tmp_path, "segments: {B2C_YOUNG: {products: [TV_XL]}}")
    assert (typo.read, typo.unchanged, typo.warnings) == (1, 1, 1)
    assert "not a known product code" in rejects_of(typo)[0]["reason"]
    assert versions(products) == 1, "the segment keeps its cells"
    bad = run(products, tmp_path, "segments: {[B2C]: {products: [MOB_S]}}")
    assert (bad.read, bad.rejected) == (1, 1)
    assert versions(products) == 1


def test_a_csv_without_segments_changes_nothing(products: Engine, tmp_path: Path) -> None:
    run(products, tmp_path, MATRIX_CSV, "matrix.csv")
    with pytest.raises(ImportFileError, match="has no segments"):
        run(products, tmp_path, "segment,MOB_S\n", "empty.csv")
    too_long = "B2C_WITH_A_CODE_FAR_LONGER_THAN_32"
    all_bad = run(products, tmp_path, f"segment,MOB_S\n{too_long},x\n,x\n", "bad.csv")
    assert (all_bad.read, all_bad.rejected) == (2, 2)
    assert current_matrix(products) == (1, CELLS)


def test_a_bad_name_or_mark_leaves_that_field_out(products: Engine, tmp_path: Path) -> None:
    run(products, tmp_path, MATRIX_CSV, "matrix.csv")
    long_name = "N" * 130
    text = (
        "segment,segment_name,MOB_S,MOB_L,BB_100\n"
        f"B2C_YOUNG,{long_name},x,x,\n"
        "B2C_NEW,New ones,x,?,x\n"
        "B2C_FAMILY,Families,,x,x\n"
    )
    result = run(products, tmp_path, text, "changed.csv")
    assert [(r["row"], r["field"], r["outcome"]) for r in rejects_of(result)] == [
        ("2", "segment_name", "row imported without this field"),
        ("3", "MOB_L", "row imported without this field"),
    ]
    assert (result.imported, result.updated, result.rejected, result.warnings) == (1, 0, 0, 2)
    with products.connect() as conn:
        names = dict(conn.execute(select(Segment.code, Segment.name)).all())
    assert names["B2C_YOUNG"] == "Young adults", "the stored name is kept"
    assert current_matrix(products) == (
        2,
        CELLS | {("B2C_NEW", "MOB_S"), ("B2C_NEW", "BB_100")},
    ), "a new segment's cell with a bad mark is empty"
