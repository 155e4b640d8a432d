"""The agent console: the ``/agent`` page and the JSON API it runs on.

An agent logs in to a running campaign, goes ready or pauses with a code, and the dialer
hands them answered calls through the agent board (``dialer.agents``). The console shows
the call (ringing, connected, ended, from the attempt's status), the customer card, the
offer and the call script, and records the disposition the way the simulated agents do
(``dialer.sim_agents``): ``record_disposition`` and an ``AgentEvent`` in one transaction,
then the board's ``finish_wrap``, then the dialer's ``after_change``.

Routes (agent role only, see ``runner.access``)::

    GET  /agent                            the page
    GET  /api/agent/state                  board state, campaigns to log in to, codes
    POST /api/agent/login                  {"campaign_id"}
    POST /api/agent/ready | pause | logout pause: {"code"}
    GET  /api/agent/call                   the current call with card, offer, script
                                           (or the customer being previewed)
    POST /api/agent/preview/next           {"entry_id"?}: the next customer to preview
    POST /api/agent/preview/dial | skip    {"entry_id"}: dial the previewed customer or pass
    POST /api/attempts/{id}/disposition    validation errors: 400 naming the field; 409
                                           for a call that never reached an agent
    GET  /api/agent/callbacks              the agent's open call-backs
    GET  /api/agent/today?tz=Zone          calls, contacts, conversions, talk time today
    GET  /api/agent/events                 server-sent events: state and call changes

Errors are JSON ``{"error", "message"}``, with ``"field"`` when a field is at fault.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from cachetools import TTLCache
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from dialer.agents import AgentState, AgentStatus, BoardError
from dialer.context import Dialer
from dialer.dispositions import (
    FUNNEL_STAGES,
    PAUSE_CODES,
    CallNotFound,
    CallStillConnected,
    InvalidOutcome,
    NoConversation,
    Outcome,
    WrapUp,
    find_call,
    record_outcome,
)
from dialer.preview import PreviewError, cancel_call, candidates, skip_entry, start_call
from dialer.webhooks import DIALER
from runner.call_script import render_call_script
from runner.card import CardError, customer_card, customer_zone, iso
from runner.keys import SETTINGS, USER
from runner.live import FEED, AgentFeed, call_state, close_feed, status_json
from runner.render import render_page
from store.models import (
    AgentEvent,
    Attempt,
    AttemptStatus,
    Campaign,
    CampaignStatus,
    Customer,
    Disposition,
    DispositionCode,
    EntryStatus,
    ListEntry,
)

__all__ = [
    "DISPOSITIONS",
    "add_console_routes",
    "call_state",
]

log = logging.getLogger("telecampaign.console")
T = TypeVar("T")
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
MAX_NOTES = 2000
MAX_REASON = 120
KEEPALIVE = 15.0  # seconds of silence before a comment line keeps proxies from closing
# The card, offer and script of a call do not change while it lasts (its earlier contacts,
# the customer's record and scores are read when it arrives): a console that polls reads
# them once per call, then only the call's status and outcome. Kept per process, by
# attempt, for two minutes; only the agent on the attempt is ever shown it.
CALL_VIEWS = web.AppKey("call_views", TTLCache)
CALL_VIEW_SECONDS = 120.0
# -- helpers ------------------------------------------------------------------------------


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
    """Read-only work: no write lock taken (``runner.reads``)."""
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


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(name, "give it as text")
    value = value.strip()
    if len(value) > limit:
        raise _Invalid(name, f"at most {limit} characters, not {len(value)}")
    return value or None


def _status_json(request: web.Request, status: AgentStatus) -> dict[str, Any]:
    return status_json(_dialer(request).clock, status)


def _running_campaigns(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Campaign.id, Campaign.name, Campaign.kind, Campaign.pacing)
        .where(Campaign.status == CampaignStatus.RUNNING)
        .order_by(Campaign.name)
    ).all()
    return [
        {"id": cid, "name": name, "kind": kind.value, "pacing": pacing}
        for cid, name, kind, pacing in rows
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


# -- the page -----------------------------------------------------------------------------


async def agent_home(request: web.Request) -> web.Response:
    campaigns = await _read(request, _running_campaigns)
    return render_page(
        request,
        "agent.html.j2",
        {
            "campaigns": campaigns,
            "pause_codes": PAUSE_CODES,
            "dispositions": [(code.value, label, key) for code, label, key in DISPOSITIONS],
            "funnel_stages": FUNNEL_STAGES,
            "refusal_reasons": REFUSAL_REASONS,
        },
    )


# -- state --------------------------------------------------------------------------------


async def agent_state(request: web.Request) -> web.Response:
    status = await _dialer(request).board.status(request[USER].id)
    campaigns = await _read(request, _running_campaigns)
    return web.json_response(
        {
            **_status_json(request, status),
            "campaigns": campaigns,
            "pause_codes": list(PAUSE_CODES),
        }
    )


async def agent_login(request: web.Request) -> web.Response:
    body = await _body(request)
    raw = body.get("campaign_id")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise _Invalid("campaign_id", "choose a campaign to work on")
    campaign_id = raw

    def running(session: Session) -> CampaignStatus | None:
        return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))

    found = await _read(request, running)
    if found is None:
        raise _Invalid("campaign_id", f"there is no campaign {campaign_id}")
    if found is not CampaignStatus.RUNNING:
        raise _Invalid("campaign_id", f"that campaign is {found.value}, not running")
    board = _dialer(request).board
    return await _move(request, lambda agent, now: board.login(agent, campaign_id, now))


async def _move(
    request: web.Request, move: Callable[[int, float], Awaitable[AgentStatus]]
) -> web.Response:
    """Make the agent's board move ``move(agent, now)``: a refused move is a 409; a
    made one is recorded and answered with the new state."""
    dialer, user = _dialer(request), request[USER]
    before = await dialer.board.status(user.id)
    try:
        after = await move(user.id, dialer.clock.now())
    except BoardError as error:
        raise _conflict(str(error)) from None
    return await _moved(request, before, after)


async def agent_ready(request: web.Request) -> web.Response:
    return await _move(request, _dialer(request).board.ready)


async def agent_pause(request: web.Request) -> web.Response:
    body = await _body(request)
    code = body.get("code")
    if code not in PAUSE_CODES:
        raise _Invalid("code", f"choose a pause reason: {', '.join(PAUSE_CODES)}")
    board = _dialer(request).board
    return await _move(request, lambda agent, now: board.pause(agent, str(code), now))


async def agent_logout(request: web.Request) -> web.Response:
    return await _move(request, _dialer(request).board.logout)


# -- the call -----------------------------------------------------------------------------


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


async def agent_call(request: web.Request) -> web.Response:
    dialer, user = _dialer(request), request[USER]
    status = await dialer.board.status(user.id)
    state = _status_json(request, status)
    attempt_id = status.attempt_id
    if attempt_id is None:
        preview = await _preview_view(request, status) if status.entry_id is not None else None
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


# -- preview dialing ----------------------------------------------------------------------


def _entry_id(body: dict[str, Any], *, required: bool) -> int | None:
    raw = body.get("entry_id")
    if raw is None and not required:
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise _Invalid("entry_id", "give the list entry's id as a whole number")
    return raw


async def _preview_view(request: web.Request, status: AgentStatus) -> dict[str, Any] | None:
    """The customer the agent is previewing: card, offer and script, before the dial."""
    entry_id = status.entry_id
    today = _dialer(request).clock.utcnow().date()

    def read(session: Session) -> dict[str, Any] | None:
        entry = session.get(ListEntry, entry_id)
        if entry is None:
            return None
        phone = session.scalar(select(Customer.phone).where(Customer.id == entry.customer_id))
        return {
            "entry_id": entry.id,
            "phone": phone,
            "personal": entry.assigned_agent_id == status.agent_id,
            "callback_at": iso(entry.due_at) if entry.status is EntryStatus.CALLBACK else None,
            "card": customer_card(session, entry.customer_id, entry.campaign_id, today=today),
        }

    try:
        view = await _read(request, read)
    except CardError:
        return None
    if view is not None:
        _with_script(request, view)
    return view


async def preview_next(request: web.Request) -> web.Response:
    """The next customer for a ready agent to preview (or ``entry_id``: one of their own
    call-backs); the same customer again while the agent is previewing one."""
    entry_id = _entry_id(await _body(request), required=False)
    dialer, user = _dialer(request), request[USER]
    board = dialer.board
    before = await board.status(user.id)
    if before.state is AgentState.PREVIEW:
        if entry_id not in (None, before.entry_id):
            raise _conflict("dial or skip the customer you are previewing first")
        view = await _preview_view(request, before)
        return web.json_response({"state": _status_json(request, before), "preview": view})
    campaign_id = before.campaign_id
    if before.state is not AgentState.READY or campaign_id is None:
        raise _conflict("go ready on a campaign to take the next customer")
    exclude = await board.previewing(campaign_id)
    now = dialer.clock.utcnow()
    try:
        found = await _store(
            request,
            lambda s: candidates(
                s, campaign_id, user.id, now=now, exclude=exclude, entry_id=entry_id
            ),
        )
    except PreviewError as error:
        found = str(error)
    if isinstance(found, str):
        if entry_id is not None:
            raise _Invalid("entry_id", found)
        raise _conflict(found)
    for candidate in found:
        try:
            after = await board.preview(user.id, candidate.entry_id, dialer.clock.now())
        except BoardError as error:
            raise _conflict(str(error)) from None
        if after is not None:
            await _record_move(request, before, after)
            view = await _preview_view(request, after)
            return web.json_response({"state": _status_json(request, after), "preview": view})
    return web.json_response(
        {
            "state": _status_json(request, before),
            "preview": None,
            "message": "No customer is due for a call from you on this campaign right now.",
        }
    )


async def preview_dial(request: web.Request) -> web.Response:
    """Dial the customer being previewed; the call then arrives like any other."""
    entry_id = _entry_id(await _body(request), required=True)
    assert entry_id is not None
    dialer, user = _dialer(request), request[USER]
    board = dialer.board
    before = await board.status(user.id)
    if before.state is not AgentState.PREVIEW or before.entry_id != entry_id:
        raise _conflict(f"you are not previewing entry {entry_id}: take the next customer")
    if before.attempt_id is not None:  # dialed already: the same answer again
        body = {"state": _status_json(request, before), "attempt_id": before.attempt_id}
        return web.json_response(body)
    now = dialer.clock.utcnow()
    try:
        started = await _store(
            request, lambda s: start_call(s, entry_id=entry_id, agent_id=user.id, now=now)
        )
    except PreviewError as error:
        started = str(error)
    if isinstance(started, str):
        after = await board.skip(user.id, entry_id, dialer.clock.now())
        await _record_move(request, before, after)
        raise _conflict(started)
    attempt_id, customer_id = started
    try:
        after = await board.dial(user.id, entry_id, attempt_id, dialer.clock.now())
    except BoardError as error:
        await _store(request, lambda s: cancel_call(s, attempt_id, now=now))
        raise _conflict(str(error)) from None
    await dialer.enqueue("place_call", attempt_id, customer_id, job_id=f"call:{attempt_id}")
    body = {"state": _status_json(request, after), "attempt_id": attempt_id}
    return web.json_response(body, status=201)


async def preview_skip(request: web.Request) -> web.Response:
    """Pass on the customer being previewed: offered again later, the agent ready."""
    entry_id = _entry_id(await _body(request), required=True)
    assert entry_id is not None
    dialer, user = _dialer(request), request[USER]
    before = await dialer.board.status(user.id)
    try:
        after = await dialer.board.skip(user.id, entry_id, dialer.clock.now())
    except BoardError as error:
        raise _conflict(str(error)) from None
    if before.entry_id == entry_id and after.state is AgentState.READY:
        now = dialer.clock.utcnow()
        await _store(request, lambda s: skip_entry(s, entry_id=entry_id, now=now))
    return await _moved(request, before, after)


def _callback_time(body: dict[str, Any], zone: ZoneInfo | None) -> dt.datetime | None:
    """The call-back instant: ``callback_at`` with its offset, or ``callback_local`` as
    a wall time in the customer's zone."""
    aware, local = body.get("callback_at"), body.get("callback_local")
    if aware:
        try:
            when = dt.datetime.fromisoformat(str(aware).replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid("callback_at", "give a date and time, like 2026-11-25T14:30") from None
        if when.tzinfo is None:
            if zone is None:
                raise _Invalid(
                    "callback_at",
                    "the customer's time zone is unknown: give the time with its offset",
                )
            when = when.replace(tzinfo=zone)
        return when
    if local:
        try:
            when = dt.datetime.fromisoformat(str(local))
        except ValueError:
            raise _Invalid("callback_at", "give a date and time, like 2026-11-25T14:30") from None
        if zone is None:
            raise _Invalid(
                "callback_at", "the customer's time zone is unknown: give the time with its offset"
            )
        return when.replace(tzinfo=zone) if when.tzinfo is None else when
    return None


async def dispose(request: web.Request) -> web.Response:
    """Record the outcome of the agent's call; a repeat returns the first one (200)."""
    dialer, user = _dialer(request), request[USER]
    raw_id = request.match_info["attempt_id"]
    if not raw_id.isdigit():
        raise _not_found(f"no call {raw_id}")
    attempt_id = int(raw_id)
    body = await _body(request)
    try:
        call = await find_call(dialer, user.id, attempt_id)
        if call.disposition is not None:
            return web.json_response(
                {"disposition": _disposition_json(call.disposition), "repeated": True}
            )
        outcome, wrap = _outcome(body, customer_zone(call.zone))
        recorded = await record_outcome(
            dialer, agent_id=user.id, attempt_id=attempt_id, outcome=outcome, wrap=wrap
        )
    except CallNotFound as error:
        raise _not_found(str(error)) from None
    except (NoConversation, CallStillConnected) as error:
        raise _conflict(str(error)) from None
    except InvalidOutcome as error:
        raise _Invalid(error.field, error.message) from None
    saved = _disposition_json(recorded.disposition)
    if recorded.repeated or recorded.status is None:
        return web.json_response({"disposition": saved, "repeated": True})
    state = _status_json(request, recorded.status)
    return web.json_response({"disposition": saved, "repeated": False, "state": state}, status=201)


def _outcome(body: dict[str, Any], zone: ZoneInfo | None) -> tuple[Outcome, WrapUp]:
    """The outcome and the wrap-up a dispose request asks for, its text fields checked."""
    code = body.get("code")
    outcome = Outcome(
        code=code,
        refusal_reason=_text(body, "refusal_reason", MAX_REASON),
        funnel_stage=_text(body, "funnel_stage", 32),
        notes=_text(body, "notes", MAX_NOTES),
        callback_at=_callback_time(body, zone) if code == D.CALLBACK.value else None,
        callback_shared=bool(body.get("callback_shared", False)),
    )
    return outcome, WrapUp(body.get("then", AgentState.READY.value), body.get("pause_code"))


# -- the agent's lists and figures --------------------------------------------------------


async def agent_callbacks(request: web.Request) -> web.Response:
    dialer, user = _dialer(request), request[USER]
    now = dialer.clock.utcnow()

    def read(session: Session) -> list[dict[str, Any]]:
        mine = select(Disposition.list_entry_id).where(
            Disposition.agent_id == user.id, Disposition.code == D.CALLBACK.value
        )
        rows = session.execute(
            select(ListEntry, Customer.name, Customer.timezone, Campaign.name, Campaign.status)
            .join(Customer, Customer.id == ListEntry.customer_id)
            .join(Campaign, Campaign.id == ListEntry.campaign_id)
            .where(
                ListEntry.status == EntryStatus.CALLBACK,
                or_(
                    ListEntry.assigned_agent_id == user.id,
                    and_(ListEntry.assigned_agent_id.is_(None), ListEntry.id.in_(mine)),
                ),
            )
            .order_by(ListEntry.due_at, ListEntry.id)
            .limit(200)
        ).all()
        return [
            {
                "list_entry_id": entry.id,
                "customer": name,
                "customer_timezone": zone,
                "campaign": campaign,
                "campaign_id": entry.campaign_id,
                "campaign_running": running is CampaignStatus.RUNNING,
                "callback_at": iso(entry.due_at),
                "shared": entry.assigned_agent_id is None,
                "overdue": entry.due_at is not None and entry.due_at <= now,
            }
            for entry, name, zone, campaign, running in rows
        ]

    return web.json_response({"callbacks": await _read(request, read)})


async def agent_today(request: web.Request) -> web.Response:
    """Today's figures, 'today' in the viewer's zone (``?tz=``; UTC when not given)."""
    dialer, user = _dialer(request), request[USER]
    zone_name = request.query.get("tz") or "UTC"
    zone = customer_zone(zone_name)
    if zone is None:
        raise _Invalid("tz", f"{zone_name!r} is not a time zone (like Europe/London)")
    now = dialer.clock.utcnow()
    start = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), zone).astimezone(dt.UTC)

    def read(session: Session) -> dict[str, Any]:
        calls: list[tuple[dt.datetime, dt.datetime | None]] = [
            (answered, ended)
            for answered, ended in session.execute(
                select(Attempt.answered_at, Attempt.ended_at).where(
                    Attempt.agent_id == user.id, Attempt.answered_at >= start
                )
            )
            if answered is not None
        ]
        codes = dict(
            session.execute(
                select(Disposition.code, func.count())
                .where(Disposition.agent_id == user.id, Disposition.created_at >= start)
                .group_by(Disposition.code)
            ).all()
        )
        talk = sum(
            max(0.0, ((ended or now) - answered).total_seconds()) for answered, ended in calls
        )
        return {
            "from": iso(start),
            "timezone": zone.key,
            "calls": len(calls),
            "contacts": sum(n for code, n in codes.items() if code in CONTACTS),
            "conversions": int(codes.get(D.ACCEPTED.value, 0)),
            "talk_seconds": round(talk),
            "dispositions": {code: int(n) for code, n in codes.items()},
        }

    return web.json_response(await _read(request, read))


# -- live updates -------------------------------------------------------------------------


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def agent_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a ``state`` event whenever the agent's state or call changes.

    The process's ``AgentFeed`` looks at the board for every open stream at once; the
    stream writes what it hands over, a comment line after ``KEEPALIVE`` seconds of
    silence, and ends when the app shuts down.
    """
    user, clock = request[USER], _dialer(request).clock
    response = web.StreamResponse()
    response.content_type = "text/event-stream"
    response.headers["X-Accel-Buffering"] = "no"  # no proxy buffering of the stream
    await response.prepare(request)
    try:
        await response.write(b"retry: 2000\n\n")
        async with request.app[FEED].stream(user.id) as snapshots:
            while True:
                try:
                    snapshot = await asyncio.wait_for(snapshots.get(), KEEPALIVE)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if snapshot is None:
                    break
                # the clock's reading and speed let the page count time in the state
                sent = {**snapshot, "now": iso(clock.utcnow()), "clock_scale": clock.scale}
                await response.write(_sse("state", sent))
    except ConnectionResetError:
        pass  # the page went away
    return response


def add_console_routes(app: web.Application) -> None:
    app[FEED] = AgentFeed(app)
    app[CALL_VIEWS] = TTLCache(maxsize=4096, ttl=CALL_VIEW_SECONDS)
    app.on_shutdown.append(close_feed)
    app.router.add_get("/agent", agent_home, name="agent-home")
    app.router.add_get("/api/agent/state", agent_state, name="agent-state")
    app.router.add_post("/api/agent/login", agent_login, name="agent-login")
    app.router.add_post("/api/agent/ready", agent_ready, name="agent-ready")
    app.router.add_post("/api/agent/pause", agent_pause, name="agent-pause")
    app.router.add_post("/api/agent/logout", agent_logout, name="agent-logout")
    app.router.add_get("/api/agent/call", agent_call, name="agent-call")
    app.router.add_post("/api/attempts/{attempt_id}/disposition", dispose, name="agent-disposition")
    app.router.add_post("/api/agent/preview/next", preview_next, name="agent-preview-next")
    app.router.add_post("/api/agent/preview/dial", preview_dial, name="agent-preview-dial")
    app.router.add_post("/api/agent/preview/skip", preview_skip, name="agent-preview-skip")
    app.router.add_get("/api/agent/callbacks", agent_callbacks, name="agent-callbacks")
    app.router.add_get("/api/agent/today", agent_today, name="agent-today")
    app.router.add_get("/api/agent/events", agent_events, name="agent-events")
