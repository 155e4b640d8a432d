"""Importing the segment x product matrix: segments as rows, products as columns.

    segment,segment_name,MOB_S,MOB_L,BB_100
    B2C_YOUNG,Young adults,x,,x

A mark (x, 1, yes, true) targets the product at the segment. Each import that changes
the matrix stores a new version; the newest version is in force. Segments whose row
is rejected keep the cells they had, so a bad row never drops targeting silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from store.csvsource import CsvSource
from store.db import transaction
from store.errors import ImportFileError
from store.mapping import build_mapping
from store.models import MatrixCell, MatrixVersion, Product, Segment
from store.results import ImportResult, Reject, RejectWriter
from store.schemas import MatrixRow

MARKED = frozenset({"x", "1", "yes", "y", "true", "✓", "✔", "•"})
UNMARKED = frozenset({"", "0", "no", "n", "false", "-"})


def current_matrix(engine: Engine) -> tuple[int | None, set[tuple[str, str]]]:
    """The version in force and its (segment code, product code) cells."""
    with engine.connect() as conn:
        version = conn.execute(select(func.max(MatrixVersion.version))).scalar()
        if version is None:
            return None, set()
        stmt = (
            select(Segment.code, Product.code)
            .join(MatrixCell, MatrixCell.segment_id == Segment.id)
            .join(Product, MatrixCell.product_id == Product.id)
            .join(MatrixVersion, MatrixCell.matrix_version_id == MatrixVersion.id)
            .where(MatrixVersion.version == version)
        )
        return version, {(s, p) for s, p in conn.execute(stmt)}


class MatrixImporter:
    def __init__(
        self, engine: Engine, source: CsvSource, entries: Mapping[str, Any] | None
    ) -> None:
        mapping = build_mapping(tuple(MatrixRow.model_fields), source.header, entries)
        if "segment" not in {s.name for s in mapping.specs}:
            raise ImportFileError(
                f"{source.path}: missing required column segment; the file has "
                f"{', '.join(source.header)}"
            )
        with engine.connect() as conn:
            self.products = dict(conn.execute(select(Product.code, Product.id)).all())
            self.segments = {
                code: (sid, name)
                for code, sid, name in conn.execute(select(Segment.code, Segment.id, Segment.name))
            }
        self.product_columns = [c for c in source.header if c not in mapping.source_columns]
        unknown = [c for c in self.product_columns if c not in self.products]
        if not self.product_columns:
            raise ImportFileError(f"{source.path}: no product columns: one column per product code")
        if unknown:
            raise ImportFileError(
                f"{source.path}: column(s) {', '.join(unknown)} are not known product codes: "
                "import products first, or fix the header"
            )
        self.engine = engine
        self.source = source
        self.read_row = mapping.reader()
        self.rows: dict[str, tuple[str | None, set[str]]] = {}
        self.lines: dict[str, int] = {}
        self.rejected_segments: set[str] = set()

    def write_batch(
        self,
        batch: list[tuple[int, dict[str, str] | str]],
        result: ImportResult,
        rejects: RejectWriter,
    ) -> None:
        for line, raw in batch:
            result.read += 1
            if isinstance(raw, str):
                rejects.add(result, [Reject(line, "(row)", "", raw)])
                continue
            values, errors = self.read_row(raw)
            problems = [Reject(line, f, raw.get(f, ""), r) for f, r in errors.items()]
            row = None
            try:
                row = MatrixRow.model_validate({k: v for k, v in values.items() if v is not None})
            except ValidationError as exc:
                problems += [
                    Reject(
                        line,
                        str(e["loc"][0]) if e["loc"] else "(row)",
                        values.get("segment") or "",
                        e["msg"],
                    )
                    for e in exc.errors(include_url=False)
                ]
            targeted: set[str] = set()
            for code in self.product_columns:
                mark = raw[code].strip().lower()
                if mark in MARKED:
                    targeted.add(code)
                elif mark not in UNMARKED:
                    problems.append(
                        Reject(
                            line,
                            code,
                            raw[code],
                            "mark targeted products with x, leave others blank",
                        )
                    )
            if row is not None and row.segment in self.lines:
                problems.append(
                    Reject(
                        line,
                        "segment",
                        row.segment,
                        f"duplicate key: also on line {self.lines[row.segment]}",
                    )
                )
            if problems or row is None:
                if row is not None:
                    self.rejected_segments.add(row.segment)
                rejects.add(result, problems)
                continue
            self.lines[row.segment] = line
            self.rows[row.segment] = (row.segment_name, targeted)

    def finish(self, result: ImportResult) -> None:
        version, cells = current_matrix(self.engine)
        kept = {(s, p) for s, p in cells if s in self.rejected_segments and s not in self.rows}
        wanted = kept | {(s, p) for s, (_, products) in self.rows.items() for p in products}
        with transaction(self.engine) as session:
            ids: dict[str, int] = {}
            for code, (name, products) in self.rows.items():
                stored = self.segments.get(code)
                if stored is None:
                    segment = Segment(code=code, name=name or code)
                    session.add(segment)
                    session.flush()
                    ids[code] = segment.id
                    result.imported += 1
                    continue
                ids[code] = stored[0]
                before = {p for s, p in cells if s == code}
                renamed = name is not None and name != stored[1]
                if renamed:
                    session.get_one(Segment, stored[0]).name = name or code
                if renamed or before != products:
                    result.updated += 1
            if wanted == cells:
                return
            for code in {s for s, _ in kept}:
                ids[code] = self.segments[code][0]
            new = MatrixVersion(version=(version or 0) + 1, source=str(self.source.path.name))
            new.cells = [
                MatrixCell(segment_id=ids[s], product_id=self.products[p])
                for s, p in sorted(wanted)
            ]
            session.add(new)
