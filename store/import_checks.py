"""Row validation and field warnings: each row checked against its kind's schema,
unusable optional fields left out (or lent by the stored record), codes resolved."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple, TypeVar, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Engine, Table, select

from store.db import make_engine
from store.errors import ImportFileError
from store.import_kinds import SPECS, KindSpec, Refs, RowRejected
from store.mapping import build_mapping
from store.models import Customer, Product, Segment
from store.results import FIELD_DERIVED, FIELD_EMPTY, STORED_KEPT, Reject
from store.schemas import FieldProblem, Row

__all__ = ["Outcome", "RowCheck", "RowChecker", "batched", "check_in_worker", "init_worker"]

T = TypeVar("T")


class Outcome(NamedTuple):
    """One checked row."""

    line: int
    file_key: tuple[Any, ...] | None
    """The row's key in the file; None when the row is rejected."""
    record: dict[str, Any] | None
    """What to store; None when the row is rejected."""
    problems: list[Reject]
    """Why the row is rejected, or the fields it is stored without."""
    kept: frozenset[str] = frozenset()
    """Columns a record already stored keeps, for the descriptive fields left out."""
    fates: tuple[str, ...] = ()
    """What became of each field left out, for the reject file: ``STORED_KEPT`` means
    kept if the record was stored already (a new one has it empty)."""


class _Checked(NamedTuple):
    """A row validated: the row (None when rejected), its problems, what it borrowed."""

    row: Row | None
    problems: list[Reject]
    borrowed: frozenset[str] = frozenset()
    """Fields the stored record lent the row (``KindSpec.lends``)."""


@dataclass(frozen=True)
class RowCheck:
    """Everything needed to check rows, small enough to send to a worker process."""

    kind: str
    source: str
    header: tuple[str, ...]
    entries: Mapping[str, Any] | None
    default_region: str
    database_url: str


class RowChecker:
    """Validates rows and resolves the codes and ids they refer to."""

    def __init__(self, check: RowCheck, engine: Engine) -> None:
        spec = SPECS[check.kind]
        mapping = build_mapping(spec.fields, check.header, check.entries)
        mapped = {s.name for s in mapping.specs}
        missing = [f for f in spec.required if f not in mapped]
        if missing:
            raise ImportFileError(
                f"{check.source}: missing required column(s) {', '.join(missing)}; the file has "
                f"{', '.join(check.header)}; rename the columns or map them with --mapping"
            )
        self.engine = engine
        self.spec = spec
        self.mapped = mapped
        self.must_have = set(spec.required) | set(spec.file_key)
        self.read_row = mapping.reader()
        self.context = {"default_region": check.default_region}
        self.columns = {c for f in mapped for c in spec.columns.get(f, ())} | set(spec.always)
        self.refs = load_refs(engine)

    def check(self, batch: list[tuple[int, dict[str, str] | str]]) -> list[Outcome]:
        spec = self.spec
        outcomes: list[Outcome] = []
        valid: list[tuple[int, _Checked]] = []
        waiting: list[tuple[int, dict[str, str], _Checked]] = []
        for line, raw in batch:
            if isinstance(raw, str):
                outcomes.append(Outcome(line, None, None, [Reject(line, "(row)", "", raw)]))
                continue
            checked = self._validate(line, raw)
            if checked.row is not None:
                valid.append((line, checked))
            elif self._may_borrow(checked.problems):
                waiting.append((line, raw, checked))
            else:
                outcomes.append(Outcome(line, None, None, checked.problems))
        for line, checked in self._with_stored(waiting):
            if checked.row is None:
                outcomes.append(Outcome(line, None, None, checked.problems))
            else:
                valid.append((line, checked))
        if spec.refers_to_customers:
            wanted = {getattr(c.row, "customer_id") for _, c in valid}  # noqa: B009
            self.refs.customers = customer_ids(self.engine, wanted)
        outcomes += [self._resolve(line, checked) for line, checked in valid]
        outcomes.sort(key=lambda o: o.line)
        return outcomes

    def _validate(
        self, line: int, raw: dict[str, str], lent: Mapping[str, Any] | None = None
    ) -> _Checked:
        """The row without its unusable optional fields, and those; or None and why.

        Leaving a field out can make another unusable (a score without its scale) or a
        required one missing (the country, with no phone to tell it), so the row is
        checked again until it passes or a field it cannot do without fails. A field
        missing so that the stored record can ``lend`` takes the stored value, once.
        """
        values, mapping_errors = self.read_row(raw)
        problems = [Reject(line, f, raw.get(f, ""), r) for f, r in mapping_errors.items()]
        if any(p.field in self.must_have for p in problems):
            return _Checked(None, problems)
        present = {k: v for k, v in values.items() if v is not None and k not in mapping_errors}
        unlent = dict(lent or {})
        while True:
            try:
                row = self.spec.schema.model_validate(present, context=self.context)
                return _Checked(row, problems, frozenset(set(lent or {}) - set(unlent)))
            except ValidationError as exc:
                found = [_reject(line, err, values) for err in exc.errors(include_url=False)]
            found = _borrow(found, present, unlent)
            problems += found
            # A field that is already blank fails only because a value is required there.
            if any(p.field in self.must_have or p.field not in present for p in found):
                return _Checked(None, problems)
            for p in found:
                present.pop(p.field, None)

    def _resolve(self, line: int, checked: _Checked) -> Outcome:
        """The row's record, with the codes it refers to resolved to database keys.

        An unknown code in a field the row can do without (a customer's segment) leaves
        that field out; in its key (a holding's customer or product) it rejects the row.
        """
        row, left_out = checked.row, checked.problems
        assert row is not None
        while True:
            try:
                record = self.spec.to_record(row, self.refs)
                break
            except RowRejected as exc:
                problem = Reject(line, exc.field, exc.value, exc.reason)
                if exc.field in self.must_have or getattr(row, exc.field, None) is None:
                    return Outcome(line, None, None, [*left_out, problem])
                left_out = [*left_out, problem]
                row = row.model_copy(update={exc.field: None})
        file_key = tuple(getattr(row, k) for k in self.spec.file_key)
        kept = self._kept(left_out)
        fates = tuple(self._fate(p.field, left_out, kept, checked.borrowed) for p in left_out)
        return Outcome(line, file_key, record, left_out, kept, fates)

    def _kept(self, left_out: list[Reject]) -> frozenset[str]:
        """The columns only descriptive left-out fields write: a stored record keeps them.

        A column another field writes is written, also when that field was left out and
        is stored empty: emptied wins over kept.
        """
        keeping = {p.field for p in left_out} & self.spec.keeps_stored
        theirs = self._columns_of(keeping)
        written = self._columns_of(self.mapped - keeping)
        return frozenset(theirs - written - set(self.spec.always))

    def _fate(
        self, field: str, left_out: list[Reject], kept: frozenset[str], borrowed: frozenset[str]
    ) -> str:
        """What the reject file says became of a left-out field (``STORED_KEPT`` stands
        for "kept if stored": the writer knows whether the record was)."""
        if field in borrowed:
            return STORED_KEPT  # the stored record lent its value: the row has it
        columns = self._columns_of({field})
        good = self._columns_of(self.mapped - {p.field for p in left_out})
        if columns and columns <= good:
            return FIELD_DERIVED  # the country from the number, churned from churned_on
        return STORED_KEPT if columns & kept else FIELD_EMPTY

    def _columns_of(self, fields: set[str]) -> set[str]:
        return {c for f in fields for c in self.spec.columns.get(f, ())}

    def _may_borrow(self, problems: list[Reject]) -> bool:
        """Whether a stored record might save the row: it lacks only a field one lends."""
        lends = self.spec.lends
        return any(p.field in lends for p in problems) and not any(
            p.field in self.must_have for p in problems
        )

    def _with_stored(
        self, waiting: list[tuple[int, dict[str, str], _Checked]]
    ) -> Iterator[tuple[int, _Checked]]:
        """The waiting rows checked again with what their stored records lend them.

        A customer already stored keeps the country it has when the number that told
        it is unusable, so a garbled number empties the number instead of rejecting the
        row and leaving the old number callable; a new customer is rejected as before.
        """
        if not waiting:
            return
        keys = {line: self._key_text(raw) for line, raw, _ in waiting}
        stored = _stored_values(self.engine, self.spec, set(keys.values()))
        for line, raw, checked in waiting:
            lent = stored.get(keys[line])
            yield line, self._validate(line, raw, lent) if lent else checked

    def _key_text(self, raw: dict[str, str]) -> str:
        values, _ = self.read_row(raw)
        return values.get(self.spec.file_key[0]) or ""


_WORKER_CHECKER: RowChecker | None = None


def init_worker(check: RowCheck) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = RowChecker(check, make_engine(check.database_url))


def check_in_worker(batch: list[tuple[int, dict[str, str] | str]]) -> list[Outcome]:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.check(batch)


def _borrow(found: list[Reject], present: dict[str, Any], unlent: dict[str, Any]) -> list[Reject]:
    """Fill the blank fields ``unlent`` has (each once); return the problems left."""
    borrowed = {p.field for p in found if p.field not in present and p.field in unlent}
    for name in borrowed:
        present[name] = unlent.pop(name)
    return [p for p in found if p.field not in borrowed]


def _stored_values(engine: Engine, spec: KindSpec, keys: set[str]) -> dict[str, dict[str, Any]]:
    """The ``spec.lends`` values of the records stored under these one-column keys."""
    table = cast(Table, spec.model.__table__)
    key = table.c[spec.key[0]]
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk in batched(iter(sorted(keys)), 900):
            stmt = select(key, *[table.c[c] for c in spec.lends]).where(key.in_(chunk))
            for db_row in conn.execute(stmt):
                values = zip(spec.lends, db_row[1:], strict=True)
                found[db_row[0]] = {name: v for name, v in values if v is not None}
    return found


def load_refs(engine: Engine) -> Refs:
    with engine.connect() as conn:
        segments = dict(conn.execute(select(Segment.code, Segment.id)).all())
        products = dict(conn.execute(select(Product.code, Product.id)).all())
    return Refs(segments, products)


def customer_ids(engine: Engine, external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for chunk in batched(iter(sorted(external_ids)), 900):
            stmt = select(Customer.external_id, Customer.id).where(Customer.external_id.in_(chunk))
            found.update(conn.execute(stmt).all())
    return found


_DATE = "is not a date: write YYYY-MM-DD, or give the format in the mapping"
_DATETIME = "is not a date-time: write YYYY-MM-DDTHH:MM:SS with Z or an offset"
_FRIENDLY = {
    "missing": "is required but blank",
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "float_parsing": "is not a number (use a dot for decimals, no currency signs)",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "bool_parsing": "is not yes/no (or true/false, 1/0)",
}


def _reject(line: int, err: ErrorDetails, values: Mapping[str, str | None]) -> Reject:
    loc = err["loc"]
    reason = _FRIENDLY.get(err["type"], err["msg"].removeprefix("Value error, "))
    name = str(loc[0]) if loc else "(row)"
    blamed = err.get("ctx", {}).get("error")
    if isinstance(blamed, FieldProblem):  # a check across fields names the one it blames
        name, reason = blamed.field, blamed.reason
    value = values.get(name)
    return Reject(line, name, "" if value is None else value, reason)


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch
