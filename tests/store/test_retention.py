"""The retention purge removes each kind of contact data once it is older than its
period, not a second sooner, and records what it removed as counts."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from store.db import transaction
from store.models import (
    Attempt,
    AttemptStatus,
    Channel,
    Customer,
    Disposition,
    ImportRun,
    InboundMessage,
    RetentionRun,
)
from store.retention import RetentionPeriods, purge_expired
from tests.store.erasure_base import customer_id

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
PERIODS = RetentionPeriods(attempt_phones=10, notes=20, message_bodies=5, reject_files=3, exports=4)
SECOND = dt.timedelta(seconds=1)


def _ages(days: int) -> dict[str, dt.datetime]:
    """Exactly at the period (kept), a second past it (removed), and recent (kept)."""
    at = NOW - dt.timedelta(days=days)
    return {"at": at, "past": at - SECOND, "recent": NOW - dt.timedelta(hours=1)}


def _aged_file(path: Path, when: dt.datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("row,field,value,reason,outcome\n", encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


@pytest.fixture
def aged(base: Engine, tmp_path: Path) -> dict[str, Path]:
    """Each kind of data once at each age; returns the files by name."""
    ann = customer_id(base, "C1")
    files: dict[str, Path] = {}
    with transaction(base) as session:
        for n, when in enumerate(_ages(PERIODS.attempt_phones).values(), start=1):
            session.add(
                Attempt(
                    customer_id=ann,
                    channel=Channel.CALL,
                    phone=f"+1415555000{n}",
                    status=AttemptStatus.COMPLETED,
                    created_at=when,
                )
            )
        # a call still in flight keeps its number whatever its age: the carrier may ask
        session.add(
            Attempt(
                customer_id=ann,
                channel=Channel.CALL,
                phone="+14155550999",
                status=AttemptStatus.RINGING,
                created_at=NOW - dt.timedelta(days=400),
            )
        )
        for label, when in _ages(PERIODS.notes).items():
            session.add(Disposition(customer_id=ann, code="refused", notes=label, created_at=when))
        for label, when in _ages(PERIODS.message_bodies).items():
            session.add(
                InboundMessage(
                    provider_sid=f"SM{label}",
                    phone="+14155550134",
                    customer_id=ann,
                    body=label,
                    keyword="STOP",
                    reply="ok",
                    received_at=when,
                )
            )
        for label, when in _ages(PERIODS.reject_files).items():
            path = _aged_file(tmp_path / "elsewhere" / f"run-{label}.csv", NOW)
            files[f"run-{label}"] = path
            session.add(
                ImportRun(kind="customers", source="x.csv", started_at=when, rejects_file=str(path))
            )
            files[f"reject-{label}"] = _aged_file(tmp_path / "rejects" / f"{label}.csv", when)
        for label, when in _ages(PERIODS.exports).items():
            files[f"export-{label}"] = _aged_file(tmp_path / "exports" / f"{label}.csv", when)
    return files


def _purge(engine: Engine, tmp_path: Path) -> dict[str, int]:
    with transaction(engine) as session:
        return purge_expired(
            session,
            PERIODS,
            now=NOW,
            reject_dirs=[tmp_path / "rejects"],
            export_dirs=[tmp_path / "exports", tmp_path / "missing"],
        )


def test_each_kind_goes_a_second_after_its_period(
    base: Engine, tmp_path: Path, aged: dict[str, Path]
) -> None:
    removed = _purge(base, tmp_path)
    assert removed == {
        "attempt_phones": 1,
        "notes": 1,
        "message_bodies": 1,
        "reject_files": 2,  # the old run's file, and the old file in the folder
        "exports": 1,
    }
    with transaction(base) as session:
        # at the period, past it, recent; and the call in flight
        assert sorted(session.scalars(select(Attempt.phone))) == [
            "",
            "+14155550001",
            "+14155550003",
            "+14155550999",
        ]
        notes = set(session.scalars(select(Disposition.notes)))
        assert notes == {None, "at", "recent"}
        bodies = {
            (m.body, m.reply, m.phone, m.keyword) for m in session.scalars(select(InboundMessage))
        }
        assert bodies == {
            ("", None, "", "STOP"),
            ("at", "ok", "+14155550134", "STOP"),
            ("recent", "ok", "+14155550134", "STOP"),
        }
        still = set(
            session.scalars(select(ImportRun.rejects_file).where(ImportRun.source == "x.csv"))
        )
        assert still == {None, str(aged["run-at"]), str(aged["run-recent"])}
        recorded = session.scalars(select(RetentionRun)).one()
        assert (recorded.ran_at, recorded.removed) == (NOW, removed)
        # the customer and the attempts themselves stay: the reports count them
        assert session.scalar(select(Customer.name).where(Customer.external_id == "C1"))
    gone = {name for name, path in aged.items() if not path.exists()}
    assert gone == {"run-past", "reject-past", "export-past"}


def test_a_second_pass_removes_nothing_more(
    base: Engine, tmp_path: Path, aged: dict[str, Path]
) -> None:
    _purge(base, tmp_path)
    assert set(_purge(base, tmp_path).values()) == {0}


def test_a_period_under_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="notes must be at least 1 day"):
        RetentionPeriods(notes=0)
