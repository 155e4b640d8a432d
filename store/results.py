"""What an import produced: counts, and the reject file for rows that could not be used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from store.csv_out import CsvOut
from store.private_files import open_private


@dataclass(frozen=True)
class Reject:
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
            "rejects_file": None if self.rejects_file is None else str(self.rejects_file),
        }


class RejectWriter:
    """Writes the reject CSV, opening it only when there is something to write.

    Rejected rows quote the customer's data as written: the file is private like the
    database, and a value a spreadsheet would run as a formula is guarded (``store.csv_out``).
    """

    HEADER = ("row", "field", "value", "reason")

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
        if self._writer is None:
            self._open()
        assert self._writer is not None
        result.rejected += 1
        for r in rejects:
            self._writer.writerow((r.row, r.field, r.value, r.reason))
