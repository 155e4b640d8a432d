"""Twilio's webhooks: call status, answer-time TwiML, answering-machine result, SMS status
and inbound SMS.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called (our
``PUBLIC_BASE_URL`` plus the path and query) and its form parameters; anything else is
refused with 403 before it is read further. Handlers are idempotent: Twilio posts at
least once and in no fixed order, and an attempt's status only moves forward
(``dialer.outcomes.apply_status``), so a duplicated or late callback changes nothing.

The signature carries no timestamp: a captured callback stays valid for ever. So a
callback acts only on the call it names (its ``CallSid`` or ``MessageSid`` is the
attempt's, or the attempt has none yet and keeps this one) and only while that call is
live: for an attempt already final, or another call's, it changes nothing, and the
answer webhook then hangs up without claiming an agent or counting an abandon.

Answer time is where an answered call meets an agent: the longest-ready agent of the
campaign is claimed at once; if none is free the call waits up to the 2 s the rules
allow, then hears the abandon message (company and a number to call back, nothing
else) and counts as abandoned.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.settings.model import MachineAction
from campaigns.settings.versions import in_force
from dialer.board_restore import ensure_board
from dialer.change import Change
from dialer.context import Dialer
from dialer.opt_out import apply_keyword
from dialer.outcomes import apply_status, move_on, unchanged
from dialer.pacing import PacingSettings
from dialer.provider import (
    ProviderError,
    abandon_twiml,
    connect_to_agent_twiml,
    hang_up_twiml,
    sms_reply_twiml,
    voicemail_twiml,
)
from dialer.states import from_twilio, is_final
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
_LEAST_WAIT = 0.25  # real seconds
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


def _sid(params: Mapping[str, str], *names: str) -> str:
    """The carrier's id of the call or text a callback is about; 400 without one, as a
    callback that names no call cannot be told from one for another call."""
    for name in names:
        if params.get(name):
            return params[name]
    raise web.HTTPBadRequest(text=f"a callback must carry its {names[0]}")


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
        provider_sid=_sid(params, "CallSid"),
        duration_s=_int(params, "CallDuration"),
        error_code=params.get("ErrorCode") or params.get("SipResponseCode") or None,
    )
    if change.became_final:
        now = dialer.clock.utcnow()
        # an agent who talked wraps up; one who dialed a preview nobody answered, or was
        # claimed as the caller hung up, is ready
        talked = change.agent_id is not None
        end = dialer.board.end_call if talked else dialer.board.release
        agent = await end(attempt_id, dialer.clock.now())
        if agent is not None:
            state = "wrap" if talked else "ready"
            await dialer.gateway.write(
                lambda s: _agent_event(
                    s, agent, state, at=now, campaign_id=change.campaign_id, attempt_id=attempt_id
                )
            )
        await dialer.after_change(change.texts, change.campaign_id)
    return web.Response(status=204)


def _incoming(channel: Channel, word: str) -> AttemptStatus:
    try:
        return from_twilio(channel, word)
    except ValueError as error:
        raise web.HTTPBadRequest(text=str(error)) from None


# what the worker's claim makes an attempt before it goes to the carrier (dialer.attempt_claim)
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
            same = await dialer.gateway.read(lambda s: unchanged(s, attempt_id, incoming, **known))
            if same is not None:
                return same
        moved = await dialer.gateway.write_one(
            lambda s: move_on(s, attempt_id, incoming, now=now, **known)
        )
        if moved is not None:
            return moved
    try:
        return await dialer.gateway.write(
            lambda s: apply_status(s, attempt_id, incoming, now=now, **facts)
        )
    except LookupError:
        raise web.HTTPNotFound(text=f"no attempt {attempt_id}") from None


async def voice_answer(request: web.Request) -> web.Response:
    """Connect the answered call to a ready agent within 2 s, or play the abandon message.

    Only the attempt's own call, while it is live, gets that far: a request for an
    attempt already final (a replay, or one delayed past the call's end) or naming another
    call is answered with a hang-up, and claims no agent and counts no abandon.
    """
    dialer, params = await _signed(request)
    attempt_id = _attempt_id(request)
    sid = _sid(params, "CallSid")
    now = dialer.clock.utcnow()
    try:
        change = await dialer.gateway.write(
            lambda s: apply_status(s, attempt_id, S.IN_PROGRESS, now=now, provider_sid=sid)
        )
    except LookupError:
        raise web.HTTPNotFound(text=f"no attempt {attempt_id}") from None
    campaign_id = change.campaign_id
    if change.ignored:
        log.info("attempt %s: an answer for a call that is over or not its own", attempt_id)
        return _twiml(hang_up_twiml())
    abandon = abandon_twiml(dialer.config.company, dialer.config.callback_number)
    if campaign_id is None:
        return _twiml(abandon)
    if change.agent_id is not None:  # a repeat: the fallback after a failed answer, or a replay
        if await _carrier_ended(dialer, sid):
            return _twiml(hang_up_twiml())
        return _twiml(connect_to_agent_twiml(change.agent_id))
    agent = await _claim_within_grace(dialer, campaign_id, attempt_id)
    if agent is None:
        change = await dialer.gateway.write(
            lambda s: apply_status(s, attempt_id, S.ABANDONED, now=now, provider_sid=sid)
        )
        if not change.became_final:
            return _twiml(hang_up_twiml())  # it ended while it waited: nothing to abandon
        await dialer.after_change(change.texts, campaign_id)
        return _twiml(abandon)
    claimed_at = dialer.clock.utcnow()
    connected = await dialer.gateway.write(
        lambda s: _connect(s, attempt_id, agent, at=claimed_at, campaign_id=campaign_id)
    )
    if not connected:
        # the call ended (or a machine answered) while it waited: the agent goes back
        await dialer.board.release(attempt_id, dialer.clock.now())
        return _twiml(hang_up_twiml())
    return _twiml(connect_to_agent_twiml(agent))


async def _carrier_ended(dialer: Dialer, sid: str | None) -> bool:
    """Whether the carrier has the call as over, for a repeated answer request: the store
    may not know yet (its end's callbacks lost), and a replay must not be given the agent.
    When the carrier cannot tell, the caller who may be waiting gets the agent."""
    if sid is None:
        return False
    try:
        status, _ = await dialer.provider.call_status(sid)
    except ProviderError:
        return False
    return status != "in-progress"


def _connect(
    session: Session, attempt_id: int, agent: int, *, at: dt.datetime, campaign_id: int
) -> bool:
    """Give the live call its agent by compare-and-set; whether the call is the agent's.

    The claim on the board comes first and may find the call over by the time it is
    written: a call that is final takes no agent and no talk begins.
    """
    taken = session.execute(
        update(Attempt)
        .where(
            Attempt.id == attempt_id,
            Attempt.agent_id.is_(None),
            Attempt.status == S.IN_PROGRESS,
        )
        .values(agent_id=agent)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        _agent_event(session, agent, "talk", at=at, campaign_id=campaign_id, attempt_id=attempt_id)
        return True
    # a repeated request took the same agent first (the board hands one attempt one agent)
    status, agent_id = session.execute(
        select(Attempt.status, Attempt.agent_id).where(Attempt.id == attempt_id)
    ).one()
    return not is_final(status) and agent_id == agent


async def _claim_within_grace(dialer: Dialer, campaign_id: int, attempt_id: int) -> int | None:
    """The campaign's longest-ready agent for the answered call, waiting for one up to the
    grace. Redis's own round trips are bounded too, by the grace in real seconds, as in
    production however fast the clock runs (a simulated clock many times faster than
    real time would leave them no time at all): a Redis restarting within it is waited
    for, one that stalls longer makes the call an abandoned one with its message, never a
    silent one. A board Redis lost is put back from the store before anyone is given up."""
    board = dialer.board
    try:
        async with asyncio.timeout(max(dialer.clock.real(GRACE), GRACE)):
            agent = await board.claim(campaign_id, attempt_id, dialer.clock.now())
            if agent is None and await ensure_board(dialer):
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
                return agent
            finally:
                # pacing counts waiting calls from the store: a count left up is harmless
                with contextlib.suppress(RedisError, TimeoutError):
                    async with asyncio.timeout(_LEAST_WAIT):
                        await board.call_waiting(campaign_id, -1)
    except TimeoutError:
        return None


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
    sid = _sid(params, "CallSid")
    change = await _apply(
        dialer,
        attempt_id,
        S.MACHINE if machine else S.IN_PROGRESS,
        answered_by=answered_by,
        provider_sid=sid,
    )
    if not machine or not change.moved:
        return web.Response(status=204)
    agent = await dialer.board.release(attempt_id, dialer.clock.now())
    if agent is not None:
        await dialer.gateway.write(
            lambda s: _agent_event(
                s, agent, "ready", at=now, campaign_id=change.campaign_id, attempt_id=attempt_id
            )
        )
    voicemail = await dialer.gateway.write(lambda s: _voicemail_text(s, change.campaign_id))
    try:
        if voicemail is not None and answered_by is AnsweredBy.MACHINE:
            twiml = voicemail_twiml(
                dialer.config.company, dialer.config.callback_number, text=voicemail or None
            )
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
    await dialer.after_change(change.texts, change.campaign_id)
    return web.Response(status=204)


def _voicemail_text(session: Session, campaign_id: int | None) -> str | None:
    """The campaign's own voicemail text, "" for the product's, None: leave none."""
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    if campaign is None:
        return None
    settings = in_force(campaign)
    if settings.machine_detection.action is not MachineAction.VOICEMAIL:
        return None
    return settings.templates.voicemail or ""


# -- texts --------------------------------------------------------------------------------


async def sms_status(request: web.Request) -> web.Response:
    dialer, params = await _signed(request)
    change = await _apply(
        dialer,
        _attempt_id(request),
        _incoming(Channel.SMS, params.get("MessageStatus") or params.get("SmsStatus") or ""),
        provider_sid=_sid(params, "MessageSid", "SmsSid"),
        error_code=params.get("ErrorCode") or None,
    )
    if change.became_final:
        await dialer.after_change(change.texts, change.campaign_id)
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

    text = await dialer.gateway.write(receive)
    return _twiml(sms_reply_twiml(text))
