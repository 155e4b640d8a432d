"""How a simulated call plays out: it draws an outcome (human, machine, busy, no answer,
failed), posts its progress callbacks, fetches the answer webhook and obeys the TwiML it
returns (``<Dial><Client>``, ``<Say>``, ``<Pause>``, ``<Hangup/>``, ``<Redirect>``), posts
the async AMD result, and lets a call update replace what the call is doing.

Durations are simulated seconds: with ``time_scale=60`` a three-minute conversation lasts
three real seconds and is reported as 180 s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import xml.etree.ElementTree as ET

from simulation.carrier.callbacks import CallbackSender
from simulation.carrier.config import Outcome
from simulation.carrier.resources import API_VERSION, FINAL_CALL, SimCall, format_rfc2822, now

__all__ = ["CallPlayer"]

log = logging.getLogger(__name__)

SIP_CODES = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 500, "canceled": 487}
TALK_SIGMA = 0.6
WORDS_PER_SECOND = 2.5
HUMAN_AMD_SECONDS = 2.5
MACHINE_TAIL_SECONDS = 4.0  # how long a machine keeps the line after its beep


class _Interrupted(Exception):
    """A call update (new TwiML, a hang-up) or the far end hanging up cut a wait short."""


class CallPlayer(CallbackSender):
    """Plays an outbound call out: its outcome, its progress callbacks, the TwiML it obeys."""

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
            Timestamp=format_rfc2822(call.updated),
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
            if twiml is None and call.fallback is not None and call.live:
                # Twilio asks the fallback URL when the answer URL failed, saying why
                url, method = call.fallback
                error = {"ErrorCode": "11200", "ErrorUrl": call.url}
                twiml = await self.fetch_twiml(call, url, method, event="fallback", extra=error)
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

    async def fetch_twiml(
        self,
        call: SimCall,
        url: str,
        method: str,
        *,
        event: str = "answer",
        extra: dict[str, str] | None = None,
    ) -> str | None:
        params = {**self.call_params(call, "in-progress"), **(extra or {})}
        call.history.append((event, url, params, method))
        answer = await self.post_signed(url, params, method, event=event)
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
