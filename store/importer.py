"""The importer: CSV exports into the store, row by row validated, in batches.

A file-level problem (unreadable file, wrong encoding, missing required columns, a bad
mapping) stops the import before anything is written. Within a row, only a bad key or a
required field that is missing or unusable rejects the row; any other unusable field is
left out and the row is stored without it: a new record has it empty, one already
stored keeps what it had. Either way the reject file names the line, field, value and
reason, and what became of the row. Dropping a whole customer for a garbled phone
would drop their holdings and bills too ("unknown customer"), and with them the
customer's place in scoring and the churn figures. Rows are upserted by their natural
key, so importing the same file twice changes nothing.
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
from store.results import ImportResult, Reject, RejectWriter
from store.schemas import (
    BillingRow,
    CustomerRow,
    DncRow,
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
    """Row field -> the table columns it writes; a field the file lacks writes nothing.

    A field left out of a row (unusable) keeps the stored values of the columns that no
    other field of the file writes."""
    refers_to_customers: bool = False
    always: tuple[str, ...] = ()
    """Columns written on every update whatever the file holds."""

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
        refers_to_customers=True,
    ),
    "billing": KindSpec(
        BillingRow,
        Billing,
        ("customer_id", "month"),
        ("customer_id", "month"),
        _billing,
        _same_names("customer_id", "month", "amount", "days_late"),
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
        refers_to_customers=True,
    ),
    "dnc": KindSpec(
        DncRow,
        DncEntry,
        ("phone", "channel"),
        ("phone", "channel"),
        _dnc,
        _same_names("phone", "channel", "source", "reason"),
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
    """Columns a record already stored keeps, for the fields left out."""


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
        valid: list[tuple[int, Row, list[Reject]]] = []
        for line, raw in batch:
            if isinstance(raw, str):
                outcomes.append(Outcome(line, None, None, [Reject(line, "(row)", "", raw)]))
                continue
            row, problems = self._validate(line, raw)
            if row is None:
                outcomes.append(Outcome(line, None, None, problems))
            else:
                valid.append((line, row, problems))
        if spec.refers_to_customers:
            wanted = {getattr(r, "customer_id") for _, r, _ in valid}  # noqa: B009
            self.refs.customers = _customer_ids(self.engine, wanted)
        outcomes += [self._resolve(line, row, left_out) for line, row, left_out in valid]
        outcomes.sort(key=lambda o: o.line)
        return outcomes

    def _validate(self, line: int, raw: dict[str, str]) -> tuple[Row | None, list[Reject]]:
        """The row without its unusable optional fields, and those; or None and why.

        Leaving a field out can make another unusable (a score without its scale) or a
        required one missing (the country, with no phone to tell it), so the row is
        checked again until it passes or a field it cannot do without fails.
        """
        values, mapping_errors = self.read_row(raw)
        problems = [Reject(line, f, raw.get(f, ""), r) for f, r in mapping_errors.items()]
        if any(p.field in self.must_have for p in problems):
            return None, problems
        present = {k: v for k, v in values.items() if v is not None and k not in mapping_errors}
        while True:
            try:
                return self.spec.schema.model_validate(present, context=self.context), problems
            except ValidationError as exc:
                found = [_reject(line, err, values) for err in exc.errors(include_url=False)]
            problems += found
            # A field that is already blank fails only because a value is required there.
            if any(p.field in self.must_have or p.field not in present for p in found):
                return None, problems
            for p in found:
                present.pop(p.field, None)

    def _resolve(self, line: int, row: Row, left_out: list[Reject]) -> Outcome:
        """The row's record, with the codes it refers to resolved to database keys.

        An unknown code in a field the row can do without (a customer's segment) leaves
        that field out; in its key (a holding's customer or product) it rejects the row.
        """
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
        return Outcome(line, file_key, record, left_out, self._kept(left_out))

    def _kept(self, left_out: list[Reject]) -> frozenset[str]:
        """The columns only the left-out fields write: a stored record keeps their values."""
        if not left_out:
            return frozenset()
        fields = {p.field for p in left_out}
        theirs = {c for f in fields for c in self.spec.columns.get(f, ())}
        written = {c for f in self.mapped - fields for c in self.spec.columns.get(f, ())}
        return frozenset(theirs - written - set(self.spec.always))


class _TableWriter:
    """Stores checked rows: duplicate keys in the file rejected, the rest upserted."""

    def __init__(self, engine: Engine, spec: KindSpec, columns: set[str]) -> None:
        self.engine = engine
        self.spec = spec
        self.columns = columns
        self.seen: dict[tuple[Any, ...], int] = {}

    def write(self, outcomes: list[Outcome], result: ImportResult, rejects: RejectWriter) -> None:
        spec = self.spec
        records: dict[tuple[Any, ...], dict[str, Any]] = {}
        kept: dict[tuple[Any, ...], frozenset[str]] = {}
        for line, file_key, record, problems, keep in outcomes:
            result.read += 1
            if record is None or file_key is None:
                rejects.add(result, problems)
                continue
            first = self.seen.get(file_key)
            if first is not None:
                shown = "/".join(str(k) for k in file_key)
                reason = f"duplicate key: also on line {first}"
                rejects.add(result, [Reject(line, spec.file_key[0], shown, reason)])
                continue
            self.seen[file_key] = line
            rejects.warn(result, problems)
            key = tuple(record[k] for k in spec.key)
            records[key] = record
            if keep:
                kept[key] = keep
        if records:
            with transaction(self.engine) as session:
                inserted, changed = _upsert(session, spec, records, self.columns, kept)
            result.imported += inserted
            result.updated += changed


def _upsert(
    session: Session,
    spec: KindSpec,
    records: dict[tuple[Any, ...], dict[str, Any]],
    columns: set[str],
    kept: Mapping[tuple[Any, ...], frozenset[str]],
) -> tuple[int, int]:
    """Insert new records, update changed ones; return (inserted, updated).

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
    return len(inserts), len(updates)


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
    if not loc and ": " in reason:
        # Checks across fields name the field they blame as "field: reason".
        name, reason = reason.split(": ", 1)
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
