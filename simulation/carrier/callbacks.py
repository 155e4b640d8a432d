"""The callback sender: Twilio-signed requests to the web app, tried again on connection
errors, each written to the ledger, with the faults a run injects (forged, late, held
back behind the next one, duplicated, replayed after the call ended)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from urllib.parse import urlencode

import aiohttp

from simulation.carrier.core import CarrierCore
from simulation.carrier.resources import FINAL_CALL, SimCall, attempt_of

__all__ = ["ANSWERS", "CALLBACK_TRIES", "CallbackSender"]

log = logging.getLogger(__name__)

CALLBACK_TRIES = 3
# the requests whose answer is TwiML for the call: its URL, then its fallback URL
ANSWERS = ("answer", "fallback")


class CallbackSender(CarrierCore):
    """Posts Twilio-signed requests to the web app, with the configured faults."""

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
            attempt=attempt_of(url),
            signature=signature,
            fault=fault,
            status=None if answer is None else answer[0],
            dial=None if event not in ANSWERS or answer is None else "<Dial" in answer[1],
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
