"""Storing checked rows: duplicate keys in a file rejected, the rest upserted by their
natural key, and each row's problems written to the reject file in file order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Engine, Table, select, update
from sqlalchemy.orm import Session

from store.db import transaction
from store.dialect import insert_many
from store.import_checks import Outcome, batched
from store.import_kinds import KindSpec
from store.results import FIELD_EMPTY, STORED_KEPT, ImportResult, Reject, RejectWriter

__all__ = ["TableWriter"]


class TableWriter:
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
            inserted, changed, stored = upsert(session, self.spec, records, self.columns, kept)
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


def upsert(
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
    for chunk in batched(iter(first_values), 900):
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
    insert_many(session.connection(), table, inserts)
    if updates:
        session.execute(update(model), updates)
    return len(inserts), len(updates), frozenset(existing.keys() & records.keys())
