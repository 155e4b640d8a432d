"""The REST API the dialer's twilio client talks to: Calls create, fetch and update and
Messages create and fetch in Twilio's shapes and error bodies, behind Twilio's Basic auth;
besides them a customer texting us, the counters and the ledger."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from simulation.carrier.config import SimulatorConfig
from simulation.carrier.resources import (
    API_VERSION,
    SimCall,
    SimMessage,
    attempt_of,
    new_sid,
    now,
    segments_of,
)
from simulation.carrier.shapes import call_json, message_json, twilio_error
from simulation.carrier.state import SIMULATOR_STATE, SimulatorState

__all__ = [
    "create_call",
    "create_message",
    "fetch_call",
    "fetch_message",
    "inbound_sms",
    "ledger",
    "list_calls",
    "list_messages",
    "stats",
    "twilio_auth",
    "update_call",
]

_Listed = TypeVar("_Listed", SimCall, SimMessage)


@web.middleware
async def twilio_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Basic auth with the account SID and auth token on the REST API, as Twilio checks it,
    and on the ledger, which holds phone numbers."""
    rest = request.path.startswith(f"/{API_VERSION}/")
    if not rest and request.path != "/simulator/ledger":
        return await handler(request)
    config = request.app[SIMULATOR_STATE].config
    if not _authorized(request.headers.get("Authorization", ""), config):
        return twilio_error(401, 20003, "Authenticate")
    if rest and request.match_info.get("AccountSid") != config.account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return await handler(request)


def _authorized(header: str, config: SimulatorConfig) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user, config.account_sid) and secrets.compare_digest(
        password, config.auth_token
    )


async def _rest_fault(state: SimulatorState, resource: str, form: Any) -> web.Response | str | None:
    """The injected fault a create meets: an error response to return, "stall" (already
    waited out), "lost" (make it, then answer 500) or None."""
    fault = state.rest_fault()
    if fault is None:
        return None
    if fault == "stall":
        await state.sleep(state.faults.stall_seconds)
    if fault in ("stall", "lost"):
        return fault
    status, code = (500, 20500) if fault == "500" else (429, 20429)
    state.ledger.record(
        "rest",
        resource=resource,
        status=status,
        fault=fault,
        sid=None,
        to=str(form.get("To", "")),
        **{"from": str(form.get("From", ""))},
        attempt=attempt_of(str(form.get("StatusCallback", ""))),
    )
    message = "Internal Server Error" if status == 500 else "Too Many Requests"
    return twilio_error(status, code, message)


def _created(
    state: SimulatorState,
    resource: str,
    body: dict[str, Any],
    fault: str | None,
    *,
    attempt: str | None,
) -> web.Response:
    """The answer to a create that made its call or text, in the ledger first."""
    status = 500 if fault == "lost" else 201  # "lost": made, but the answer says otherwise
    state.ledger.record(
        "rest",
        resource=resource,
        status=status,
        fault=fault,
        sid=body["sid"],
        to=body["to"],
        **{"from": body["from"]},
        attempt=attempt,
    )
    if status == 500:
        return twilio_error(500, 20500, "Internal Server Error")
    return web.json_response(body, status=201)


async def create_call(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR_STATE]
    form = await request.post()
    fault = await _rest_fault(state, "call", form)
    if isinstance(fault, web.Response):
        return fault
    to, from_ = str(form.get("To", "")), str(form.get("From", ""))
    url, twiml = form.get("Url"), form.get("Twiml")
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not from_:
        return twilio_error(400, 21213, "No 'From' number is specified")
    if not url and not twiml:
        return twilio_error(400, 21205, "Url parameter is required.")
    try:
        timeout = int(str(form.get("Timeout", "60")))
    except ValueError:
        return twilio_error(400, 21216, "Timeout must be an integer")
    amd = str(form.get("AsyncAmd", "")).lower() == "true" and bool(form.get("MachineDetection"))
    call = SimCall(
        sid=new_sid("CA"),
        to=to,
        from_=from_,
        outcome=state.draw_outcome(to),
        url=str(url) if url else None,
        method=str(form.get("Method", "POST")),
        twiml=str(twiml) if twiml else None,
        status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
        status_callback_method=str(form.get("StatusCallbackMethod", "POST")),
        events=frozenset(str(e) for e in form.getall("StatusCallbackEvent", [])) | {"completed"},
        timeout=max(5, min(timeout, 600)),
        amd_callback=(
            str(form["AsyncAmdStatusCallback"])
            if amd and form.get("AsyncAmdStatusCallback")
            else None
        ),
        amd_callback_method=str(form.get("AsyncAmdStatusCallbackMethod", "POST")),
        created=now(),
    )
    call.attempt = attempt_of(call.status_callback)
    if form.get("FallbackUrl"):
        call.fallback = (str(form["FallbackUrl"]), str(form.get("FallbackMethod", "POST")))
    state.calls[call.sid] = call
    state.stats.calls += 1
    state.stats.outcomes[call.outcome.value] += 1
    state.spawn(state.run_call(call))
    body = call_json(state.config.account_sid, call)
    return _created(state, "call", body, fault, attempt=call.attempt)


def _call_or_404(request: web.Request) -> SimCall | web.Response:
    call = request.app[SIMULATOR_STATE].calls.get(request.match_info["Sid"])
    if call is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return call


async def fetch_call(request: web.Request) -> web.Response:
    call = _call_or_404(request)
    if isinstance(call, web.Response):
        return call
    return web.json_response(call_json(request.app[SIMULATOR_STATE].config.account_sid, call))


async def list_calls(request: web.Request) -> web.Response:
    """Calls newest first, filtered by ``To`` and ``From`` as Twilio's list is; one page."""
    state = request.app[SIMULATOR_STATE]
    calls = _listed(request, list(state.calls.values()))
    account = state.config.account_sid
    return web.json_response(_page(request, "calls", [call_json(account, c) for c in calls]))


async def list_messages(request: web.Request) -> web.Response:
    """Texts newest first, filtered by ``To`` and ``From``; one page."""
    state = request.app[SIMULATOR_STATE]
    messages = _listed(request, list(state.messages.values()))
    account = state.config.account_sid
    body = [message_json(account, m) for m in messages]
    return web.json_response(_page(request, "messages", body))


async def list_numbers(request: web.Request) -> web.Response:
    """The account's own numbers, as Twilio lists its IncomingPhoneNumbers; one page."""
    config = request.app[SIMULATOR_STATE].config
    numbers = [
        {
            "sid": f"PN{index:032x}",
            "account_sid": config.account_sid,
            "phone_number": number,
            "friendly_name": number,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "status": "in-use",
        }
        for index, number in enumerate(config.owned_numbers, start=1)
    ]
    return web.json_response(_page(request, "incoming_phone_numbers", numbers))


def _listed(request: web.Request, resources: list[_Listed]) -> list[_Listed]:
    to, from_ = request.query.get("To"), request.query.get("From")
    try:
        size = max(1, min(1000, int(request.query.get("PageSize", "50"))))
    except ValueError:
        size = 50
    kept = [
        r
        for r in reversed(resources)
        if (to is None or r.to == to) and (from_ is None or r.from_ == from_)
    ]
    return kept[:size]


def _page(request: web.Request, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Twilio's page around a list: one page holds all there is here."""
    uri = request.path_qs
    return {
        key: items,
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "page": 0,
        "page_size": len(items),
        "start": 0,
        "end": max(0, len(items) - 1),
    }


async def update_call(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR_STATE]
    call = _call_or_404(request)
    if isinstance(call, web.Response):
        return call
    form = await request.post()
    status, twiml, url = form.get("Status"), form.get("Twiml"), form.get("Url")
    if not call.live:
        if status in ("completed", "canceled"):
            # hanging up a call that already ended changes nothing, as with Twilio
            return web.json_response(call_json(state.config.account_sid, call))
        return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
    if status in ("completed", "canceled"):
        call.hang_up = True
        call.wake.set()
    elif twiml or url:
        if call.machine_hangup is not None:
            call.machine_hangup.cancel()  # the new instructions now decide when it ends
        if call.answered_loop_time is None:
            # not answered yet: the new instructions play when it is
            call.twiml, call.url = (str(twiml), None) if twiml else (None, str(url))
        else:
            if twiml:
                call.next_twiml, call.next_url = str(twiml), None
            else:
                call.next_url = (str(url), str(form.get("Method", "POST")))
            call.wake.set()
    elif status is not None:
        return twilio_error(400, 20001, "Status must be completed or canceled")
    call.updated = now()
    return web.json_response(call_json(state.config.account_sid, call))


async def create_message(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR_STATE]
    form = await request.post()
    fault = await _rest_fault(state, "message", form)
    if isinstance(fault, web.Response):
        return fault
    to, from_, body = str(form.get("To", "")), str(form.get("From", "")), form.get("Body")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not from_:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    message = SimMessage(
        sid=new_sid("SM"),
        to=to,
        from_=from_,
        body=str(body),
        status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
        segments=segments_of(str(body)),
        created=now(),
        attempt=attempt_of(str(form.get("StatusCallback", ""))),
    )
    state.messages[message.sid] = message
    state.stats.messages += 1
    state.spawn(state.run_message(message))
    shown = message_json(state.config.account_sid, message)
    return _created(state, "message", shown, fault, attempt=message.attempt)


async def fetch_message(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR_STATE]
    message = state.messages.get(request.match_info["Sid"])
    if message is None:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return web.json_response(message_json(state.config.account_sid, message))


async def inbound_sms(request: web.Request) -> web.Response:
    """A customer texts us: post the inbound message to our webhook, return what we said."""
    state = request.app[SIMULATOR_STATE]
    if state.config.inbound_sms_url is None:
        return web.json_response({"error": "no inbound_sms_url configured"}, status=409)
    form = await request.post()
    body = str(form.get("Body", ""))
    sid = new_sid("SM")
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": state.config.account_sid,
        "From": str(form.get("From", "")),
        "To": str(form.get("To", "")),
        "Body": body,
        "NumMedia": "0",
        "NumSegments": str(segments_of(body)) if body else "1",
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }
    state.stats.inbound_messages += 1
    signature = "forged" if str(form.get("Forged", "")).lower() == "true" else "valid"
    answer = await state.post_signed(
        state.config.inbound_sms_url, params, event="sms-inbound", signature=signature
    )
    if answer is None:
        return web.json_response({"error": "the inbound webhook did not answer"}, status=502)
    return web.json_response({"status": answer[0], "reply": answer[1]})


async def ledger(request: web.Request) -> web.StreamResponse:
    """The ledger file as written so far (JSON lines); 404 when the simulator keeps none."""
    path = request.app[SIMULATOR_STATE].config.ledger_path
    if path is None or not path.exists():
        return twilio_error(404, 20404, "this simulator keeps no ledger")
    return web.FileResponse(path, headers={"Content-Type": "application/x-ndjson"})


async def stats(request: web.Request) -> web.Response:
    state = request.app[SIMULATOR_STATE]
    return web.json_response(state.stats.as_json(state.calls_live))
