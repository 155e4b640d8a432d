"""The audit trail: who did what, when and from where. ``record`` is the one way in.

Every audited action, from the web app, the API or the command line, calls
``record(session, actor, action, target=..., detail=...)`` inside the transaction of the
work it describes where it can (so the work and its row commit together), or
``record_apart(engine, ...)`` when the work ran elsewhere. Rows are never changed: there
is no update or delete here, and the database refuses them (a trigger, migration 0006).

What a row may hold: the actor (a user, an API key, ``cli:OSUSER``), the client's
address, the action, a target by type and id, and a small ``detail`` of plain values
(counts, ids, flags). No customer data beyond ids: ``detail`` takes scalars only and is
kept short, so a name or a phone has no field to land in by accident.
"""

from __future__ import annotations

import datetime as dt
import enum
import getpass
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, func, insert, select
from sqlalchemy.orm import Session

from store.db import transaction
from store.models import AuditEvent

__all__ = [
    "MAX_DETAIL_CHARS",
    "Actor",
    "ActorKind",
    "AuditAction",
    "AuditFilter",
    "AuditRow",
    "count_events",
    "list_events",
    "record",
    "record_apart",
]

MAX_DETAIL_CHARS = 1000  # a few ids and counts; anything longer is a mistake


class ActorKind(enum.StrEnum):
    USER = "user"  # a person logged in to the web app
    API_KEY = "apikey"  # a machine client with a bearer key
    CLI = "cli"  # someone at the command line, by their OS account
    ANONYMOUS = "anonymous"  # nobody yet: a failed login


class AuditAction(enum.StrEnum):
    """What the trail records. Settings changes and erasure have their names here too."""

    LOGIN = "login"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    USER_ADD = "user.add"
    USER_PASSWORD = "user.password"  # noqa: S105 (an action's name)
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    SETTINGS_CHANGE = "settings.change"
    PLAN = "plan"
    LAUNCH = "launch"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    IMPORT = "import"
    EXPORT = "export"
    ERASE = "erase"
    CARD_VIEW = "card.view"  # a customer's card seen outside a live call
    APIKEY_ADD = "apikey.add"
    APIKEY_REVOKE = "apikey.revoke"
    APIKEY_USE = "apikey.use"  # one row per request made with a key


@dataclass(frozen=True)
class Actor:
    """Who acts: ``name`` as it was at the time, the ids, and where from."""

    kind: ActorKind
    name: str
    user_id: int | None = None
    api_key_id: int | None = None
    address: str | None = None

    @property
    def label(self) -> str:
        """``max`` for a user (and for a failed login as ``max``), ``apikey:crm`` for a key,
        ``cli:root`` for the CLI: what ``--user`` and the page's filter match."""
        if self.kind in (ActorKind.USER, ActorKind.ANONYMOUS):
            return self.name
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def cli(cls) -> Actor:
        """Whoever runs the command: the OS account, from this machine."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's numeric uid)
            who = "unknown"
        return cls(ActorKind.CLI, who, address=socket.gethostname())


def _checked_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    values = dict(detail or {})
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise TypeError(f"audit detail {key!r}: plain values only, not {type(value).__name__}")
    if len(json.dumps(values)) > MAX_DETAIL_CHARS:
        raise ValueError(f"audit detail longer than {MAX_DETAIL_CHARS} characters: ids only")
    return values


def _row(
    actor: Actor,
    action: AuditAction,
    target: tuple[str, int | str] | None,
    detail: Mapping[str, Any] | None,
) -> dict[str, Any]:
    target_type, target_id = target if target is not None else (None, None)
    return {
        "at": dt.datetime.now(dt.UTC),
        "actor_kind": actor.kind.value,
        "actor_name": actor.label[:120],
        "user_id": actor.user_id,
        "api_key_id": actor.api_key_id,
        "address": actor.address[:255] if actor.address else None,
        "action": AuditAction(action).value,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id)[:64],
        "detail": _checked_detail(detail),
    }


def record(
    session: Session,
    actor: Actor,
    action: AuditAction,
    *,
    target: tuple[str, int | str] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one event to the trail, in ``session``'s transaction: it commits with the work."""
    session.execute(insert(AuditEvent).values(**_row(actor, action, target, detail)))


def record_apart(
    engine: Engine,
    actor: Actor,
    action: AuditAction,
    *,
    target: tuple[str, int | str] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """``record`` in a transaction of its own, for work that committed elsewhere."""
    with transaction(engine) as session:
        record(session, actor, action, target=target, detail=detail)


# --- reading the trail ---------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """Which events to show: since a time, by one actor, of some actions."""

    since: dt.datetime | None = None
    actor: str | None = None  # a username, ``apikey:NAME`` or ``cli:OSUSER``
    actions: Sequence[str] = ()

    def where(self, statement: Select[Any]) -> Select[Any]:
        if self.since is not None:
            statement = statement.where(AuditEvent.at >= self.since)
        if self.actor:
            statement = statement.where(AuditEvent.actor_name == self.actor)
        if self.actions:
            statement = statement.where(AuditEvent.action.in_(list(self.actions)))
        return statement


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    actor_kind: str
    address: str | None
    action: str
    target: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


def list_events(
    session: Session, which: AuditFilter, *, limit: int = 100, offset: int = 0
) -> list[AuditRow]:
    """The events ``which`` selects, newest first."""
    statement = which.where(select(AuditEvent)).order_by(AuditEvent.id.desc())
    rows = session.scalars(statement.limit(limit).offset(offset)).all()
    return [
        AuditRow(
            e.id,
            e.at,
            e.actor_name,
            e.actor_kind,
            e.address,
            e.action,
            f"{e.target_type}:{e.target_id}" if e.target_type else None,
            dict(e.detail or {}),
        )
        for e in rows
    ]


def count_events(session: Session, which: AuditFilter) -> int:
    return session.scalar(which.where(select(func.count(AuditEvent.id)))) or 0
