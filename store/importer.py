"""The importer: CSV exports into the store, row by row validated, in batches.

A file-level problem (unreadable file, wrong encoding, missing required columns, a bad
mapping) stops the import before anything is written. Within a row, only a bad key or a
required field that is missing or unusable rejects the row; any other unusable field is
left out and the row is stored without it. Dropping a whole customer for a garbled phone
would drop their holdings and bills too ("unknown customer"), and with them the
customer's place in scoring and the churn figures.

A field left out is stored empty (its default: no number, no consent), also over a
value already stored: the old number may belong to someone else by now, the old consent
may have been withdrawn, so keeping either would let the dialer contact a customer on a
permission the file no longer gives (project issue 19, point 9). Only a descriptive
field (``KindSpec.keeps_stored``: a name, a region, a date that grants no contact) keeps
the value already stored. The reject file names the line, field, value and reason, and
what became of the row and the field. Rows are upserted by their natural key, so
importing the same file twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from store.csvsource import CsvSource, open_csv
from store.db import make_engine, transaction
from store.errors import ImportFileError, SchemaNotReadyError
from store.mapping import build_mapping, load_mapping_file
from store.matrix_import import YAML_SUFFIXES, MatrixImporter
from store.migrate import current_revision, head_revision
from store.models import (
    Base,
    Billing,
    Customer,
    DncEntry,
    Holding,
    ImportRun,
    Interaction,
    Product,
    Segment,
)
from store.results import (
    FIELD_DERIVED,
    FIELD_EMPTY,
    STORED_KEPT,
    ImportResult,
    Reject,
    RejectWriter,
)
from store.schemas import (
    BillingRow,
    CustomerRow,
    DncRow,
    FieldProblem,
    HoldingRow,
    InteractionRow,
    ProductRow,
    Row,
)

if TYPE_CHECKING:
    import psycopg

KINDS = ("products", "matrix", "customers", "holdings", "billing", "interactions", "dnc")
Progress = Callable[[int, int], None]
T = TypeVar("T")


class RowRejected(Exception):
    def __init__(self, field: str, value: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value or "", reason


@dataclass
class Refs:
    """Codes and external ids the rows refer to, resolved to database keys."""

    segments: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)

    def segment(self, code: str | None) -> int | None:
        if code is None:
            return None
        if code not in self.segments:
            raise RowRejected(
                "segment", code, "unknown segment: import the matrix first or fix the code"
            )
        return self.segments[code]

    def product(self, code: str) -> int:
        if code not in self.products:
            raise RowRejected(
                "product_code", code, "unknown product: import products first or fix the code"
            )
        return self.products[code]

    def customer(self, external_id: str) -> int:
        if external_id not in self.customers:
            raise RowRejected(
                "customer_id", external_id, "unknown customer: import customers first or fix the id"
            )
        return self.customers[external_id]


@dataclass(frozen=True)
class KindSpec:
    """How rows of one import kind become records of one table."""

    schema: type[Row]
    model: type[Base]
    file_key: tuple[str, ...]
    key: tuple[str, ...]
    to_record: Callable[[Any, Refs], dict[str, Any]]
    columns: Mapping[str, tuple[str, ...]]
    """Row field -> the table columns it writes; a field the file lacks writes nothing."""
    keeps_stored: frozenset[str] = frozenset()
    """Descriptive fields: left out of a row (unusable), they keep the stored values of
    the columns no other field of the file writes. Any other field left out is stored
    empty, so a field that allows or times contact never stays on an old value."""
    refers_to_customers: bool = False
    always: tuple[str, ...] = ()
    """Columns written on every update whatever the file holds."""
    lends: tuple[str, ...] = ()
    """Fields a stored record lends a row that needs them only because another field was
    left out: the customer's country, told by a number that turned out unusable. Named
    as the column; only for kinds keyed by one field of the file as written."""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.schema.model_fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.schema.model_fields.items() if f.is_required())


def _product(row: ProductRow, refs: Refs) -> dict[str, Any]:
    return {
        "code": row.product_code,
        "name": row.name,
        "family": row.family,
        "tier": row.tier,
        "monthly_price": row.monthly_price,
        "monthly_margin": row.monthly_margin,
    }


def _customer(row: CustomerRow, refs: Refs) -> dict[str, Any]:
    return {
        "external_id": row.customer_id,
        "name": row.name,
        "phone": row.phone,
        "country": row.country,
        "region": row.region,
        "timezone": row.timezone,
        "language": row.language,
        "customer_type": row.customer_type,
        "segment_id": refs.segment(row.segment),
        "call_consent": row.call_consent,
        "sms_consent": row.sms_consent,
        "signup_date": row.signup_date,
        "contract_end": row.contract_end,
        "churned": row.churned,
        "churned_on": row.churned_on,
    }


def _holding(row: HoldingRow, refs: Refs) -> dict[str, Any]:
    return {
        "customer_id": refs.customer(row.customer_id),
        "product_id": refs.product(row.product_code),
        "start_date": row.start_date,
        "end_date": row.end_date,
        "monthly_revenue": row.monthly_revenue,
    }


def _billing(row: BillingRow, refs: Refs) -> dict[str, Any]:
    return {
        "customer_id": refs.customer(row.customer_id),
        "month": row.month,
        "amount": row.amount,
        "days_late": row.days_late,
    }


def _interaction(row: InteractionRow, refs: Refs) -> dict[str, Any]:
    return {
        "external_id": row.interaction_id,
        "customer_id": refs.customer(row.customer_id),
        "kind": row.kind,
        "occurred_at": row.occurred_at,
        "channel": row.channel,
        "topic": row.topic,
        "score": row.score,
        "scale": row.scale,
        "closed_at": row.closed_at,
    }


def _dnc(row: DncRow, refs: Refs) -> dict[str, Any]:
    return {
        "phone": row.phone,
        "channel": row.channel,
        "source": row.source,
        "reason": row.reason,
        "revoked_at": None,
    }


def _same_names(*names: str, **renamed: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {**{n: (n,) for n in names}, **renamed}


SPECS: dict[str, KindSpec] = {
    "products": KindSpec(
        ProductRow,
        Product,
        ("product_code",),
        ("code",),
        _product,
        _same_names(
            "name", "family", "tier", "monthly_price", "monthly_margin", product_code=("code",)
        ),
        # a catalogue: nothing in it allows a contact
        keeps_stored=frozenset({"name", "family", "tier", "monthly_price", "monthly_margin"}),
    ),
    "customers": KindSpec(
        CustomerRow,
        Customer,
        ("customer_id",),
        ("external_id",),
        _customer,
        _same_names(
            "name",
            "region",
            "timezone",
            "language",
            "customer_type",
            "call_consent",
            "sms_consent",
            "signup_date",
            "contract_end",
            customer_id=("external_id",),
            phone=("phone", "country"),  # country is derived from the number when absent
            country=("country",),
            segment=("segment_id",),
            churned=("churned",),
            churned_on=("churned_on", "churned"),
        ),
        # Kept: what describes the customer. Stored empty instead: phone (the old number
        # may be someone else's now), call_consent and sms_consent (no consent is the only
        # safe reading of a garbled one), timezone (it sets the hours a call may ring:
        # without it the number's zones decide, or the customer is not called). The
        # country is never left out alone: the number tells it, or the record lends it.
        keeps_stored=frozenset(
            {
                "name",
                "region",  # a stale region only adds another region's holidays
                "language",
                "customer_type",
                "segment",  # what to offer, not whether to call
                "signup_date",
                "contract_end",
                "churned",
                "churned_on",
            }
        ),
        lends=("country",),
    ),
    "holdings": KindSpec(
        HoldingRow,
        Holding,
        ("customer_id", "product_code", "start_date"),
        ("customer_id", "product_id", "start_date"),
        _holding,
        _same_names(
            "customer_id", "start_date", "end_date", "monthly_revenue", product_code=("product_id",)
        ),
        keeps_stored=frozenset({"end_date", "monthly_revenue"}),  # what was held, for how much
        refers_to_customers=True,
    ),
    "billing": KindSpec(
        BillingRow,
        Billing,
        ("customer_id", "month"),
        ("customer_id", "month"),
        _billing,
        _same_names("customer_id", "month", "amount", "days_late"),
        keeps_stored=frozenset({"amount", "days_late"}),
        refers_to_customers=True,
    ),
    "interactions": KindSpec(
        InteractionRow,
        Interaction,
        ("customer_id", "kind", "occurred_at"),
        ("customer_id", "kind", "occurred_at"),
        _interaction,
        _same_names(
            "customer_id",
            "kind",
            "occurred_at",
            "channel",
            "topic",
            "score",
            "scale",
            "closed_at",
            interaction_id=("external_id",),
        ),
        # Not closed_at: a complaint not known to be closed is open, and an open complaint
        # keeps the customer off the lists that exclude them.
        keeps_stored=frozenset({"interaction_id", "channel", "topic", "score", "scale"}),
        refers_to_customers=True,
    ),
    "dnc": KindSpec(
        DncRow,
        DncEntry,
        ("phone", "channel"),
        ("phone", "channel"),
        _dnc,
        _same_names("phone", "channel", "source", "reason"),
        keeps_stored=frozenset({"source", "reason"}),  # the number stays blocked either way
        always=("revoked_at",),  # listing a number again takes back an earlier opt-in
    ),
}


def ensure_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at the code's migration head."""
    current = current_revision(engine)
    if current is None:
        raise SchemaNotReadyError("the database has no tables yet: run `telecampaign db upgrade`")
    if current != head_revision():
        raise SchemaNotReadyError(
            f"the database is at migration {current}, this version needs {head_revision()}: "
            "run `telecampaign db upgrade`"
        )


def import_file(
    engine: Engine,
    kind: str,
    path: Path,
    *,
    mapping_file: Path | None = None,
    rejects_path: Path | None = None,
    rejects_dir: Path | None = None,
    default_region: str = "US",
    encoding: str = "utf-8",
    batch_size: int = 5000,
    workers: int | None = 0,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one file of one kind; see the module docstring for the guarantees.

    With ``workers`` > 0, that many processes validate rows while this one stores
    them, in file order; None picks one per spare core for files large enough to pay
    for starting them. Worker processes are spawned, so a caller's main module must
    be importable (a script file or a console entry point).
    """
    if kind not in KINDS:
        raise ImportFileError(f"unknown import kind {kind!r}: use one of {', '.join(KINDS)}")
    ensure_schema(engine)
    yaml_matrix = kind == "matrix" and path.suffix.lower() in YAML_SUFFIXES
    source = open_csv(path, encoding, check_quotes=not yaml_matrix)
    entries = load_mapping_file(mapping_file) if mapping_file else None
    result = ImportResult(kind, path)
    if kind == "matrix":
        matrix = MatrixImporter(engine, source, entries)
        run_id = _start_run(engine, kind, path)
    else:
        check = RowCheck(kind, str(path), source.header, entries, default_region, _url_of(engine))
        checker = RowChecker(check, engine)  # raises on missing columns, before any write
        table = _TableWriter(engine, SPECS[kind], checker.columns)
        run_id = _start_run(engine, kind, path)
    default_rejects = (rejects_dir or path.parent) / f"{path.stem}.rejects.csv"
    try:
        with RejectWriter(rejects_path, default_rejects) as rejects:
            if kind == "matrix":
                for batch in _batched(source.rows(), batch_size):
                    matrix.write_batch(batch, result, rejects)
                matrix.finish(result, rejects)
            else:
                parallel = _worker_count(workers, source, engine)
                for outcomes in _checked(checker, check, source, batch_size, parallel):
                    table.write(outcomes, result, rejects)
                    if progress is not None:
                        progress(result.read, source.approx_rows)
            result.rejects_file = rejects.path
    except BaseException:
        _finish_run(engine, run_id, result, "failed")
        raise
    _finish_run(engine, run_id, result, "done")
    return result


_PARALLEL_FROM_ROWS = 50_000


def _worker_count(workers: int | None, source: CsvSource, engine: Engine) -> int:
    if workers is not None:
        return workers
    if source.approx_rows < _PARALLEL_FROM_ROWS or engine.url.database in (None, "", ":memory:"):
        return 0
    # This process parses and stores while the workers validate: one core stays ours.
    return max(1, (os.cpu_count() or 2) - 1)


def _checked(
    checker: RowChecker, check: RowCheck, source: CsvSource, batch_size: int, workers: int
) -> Iterator[list[Outcome]]:
    """Checked batches in file order, from this process or from a pool of workers."""
    batches = _batched(source.rows(), batch_size)
    if workers < 1:
        for batch in batches:
            yield checker.check(batch)
        return
    # spawn, not fork: the parent may hold threads (progress bar) and open connections.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=(check,)) as pool:
        pending: deque[Future[list[Outcome]]] = deque()
        for batch in batches:
            pending.append(pool.submit(_check_in_worker, batch))
            if len(pending) > 2 * workers:  # bounded read-ahead keeps memory flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


_WORKER_CHECKER: RowChecker | None = None


def _init_worker(check: RowCheck) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = RowChecker(check, make_engine(check.database_url))


def _check_in_worker(batch: list[tuple[int, dict[str, str] | str]]) -> list[Outcome]:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.check(batch)


def _url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


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
        self.refs = _load_refs(engine)

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
            self.refs.customers = _customer_ids(self.engine, wanted)
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


class _TableWriter:
    """Stores checked rows: duplicate keys in the file rejected, the rest upserted."""

    def __init__(self, engine: Engine, spec: KindSpec, columns: set[str]) -> None:
        self.engine = engine
        self.spec = spec
        self.columns = columns
        self.seen: dict[tuple[Any, ...], int] = {}

    def write(self, outcomes: list[Outcome], result: ImportResult, rejects: RejectWriter) -> None:
        admitted = [self._admit(o) for o in outcomes]
        records: dict[tuple[Any, ...], dict[str, Any]] = {}
        kept: dict[tuple[Any, ...], frozenset[str]] = {}
        for outcome in admitted:
            if outcome.record is not None:
                key = self._key(outcome.record)
                records[key] = outcome.record
                if outcome.kept:
                    kept[key] = outcome.kept
        if not records:
            self._report(admitted, frozenset(), result, rejects)
            return
        with transaction(self.engine) as session:
            inserted, changed, stored = _upsert(session, self.spec, records, self.columns, kept)
            # Whether a field was kept depends on whether the record was stored before;
            # written before the commit, so a reject file that fails keeps the batch out.
            self._report(admitted, stored, result, rejects)
        result.imported += inserted
        result.updated += changed

    def _admit(self, outcome: Outcome) -> Outcome:
        """The outcome, or its row rejected when an earlier line of the file had its key."""
        if outcome.record is None or outcome.file_key is None:
            return outcome
        first = self.seen.setdefault(outcome.file_key, outcome.line)
        if first == outcome.line:
            return outcome
        shown = "/".join(str(k) for k in outcome.file_key)
        reason = f"duplicate key: also on line {first}"
        return Outcome(
            outcome.line, None, None, [Reject(outcome.line, self.spec.file_key[0], shown, reason)]
        )

    def _key(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record[k] for k in self.spec.key)

    def _report(
        self,
        admitted: list[Outcome],
        stored: frozenset[tuple[Any, ...]],
        result: ImportResult,
        rejects: RejectWriter,
    ) -> None:
        """Count the rows and write their problems to the reject file, in file order."""
        for outcome in admitted:
            result.read += 1
            if outcome.record is None:
                rejects.add(result, outcome.problems)
                continue
            existed = self._key(outcome.record) in stored
            for problem, fate in zip(outcome.problems, outcome.fates, strict=True):
                said = FIELD_EMPTY if fate == STORED_KEPT and not existed else fate
                rejects.warn(result, [problem], said)


def _upsert(
    session: Session,
    spec: KindSpec,
    records: dict[tuple[Any, ...], dict[str, Any]],
    columns: set[str],
    kept: Mapping[tuple[Any, ...], frozenset[str]],
) -> tuple[int, int, frozenset[tuple[Any, ...]]]:
    """Insert new records, update changed ones; return (inserted, updated, the keys of
    the records that were stored already).

    New rows are inserted whole (schema defaults for what the file lacks); existing
    rows are compared and updated on the columns the file holds only, less the
    columns ``kept`` names for the record (its row's field for them was unusable).
    """
    model = spec.model
    table = cast(Table, model.__table__)
    key_cols = [table.c[k] for k in spec.key]
    first_values = {k[0] for k in records}
    value_cols = sorted(columns - set(spec.key))
    existing: dict[tuple[Any, ...], Any] = {}
    for chunk in _batched(iter(first_values), 900):
        stmt = select(table.c.id, *key_cols, *[table.c[c] for c in value_cols]).where(
            key_cols[0].in_(chunk)
        )
        for db_row in session.execute(stmt):
            existing[tuple(db_row[1 : 1 + len(key_cols)])] = db_row
    inserts, updates = [], []
    for key, record in records.items():
        current = existing.get(key)
        if current is None:
            inserts.append(record)
            continue
        stored = dict(zip(value_cols, current[1 + len(key_cols) :], strict=True))
        keep = kept.get(key, frozenset())
        new = {c: stored[c] if c in keep else record[c] for c in value_cols}
        if any(stored[c] != new[c] for c in value_cols):
            updates.append({"id": current[0], **new})
    if inserts and session.get_bind().dialect.name == "postgresql":
        _copy_into(session, table, inserts)
    elif inserts:
        # Core executemany: several times faster than the ORM's bulk path, and it
        # fills the columns' Python-side defaults the same way.
        session.connection().execute(insert(table), inserts)
    if updates:
        session.execute(update(model), updates)
    return len(inserts), len(updates), frozenset(existing.keys() & records.keys())


def _copy_into(session: Session, table: Table, records: list[dict[str, Any]]) -> None:
    """Insert through PostgreSQL's COPY, inside the session's transaction.

    Columns no record sets keep their database defaults; Python-side scalar defaults
    are filled in here, as Core's executemany would.
    """
    columns = [c for c in table.columns if c.name in records[0]]
    names = [c.name for c in columns]
    fill = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in records[0] and isinstance(c.default, ScalarElementColumnDefault)
    }
    names += list(fill)
    dbapi = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
    quoted = ", ".join(f'"{n}"' for n in names)
    with (
        dbapi.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
    ):
        for record in records:
            copy.write_row([_plain(record[c.name]) for c in columns] + list(fill.values()))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


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
        for chunk in _batched(iter(sorted(keys)), 900):
            stmt = select(key, *[table.c[c] for c in spec.lends]).where(key.in_(chunk))
            for db_row in conn.execute(stmt):
                values = zip(spec.lends, db_row[1:], strict=True)
                found[db_row[0]] = {name: v for name, v in values if v is not None}
    return found


def _load_refs(engine: Engine) -> Refs:
    with engine.connect() as conn:
        segments = dict(conn.execute(select(Segment.code, Segment.id)).all())
        products = dict(conn.execute(select(Product.code, Product.id)).all())
    return Refs(segments, products)


def _customer_ids(engine: Engine, external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for chunk in _batched(iter(sorted(external_ids)), 900):
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


def _start_run(engine: Engine, kind: str, path: Path) -> int:
    with transaction(engine) as session:
        run = ImportRun(kind=kind, source=str(path.resolve()))
        session.add(run)
        session.flush()
        return run.id


def _finish_run(engine: Engine, run_id: int, result: ImportResult, status: str) -> None:
    with transaction(engine) as session:
        session.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                read=result.read,
                imported=result.imported,
                updated=result.updated,
                rejected=result.rejected,
                rejects_file=None if result.rejects_file is None else str(result.rejects_file),
                status=status,
            )
        )


def _batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch


__all__ = ["KINDS", "ImportResult", "Reject", "ensure_schema", "import_file"]
