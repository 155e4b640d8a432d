"""The agent console: the ``/agent`` page and the JSON API it runs on.

An agent logs in to a running campaign, goes ready or pauses with a code, and the dialer
hands them answered calls through the agent board (``dialer.agents``). The console shows
the call (ringing, connected, ended, from the attempt's status), the customer card, the
offer and the call script, and records the disposition the way the simulated agents do
(``simulation.agents``): ``record_disposition`` and an ``AgentEvent`` in one transaction,
then the board's ``finish_wrap``, then the dialer's ``after_change``.

Routes (agent role only, see ``runner.web.access``)::

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

Here: the page, the agent's state and the call's outcome (``dispose``); the call and the
previewed customer are read in ``runner.web.call_view``, preview dialing is
``runner.web.preview_dialing``, call-backs and today's figures ``runner.web.agent_day``,
the event stream ``runner.web.live``; what they share is ``runner.web.console_common``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from aiohttp import web
from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import AgentStatus, BoardError
from dialer.dispositions import (
    FUNNEL_STAGES,
    PAUSE_CODES,
    CallNotFound,
    CallStillConnected,
    InvalidOutcome,
    NoConversation,
    Outcome,
    WrapUp,
    end_recorded_wrap,
    find_call,
    record_outcome,
)
from runner.web.agent_day import agent_callbacks, agent_today
from runner.web.call_view import CALL_VIEW_SECONDS, CALL_VIEWS, agent_call
from runner.web.card import customer_zone
from runner.web.console_bodies import (
    DispositionBody,
    LoginBody,
    PauseBody,
)
from runner.web.console_common import (
    DISPOSITIONS,
    REFUSAL_REASONS,
    D,
    _body,
    _conflict,
    _dialer,
    _disposition_json,
    _Invalid,
    _moved,
    _not_found,
    _parsed,
    _read,
    _running_campaigns,
    _status_json,
)
from runner.web.keys import USER
from runner.web.live import FEED, AgentFeed, agent_events, close_feed
from runner.web.preview_dialing import preview_dial, preview_next, preview_skip
from runner.web.render import render_page
from store.models import (
    Campaign,
    CampaignStatus,
)

__all__ = ["add_console_routes"]

log = logging.getLogger("telecampaign.console")


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
    campaign_id = _parsed(LoginBody, await _body(request)).campaign_id

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
    code = _parsed(PauseBody, await _body(request)).code
    board = _dialer(request).board
    return await _move(request, lambda agent, now: board.pause(agent, code, now))


async def agent_logout(request: web.Request) -> web.Response:
    return await _move(request, _dialer(request).board.logout)


def _callback_time(body: DispositionBody, zone: ZoneInfo | None) -> dt.datetime | None:
    """The call-back instant: ``callback_at`` with its offset, or ``callback_local`` as
    a wall time in the customer's zone."""
    aware, local = body.callback_at, body.callback_local
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
            await end_recorded_wrap(dialer, user.id, attempt_id, call.attempt.campaign_id)
            return web.json_response(
                {"disposition": _disposition_json(call.disposition), "repeated": True}
            )
        outcome, wrap = _outcome(_parsed(DispositionBody, body), customer_zone(call.zone))
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


def _outcome(asked: DispositionBody, zone: ZoneInfo | None) -> tuple[Outcome, WrapUp]:
    """The outcome and the wrap-up a dispose request asks for, its fields parsed."""
    callback_at = _callback_time(asked, zone) if asked.code is D.CALLBACK else None
    outcome = Outcome(
        code=asked.code.value,
        refusal_reason=asked.refusal_reason,
        funnel_stage=asked.funnel_stage,
        notes=asked.notes,
        callback_at=callback_at,
        callback_shared=asked.callback_shared,
    )
    return outcome, WrapUp(asked.then.value, asked.pause_code)


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
