"""Reading flat CSV files: dialect and type detection, and the errors people see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.errors import ColumnNotFoundError, DataFileError
from scoring.flatcsv import read_flat_csv, sniff_dialect

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def write(tmp_path: Path, text: str, name: str = "data.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "id;amount;plan\n1;29,85;Basic\n2;;Premium\n3;1889,5;Basic\n")
    table = read_flat_csv(path)
    assert (table.delimiter, table.n_rows) == (";", 3)
    amount = table.column("amount")
    assert amount.kind == "numeric"
    assert amount.numbers is not None
    np.testing.assert_array_equal(amount.numbers, [29.85, np.nan, 1889.5])
    assert table.column("plan").kind == "categorical"


def test_tab_file_with_quoted_fields(tmp_path: Path) -> None:
    text = 'name\tnote\tscore\n"Smith, J"\t"said ""no"" twice"\t3\n"O\'Brien"\tplain\t4.5\n'
    table = read_flat_csv(write(tmp_path, text, "data.tsv"))
    assert (table.delimiter, table.quotechar) == ("\t", '"')
    assert table.column("name").text.tolist() == ["Smith, J", "O'Brien"]
    assert table.column("note").text.tolist() == ['said "no" twice', "plain"]
    assert table.column("score").kind == "numeric"


def test_comma_file_with_quoted_delimiters(tmp_path: Path) -> None:
    text = 'id,income,segment\n1,"$60K - $80K","a, b"\n2,"Less than $40K",c\n'
    table = read_flat_csv(write(tmp_path, text))
    assert table.delimiter == ","
    assert table.column("segment").text.tolist() == ["a, b", "c"]
    assert table.column("income").kind == "categorical"


def test_blank_cells_and_na_spellings_keep_a_column_numeric(tmp_path: Path) -> None:
    text = "tenure,total,flag\n1,29.85,x\n0, ,\n5,NA,y\n2,1e3,N/A\n"
    table = read_flat_csv(write(tmp_path, text))
    total = table.column("total")
    assert total.kind == "numeric"
    assert total.missing.tolist() == [False, True, True, False]
    # in a categorical column "N/A" is a value like any other; only blanks are missing
    flag = table.column("flag")
    assert flag.kind == "categorical"
    assert flag.missing.tolist() == [False, True, False, False]


def test_a_stray_word_makes_a_column_categorical(tmp_path: Path) -> None:
    table = read_flat_csv(write(tmp_path, "code,x\n12,1\n7b,2\n"))
    assert table.column("code").kind == "categorical"
    assert table.column("x").kind == "numeric"


def test_feature_matrix_puts_numbers_then_categories_with_nan_for_missing(
    tmp_path: Path,
) -> None:
    table = read_flat_csv(write(tmp_path, "a,b,c\n1,x,2\n,,3\n"))
    matrix = table.feature_matrix(["a", "c"], ["b"])
    assert matrix.shape == (2, 3)
    assert matrix[0].tolist() == [1.0, 2.0, "x"]
    assert np.isnan(matrix[1, 0])
    assert np.isnan(matrix[1, 2])


def test_bom_cp1252_empty_column_and_trailing_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("nom;ville;vide;\nRené;Besançon;;\n".encode("cp1252"))
    table = read_flat_csv(path)
    assert table.encoding == "cp1252"
    assert list(table.columns) == ["nom", "ville", "vide"]
    assert table.column("ville").text.tolist() == ["Besançon"]
    assert table.column("vide").kind == "empty"
    bom = write(tmp_path, "\ufeffid,x\n1,2\n", "bom.csv")
    assert list(read_flat_csv(bom).columns) == ["id", "x"]


def test_sniff_prefers_the_delimiter_that_gives_regular_rows() -> None:
    assert sniff_dialect("a;b;c\n1;2,5;3\n4;5,5;6\n") == (";", '"')
    assert sniff_dialect("a|b\n1|2\n") == ("|", '"')
    assert sniff_dialect("only\n1\n2\n") == (",", '"')


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,b\n", "no data rows"),
        (b"a,b\n1,2\n3\n", "data row 3 has 1 fields where the header has 2"),
        (b"a,a\n1,2\n", "repeats column 'a'"),
        (b"a,,b\n1,2,3\n", "header column 2 has no name"),
        (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
        (b"a,b\n1,\x00\n", "NUL bytes"),
        (b'a,b\n1,"open\n', "cannot be read as CSV"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=message):
        read_flat_csv(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        read_flat_csv(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match="is a folder"):
        read_flat_csv(tmp_path)


def test_unknown_column_names_the_close_matches(tmp_path: Path) -> None:
    table = read_flat_csv(write(tmp_path, "customerID,Churn\n1,No\n"))
    with pytest.raises(ColumnNotFoundError, match=r"no target 'churn': did you mean 'Churn'\?"):
        table.column("churn", "target")


def test_telco_types_are_detected_without_per_file_code() -> None:
    path = SHARED_DATA / "telco_customer_churn.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}: the Telco file is needed")
    table = read_flat_csv(path)
    assert table.n_rows == 7043
    assert table.names("numeric") == ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
    assert int(table.column("TotalCharges").missing.sum()) == 11
    assert table.column("Contract").kind == "categorical"
