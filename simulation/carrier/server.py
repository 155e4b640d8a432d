"""The carrier simulator: the part of Twilio's REST API we use, on a local aiohttp server.

It answers Calls create/update/fetch and Messages create in Twilio's JSON shapes and
error bodies, then plays each call and text out in an asyncio task: it draws an outcome
(human, machine, busy, no answer, failed), posts Twilio-signed status callbacks, fetches
the answer webhook and obeys the TwiML it returns (``<Dial><Client>``, ``<Say>``,
``<Pause>``, ``<Hangup/>``, ``<Redirect>``), posts the async AMD result, and lets a call
update replace what the call is doing. ``/simulator/sms/inbound`` plays a customer texting
us. Everything lives in memory under ``SIMULATOR_STATE``.

Timestamps are wall clock; durations are simulated seconds: with ``time_scale=60`` a
three-minute conversation lasts three real seconds and is reported as 180 s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import enum
import functools
import hashlib
import hmac
import logging
import math
import random
import secrets
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from smsutil import split as sms_split
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped, unused-ignore]

from simulation.carrier.faults import FaultRates
from simulation.carrier.ledger import CarrierLedger

__all__ = [
    "DEFAULT_RATES",
    "SIMULATOR_STATE",
    "FaultRates",
    "Outcome",
    "SimulatorConfig",
    "SimulatorState",
    "SimulatorStats",
    "create_simulator_app",
    "run_simulator",
]

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
FINAL_CALL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 500, "canceled": 487}
CALL_SUBRESOURCES = (
    "notifications",
    "recordings",
    "payments",
    "events",
    "siprec",
    "streams",
    "transcriptions",
    "user_defined_message_subscriptions",
    "user_defined_messages",
)
TALK_SIGMA = 0.6
WORDS_PER_SECOND = 2.5
HUMAN_AMD_SECONDS = 2.5
MACHINE_TAIL_SECONDS = 4.0  # how long a machine keeps the line after its beep
CALLBACK_TRIES = 3


class Outcome(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


DEFAULT_RATES: Mapping[Outcome, float] = MappingProxyType(
    {
        Outcome.HUMAN: 0.30,
        Outcome.MACHINE: 0.15,
        Outcome.BUSY: 0.08,
        Outcome.NO_ANSWER: 0.40,
        Outcome.FAILED: 0.07,
    }
)


@dataclass(frozen=True)
class SimulatorConfig:
    account_sid: str = "AC00000000000000000000000000000000"
    # checks Basic auth and signs callbacks; the demo's well-known default, not a secret
    auth_token: str = "simulator-token"  # noqa: S105
    rates: Mapping[Outcome, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    time_scale: float = 1.0  # simulated seconds per real second
    mean_talk_seconds: float = 180.0
    mean_ring_seconds: float = 8.0
    machine_greeting_seconds: float = 12.0
    sms_delivery_rate: float = 0.97
    seed: int | None = None
    forced: Mapping[str, Outcome] = field(default_factory=dict)  # To number -> outcome
    inbound_sms_url: str | None = None
    faults: FaultRates = field(default_factory=FaultRates)
    ledger_path: Path | None = None  # where the carrier's ledger is appended (sim_ledger)

    def __post_init__(self) -> None:
        if set(self.rates) != set(Outcome):
            raise ValueError("rates must give a share for every outcome")
        if any(share < 0 for share in self.rates.values()):
            raise ValueError("rates must not be negative")
        if not math.isclose(sum(self.rates.values()), 1.0, abs_tol=1e-6):
            raise ValueError("rates must sum to 1")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not 0.0 <= self.sms_delivery_rate <= 1.0:
            raise ValueError("sms_delivery_rate must be between 0 and 1")


@dataclass
class SimulatorStats:
    outcomes: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    messages: int = 0
    messages_by_status: Counter[str] = field(default_factory=Counter)
    inbound_messages: int = 0
    callbacks_posted: int = 0
    callbacks_failed: int = 0

    def as_json(self, calls_live: int) -> dict[str, Any]:
        return {
            "outcomes": {outcome.value: self.outcomes[outcome.value] for outcome in Outcome},
            "calls": self.calls,
            "calls_live": calls_live,
            "messages": self.messages,
            "messages_by_status": dict(self.messages_by_status),
            "inbound_messages": self.inbound_messages,
            "callbacks_posted": self.callbacks_posted,
            "callbacks_failed": self.callbacks_failed,
        }


class _Interrupted(Exception):
    """A call update (new TwiML, a hang-up) or the far end hanging up cut a wait short."""


@dataclass
class SimCall:
    sid: str
    to: str
    from_: str
    outcome: Outcome
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: frozenset[str]
    timeout: int
    amd_callback: str | None
    amd_callback_method: str
    created: dt.datetime
    status: str = "queued"
    updated: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    answered_loop_time: float | None = None
    duration: int | None = None
    sequence: int = 0
    # what an update asked for; the call's task picks it up when woken
    next_twiml: str | None = None
    next_url: tuple[str, str] | None = None
    hang_up: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    machine_hangup: asyncio.TimerHandle | None = None
    # for the ledger and the injected faults: our attempt id, wall-clock moments, the
    # callbacks posted so far (event, url, params, method) and one held back to reorder
    attempt: str | None = None
    answered_wall: float | None = None
    bridged_wall: float | None = None
    history: list[tuple[str, str, dict[str, str], str]] = field(default_factory=list)
    held: tuple[str, str, dict[str, str], str] | None = None

    @property
    def live(self) -> bool:
        return self.status not in FINAL_CALL


@dataclass
class SimMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    segments: int
    created: dt.datetime
    status: str = "queued"
    updated: dt.datetime | None = None
    sent: dt.datetime | None = None
    error_code: int | None = None
    attempt: str | None = None


class SimulatorState:
    """Calls, messages and counters of one simulator app, and its running tasks."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.validator = RequestValidator(config.auth_token)
        self.token = config.auth_token.encode()
        self.calls: dict[str, SimCall] = {}
        self.messages: dict[str, SimMessage] = {}
        self.stats = SimulatorStats()
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.ledger = CarrierLedger(config.ledger_path)
        self.faults = config.faults
        # calls an earlier run of this simulator finished: fetching one still answers
        for record in self.ledger.records():
            if record["kind"] == "call":
                self.calls[record["sid"]] = _ended_call(record)
            elif record["kind"] == "message":
                self.messages[record["sid"]] = _ended_message(record)

    @property
    def calls_live(self) -> int:
        return sum(call.live for call in self.calls.values())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every call and message has played out and its callbacks are posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shut_down(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        # calls cut short by the shutdown end here, with no callback: the carrier's word
        # on them is what a later fetch answers
        for call in self.calls.values():
            if call.live:
                call.status = "completed" if call.answered_wall is not None else "canceled"
                call.end_time = now()
                self.record_call(call, restart=True)
        for message in self.messages.values():
            if message.status not in ("delivered", "undelivered"):
                message.status, message.error_code = "undelivered", 30008  # unknown error
                self.ledger.record(
                    "message",
                    sid=message.sid,
                    to=message.to,
                    attempt=message.attempt,
                    status=message.status,
                    restart=True,
                )
        self.ledger.close()
        if self.session is not None:
            await self.session.close()

    # --- time ---------------------------------------------------------------------------

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(max(simulated, 0.0) / self.config.time_scale)

    # --- outbound HTTP ------------------------------------------------------------------

    async def post_signed(
        self,
        url: str,
        params: Mapping[str, str],
        method: str = "POST",
        *,
        event: str = "status",
        signature: str = "valid",
        fault: str | None = None,
    ) -> tuple[int, str] | None:
        """Send ``params`` to ``url`` as Twilio does; None when it could not be delivered.

        Connection errors are tried again a couple of times; a response of any status is
        final, as with Twilio. ``signature`` "forged" signs with a key that is not the
        account's; every request sent goes into the ledger as ``event``.
        """
        if self.session is None:
            raise RuntimeError("the simulator app is not running")
        sign = self.forged_signature if signature == "forged" else self.signature
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if method.upper() == "GET":
            target = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            body: str | None = None
            headers["X-Twilio-Signature"] = sign(target, {})
        else:
            # the form encoded here, as aiohttp's FormData would, at a fraction of its cost
            target, body = url, urlencode(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-Twilio-Signature"] = sign(url, params)
        answer: tuple[int, str] | None = None
        for attempt in range(CALLBACK_TRIES):
            try:
                async with self.session.request(
                    method.upper(), target, data=body, headers=headers
                ) as response:
                    answer = response.status, await response.text()
                    break
            except (aiohttp.ClientError, TimeoutError):
                if attempt + 1 < CALLBACK_TRIES:
                    await asyncio.sleep(0.05 * 4**attempt)
        if answer is not None and answer[0] < 400:
            self.stats.callbacks_posted += 1
        else:
            self.stats.callbacks_failed += 1
        if answer is None:
            log.warning("a callback could not be delivered after %d tries", CALLBACK_TRIES)
        self.ledger.record(
            "callback",
            event=event,
            sid=params.get("CallSid") or params.get("MessageSid"),
            attempt=_attempt_of(url),
            signature=signature,
            fault=fault,
            status=None if answer is None else answer[0],
            dial=None if event != "answer" or answer is None else "<Dial" in answer[1],
        )
        return answer

    def signature(self, url: str, params: Mapping[str, str]) -> str:
        """``RequestValidator.compute_signature`` for one value per name (HMAC-SHA1 of the
        URL and the sorted names and values), without its per-name lookups."""
        payload = url + "".join(name + params[name] for name in sorted(params))
        mac = hmac.new(self.token, payload.encode(), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode()

    def forged_signature(self, url: str, params: Mapping[str, str]) -> str:
        """A well-formed signature made with a key that is not the account's."""
        payload = url + "".join(name + params[name] for name in sorted(params))
        key = self.rng.randbytes(32)
        return base64.b64encode(hmac.new(key, payload.encode(), hashlib.sha1).digest()).decode()

    # --- calls --------------------------------------------------------------------------

    def draw_outcome(self, to: str) -> Outcome:
        forced = self.config.forced.get(to)
        if forced is not None:
            return forced
        point, total = self.rng.random(), 0.0
        for outcome in Outcome:
            total += self.config.rates[outcome]
            if point < total:
                return outcome
        return Outcome.NO_ANSWER

    def talk_seconds(self) -> float:
        mu = math.log(self.config.mean_talk_seconds) - TALK_SIGMA**2 / 2
        return self.rng.lognormvariate(mu, TALK_SIGMA)

    async def wait(self, call: SimCall, simulated: float) -> None:
        """Let ``simulated`` seconds of the call pass; _Interrupted if something cut in."""
        if call.wake.is_set():
            raise _Interrupted
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                call.wake.wait(), timeout=max(simulated, 0.0) / self.config.time_scale
            )
        if call.wake.is_set():
            raise _Interrupted

    def call_params(self, call: SimCall, status: str) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.config.account_sid,
            "From": call.from_,
            "To": call.to,
            "Called": call.to,
            "Caller": call.from_,
            "CallStatus": status,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
        }

    async def progress(self, call: SimCall, event: str, status: str) -> None:
        """Move the call to ``status`` and post the status callback if ``event`` was asked."""
        call.status = status
        call.updated = now()
        if call.status_callback is None or event not in call.events:
            return
        params = self.call_params(call, status)
        params.update(
            CallbackSource="call-progress-events",
            SequenceNumber=str(call.sequence),
            Timestamp=_rfc2822(call.updated),
        )
        call.sequence += 1
        if status in FINAL_CALL:
            duration = call.duration or 0
            params.update(
                CallDuration=str(duration),
                Duration=str(math.ceil(duration / 60)),  # billed minutes
                SipResponseCode=str(SIP_CODES[status]),
            )
        await self.deliver(
            call, "status", call.status_callback, params, call.status_callback_method
        )

    async def finish(self, call: SimCall, status: str) -> None:
        if call.machine_hangup is not None:
            call.machine_hangup.cancel()
        call.end_time = now()
        if call.answered_loop_time is not None:
            real = asyncio.get_running_loop().time() - call.answered_loop_time
            call.duration = round(real * self.config.time_scale)
        else:
            call.duration = 0
        call.status = status
        self.record_call(call)
        await self.progress(call, "completed", status)
        if self.faults.replay and call.history and self.rng.random() < self.faults.replay:
            self.spawn(self.replay(call))

    def record_call(self, call: SimCall, *, restart: bool = False) -> None:
        answered_by = None
        if call.answered_wall is not None:
            answered_by = "machine" if call.outcome is Outcome.MACHINE else "human"
        self.ledger.record(
            "call",
            sid=call.sid,
            to=call.to,
            **{"from": call.from_},
            attempt=call.attempt,
            created=call.created.timestamp(),
            answered=call.answered_wall,
            ended=time.time(),
            status=call.status,
            duration=call.duration,
            answered_by=answered_by,
            bridged=call.bridged_wall,
            restart=restart,
        )

    # --- callbacks with faults ----------------------------------------------------------

    async def deliver(
        self,
        call: SimCall | None,
        event: str,
        url: str,
        params: dict[str, str],
        method: str = "POST",
    ) -> None:
        """Post a callback the way the configured faults say: maybe a forged copy beside
        it, maybe late, held back behind the call's next callback, or twice."""
        faults, draw = self.faults, self.rng.random
        final = params.get("CallStatus") in FINAL_CALL
        if call is not None:
            call.history.append((event, url, params, method))
        if faults.forge and draw() < faults.forge:
            self.spawn(self.forge(event, url, params, method))
        if faults.delay and draw() < faults.delay:
            self.spawn(self.late(event, url, params, method))
        elif (
            call and not final and call.held is None and faults.reorder and draw() < faults.reorder
        ):
            call.held = (event, url, params, method)
            return
        else:
            await self.post_signed(url, params, method, event=event)
            if faults.duplicate and draw() < faults.duplicate:
                self.spawn(self.again(event, url, params, method))
        if call is not None and call.held is not None:
            (held_event, held_url, held_params, held_method), call.held = call.held, None
            await self.post_signed(
                held_url, held_params, held_method, event=held_event, fault="reorder"
            )

    async def late(self, event: str, url: str, params: dict[str, str], method: str) -> None:
        faults = self.faults
        await self.sleep(self.rng.uniform(faults.delay_min_seconds, faults.delay_max_seconds))
        await self.post_signed(url, params, method, event=event, fault="delay")

    async def again(self, event: str, url: str, params: dict[str, str], method: str) -> None:
        await self.sleep(self.rng.uniform(0.0, 2.0))
        await self.post_signed(url, params, method, event=event, fault="duplicate")

    async def forge(self, event: str, url: str, params: dict[str, str], method: str) -> None:
        """The same callback with a signature that does not hold, its outcome changed."""
        forged = dict(params)
        if "CallStatus" in forged:
            forged["CallStatus"] = self.rng.choice(["completed", "no-answer", "in-progress"])
        if "AnsweredBy" in forged:
            forged["AnsweredBy"] = self.rng.choice(["human", "machine_start"])
        if "MessageStatus" in forged:
            forged["MessageStatus"] = forged["SmsStatus"] = "undelivered"
        await self.post_signed(url, forged, method, event=event, signature="forged")

    async def replay(self, call: SimCall) -> None:
        """One of an ended call's callbacks again, validly signed, after any late one."""
        faults = self.faults
        await self.sleep(
            self.rng.uniform(faults.delay_max_seconds + 10, faults.delay_max_seconds + 60)
        )
        event, url, params, method = self.rng.choice(call.history)
        await self.post_signed(url, params, method, event=event, signature="replay")

    def rest_fault(self) -> str | None:
        """The fault a REST create meets: "500", "429", "stall", "lost" (the call or text
        is made, and the answer is a 500 all the same) or None."""
        if not self.faults.rest or self.rng.random() >= self.faults.rest:
            return None
        return self.rng.choice(["500", "429", "stall", "lost"])

    async def run_call(self, call: SimCall) -> None:
        try:
            await self._play_call(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated call %s broke off", call.sid)
            if call.live:
                call.status = "failed"
                call.end_time = now()

    async def _play_call(self, call: SimCall) -> None:
        outcome = call.outcome
        if outcome is Outcome.FAILED:
            await self.finish(call, "failed")
            return
        await self.progress(call, "initiated", "initiated")
        try:
            await self.wait(call, 0.5)
            await self.progress(call, "ringing", "ringing")
            if outcome is Outcome.BUSY:
                await self.wait(call, self.rng.uniform(2.0, 4.0))
                await self.finish(call, "busy")
                return
            if outcome is Outcome.NO_ANSWER:
                await self.wait(call, call.timeout)
                await self.finish(call, "no-answer")
                return
            ring = self.config.mean_ring_seconds * self.rng.uniform(0.5, 1.5)
            await self.wait(call, min(ring, max(call.timeout - 1.0, 0.5)))
        except _Interrupted:
            await self.finish(call, "canceled")
            return
        call.start_time = now()
        call.answered_loop_time = asyncio.get_running_loop().time()
        call.answered_wall = time.time()
        await self.progress(call, "answered", "in-progress")
        if call.amd_callback is not None:
            self.spawn(self.post_amd(call))
        if outcome is Outcome.MACHINE:
            # the machine hangs up a few seconds after its beep unless told otherwise
            call.machine_hangup = asyncio.get_running_loop().call_later(
                (self.config.machine_greeting_seconds + MACHINE_TAIL_SECONDS)
                / self.config.time_scale,
                self.remote_hang_up,
                call,
            )
        twiml = call.twiml
        if twiml is None and call.url is not None:
            twiml = await self.fetch_twiml(call, call.url, call.method)
        while True:
            try:
                await self.obey(call, twiml or "<Response/>")
                break
            except _Interrupted:
                call.wake.clear()
                if call.hang_up:
                    break
                if call.next_url is not None:
                    url, method = call.next_url
                    call.next_url = None
                    twiml = await self.fetch_twiml(call, url, method)
                else:
                    twiml, call.next_twiml = call.next_twiml, None
        await self.finish(call, "completed")

    def remote_hang_up(self, call: SimCall) -> None:
        call.hang_up = True
        call.wake.set()

    async def post_amd(self, call: SimCall) -> None:
        human = call.outcome is Outcome.HUMAN
        seconds = HUMAN_AMD_SECONDS if human else self.config.machine_greeting_seconds
        await self.sleep(seconds)
        if not call.live or call.amd_callback is None:
            return
        params = {
            "CallSid": call.sid,
            "AccountSid": self.config.account_sid,
            "AnsweredBy": "human" if human else "machine_end_beep",
            "MachineDetectionDuration": str(round(seconds * 1000)),
        }
        await self.deliver(call, "amd", call.amd_callback, params, call.amd_callback_method)

    async def fetch_twiml(self, call: SimCall, url: str, method: str) -> str | None:
        params = self.call_params(call, "in-progress")
        call.history.append(("answer", url, params, method))
        answer = await self.post_signed(url, params, method, event="answer")
        if answer is None or answer[0] >= 400:
            return None
        return answer[1]

    async def obey(self, call: SimCall, twiml: str) -> None:
        """Play a TwiML document on an answered call, verb by verb."""
        try:
            # the documents come from the project's own webhooks, and expat resolves no
            # external entities
            root = ET.fromstring(twiml)  # noqa: S314
        except ET.ParseError:
            log.warning("call %s: the answer webhook returned no TwiML", call.sid)
            return
        for verb in root:
            tag = verb.tag
            if tag == "Hangup" or tag == "Reject":
                return
            if tag == "Say":
                words = len((verb.text or "").split())
                loops = int(verb.get("loop", "1") or "1")
                await self.wait(call, max(loops, 1) * words / WORDS_PER_SECOND)
            elif tag == "Pause":
                await self.wait(call, float(verb.get("length", "1")))
            elif tag == "Play":
                await self.wait(call, 5.0)
            elif tag == "Dial":
                await self.dial(call, verb)
            elif tag == "Redirect" and verb.text:
                twiml_next = await self.fetch_twiml(
                    call, verb.text.strip(), verb.get("method", "POST")
                )
                await self.obey(call, twiml_next or "<Response/>")
                return

    async def dial(self, call: SimCall, verb: ET.Element) -> None:
        clients = [(client.text or "").strip() for client in verb.iter("Client")]
        if not clients:
            return
        if call.bridged_wall is None:
            call.bridged_wall = time.time()
        if call.outcome is Outcome.MACHINE:
            # an agent bridged to a machine hears the greeting, then the machine hangs up
            await self.wait(call, self.config.machine_greeting_seconds + MACHINE_TAIL_SECONDS)
            return
        if call.machine_hangup is not None:
            call.machine_hangup.cancel()
        await self.wait(call, self.talk_seconds())

    # --- messages -----------------------------------------------------------------------

    async def run_message(self, message: SimMessage) -> None:
        try:
            await self.sleep(self.rng.uniform(0.5, 1.5))
            await self.message_status(message, "sent")
            await self.sleep(self.rng.uniform(1.0, 4.0))
            if self.rng.random() < self.config.sms_delivery_rate:
                await self.message_status(message, "delivered")
            else:
                message.error_code = 30003
                await self.message_status(message, "undelivered")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated message %s broke off", message.sid)

    async def message_status(self, message: SimMessage, status: str) -> None:
        message.status = status
        message.updated = now()
        if status == "sent":
            message.sent = message.updated
        self.stats.messages_by_status[status] += 1
        if status in ("delivered", "undelivered"):
            self.ledger.record(
                "message", sid=message.sid, to=message.to, attempt=message.attempt, status=status
            )
        if message.status_callback is None:
            return
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": self.config.account_sid,
            "From": message.from_,
            "To": message.to,
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": API_VERSION,
        }
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        await self.deliver(None, "sms-status", message.status_callback, params)


SIMULATOR_STATE = web.AppKey("simulator_state", SimulatorState)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def rfc2822(moment: dt.datetime | None) -> str | None:
    return None if moment is None else _rfc2822(moment)


@functools.lru_cache(maxsize=16)
def _rfc2822(moment: dt.datetime) -> str:
    """Times here are whole seconds: a busy second formats its time once."""
    return format_datetime(moment)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _attempt_of(url: str | None) -> str | None:
    """Our attempt id, from the ``?attempt=`` of a callback URL."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("attempt")
    return values[0] if values else None


def _ended_message(record: Mapping[str, Any]) -> SimMessage:
    """A text an earlier run of the simulator finished, as its ledger record tells it."""
    message = SimMessage(
        sid=record["sid"],
        to=record["to"],
        from_="",
        body="",
        status_callback=None,
        segments=1,
        created=dt.datetime.fromtimestamp(record["at"], dt.UTC).replace(microsecond=0),
        status=record["status"],
        attempt=record.get("attempt"),
    )
    if message.status == "undelivered":
        message.error_code = 30008
    return message


def _ended_call(record: Mapping[str, Any]) -> SimCall:
    """A call an earlier run of the simulator finished, as its ledger record tells it."""
    answered = {"human": Outcome.HUMAN, "machine": Outcome.MACHINE}.get(record["answered_by"])
    unanswered = {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER}.get(record["status"])
    call = SimCall(
        sid=record["sid"],
        to=record["to"],
        from_=record["from"],
        outcome=answered or unanswered or Outcome.FAILED,
        url=None,
        method="POST",
        twiml=None,
        status_callback=None,
        status_callback_method="POST",
        events=frozenset(),
        timeout=0,
        amd_callback=None,
        amd_callback_method="POST",
        created=dt.datetime.fromtimestamp(record["created"], dt.UTC).replace(microsecond=0),
        status=record["status"],
    )
    call.end_time = dt.datetime.fromtimestamp(record["ended"], dt.UTC).replace(microsecond=0)
    if record.get("answered") is not None:
        call.start_time = dt.datetime.fromtimestamp(record["answered"], dt.UTC).replace(
            microsecond=0
        )
    call.duration = int(record.get("duration") or 0)
    call.attempt = record.get("attempt")
    return call


def segments_of(body: str) -> int:
    return max(len(sms_split(body).parts), 1)


# --- JSON shapes --------------------------------------------------------------------------


def call_json(account_sid: str, call: SimCall) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.sid}"
    # the Call resource has no "initiated"; Twilio shows it as queued until it rings
    status = "queued" if call.status == "initiated" else call.status
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.created),
        "date_updated": rfc2822(call.updated or call.created),
        "parent_call_sid": None,
        "account_sid": account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "phone_number_sid": None,
        "status": status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration is None else str(call.duration),
        "price": None,
        "price_unit": "USD",
        "direction": "outbound-api",
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"{uri}.json",
        "subresource_uris": {name: f"{uri}/{_camel(name)}.json" for name in CALL_SUBRESOURCES},
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def message_json(account_sid: str, message: SimMessage) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "body": message.body,
        "num_segments": str(message.segments),
        "direction": "outbound-api",
        "from": message.from_,
        "to": message.to,
        "date_updated": rfc2822(message.updated or message.created),
        "price": None,
        "error_message": None,
        "uri": f"{uri}.json",
        "account_sid": account_sid,
        "num_media": "0",
        "status": message.status,
        "messaging_service_sid": None,
        "sid": message.sid,
        "date_sent": rfc2822(message.sent),
        "date_created": rfc2822(message.created),
        "error_code": message.error_code,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
    }


def twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


# --- handlers -----------------------------------------------------------------------------


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
        attempt=_attempt_of(str(form.get("StatusCallback", ""))),
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
    call.attempt = _attempt_of(call.status_callback)
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
        attempt=_attempt_of(str(form.get("StatusCallback", ""))),
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


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    state = app[SIMULATOR_STATE]
    state.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    yield
    await state.shut_down()


def create_simulator_app(config: SimulatorConfig) -> web.Application:
    app = web.Application(middlewares=[twilio_auth])
    app[SIMULATOR_STATE] = SimulatorState(config)
    app.cleanup_ctx.append(_http_session)
    account = f"/{API_VERSION}/Accounts/{{AccountSid}}"
    app.router.add_post(f"{account}/Calls.json", create_call, name="calls")
    app.router.add_get(f"{account}/Calls/{{Sid}}.json", fetch_call, name="call")
    app.router.add_post(f"{account}/Calls/{{Sid}}.json", update_call, name="call_update")
    app.router.add_post(f"{account}/Messages.json", create_message, name="messages")
    app.router.add_get(f"{account}/Messages/{{Sid}}.json", fetch_message, name="message")
    app.router.add_post("/simulator/sms/inbound", inbound_sms, name="sms_inbound")
    app.router.add_get("/simulator/stats", stats, name="stats")
    app.router.add_get("/simulator/ledger", ledger, name="ledger")
    return app


async def run_simulator(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve the simulator on ``host:port`` until cancelled."""
    runner = web.AppRunner(create_simulator_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("carrier simulator listening on http://%s:%d", host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
