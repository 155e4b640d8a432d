"""An attempt's status change as applied, and the pieces of SQL the paths that apply one
share (``dialer.outcomes``, ``dialer.settling``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, literal
from sqlalchemy.orm import Session

from dialer.states import is_final
from store.models import Attempt, AttemptStatus, Campaign, Channel, ListEntry

__all__ = ["ATTEMPTS", "CAMPAIGNS", "ENTRIES", "Change", "forget", "one_of", "reached_agent"]

S = AttemptStatus
# a call an agent took is one of these while and after they talk; every other status
# (a machine, no answer, busy, failed, canceled, abandoned) is a call no one talked on
_CONVERSED = (S.IN_PROGRESS, S.COMPLETED)


def reached_agent(channel: Channel, status: AttemptStatus, agent_id: int | None) -> bool:
    """Whether the attempt is a call an agent took and talked on: the only attempts with
    an outcome of a conversation to record, and the only ones whose agent wraps up."""
    return channel is Channel.CALL and agent_id is not None and status in _CONVERSED


@dataclass
class Change:
    """One status update as applied: what it was, what it is, and what follows from it."""

    attempt_id: int
    channel: Channel
    campaign_id: int | None
    list_entry_id: int | None
    agent_id: int | None
    before: AttemptStatus
    after: AttemptStatus
    # texts to send now that this outcome is known (SMS fallback)
    texts: list[int] = field(default_factory=list)
    # the update was for an attempt already final, or for another call than the
    # attempt's: it changed nothing, and nothing may follow from it
    ignored: bool = False

    @classmethod
    def standing(cls, attempt: Attempt, *, ignored: bool = False) -> Change:
        """The attempt as it stands: a change that moved nothing."""
        return cls(
            attempt_id=attempt.id,
            channel=attempt.channel,
            campaign_id=attempt.campaign_id,
            list_entry_id=attempt.list_entry_id,
            agent_id=attempt.agent_id,
            before=attempt.status,
            after=attempt.status,
            ignored=ignored,
        )

    @property
    def moved(self) -> bool:
        return self.before is not self.after

    @property
    def became_final(self) -> bool:
        return not is_final(self.before) and is_final(self.after)


ATTEMPTS = cast(Table, Attempt.__table__)
ENTRIES = cast(Table, ListEntry.__table__)
CAMPAIGNS = cast(Table, Campaign.__table__)


def one_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (...)`` with a parameter per value, rendered once: an expanding IN
    (SQLAlchemy's default) is rendered again on every execution."""
    return column.in_([literal(value, column.type) for value in values])  # type: ignore[no-any-return]


def forget(session: Session, model: type[Any], row_id: int) -> None:
    """Expire an object of the session that a Core UPDATE just changed under it."""
    loaded = session.identity_map.get(session.identity_key(model, row_id))
    if loaded is not None:
        session.expire(loaded)
