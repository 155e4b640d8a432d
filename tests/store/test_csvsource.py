"""Reading an import file: encodings, byte-order marks, quoting; an unusable file leaves
the database untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.csvsource import open_csv
from store.errors import ImportFileError, SchemaNotReadyError
from store.importer import import_file
from store.models import (
    Customer,
    ImportRun,
)
from tests.store.import_files import (
    CUSTOMERS,
    count,
    write,
)


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
