"""Keeping contact data only as long as set: the purge of what has expired.

Each kind of data has its own period (``RetentionPeriods``, in days, from the site's
settings). Data older than its period goes; what the reports count stays:

- the number on a call or text, once the attempt is over (the attempt row stays);
- the agent's notes on a disposition (code, reason and stage stay);
- the body of a text a customer sent, our reply and the number it came from (the
  keyword stays, and an opt-out it made is on the do-not-call list);
- reject files of imports, and files in the exports folder.

"Older than" is strict: a note written exactly ``notes`` days ago is kept until the next
pass. Each pass is recorded in ``retention_runs`` with its counts, never the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.db import rows_changed
from store.models import (
    Attempt,
    AttemptStatus,
    Disposition,
    ImportRun,
    InboundMessage,
    RetentionRun,
)

__all__ = ["LIVE_STATUSES", "RetentionPeriods", "purge_expired"]

# an attempt in one of these may still hear from the carrier about its number
LIVE_STATUSES = (
    AttemptStatus.SCHEDULED,
    AttemptStatus.QUEUED,
    AttemptStatus.INITIATED,
    AttemptStatus.RINGING,
    AttemptStatus.IN_PROGRESS,
    AttemptStatus.SENT,
)


@dataclass(frozen=True)
class RetentionPeriods:
    """How many days each kind of contact data is kept."""

    attempt_phones: int = 365
    notes: int = 365
    message_bodies: int = 90
    reject_files: int = 30
    exports: int = 30

    def __post_init__(self) -> None:
        for name, days in asdict(self).items():
            if days < 1:
                raise ValueError(f"retention period {name} must be at least 1 day, not {days}")

    def cutoff(self, name: str, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(days=int(getattr(self, name)))


def purge_expired(
    session: Session,
    periods: RetentionPeriods,
    *,
    now: dt.datetime,
    reject_dirs: Sequence[Path] = (),
    export_dirs: Sequence[Path] = (),
) -> dict[str, int]:
    """Remove what has outlived its period and record the counts; returns them."""
    removed = {
        "attempt_phones": _attempt_phones(session, periods.cutoff("attempt_phones", now)),
        "notes": _notes(session, periods.cutoff("notes", now)),
        "message_bodies": _messages(session, periods.cutoff("message_bodies", now)),
        "reject_files": _reject_files(session, periods.cutoff("reject_files", now), reject_dirs),
        "exports": sum(_old_files(d, periods.cutoff("exports", now)) for d in export_dirs),
    }
    session.add(RetentionRun(ran_at=now, removed=removed))
    session.flush()
    return removed


def _attempt_phones(session: Session, cutoff: dt.datetime) -> int:
    stmt = (
        update(Attempt)
        .where(
            Attempt.created_at < cutoff,
            Attempt.phone != "",
            Attempt.status.not_in(LIVE_STATUSES),
        )
        .values(phone="")
    )
    return rows_changed(session, stmt)


def _notes(session: Session, cutoff: dt.datetime) -> int:
    stmt = (
        update(Disposition)
        .where(Disposition.created_at < cutoff, Disposition.notes.is_not(None))
        .values(notes=None)
    )
    return rows_changed(session, stmt)


def _messages(session: Session, cutoff: dt.datetime) -> int:
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.received_at < cutoff, InboundMessage.body != "")
        .values(body="", reply=None, phone="")
    )
    return rows_changed(session, stmt)


def _reject_files(session: Session, cutoff: dt.datetime, folders: Sequence[Path]) -> int:
    """The reject files of import runs started before the cutoff, wherever they were
    written, then any file left in the reject folders older than the cutoff."""
    runs = session.execute(
        select(ImportRun.id, ImportRun.rejects_file).where(
            ImportRun.started_at < cutoff, ImportRun.rejects_file.is_not(None)
        )
    ).all()
    removed = 0
    for run_id, name in runs:
        removed += _unlink(Path(str(name)))
        session.execute(update(ImportRun).where(ImportRun.id == run_id).values(rejects_file=None))
    return removed + sum(_old_files(folder, cutoff) for folder in folders)


def _old_files(folder: Path, cutoff: dt.datetime) -> int:
    if not folder.is_dir():
        return 0
    stamp = cutoff.timestamp()
    return sum(
        _unlink(path)
        for path in folder.iterdir()
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < stamp
    )


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
