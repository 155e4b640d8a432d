"""Twilio's webhooks: call status, answer-time TwiML, answering-machine result, SMS status
and inbound SMS.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called (our
``PUBLIC_BASE_URL`` plus the path and query) and its form parameters; anything else is
refused with 403 before it is read further. Handlers are idempotent: Twilio posts at
least once and in no fixed order, and an attempt's status only moves forward
(``dialer.outcomes.apply_status``), so a duplicated or late callback changes nothing.

Answer time is where an answered call meets an agent: the longest-ready agent of the
campaign is claimed at once; if none is free the call waits up to the 2 s the rules
allow, then hears the abandon message (company and a number to call back, nothing
else) and counts as abandoned.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.context import Dialer
from dialer.dialing import DialingSettings
from dialer.opt_out import apply_keyword
from dialer.outcomes import Change, apply_status, move_on, unchanged
from dialer.pacing import PacingSettings
from dialer.provider import (
    ProviderError,
    abandon_twiml,
    connect_to_agent_twiml,
    sms_reply_twiml,
    voicemail_twiml,
)
from dialer.states import from_twilio, is_final
from dialer.worker import after_change
from store.models import (
    AgentEvent,
    AnsweredBy,
    Attempt,
    AttemptStatus,
    Campaign,
    Channel,
    Customer,
    InboundMessage,
)

__all__ = ["DIALER", "add_webhook_routes"]

log = logging.getLogger("telecampaign.webhooks")
DIALER = web.AppKey("dialer", Dialer)
S = AttemptStatus
GRACE = PacingSettings().agent_connect_grace
_POLL = 0.02  # real seconds between tries to claim an agent while a call waits
_TWIML = "application/xml"


def add_webhook_routes(app: web.Application) -> None:
    """Mount the handlers; the app must hold an open ``Dialer`` under ``DIALER``."""
    app.router.add_post("/twilio/voice/status", voice_status, name="twilio-voice-status")
    app.router.add_post("/twilio/voice/answer", voice_answer, name="twilio-voice-answer")
    app.router.add_post("/twilio/voice/amd", voice_amd, name="twilio-voice-amd")
    app.router.add_post("/twilio/sms/status", sms_status, name="twilio-sms-status")
    app.router.add_post("/twilio/sms/inbound", sms_inbound, name="twilio-sms-inbound")


async def _signed(request: web.Request) -> tuple[Dialer, dict[str, str]]:
    """The dialer and the form, once the signature is proven; 403 otherwise."""
    dialer = request.app[DIALER]
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    url = dialer.config.public_base_url + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not _signature_holds(dialer, url, params, signature):
        log.warning("refused a request to %s: bad or missing Twilio signature", request.path)
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature")
    return dialer, params


def _signature_holds(dialer: Dialer, url: str, params: dict[str, str], signature: str) -> bool:
    """Twilio's HMAC-SHA1 of the URL and the sorted parameters, as ``RequestValidator``
    computes it, for the URL as called; the validator itself decides otherwise (it also
    tries the URL with and without its port, and computes both every time)."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    mac = hmac.new(dialer.config.auth_token.encode(), payload.encode(), hashlib.sha1)
    if hmac.compare_digest(base64.b64encode(mac.digest()).decode(), signature):
        return True
    return bool(dialer.validator.validate(url, params, signature))


def _attempt_id(request: web.Request) -> int:
    raw = request.query.get("attempt", "")
    if not raw.isdigit():
        raise web.HTTPBadRequest(text="the callback URL must carry ?attempt=<id>")
    return int(raw)


def _int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name, "")
    return int(value) if value.isdigit() else None


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type=_TWIML)


def _agent_event(
    session: Session,
    agent_id: int,
    state: str,
    *,
    at: dt.datetime,
    campaign_id: int | None,
    attempt_id: int | None,
) -> None:
    session.add(
        AgentEvent(
            agent_id=agent_id,
            campaign_id=campaign_id,
            attempt_id=attempt_id,
            state=state,
            at=at,
        )
    )


# -- calls --------------------------------------------------------------------------------


async def voice_status(request: web.Request) -> web.Response:
    dialer, params = await _signed(request)
    attempt_id = _attempt_id(request)
    change = await _apply(
        dialer,
        attempt_id,
        _incoming(Channel.CALL, params.get("CallStatus", "")),
        provider_sid=params.get("CallSid") or None,
        duration_s=_int(params, "CallDuration"),
        error_code=params.get("ErrorCode") or params.get("SipResponseCode") or None,
    )
    if change.became_final:
        now = dialer.clock.utcnow()
        agent = await dialer.board.end_call(attempt_id, dialer.clock.now())
        if agent is not None:
            # an agent who talked wraps up; one who dialed a preview nobody answered is ready
            state = "wrap" if change.agent_id is not None else "ready"
            await dialer.store(
                lambda s: _agent_event(
                    s, agent, state, at=now, campaign_id=change.campaign_id, attempt_id=attempt_id
                )
            )
        await after_change(dialer, change.texts, change.campaign_id)
    return web.Response(status=204)


def _incoming(channel: Channel, word: str) -> AttemptStatus:
    try:
        return from_twilio(channel, word)
    except ValueError as error:
        raise web.HTTPBadRequest(text=str(error)) from None


# what the worker's claim makes an attempt before it goes to the carrier (dialer.worker)
_CLAIMED = (S.INITIATED, S.QUEUED)


async def _apply(dialer: Dialer, attempt_id: int, incoming: AttemptStatus, **facts: Any) -> Change:
    """``apply_status`` now, in one transaction; 404 for an attempt we do not have."""
    now = dialer.clock.utcnow()
    known = {name: value for name, value in facts.items() if value is not None}
    if not is_final(incoming) and known.keys() <= {"provider_sid", "answered_by"}:
        # a progress callback (initiated, ringing) is mostly one UPDATE: no transaction
        # round trips around it. The status the worker gave the attempt itself before it
        # dialed (initiated; queued for a text) usually changes nothing: one read tells.
        if incoming in _CLAIMED:
            same = await dialer.peek(lambda s: unchanged(s, attempt_id, incoming, **known))
            if same is not None:
                return same
        moved = await dialer.store_one(lambda s: move_on(s, attempt_id, incoming, now=now, **known))
        if moved is not None:
            return moved
    try:
        return await dialer.store(lambda s: apply_status(s, attempt_id, incoming, now=now, **facts))
    except LookupError:
        raise web.HTTPNotFound(text=f"no attempt {attempt_id}") from None


async def voice_answer(request: web.Request) -> web.Response:
    """Connect the answered call to a ready agent within 2 s, or play the abandon message."""
    dialer, params = await _signed(request)
    attempt_id = _attempt_id(request)
    now = dialer.clock.utcnow()

    def answered(session: Session) -> tuple[int | None, AttemptStatus, int | None]:
        apply_status(
            session,
            attempt_id,
            S.IN_PROGRESS,
            now=now,
            provider_sid=params.get("CallSid") or None,
        )
        attempt = session.get(Attempt, attempt_id, populate_existing=True)
        assert attempt is not None
        return attempt.campaign_id, attempt.status, attempt.agent_id

    try:
        campaign_id, status, agent_id = await dialer.store(answered)
    except LookupError:
        raise web.HTTPNotFound(text=f"no attempt {attempt_id}") from None
    abandon = abandon_twiml(dialer.config.company, dialer.config.callback_number)
    if status is S.ABANDONED or campaign_id is None:
        return _twiml(abandon)  # a repeated request for a call already abandoned
    if agent_id is not None:
        return _twiml(connect_to_agent_twiml(agent_id))
    agent = await _claim_within_grace(dialer, campaign_id, attempt_id)
    if agent is None:
        change = await dialer.store(lambda s: apply_status(s, attempt_id, S.ABANDONED, now=now))
        await after_change(dialer, change.texts, campaign_id)
        return _twiml(abandon)
    claimed_at = dialer.clock.utcnow()

    def connected(session: Session) -> None:
        session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.agent_id.is_(None))
            .values(agent_id=agent)
            .execution_options(synchronize_session=False)
        )
        _agent_event(
            session, agent, "talk", at=claimed_at, campaign_id=campaign_id, attempt_id=attempt_id
        )

    await dialer.store(connected)
    return _twiml(connect_to_agent_twiml(agent))


async def _claim_within_grace(dialer: Dialer, campaign_id: int, attempt_id: int) -> int | None:
    board = dialer.board
    agent = await board.claim(campaign_id, attempt_id, dialer.clock.now())
    if agent is not None:
        return agent
    await board.call_waiting(campaign_id, +1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + dialer.clock.real(GRACE)
    try:
        while agent is None and loop.time() < deadline:
            await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))
            agent = await board.claim(campaign_id, attempt_id, dialer.clock.now())
    finally:
        await board.call_waiting(campaign_id, -1)
    return agent


async def voice_amd(request: web.Request) -> web.Response:
    """A machine: free the agent, leave the voicemail (or hang up); a person: note it."""
    dialer, params = await _signed(request)
    attempt_id = _attempt_id(request)
    word = params.get("AnsweredBy", "unknown").lower()
    answered_by = (
        AnsweredBy.MACHINE
        if word.startswith("machine")
        else AnsweredBy.FAX
        if word == "fax"
        else AnsweredBy.HUMAN
        if word == "human"
        else AnsweredBy.UNKNOWN
    )
    now = dialer.clock.utcnow()
    machine = answered_by in (AnsweredBy.MACHINE, AnsweredBy.FAX)
    change = await _apply(
        dialer,
        attempt_id,
        S.MACHINE if machine else S.IN_PROGRESS,
        answered_by=answered_by,
        provider_sid=params.get("CallSid") or None,
    )
    if not machine or not change.moved:
        return web.Response(status=204)
    agent = await dialer.board.release(attempt_id, dialer.clock.now())
    if agent is not None:
        await dialer.store(
            lambda s: _agent_event(
                s, agent, "ready", at=now, campaign_id=change.campaign_id, attempt_id=attempt_id
            )
        )
    sid = params.get("CallSid", "")
    voicemail = await dialer.store(lambda s: _leaves_voicemail(s, change.campaign_id))
    try:
        if voicemail and answered_by is AnsweredBy.MACHINE:
            twiml = voicemail_twiml(dialer.config.company, dialer.config.callback_number)
            await dialer.provider.update_call(sid, twiml=twiml)
        else:
            await dialer.provider.hang_up(sid)
    except ProviderError as error:
        # the call may have ended meanwhile; its status callback still closes it
        log.info(
            "attempt %s: could not redirect the machine-answered call (%s)",
            attempt_id,
            error.status,
        )
    await after_change(dialer, change.texts, change.campaign_id)
    return web.Response(status=204)


def _leaves_voicemail(session: Session, campaign_id: int | None) -> bool:
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    return campaign is not None and DialingSettings.of(campaign).voicemail


# -- texts --------------------------------------------------------------------------------


async def sms_status(request: web.Request) -> web.Response:
    dialer, params = await _signed(request)
    change = await _apply(
        dialer,
        _attempt_id(request),
        _incoming(Channel.SMS, params.get("MessageStatus") or params.get("SmsStatus") or ""),
        provider_sid=params.get("MessageSid") or None,
        error_code=params.get("ErrorCode") or None,
    )
    if change.became_final:
        await after_change(dialer, change.texts, change.campaign_id)
    return web.Response(status=204)


async def sms_inbound(request: web.Request) -> web.Response:
    """STOP and its synonyms opt the number out of texts at once; START back in; HELP."""
    dialer, params = await _signed(request)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    phone = params.get("From", "")
    if not sid or not phone:
        raise web.HTTPBadRequest(text="an inbound message needs MessageSid and From")
    body = params.get("Body", "")
    now = dialer.clock.utcnow()

    def receive(session: Session) -> str | None:
        seen = session.scalars(
            select(InboundMessage).where(InboundMessage.provider_sid == sid)
        ).first()
        if seen is not None:
            return seen.reply  # Twilio retried: answer the same, change nothing
        reply = apply_keyword(
            session,
            phone,
            body,
            now=now,
            company=dialer.config.company,
            care_phone=dialer.config.callback_number,
        )
        customer_id = session.scalar(select(Customer.id).where(Customer.phone == phone).limit(1))
        session.add(
            InboundMessage(
                provider_sid=sid[:64],
                phone=phone[:16],
                customer_id=customer_id,
                body=body,
                keyword=reply.keyword.value if reply.keyword else None,
                reply=reply.text,
                received_at=now,
            )
        )
        return reply.text

    text = await dialer.store(receive)
    return _twiml(sms_reply_twiml(text))
