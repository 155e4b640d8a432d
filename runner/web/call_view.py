"""The call as the agent console polls it, and the customer being previewed: the
attempt's status and outcome every time, the card, offer and call script once per call.

A card shown outside a live call with its customer (previewed before the dial, or opened
once the call has ended) is recorded on the audit trail each time it is read; the card
of a call in progress is part of the call and is not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from cachetools import TTLCache
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dialer.agents import AgentStatus
from runner.web.call_script import render_call_script
from runner.web.card import CardError, customer_card, iso
from runner.web.console_common import (
    _dialer,
    _disposition_json,
    _read,
    _status_json,
)
from runner.web.keys import SETTINGS, USER
from runner.web.live import call_state
from runner.web.trail import audit
from store.audit import AuditAction
from store.models import (
    Attempt,
    Customer,
    Disposition,
    EntryStatus,
    ListEntry,
)

__all__ = ["CALL_VIEWS", "CALL_VIEW_SECONDS", "agent_call", "preview_view"]

# The card, offer and script of a call do not change while it lasts (its earlier contacts,
# the customer's record and scores are read when it arrives): a console that polls reads
# them once per call, then only the call's status and outcome. Kept per process, by
# attempt, for two minutes; only the agent on the attempt is ever shown it.
CALL_VIEWS = web.AppKey("call_views", TTLCache)
CALL_VIEW_SECONDS = 120.0


# the call as a console polls it: the attempt, and the disposition recorded on it if any
# (at most one: dispositions are unique by attempt), in one statement; the row carries
# the disposition's columns under their own names, for ``_disposition_json``
_CALL = (
    select(
        Attempt.status,
        Attempt.customer_id,
        Attempt.campaign_id,
        Attempt.phone,
        Attempt.started_at,
        Attempt.answered_at,
        Attempt.ended_at,
        Attempt.duration_s,
        Disposition.id,  # None when no outcome is recorded yet
        Disposition.attempt_id,
        Disposition.code,
        Disposition.refusal_reason,
        Disposition.funnel_stage,
        Disposition.callback_at,
        Disposition.callback_shared,
        Disposition.notes,
        Disposition.created_at,
    )
    .select_from(Attempt)
    .outerjoin(Disposition, Disposition.attempt_id == Attempt.id)
    .where(Attempt.id == bindparam("id"))
)


async def agent_call(request: web.Request) -> web.Response:
    dialer, user = _dialer(request), request[USER]
    status = await dialer.board.status(user.id)
    state = _status_json(request, status)
    attempt_id = status.attempt_id
    if attempt_id is None:
        preview = await preview_view(request, status) if status.entry_id is not None else None
        return web.json_response({"state": state, "call": None, "preview": preview})
    today = dialer.clock.utcnow().date()
    views = request.app[CALL_VIEWS]
    cached = views.get(attempt_id)

    def read(session: Session) -> tuple[dict[str, Any], int, int] | None:
        conn = session.connection()  # Core statements: read on every poll of a call
        row = conn.execute(_CALL, {"id": attempt_id}).one_or_none()
        if row is None:
            return None
        call = {
            "attempt_id": attempt_id,
            "status": row.status.value,
            "call_state": call_state(row.status),
            "phone": row.phone,
            "started_at": iso(row.started_at),
            "answered_at": iso(row.answered_at),
            "ended_at": iso(row.ended_at),
            "duration_s": row.duration_s,
            "disposition": _disposition_json(row) if row.id is not None else None,
        }
        return call, row.customer_id, row.campaign_id

    found = await _read(request, read, quick=True)
    if found is None:
        return web.json_response({"state": state, "call": None, "preview": None})
    call, customer_id, campaign_id = found
    if cached is None:  # the card, read once per call (see CALL_VIEWS)
        try:
            call["card"] = await _read(
                request,
                lambda s: customer_card(
                    s, customer_id, campaign_id, today=today, skip_attempt=attempt_id
                ),
                quick=True,  # a dozen reads by key and index, once per call
            )
        except CardError:
            return web.json_response({"state": state, "call": None, "preview": None})
        if call["call_state"] == "ended":  # opened after the call: no live call with them
            await _card_viewed(request, customer_id, campaign_id, "after the call", attempt_id)
        _with_script(request, call)
        cached = views[attempt_id] = {key: call[key] for key in ("card", "offer", "script_html")}
    call.update(cached)
    return web.json_response({"state": state, "call": call, "preview": None})


def _with_script(request: web.Request, view: dict[str, Any]) -> None:
    """Add the offer and the call script, rendered for the customer on ``view``'s card."""
    settings = request.app[SETTINGS]
    view["offer"] = view["card"]["offer"]
    view["script_html"] = render_call_script(
        view["card"],
        agent_name=request[USER].full_name,
        company=settings.company_name,
        company_phone=settings.callback_number,
        now=_dialer(request).clock.utcnow(),
    )


async def preview_view(request: web.Request, status: AgentStatus) -> dict[str, Any] | None:
    """The customer the agent is previewing: card, offer and script, before the dial."""
    entry_id = status.entry_id
    today = _dialer(request).clock.utcnow().date()

    def read(session: Session) -> tuple[dict[str, Any], int, int] | None:
        entry = session.get(ListEntry, entry_id)
        if entry is None:
            return None
        phone = session.scalar(select(Customer.phone).where(Customer.id == entry.customer_id))
        view = {
            "entry_id": entry.id,
            "phone": phone,
            "personal": entry.assigned_agent_id == status.agent_id,
            "callback_at": iso(entry.due_at) if entry.status is EntryStatus.CALLBACK else None,
            "card": customer_card(session, entry.customer_id, entry.campaign_id, today=today),
        }
        return view, entry.customer_id, entry.campaign_id

    try:
        found = await _read(request, read)
    except CardError:
        return None
    if found is None:
        return None
    view, customer_id, campaign_id = found
    await _card_viewed(request, customer_id, campaign_id, "preview", None)
    _with_script(request, view)
    return view


async def _card_viewed(
    request: web.Request, customer_id: int, campaign_id: int, when: str, attempt_id: int | None
) -> None:
    """A card seen outside a live call with the customer goes on the audit trail: the
    customer by id only, with the campaign and when (previewed, or after the call)."""
    detail = {"campaign_id": campaign_id, "when": when, "attempt_id": attempt_id}
    await audit(request, AuditAction.CARD_VIEW, target=("customer", customer_id), detail=detail)
