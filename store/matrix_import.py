"""Importing the segment x product matrix: segments as rows, products as columns.

As CSV, one column per product:

    segment,segment_name,MOB_S,MOB_L,BB_100
    B2C_YOUNG,Young adults,x,,x

A mark (x, 1, yes, true) targets the product at the segment. Or as YAML (a file
ending in .yaml or .yml), one entry per segment listing its products:

    segments:
      B2C_YOUNG: {name: Young adults, products: [MOB_S, BB_100]}

Each import that changes the matrix stores a new version; the newest version is in
force. Segments whose row is rejected (a bad code, the row unreadable) keep the cells
they had, so a bad row never drops targeting silently; a file without a single segment
is refused for the same reason. A bad mark, name or product code only leaves that
field out, as for every import: the segment is stored, a cell with a bad mark keeps the
state it had (none for a new segment), a YAML product list with a bad item drops none
of the segment's cells, and the reject file lists the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
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
YAML_SUFFIXES = frozenset({".yaml", ".yml"})


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


@dataclass
class SegmentEntry:
    """One segment as the file gives it, before it is checked against the store."""

    line: int
    values: dict[str, str]
    """Fields of MatrixRow (segment, segment_name) as written."""
    products: set[str]
    problems: list[Reject] = field(default_factory=list)
    """Why the segment is rejected."""
    left_out: list[Reject] = field(default_factory=list)
    """Fields the segment is stored without."""
    kept: set[str] = field(default_factory=set)
    """Products whose cell keeps its stored state: their mark was unusable."""


def read_yaml_matrix(path: Path, encoding: str, products: Mapping[str, int]) -> list[SegmentEntry]:
    """The segments of a YAML matrix file; raises ImportFileError when the file is unusable.

    Codes are read as written, from the YAML nodes: a plain ``NO`` or ``0123`` would
    otherwise come back as a boolean or an octal number.
    """
    try:
        root = yaml.compose(path.read_text(encoding=encoding), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ImportFileError(f"{path}: is not valid YAML: {exc}") from exc
    shape = "expected `segments:` with one entry per segment, e.g. B2C_YOUNG: {products: [MOB_S]}"
    if not isinstance(root, yaml.MappingNode):
        raise ImportFileError(f"{path}: {shape}")
    keys = [key.value if isinstance(key, yaml.ScalarNode) else "?" for key, _ in root.value]
    if keys != ["segments"]:
        raise ImportFileError(f"{path}: has top-level key(s) {', '.join(keys)}: {shape}")
    segments = root.value[0][1]
    if not isinstance(segments, yaml.MappingNode) or not segments.value:
        raise ImportFileError(f"{path}: has no segments: {shape}")
    return [_yaml_entry(key, value, products) for key, value in segments.value]


def _yaml_entry(key: yaml.Node, value: yaml.Node, products: Mapping[str, int]) -> SegmentEntry:
    line = key.start_mark.line + 1
    code = key.value if isinstance(key, yaml.ScalarNode) else ""
    entry = SegmentEntry(line, {"segment": code}, set())
    if not isinstance(key, yaml.ScalarNode):
        entry.problems.append(Reject(line, "segment", "", "a segment code must be plain text"))
        return entry
    if _is_null(value):
        return entry  # a segment listed without products targets nothing
    if not isinstance(value, yaml.MappingNode):
        entry.problems.append(
            Reject(line, "segment", code, "expected {name: ..., products: [...]}")
        )
        return entry
    for item_key, item in value.value:
        name = item_key.value if isinstance(item_key, yaml.ScalarNode) else ""
        if name == "name" and isinstance(item, yaml.ScalarNode):
            if not _is_null(item):
                entry.values["segment_name"] = item.value
        elif name == "products" and isinstance(item, yaml.SequenceNode):
            for product in item.value:
                if not isinstance(product, yaml.ScalarNode):
                    entry.left_out.append(
                        Reject(line, "products", "", "list product codes as plain text")
                    )
                elif product.value not in products:
                    entry.left_out.append(
                        Reject(
                            line,
                            "products",
                            product.value,
                            f"not a known product code (segment {code}): import products "
                            "first or fix the code",
                        )
                    )
                else:
                    entry.products.add(product.value)
        elif name == "products" and _is_null(item):
            pass
        elif name == "name":
            entry.left_out.append(Reject(line, name, "", "expected plain text"))
        elif name == "products":
            entry.left_out.append(Reject(line, name, "", "expected a list of product codes"))
        else:
            entry.left_out.append(Reject(line, name, "", "unknown key: use name and products"))
    if any(p.field == "products" for p in entry.left_out):
        # A list with a bad item cannot tell which cells it meant to drop: none are.
        entry.kept = set(products)
    return entry


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class MatrixImporter:
    """Reads the matrix from a CSV or YAML file and stores a new version if it changed."""

    def __init__(
        self, engine: Engine, source: CsvSource, entries: Mapping[str, Any] | None
    ) -> None:
        with engine.connect() as conn:
            self.products = dict(conn.execute(select(Product.code, Product.id)).all())
            self.segments = {
                code: (sid, name)
                for code, sid, name in conn.execute(select(Segment.code, Segment.id, Segment.name))
            }
        self.engine = engine
        self.source = source
        self.rows: dict[str, tuple[str | None, set[str], set[str]]] = {}
        """Segment -> (name or None to keep it, products targeted, products kept as stored)."""
        self.lines: dict[str, int] = {}
        self.rejected_segments: set[str] = set()
        self.yaml_entries: list[SegmentEntry] | None = None
        if source.path.suffix.lower() in YAML_SUFFIXES:
            if entries:
                raise ImportFileError(f"{source.path}: a column mapping applies to CSV files only")
            # The caller opened the file as CSV too; its "rows" mean nothing here.
            self.yaml_entries = read_yaml_matrix(source.path, source.encoding, self.products)
            return
        mapping = build_mapping(tuple(MatrixRow.model_fields), source.header, entries)
        if "segment" not in {s.name for s in mapping.specs}:
            raise ImportFileError(
                f"{source.path}: missing required column segment; the file has "
                f"{', '.join(source.header)}"
            )
        self.product_columns = [c for c in source.header if c not in mapping.source_columns]
        unknown = [c for c in self.product_columns if c not in self.products]
        if not self.product_columns:
            raise ImportFileError(f"{source.path}: no product columns: one column per product code")
        if unknown:
            raise ImportFileError(
                f"{source.path}: column(s) {', '.join(unknown)} are not known product codes: "
                "import products first, or fix the header"
            )
        self.read_row = mapping.reader()

    def write_batch(
        self,
        batch: list[tuple[int, dict[str, str] | str]],
        result: ImportResult,
        rejects: RejectWriter,
    ) -> None:
        if self.yaml_entries is not None:
            self._take_yaml(result, rejects)
            return
        for line, raw in batch:
            if isinstance(raw, str):
                result.read += 1
                rejects.add(result, [Reject(line, "(row)", "", raw)])
                continue
            self._take(self._csv_entry(line, raw), result, rejects)

    def _take_yaml(self, result: ImportResult, rejects: RejectWriter) -> None:
        entries, self.yaml_entries = self.yaml_entries or [], []
        for entry in entries:
            self._take(entry, result, rejects)

    def _take(self, entry: SegmentEntry, result: ImportResult, rejects: RejectWriter) -> None:
        result.read += 1
        rejected, left_out = self._check(entry)
        if rejected:
            rejects.add(result, [*rejected, *left_out])
        else:
            rejects.warn(result, left_out)

    def _csv_entry(self, line: int, raw: dict[str, str]) -> SegmentEntry:
        values, errors = self.read_row(raw)
        entry = SegmentEntry(line, {k: v for k, v in values.items() if v is not None}, set())
        for name, reason in errors.items():
            problem = Reject(line, name, raw.get(name, ""), reason)
            (entry.problems if name == "segment" else entry.left_out).append(problem)
        for code in self.product_columns:
            mark = raw[code].strip().lower()
            if mark in MARKED:
                entry.products.add(code)
            elif mark not in UNMARKED:
                entry.kept.add(code)
                entry.left_out.append(
                    Reject(
                        line, code, raw[code], "mark targeted products with x, leave others blank"
                    )
                )
        return entry

    def _check(self, entry: SegmentEntry) -> tuple[list[Reject], list[Reject]]:
        """Keep the segment's row; return why it is rejected and the fields it is kept without."""
        line, rejected, left_out = entry.line, list(entry.problems), list(entry.left_out)
        values = dict(entry.values)
        row = None
        while row is None:
            try:
                row = MatrixRow.model_validate(values)
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
                fields = [(str(e["loc"][0]) if e["loc"] else "(row)", e["msg"]) for e in errors]
                found = [Reject(line, f, values.get(f) or "", msg) for f, msg in fields]
                if any(p.field != "segment_name" for p in found):
                    rejected += found  # a bad code: there is no segment to keep
                    break
                left_out += found
                values.pop("segment_name")
        if row is not None and row.segment in self.lines:
            rejected.append(
                Reject(
                    line,
                    "segment",
                    row.segment,
                    f"duplicate key: also on line {self.lines[row.segment]}",
                )
            )
        if rejected or row is None:
            if row is not None:
                self.rejected_segments.add(row.segment)
            return rejected, left_out
        self.lines[row.segment] = line
        self.rows[row.segment] = (row.segment_name, entry.products, entry.kept)
        return [], left_out

    def finish(self, result: ImportResult, rejects: RejectWriter) -> None:
        if self.yaml_entries:
            self._take_yaml(result, rejects)  # a one-line file has no CSV rows to take them
        if result.read == 0:
            raise ImportFileError(
                f"{self.source.path}: has no segments: the matrix in force is unchanged"
            )
        if not self.rows:
            return  # every row rejected: storing a version would drop every segment
        version, cells = current_matrix(self.engine)
        kept = {(s, p) for s, p in cells if s in self.rejected_segments and s not in self.rows}
        kept |= {(s, p) for s, p in cells if s in self.rows and p in self.rows[s][2]}
        wanted = kept | {(s, p) for s, (_, products, _) in self.rows.items() for p in products}
        with transaction(self.engine) as session:
            ids: dict[str, int] = {}
            for code, (name, products, unsure) in self.rows.items():
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
                if renamed or before != products | (before & unsure):
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
