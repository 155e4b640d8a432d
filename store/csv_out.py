"""The one CSV writer of the product: spreadsheet-safe cells in owner-only files.

Every CSV telecampaign writes (list exports, report CSVs, reject files, the demo data)
goes through here. A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is a formula to Excel, LibreOffice and Google Sheets: a customer named
``=HYPERLINK(...)`` would run the moment a manager opens the export. Such a cell is
written with a leading apostrophe, which spreadsheets show as text.

E.164 numbers (``+14155550134``) and plain numbers (``-12.5``, ``+3``) are left as they
are: they are not formulas, and the systems that read our files need them as numbers.

The importer reads the apostrophe off again (``unguard``), so a file we wrote imports
the values it was written from. To keep that exact, a cell that already looks guarded
(``'=x``) gets one more apostrophe.

The rule is two regular expressions that Python's ``re`` and RE2 (pyarrow, which writes
the demo data) read alike: ``FORMULA_START`` matched at the start of the cell, and not
``PLAIN_NUMBER`` matched by the whole cell.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from store.private_files import open_private

__all__ = [
    "FORMULA_START",
    "PLAIN_NUMBER",
    "CsvOut",
    "csv_file",
    "csv_text",
    "guard",
    "unguard",
]

FORMULA_START = r"'*[=+\-@\t\r]"
PLAIN_NUMBER = r"'*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"

_FORMULA = re.compile(FORMULA_START)
_NUMBER = re.compile(PLAIN_NUMBER)


def _needs_guard(text: str) -> bool:
    return _FORMULA.match(text) is not None and _NUMBER.fullmatch(text) is None


def guard(cell: Any) -> Any:
    """The cell as it may be written: a text that a spreadsheet would run gets a ``'``."""
    if isinstance(cell, str) and _needs_guard(cell):
        return "'" + cell
    return cell


def unguard(text: str) -> str:
    """The text a guarded cell was written from; any other text as it is."""
    if text.startswith("'") and _needs_guard(text[1:]):
        return text[1:]
    return text


class CsvOut:
    """A ``csv.writer`` whose every cell is guarded."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([guard(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


@contextmanager
def csv_file(path: Path) -> Iterator[CsvOut]:
    """Write the CSV file ``path`` (UTF-8), readable by its owner only."""
    with open_private(path, newline="") as handle:
        yield CsvOut(handle)


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """The rows as CSV text, for a download that never touches the disk."""
    out = io.StringIO(newline="")
    CsvOut(out).writerows(rows)
    return out.getvalue()
