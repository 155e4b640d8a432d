"""Cleaning CSV files on disk of an erased person: reject files and exports.

A reject line names a value from the imported file (a name, a number as it was typed, a
customer id), and an export has a line per customer; a line with a cell that is one of
the erased values is removed. Numbers are compared by their digits, so ``(415) 555-0134``
in a reject file matches ``+14155550134``. Files are rewritten whole, 0600
(``store.csv_out``), and only when a line goes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.csv_out import csv_file, unguard
from store.models import ImportRun

__all__ = ["scrub_files", "stored_files"]

_NOT_DIGITS = re.compile(r"\D")
# fewer digits than this are no phone number: a row number or an amount must not match
_MIN_PHONE_DIGITS = 7


def scrub_files(paths: Iterable[Path], values: set[str]) -> int:
    """Remove the lines of these CSV files that hold one of ``values``; returns how many
    lines went. A file that is missing or not UTF-8 text is left alone."""
    exact = {v.strip().casefold() for v in values if v.strip()}
    digits = {d for d in (_digits(v) for v in values if v.startswith("+")) if d}
    removed = 0
    for path in dict.fromkeys(paths):
        removed += _scrub(path, exact, digits)
    return removed


def _scrub(path: Path, exact: set[str], digits: set[str]) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    rows = list(csv.reader(io.StringIO(text, newline="")))
    kept = [row for row in rows if not _holds(row, exact, digits)]
    if len(kept) == len(rows):
        return 0
    with csv_file(path) as out:
        # the cells as read, guards included: they are written back as they were
        out.writerows([unguard(cell) for cell in row] for row in kept)
    return len(rows) - len(kept)


def _holds(row: list[str], exact: set[str], digits: set[str]) -> bool:
    for cell in row:
        plain = unguard(cell).strip()
        if plain.casefold() in exact:
            return True
        cell_digits = _digits(plain)
        if len(cell_digits) >= _MIN_PHONE_DIGITS and any(
            cell_digits == d or d.endswith(cell_digits) for d in digits
        ):
            return True
    return False


def _digits(text: str) -> str:
    return _NOT_DIGITS.sub("", text)


def stored_files(session: Session, folders: Iterable[Path]) -> list[Path]:
    """The CSV files on disk that may hold customers: every import run's reject file,
    wherever it was written, and the CSV files in ``folders`` (rejects, exports)."""
    paths = [Path(str(p)) for p in session.scalars(select(ImportRun.rejects_file)) if p]
    for folder in folders:
        if folder.is_dir():
            paths += sorted(p for p in folder.glob("*.csv") if p.is_file() and not p.is_symlink())
    return [p for p in dict.fromkeys(paths) if p.is_file()]
