"""The telephony provider: Twilio, through the ``twilio`` library, and the TwiML we answer with.

There is one implementation. The carrier simulator speaks the same REST API, so pointing
``api_base`` (``TWILIO_API_BASE``) at it runs the very code that talks to Twilio in
production: only the scheme and host of each request change, never path or query.

Errors::

    ProviderError
    ├── TransientProviderError   HTTP 429 or 5xx, connection refused or reset, a timeout
    │                            before a response: worth trying later; ``maybe_placed``
    │                            when the request may have reached the carrier (a 5xx,
    │                            a timeout, a connection dropped after sending)
    └── PermanentProviderError   any other 4xx (an invalid number, a blocked destination):
                                 never retried

Messages carry the HTTP status and Twilio's error code, never the number called: Twilio's
own error text often repeats it.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import phonenumbers

# ``Client`` imports its REST resources (about ninety modules) the first time one is used,
# which stalled the first call a worker placed, and the web app's event loop at its first
# hang-up, for a fifth of a second. Import them with this module instead, so they load at
# start-up and are among what the long-running processes freeze (cli_common.freeze_imports).
import twilio.rest.api.v2010.account  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
from twilio.base.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped, unused-ignore]
from twilio.http.response import Response  # type: ignore[import-untyped, unused-ignore]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]
from twilio.rest import Client  # type: ignore[import-untyped, unused-ignore]
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped, unused-ignore]
from twilio.twiml.voice_response import Dial, VoiceResponse  # type: ignore[import-untyped, unused-ignore]

from campaigns.settings.templates import render

__all__ = [
    "CallbackUrls",
    "PermanentProviderError",
    "ProviderError",
    "TransientProviderError",
    "TwilioProvider",
    "abandon_twiml",
    "agent_identity",
    "connect_to_agent_twiml",
    "hang_up_twiml",
    "route_url",
    "signature_validator",
    "sms_reply_twiml",
    "spoken_number",
    "voicemail_twiml",
]

CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
_LISTED = 20  # calls or texts to one number a lookup reads: a few days' worth at most


class ProviderError(Exception):
    """A request to the carrier did not do what was asked."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status  # HTTP status, None when no response came
        self.code = code  # Twilio's error code (21211 invalid number, ...), when it sent one


class TransientProviderError(ProviderError):
    """Worth trying again later: the carrier was busy, down or out of reach.

    ``maybe_placed`` is False only when the carrier certainly did nothing (a 429 is refused
    before any work; a connection never made sent nothing): a 5xx or a lost response may
    come from a carrier that placed the call all the same, and dialing again would ring
    the customer twice.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        maybe_placed: bool = True,
    ):
        super().__init__(message, status=status, code=code)
        self.maybe_placed = maybe_placed


class PermanentProviderError(ProviderError):
    """Trying again gives the same answer."""


@dataclass(frozen=True)
class CallbackUrls:
    """Where Twilio posts back about an attempt; ``base`` is ``PUBLIC_BASE_URL``."""

    base: str
    # where Twilio asks again when the answer webhook fails (a web process died on it):
    # the same address by default, which a load balancer sends to another process
    fallback_base: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.base.rstrip("/"))
        object.__setattr__(self, "fallback_base", (self.fallback_base or self.base).rstrip("/"))

    def voice_status(self, attempt_id: int) -> str:
        return f"{self.base}/twilio/voice/status?attempt={attempt_id}"

    def voice_answer(self, attempt_id: int) -> str:
        return f"{self.base}/twilio/voice/answer?attempt={attempt_id}"

    def voice_answer_fallback(self, attempt_id: int) -> str:
        return f"{self.fallback_base}/twilio/voice/answer?attempt={attempt_id}"

    def voice_amd(self, attempt_id: int) -> str:
        return f"{self.base}/twilio/voice/amd?attempt={attempt_id}"

    def sms_status(self, attempt_id: int) -> str:
        return f"{self.base}/twilio/sms/status?attempt={attempt_id}"


def route_url(url: str, api_base: str | None) -> str:
    """``url`` sent to ``api_base`` instead when it points at a Twilio host."""
    if api_base is None:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    base = urlsplit(api_base.rstrip("/"))
    return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))


class _RoutedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """Twilio's aiohttp client, sending requests to ``api_base`` when one is set.

    The session is opened on the first request rather than in ``__init__``, so the
    provider can be built outside a running event loop.
    """

    session: aiohttp.ClientSession | None

    def __init__(self, api_base: str | None, timeout: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.api_base = api_base

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """The library's request, sent the same way at a fraction of its cost per call.

        The form is encoded here as aiohttp's ``FormData`` would (a list is a repeated
        key), which costs it more than the rest of the request; the library's request
        and response logging runs only when its logger would print it.
        """
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        if self.session is None:
            self.session = aiohttp.ClientSession()
        sent = dict(headers or {})
        if auth is not None:
            # aiohttp 3.14 deprecates the BasicAuth object the library would build
            sent["Authorization"] = _basic_auth(*auth)
        body = None
        if data:
            body = urlencode(list(data.items()), doseq=True)
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        target = route_url(url, self.api_base)
        logs = self.logger.isEnabledFor(logging.INFO)
        if logs:
            self.log_request(
                {"method": method.upper(), "url": target, "params": params, "headers": sent}
            )
        response = await self.session.request(
            method.upper(),
            target,
            params=cast(Any, params),
            data=body,
            headers=sent,
            # the library passes no timeout of its own, which aiohttp reads as "wait forever"
            timeout=aiohttp.ClientTimeout(total=timeout if timeout is not None else self.timeout),
            allow_redirects=allow_redirects,
        )
        if logs:
            self.log_response(response.status, response)
        return Response(response.status, await response.text(), response.headers)


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@contextmanager
def _provider_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        status, code = int(exc.status), exc.code if isinstance(exc.code, int) else None
        message = f"{action} failed: HTTP {status}, Twilio error {code}"
        if status == 429 or status >= 500:
            raise TransientProviderError(
                message, status=status, code=code, maybe_placed=status != 429
            ) from exc
        raise PermanentProviderError(message, status=status, code=code) from exc
    except TwilioException as exc:  # a list page the carrier would not serve
        response = exc.args[1] if len(exc.args) > 1 else None
        served: int | None = getattr(response, "status_code", None)
        message = f"{action} failed: HTTP {served}"
        if served is None or served == 429 or served >= 500:
            raise TransientProviderError(message, status=served, maybe_placed=False) from exc
        raise PermanentProviderError(message, status=served) from exc
    except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
        raise TransientProviderError(
            f"{action} failed: {type(exc).__name__}", maybe_placed=False
        ) from exc
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise TransientProviderError(f"{action} failed: {type(exc).__name__}") from exc


class TwilioProvider:
    """Places calls and sends texts through one Twilio REST client."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        callbacks: CallbackUrls,
        api_base: str | None = None,
        ring_timeout: int = 25,
        request_timeout: float = 15.0,
    ) -> None:
        self.from_number = from_number
        self.callbacks = callbacks
        self.ring_timeout = ring_timeout
        self._http = _RoutedHttpClient(api_base, request_timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)

    async def place_call(
        self,
        *,
        attempt_id: int,
        to: str,
        machine_detection: bool = True,
        ring_timeout: int | None = None,
        from_number: str | None = None,
    ) -> str:
        """Dial ``to``; returns the CallSid. The answer and status webhooks carry the attempt.

        ``ring_timeout`` (seconds before no-answer) defaults to the provider's.
        """
        amd: dict[str, str] = {}
        if machine_detection:
            amd = {
                "machine_detection": "DetectMessageEnd",
                "async_amd": "true",
                "async_amd_status_callback": self.callbacks.voice_amd(attempt_id),
                "async_amd_status_callback_method": "POST",
            }
        with _provider_errors("placing a call"):
            call = await self._client.calls.create_async(
                to=to,
                from_=from_number or self.from_number,
                url=self.callbacks.voice_answer(attempt_id),
                method="POST",
                # the answer is idempotent: asked again, it gives the same agent
                fallback_url=self.callbacks.voice_answer_fallback(attempt_id),
                fallback_method="POST",
                status_callback=self.callbacks.voice_status(attempt_id),
                status_callback_method="POST",
                status_callback_event=list(CALL_EVENTS),
                timeout=ring_timeout or self.ring_timeout,
                **amd,
            )
        return str(call.sid)

    async def send_sms(
        self, *, attempt_id: int, to: str, body: str, from_number: str | None = None
    ) -> str:
        """Text ``body`` to ``to``; returns the MessageSid."""
        with _provider_errors("sending a text"):
            message = await self._client.messages.create_async(
                to=to,
                from_=from_number or self.from_number,
                body=body,
                status_callback=self.callbacks.sms_status(attempt_id),
            )
        return str(message.sid)

    async def update_call(self, sid: str, *, twiml: str) -> None:
        """Replace what a live call is doing (bridge to an agent, drop a voicemail)."""
        with _provider_errors("updating a call"):
            await self._client.calls(sid).update_async(twiml=twiml)

    async def hang_up(self, sid: str) -> None:
        with _provider_errors("hanging up a call"):
            await self._client.calls(sid).update_async(status="completed")

    async def call_status(self, sid: str) -> tuple[str, int | None]:
        """The carrier's word for a call now and its duration, for a line whose callbacks
        went missing."""
        with _provider_errors("reading a call"):
            call = await self._client.calls(sid).fetch_async()
        duration = int(call.duration) if call.duration not in (None, "") else None
        return str(call.status), duration

    async def calls_to(
        self, to: str, from_number: str | None = None
    ) -> list[tuple[str, str, int | None]]:
        """Our latest calls to ``to`` as the carrier lists them, newest first: (sid, status,
        duration). For a dial whose answer was lost, the carrier's word on what it placed."""
        with _provider_errors("listing calls"):
            calls = await self._client.calls.list_async(
                to=to, from_=from_number or self.from_number, limit=_LISTED
            )
        return [
            (str(c.sid), str(c.status), int(c.duration) if c.duration not in (None, "") else None)
            for c in calls
        ]

    async def messages_to(self, to: str, from_number: str | None = None) -> list[tuple[str, str]]:
        """Our latest texts to ``to`` as the carrier lists them, newest first: (sid, status)."""
        with _provider_errors("listing messages"):
            messages = await self._client.messages.list_async(
                to=to, from_=from_number or self.from_number, limit=_LISTED
            )
        return [(str(m.sid), str(m.status)) for m in messages]

    async def owned_numbers(self) -> list[str]:
        """The account's own numbers (E.164): the only ones a caller ID may be."""
        with _provider_errors("listing the account's numbers"):
            numbers = await self._client.incoming_phone_numbers.list_async(limit=1000)
        return [str(n.phone_number) for n in numbers]

    async def message_status(self, sid: str) -> str:
        """The carrier's word for a text now, for one whose status callbacks went missing."""
        with _provider_errors("reading a message"):
            message = await self._client.messages(sid).fetch_async()
        return str(message.status)

    async def close(self) -> None:
        await self._http.close()


def signature_validator(auth_token: str) -> RequestValidator:
    """Checks ``X-Twilio-Signature`` on the webhooks Twilio posts to us."""
    return RequestValidator(auth_token)


def agent_identity(agent_id: int) -> str:
    """The Twilio Client identity an agent's console registers as."""
    return f"agent-{agent_id}"


def connect_to_agent_twiml(agent_id: int) -> str:
    response = VoiceResponse()
    # answerOnBridge: the customer hears ringing, not silence, until the agent picks up
    dial = Dial(answer_on_bridge=True)
    dial.client(agent_identity(agent_id))
    response.append(dial)
    return str(response)


def spoken_number(number: str) -> str:
    """A phone number as a voice reads it clearly: digit by digit, a pause between groups."""
    try:
        national = phonenumbers.format_number(
            phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        national = number
    groups = [group for group in re.split(r"\D+", national) if group]
    return ", ".join(" ".join(group) for group in groups)


def abandon_twiml(company: str, callback_number: str) -> str:
    """What a person hears when no agent was free: who called and how to call back, nothing
    more (TCPA and Ofcom allow only an information message on an abandoned call)."""
    response = VoiceResponse()
    response.say(
        f"Hello, this is {company}. We called you but no one was free to take your call. "
        f"Please call us back on {spoken_number(callback_number)}. Thank you, goodbye."
    )
    response.hangup()
    return str(response)


def hang_up_twiml() -> str:
    """The answer to a request for a call we will not connect: end it, say nothing."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


def voicemail_twiml(company: str, callback_number: str, text: str | None = None) -> str:
    """A short message left after the answering machine's beep: the campaign's ``text``
    (a template of its settings), else the product's own."""
    response = VoiceResponse()
    spoken = spoken_number(callback_number)
    if text is not None:
        response.say(render(text, company=company, callback_number=spoken, first_name="", offer=""))
    else:
        response.say(
            f"Hello, this is {company}, calling about your account. "
            f"Please call us back on {spoken}. Thank you, goodbye."
        )
    response.hangup()
    return str(response)


def sms_reply_twiml(text: str | None) -> str:
    """The answer to an inbound text: ``text`` as a reply, or an empty Response for none."""
    response = MessagingResponse()
    if text is not None:
        response.message(text)
    return str(response)
