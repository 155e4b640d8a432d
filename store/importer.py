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
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, update

from store.csvsource import CsvSource, open_csv
from store.db import transaction
from store.errors import ImportFileError, SchemaNotReadyError
from store.import_checks import Outcome, RowCheck, RowChecker, batched, check_in_worker, init_worker
from store.import_kinds import KINDS, SPECS
from store.import_suppression import has_erasures, screen_erased
from store.import_writer import TableWriter
from store.mapping import load_mapping_file
from store.matrix_import import YAML_SUFFIXES, MatrixImporter
from store.migrate import current_revision, head_revision
from store.models import ImportRun
from store.results import ImportResult, Reject, RejectWriter
from store.suppression import SuppressionKey

Progress = Callable[[int, int], None]


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
    suppression: SuppressionKey | None = None,
) -> ImportResult:
    """Import one file of one kind; see the module docstring for the guarantees.

    Customers erased on request do not come back (``store.import_suppression``):
    ``suppression`` is the site key their hashes were made with; without it, customers
    are not imported into a store that has erased anyone.

    With ``workers`` > 0, that many processes validate rows while this one stores
    them, in file order; None picks one per spare core for files large enough to pay
    for starting them. Worker processes are spawned, so a caller's main module must
    be importable (a script file or a console entry point).
    """
    if kind not in KINDS:
        raise ImportFileError(f"unknown import kind {kind!r}: use one of {', '.join(KINDS)}")
    ensure_schema(engine)
    if kind == "customers" and suppression is None and has_erasures(engine):
        raise ImportFileError(
            "this store has customers erased on request, and no suppression key was given to "
            "check the file against them: import through `telecampaign import`, which has it"
        )
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
        table = TableWriter(engine, SPECS[kind], checker.columns)
        run_id = _start_run(engine, kind, path)
    default_rejects = (rejects_dir or path.parent) / f"{path.stem}.rejects.csv"
    try:
        with RejectWriter(rejects_path, default_rejects) as rejects:
            if kind == "matrix":
                for batch in batched(source.rows(), batch_size):
                    matrix.write_batch(batch, result, rejects)
                matrix.finish(result, rejects)
            else:
                parallel = _worker_count(workers, source, engine)
                for outcomes in _checked(checker, check, source, batch_size, parallel):
                    if kind == "customers" and suppression is not None:
                        outcomes = screen_erased(engine, suppression, outcomes)
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
    batches = batched(source.rows(), batch_size)
    if workers < 1:
        for batch in batches:
            yield checker.check(batch)
        return
    # spawn, not fork: the parent may hold threads (progress bar) and open connections.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=init_worker, initargs=(check,)) as pool:
        pending: deque[Future[list[Outcome]]] = deque()
        for batch in batches:
            pending.append(pool.submit(check_in_worker, batch))
            if len(pending) > 2 * workers:  # bounded read-ahead keeps memory flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


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


__all__ = ["KINDS", "ImportResult", "Reject", "ensure_schema", "import_file"]
