"""The audit trail: ``record`` adds rows, reading filters them, and the database refuses
to change or delete one (on SQLite here, and on PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from store.audit import (
    Actor,
    ActorKind,
    AuditAction,
    AuditFilter,
    count_events,
    list_events,
    record,
    record_apart,
)
from store.db import transaction
from store.models import AuditEvent

MAX = Actor(ActorKind.USER, "max", user_id=7, address="203.0.113.9")
CRM = Actor(ActorKind.API_KEY, "crm", api_key_id=3, address="198.51.100.4")


def test_a_recorded_event_keeps_who_when_where_what(engine: Engine) -> None:
    before = dt.datetime.now(dt.UTC)
    record_apart(
        engine, MAX, AuditAction.LAUNCH, target=("campaign", 12), detail={"name": "Spring"}
    )
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent)).one()
    assert (event.actor_kind, event.actor_name, event.user_id, event.api_key_id) == (
        "user",
        "max",
        7,
        None,
    )
    assert (event.address, event.action, event.target_type, event.target_id) == (
        "203.0.113.9",
        "launch",
        "campaign",
        "12",
    )
    assert event.detail == {"name": "Spring"}
    assert before <= event.at <= dt.datetime.now(dt.UTC)


def test_an_event_commits_with_the_work_or_not_at_all(engine: Engine) -> None:
    def failing_work() -> None:
        with transaction(engine) as session:
            record(session, MAX, AuditAction.PLAN)
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    with Session(engine) as session:
        assert count_events(session, AuditFilter()) == 0


def test_detail_takes_plain_short_values_only(engine: Engine) -> None:
    with pytest.raises(TypeError, match="plain values only"):
        record_apart(engine, MAX, AuditAction.EXPORT, detail={"rows": [1, 2]})
    with pytest.raises(ValueError, match="ids only"):
        record_apart(engine, MAX, AuditAction.EXPORT, detail={"note": "x" * 2000})


def test_the_trail_filters_by_actor_action_and_time(engine: Engine) -> None:
    record_apart(engine, MAX, AuditAction.LOGIN)
    record_apart(engine, CRM, AuditAction.APIKEY_USE, detail={"status": 200})
    record_apart(engine, Actor.cli(), AuditAction.IMPORT, detail={"kind": "customers"})
    with Session(engine) as session:
        everything = list_events(session, AuditFilter())
        assert [e.action for e in everything] == ["import", "apikey.use", "login"]  # newest first
        assert everything[0].actor.startswith("cli:")
        by_key = list_events(session, AuditFilter(actor="apikey:crm"))
        assert [(e.actor, e.target, e.detail) for e in by_key] == [
            ("apikey:crm", None, {"status": 200})
        ]
        assert [e.actor for e in list_events(session, AuditFilter(actions=["login"]))] == ["max"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        assert list_events(session, AuditFilter(since=later)) == []
        assert count_events(session, AuditFilter(actor="max")) == 1
        assert len(list_events(session, AuditFilter(), limit=1, offset=1)) == 1


def test_the_database_refuses_to_change_or_delete_an_event(engine: Engine) -> None:
    record_apart(engine, MAX, AuditAction.LOGIN)
    for statement in (
        update(AuditEvent).values(actor_name="someone else"),
        delete(AuditEvent),
        text("UPDATE audit_events SET action = 'nothing'"),
        text("DELETE FROM audit_events"),
    ):
        with pytest.raises(DBAPIError, match="append-only"), transaction(engine) as session:
            session.execute(statement)
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent)).one()
    assert (event.actor_name, event.action) == ("max", "login")
