"""What the agent console's routes share: its choices, error answers, request fields,
store access, the JSON of a state and of a disposition, and the agents' state history.

The routes are in ``runner.web.console`` (the agent's state and the call's outcome),
``runner.web.call_view`` (the call and the customer being previewed),
``runner.web.preview_dialing``, ``runner.web.agent_day`` and ``runner.web.live`` (the
event stream). The helpers keep their module-private names: they are the console's own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.settings.versions import in_force
from dialer.agents import AgentState, AgentStatus
from dialer.context import Dialer
from dialer.webhooks import DIALER
from runner.web.card import iso
from runner.web.console_bodies import BodyError, parse_body
from runner.web.live import status_json
from store.models import (
    AgentEvent,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    DispositionCode,
)

__all__ = [
    "CONTACTS",
    "DISPOSITIONS",
    "REFUSAL_REASONS",
]

T = TypeVar("T")
Body = TypeVar("Body", bound=BaseModel)
S = AttemptStatus
D = DispositionCode

# (code, label, keyboard shortcut), in the order of the buttons
DISPOSITIONS: Final = (
    (D.ACCEPTED, "Accepted", "1"),
    (D.REFUSED, "Refused", "2"),
    (D.CALLBACK, "Call back", "3"),
    (D.WRONG_PERSON, "Wrong person", "4"),
    (D.DO_NOT_CALL, "Do not call", "5"),
    (D.VOICEMAIL, "Voicemail", "6"),
    (D.NO_ANSWER, "No answer", "7"),
)
REFUSAL_REASONS: Final = (
    "price",
    "not interested",
    "happy with current plan",
    "switching to a competitor",
    "no time to talk",
)
# right-party contacts, as the campaign KPIs count them
CONTACTS: Final = frozenset({D.ACCEPTED, D.REFUSED, D.CALLBACK, D.DO_NOT_CALL})


class _Invalid(web.HTTPBadRequest):
    """A 400 JSON answer naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        body = {"error": "invalid", "field": field, "message": message}
        super().__init__(text=json.dumps(body), content_type="application/json")


def _conflict(message: str) -> web.HTTPConflict:
    body = {"error": "conflict", "message": message}
    return web.HTTPConflict(text=json.dumps(body), content_type="application/json")


def _not_found(message: str) -> web.HTTPNotFound:
    body = {"error": "not_found", "message": message}
    return web.HTTPNotFound(text=json.dumps(body), content_type="application/json")


def _dialer(request: web.Request) -> Dialer:
    return request.app[DIALER]


async def _store(request: web.Request, work: Callable[[Session], T]) -> T:
    return await _dialer(request).gateway.write(work)


async def _read(request: web.Request, work: Callable[[Session], T], *, quick: bool = False) -> T:
    """Read-only work: no write lock taken (``runner.web.reads``)."""
    return await _dialer(request).gateway.read_apart(work, quick=quick)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _Invalid("body", "send a JSON object") from None
    if not isinstance(body, dict):
        raise _Invalid("body", "send a JSON object")
    return body


def _parsed(model: type[Body], body: dict[str, Any]) -> Body:
    try:
        return parse_body(model, body)
    except BodyError as exc:
        raise _Invalid(exc.field, exc.message) from None


def _status_json(request: web.Request, status: AgentStatus) -> dict[str, Any]:
    return status_json(_dialer(request).clock, status)


def _running_campaigns(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Campaign).where(Campaign.status == CampaignStatus.RUNNING).order_by(Campaign.name)
    ).scalars()
    return [
        {"id": c.id, "name": c.name, "kind": c.kind.value, "pacing": in_force(c).pacing.value}
        for c in rows
    ]


def _event(
    session: Session,
    agent_id: int,
    state: str,
    *,
    at: dt.datetime,
    campaign_id: int | None,
    attempt_id: int | None = None,
    pause_code: str | None = None,
) -> None:
    session.add(
        AgentEvent(
            agent_id=agent_id,
            campaign_id=campaign_id,
            attempt_id=attempt_id,
            state=state,
            pause_code=pause_code,
            at=at,
        )
    )


async def _moved(request: web.Request, before: AgentStatus, after: AgentStatus) -> web.Response:
    """Record a state change in the history (once per real change) and answer with it."""
    await _record_move(request, before, after)
    return web.json_response(_status_json(request, after))


async def _record_move(request: web.Request, before: AgentStatus, after: AgentStatus) -> None:
    changed = (before.state, before.campaign_id, before.pause_code, before.entry_id) != (
        after.state,
        after.campaign_id,
        after.pause_code,
        after.entry_id,
    )
    if changed:
        at = _dialer(request).clock.utcnow()
        campaign = after.campaign_id if after.state is not AgentState.OFFLINE else None
        campaign = campaign or before.campaign_id
        await _store(
            request,
            lambda s: _event(
                s,
                after.agent_id,
                after.state.value,
                at=at,
                campaign_id=campaign,
                pause_code=after.pause_code,
            ),
        )
        if after.state is AgentState.READY:
            await _dialer(request).nudge(after.campaign_id)


def _disposition_json(row: Any) -> dict[str, Any]:
    """A disposition as the API gives it, from its entity or a row of its columns."""
    return {
        "id": row.id,
        "attempt_id": row.attempt_id,
        "code": row.code,
        "refusal_reason": row.refusal_reason,
        "funnel_stage": row.funnel_stage,
        "callback_at": iso(row.callback_at),
        "callback_shared": row.callback_shared,
        "notes": row.notes,
        "created_at": iso(row.created_at),
    }
