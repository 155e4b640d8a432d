"""What an import produced: counts, and the reject file for what could not be used.

The reject file has a line per problem: ``row,field,value,reason,outcome``. The outcome
says what became of the row and the field: ``row rejected`` (a bad key, or a required
field missing or unusable: nothing of the row was stored); for any other bad field the
row was stored, and ``row imported, this field left empty`` (its default: no number, no
consent, also over a value stored before), ``row imported, stored value kept`` (a
descriptive field of a record stored before) or ``row imported, this field derived from
the others`` (the country from the number). The matrix, whose cells keep their state,
says ``row imported without this field``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from store.csv_out import CsvOut
from store.private_files import open_private

ROW_REJECTED = "row rejected"
FIELD_EMPTY = "row imported, this field left empty"
STORED_KEPT = "row imported, stored value kept"
FIELD_DERIVED = "row imported, this field derived from the others"
FIELD_LEFT_OUT = "row imported without this field"


@dataclass(frozen=True)
class Reject:
    """A problem with one field of a row (or with the whole row, field ``(row)``)."""

    row: int
    field: str
    value: str
    reason: str


@dataclass
class ImportResult:
    kind: str
    source: Path
    read: int = 0
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    warnings: int = 0
    """Fields left out of rows that were stored: lines of the reject file, not rows."""
    rejects_file: Path | None = None

    @property
    def unchanged(self) -> int:
        return self.read - self.imported - self.updated - self.rejected

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "read": self.read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "rejects_file": None if self.rejects_file is None else str(self.rejects_file),
        }


class RejectWriter:
    """Writes the reject CSV, opening it only when there is something to write.

    Rejected rows quote the customer's data as written: the file is private like the
    database, and a value a spreadsheet would run as a formula is guarded (``store.csv_out``).
    """

    HEADER = ("row", "field", "value", "reason", "outcome")

    def __init__(self, requested: Path | None, default: Path) -> None:
        self.requested = requested
        self.target = requested or default
        self.path: Path | None = None
        self._handle: TextIO | None = None
        self._writer: CsvOut | None = None

    def __enter__(self) -> RejectWriter:
        if self.requested is not None:
            self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def _open(self) -> None:
        self._handle = open_private(self.target, newline="")
        self._writer = CsvOut(self._handle)
        self._writer.writerow(self.HEADER)
        self.path = self.target

    def add(self, result: ImportResult, rejects: Iterable[Reject]) -> None:
        """One rejected row, with every problem it had."""
        result.rejected += 1
        self._write(rejects, ROW_REJECTED)

    def warn(
        self, result: ImportResult, left_out: list[Reject], outcome: str = FIELD_LEFT_OUT
    ) -> None:
        """Fields a stored row was imported without; nothing is opened for none."""
        if left_out:
            result.warnings += self._write(left_out, outcome)

    def _write(self, problems: Iterable[Reject], outcome: str) -> int:
        if self._writer is None:
            self._open()
        assert self._writer is not None
        lines = 0
        for r in problems:
            self._writer.writerow((r.row, r.field, r.value, r.reason, outcome))
            lines += 1
        return lines
