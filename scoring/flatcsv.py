"""Reading any flat CSV file into typed columns, with no code written per file.

Everything is detected from the file itself:

- encoding: UTF-8 (with or without a byte-order mark), else Windows-1252, else Latin-1;
- delimiter and quote character: each of `, ; TAB |` with `"` or `'` parses a sample of the
  file, and the pair that gives the most rows as wide as the header wins, provided it
  splits the header at all and fits at least half the rows; else it is a one-column file;
- column types: a column is numeric when every filled cell is a number (`12`, `-3.5`,
  `1e-4`, or `3,5` with a decimal comma when the delimiter is not a comma); anything
  else is categorical. Blank cells are missing in both. In a numeric column the usual
  spellings of "no value" (`NA`, `N/A`, `NaN`, `null`, `None`, `?`) are missing too, so
  a few of them do not turn a numeric column into a categorical one; in a categorical
  column they stay ordinary values. A column with no filled cell at all is `empty`.

The whole file is held in memory: this reader is for modelling files (thousands to a few
million rows), not for streaming imports, which `store.csvsource` does.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from scoring.errors import ColumnNotFoundError, DataFileError

__all__ = ["Column", "FlatTable", "read_flat_csv", "sniff_dialect"]

Kind = Literal["numeric", "categorical", "empty"]

_DELIMITERS = (",", ";", "\t", "|")
_QUOTES = ('"', "'")
_SAMPLE_CHARS = 1 << 16
_NA_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "?"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA_NUMBER = re.compile(r"[+-]?\d+(?:,\d+)?(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class Column:
    """One column: the stripped cell text ("" when blank) and, when numeric, the numbers."""

    name: str
    kind: Kind
    text: NDArray[np.object_]
    numbers: NDArray[np.float64] | None = None

    @property
    def missing(self) -> NDArray[np.bool_]:
        if self.numbers is not None:
            return np.isnan(self.numbers)
        return np.asarray(self.text == "", dtype=bool)

    def take(self, rows: NDArray[np.intp] | NDArray[np.bool_]) -> Column:
        numbers = None if self.numbers is None else self.numbers[rows]
        return Column(self.name, self.kind, self.text[rows], numbers)


@dataclass(frozen=True)
class FlatTable:
    """A CSV file read whole: typed columns in file order, and how the file was read."""

    path: Path
    encoding: str
    delimiter: str
    quotechar: str
    columns: dict[str, Column]
    n_rows: int

    def column(self, name: str, role: str = "column") -> Column:
        """The column called `name`; a missing one is an error naming close matches."""
        if name in self.columns:
            return self.columns[name]
        raise ColumnNotFoundError(_not_found(self.path, name, role, list(self.columns)))

    def names(self, kind: Kind) -> list[str]:
        return [c.name for c in self.columns.values() if c.kind == kind]

    def take(self, rows: NDArray[np.intp] | NDArray[np.bool_]) -> FlatTable:
        """The same table restricted to some rows (a boolean mask or row indices)."""
        columns = {name: col.take(rows) for name, col in self.columns.items()}
        n_rows = len(next(iter(columns.values())).text) if columns else 0
        return FlatTable(self.path, self.encoding, self.delimiter, self.quotechar, columns, n_rows)

    def feature_matrix(self, numeric: Sequence[str], categorical: Sequence[str]) -> NDArray[Any]:
        """Columns `numeric` then `categorical` as one object array, missing cells as NaN.

        This is the input `scoring.pipeline` pipelines expect: numbers are floats,
        categories are strings, and both kinds of missing cell are `nan`.
        """
        matrix = np.empty((self.n_rows, len(numeric) + len(categorical)), dtype=object)
        for j, name in enumerate(numeric):
            numbers = self.column(name).numbers
            if numbers is None:
                raise ValueError(f"column {name!r} is not numeric")
            matrix[:, j] = numbers
        for j, name in enumerate(categorical, start=len(numeric)):
            col = self.column(name)
            values = col.text.copy()
            values[col.missing] = np.nan
            matrix[:, j] = values
        return matrix


def read_flat_csv(path: Path, *, encoding: str | None = None) -> FlatTable:
    """Read a delimited text file with a header row into typed columns."""
    text, encoding = _decode(path, encoding)
    if not text.strip():
        raise DataFileError(f"{path}: is empty: expected a header row and data rows")
    delimiter, quotechar = sniff_dialect(text[:_SAMPLE_CHARS], complete=len(text) <= _SAMPLE_CHARS)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar, strict=True)
    try:
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DataFileError(
            f"{path}: line {reader.line_num} cannot be read as CSV ({exc}): "
            "check for an unclosed quote"
        ) from None
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise DataFileError(f"{path}: has a header but no data rows")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataFileError(
                f"{path}: data row {number} has {len(row)} fields where the header has "
                f"{len(header)} (delimiter {delimiter!r}): every row must have one value per "
                "column; quote values that contain the delimiter"
            )
    cells = list(zip(*body, strict=True))
    columns: dict[str, Column] = {}
    for index, name in enumerate(header):
        values = np.array([v.strip() for v in cells[index]], dtype=object)
        if not name:
            if (values == "").all():
                continue  # a trailing delimiter on every line: nothing lost
            raise DataFileError(f"{path}: header column {index + 1} has no name but holds data")
        if name in columns:
            raise DataFileError(f"{path}: the header repeats column {name!r}: rename one of them")
        columns[name] = _typed(name, values, decimal_comma_allowed=delimiter != ",")
    return FlatTable(path, encoding, delimiter, quotechar, columns, len(body))


def sniff_dialect(sample: str, *, complete: bool = True) -> tuple[str, str]:
    """The (delimiter, quote character) that splits `sample` into the most regular rows."""
    best: tuple[tuple[float, float, int], str, str] | None = None
    for priority, (delimiter, quote) in enumerate((d, q) for q in _QUOTES for d in _DELIMITERS):
        try:
            rows = [
                row
                for row in csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar=quote)
                if any(row)
            ]
        except csv.Error:
            continue
        if not complete and len(rows) > 2:
            rows = rows[:-1]  # the sample may end in the middle of a line
        if not rows:
            continue
        width = len(rows[0])
        regular = sum(len(row) == width for row in rows) / len(rows)
        # a real delimiter splits the header and most rows alike; splitting nothing
        # (one column) is the fallback, even though it is always "regular"
        score = (float(width > 1 and regular >= 0.5), regular, -priority)
        if best is None or score > best[0]:
            best = (score, delimiter, quote)
    if best is None:
        return ",", '"'
    return best[1], best[2]


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read: {exc.strerror}") from None
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise DataFileError(
            f"{path}: is an Excel workbook or ZIP archive, not CSV: save it as CSV (UTF-8)"
        )
    if b"\x00" in raw[:_SAMPLE_CHARS]:
        raise DataFileError(f"{path}: contains NUL bytes: this is a binary file, not CSV")
    candidates = [encoding] if encoding else ["utf-8-sig", "cp1252", "latin-1"]
    for candidate in candidates:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
        except LookupError:
            raise DataFileError(
                f"unknown encoding {candidate!r}: use e.g. utf-8 or cp1252"
            ) from None
    raise DataFileError(f"{path}: is not valid {encoding}: re-save it as UTF-8")


def _typed(name: str, values: NDArray[np.object_], *, decimal_comma_allowed: bool) -> Column:
    distinct = {v for v in set(values.tolist()) if v}
    if not distinct:
        return Column(name, "empty", values, np.full(len(values), np.nan))
    filled = {v for v in distinct if v.lower() not in _NA_TOKENS}
    parse: dict[str, float] | None = None
    if filled and all(_NUMBER.fullmatch(v) for v in filled):
        parse = {v: float(v) for v in filled}
    elif (
        decimal_comma_allowed
        and filled
        and any("," in v for v in filled)
        and all(_COMMA_NUMBER.fullmatch(v) for v in filled)
    ):
        parse = {v: float(v.replace(",", ".")) for v in filled}
    if parse is None:
        return Column(name, "categorical", values)
    numbers = np.fromiter(
        (parse.get(v, np.nan) for v in values), dtype=np.float64, count=len(values)
    )
    return Column(name, "numeric", values, numbers)


def _not_found(path: Path, name: str, role: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [n for n in names if n.lower() == name.strip().lower() and n not in close]
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return (
        f"{path}: has no {role} {name!r}: {hint}its columns are: {shown} (names are case-sensitive)"
    )
