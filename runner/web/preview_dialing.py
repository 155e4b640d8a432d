"""Preview dialing from the agent console: take the next customer, dial them or pass."""

from __future__ import annotations

from aiohttp import web

from dialer.agents import AgentState, BoardError
from dialer.preview import PreviewError, cancel_call, candidates, skip_entry, start_call
from runner.web.call_view import preview_view
from runner.web.console_bodies import PreviewBody, PreviewNextBody
from runner.web.console_common import (
    _body,
    _conflict,
    _dialer,
    _Invalid,
    _moved,
    _parsed,
    _record_move,
    _status_json,
    _store,
)
from runner.web.keys import USER

__all__ = ["preview_dial", "preview_next", "preview_skip"]

# -- preview dialing ----------------------------------------------------------------------


async def preview_next(request: web.Request) -> web.Response:
    """The next customer for a ready agent to preview (or ``entry_id``: one of their own
    call-backs); the same customer again while the agent is previewing one."""
    entry_id = _parsed(PreviewNextBody, await _body(request)).entry_id
    dialer, user = _dialer(request), request[USER]
    board = dialer.board
    before = await board.status(user.id)
    if before.state is AgentState.PREVIEW:
        if entry_id not in (None, before.entry_id):
            raise _conflict("dial or skip the customer you are previewing first")
        view = await preview_view(request, before)
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
            view = await preview_view(request, after)
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
    entry_id = _parsed(PreviewBody, await _body(request)).entry_id
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
    entry_id = _parsed(PreviewBody, await _body(request)).entry_id
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
