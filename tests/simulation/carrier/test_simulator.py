"""The carrier simulator, driven through the real provider, calling back a local receiver.

The receiver stands where our webhooks will: it checks every X-Twilio-Signature with
Twilio's RequestValidator and records what came in, and answers with TwiML per attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from dialer.provider import (
    CallbackUrls,
    PermanentProviderError,
    TwilioProvider,
    connect_to_agent_twiml,
    sms_reply_twiml,
    voicemail_twiml,
)
from simulation.carrier.config import Outcome, SimulatorConfig
from simulation.carrier.server import create_simulator_app
from simulation.carrier.state import SIMULATOR_STATE, SimulatorState

T = TypeVar("T")
SID = "AC00000000000000000000000000000000"
TOKEN = "simulator-token"
FROM = "+15005550006"
HUMAN, MACHINE, BUSY, NO_ANSWER, FAILED = (
    "+12125550101",
    "+12125550102",
    "+12125550103",
    "+12125550104",
    "+12125550105",
)
FORCED = {
    HUMAN: Outcome.HUMAN,
    MACHINE: Outcome.MACHINE,
    BUSY: Outcome.BUSY,
    NO_ANSWER: Outcome.NO_ANSWER,
    FAILED: Outcome.FAILED,
}
SAY_AND_HANG_UP = "<Response><Say>Hello there, goodbye now.</Say><Hangup/></Response>"


@dataclass
class Receiver:
    """Our side of the webhooks: records signed callbacks, answers with chosen TwiML."""

    validator: RequestValidator
    answers: dict[str, str] = field(default_factory=dict)  # attempt -> answer TwiML
    on_amd: Callable[[dict[str, str]], Awaitable[None]] | None = None
    records: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bad_signatures: int = 0
    # attempts whose first answer request fails, as on a web process that dies on it
    failing_once: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/twilio/{kind}/{event}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        params = {key: str(value) for key, value in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not self.validator.validate(str(request.url), params, signature):
            self.bad_signatures += 1
        self.records.append((request.path, params))
        if request.path == "/twilio/voice/answer":
            if request.query["attempt"] in self.failing_once:
                self.failing_once.discard(request.query["attempt"])
                return web.Response(status=500)
            twiml = self.answers.get(request.query["attempt"], "<Response/>")
            return web.Response(text=twiml, content_type="text/xml")
        if request.path == "/twilio/voice/amd" and self.on_amd is not None:
            await self.on_amd(params)
        if request.path == "/twilio/sms/inbound":
            return web.Response(text=sms_reply_twiml("Thanks"), content_type="text/xml")
        return web.Response(text="")

    def statuses(self, call_sid: str) -> list[str]:
        return [
            p["CallStatus"]
            for path, p in self.records
            if path == "/twilio/voice/status" and p["CallSid"] == call_sid
        ]

    def final(self, call_sid: str) -> dict[str, str]:
        finals = [
            p
            for path, p in self.records
            if path == "/twilio/voice/status" and p["CallSid"] == call_sid and "CallDuration" in p
        ]
        assert len(finals) == 1
        return finals[0]


@dataclass
class World:
    receiver: Receiver
    provider: TwilioProvider
    state: SimulatorState
    simulator: TestServer


@asynccontextmanager
async def world(**config: Any) -> AsyncIterator[World]:
    receiver = Receiver(RequestValidator(TOKEN))
    receiver_server = TestServer(receiver.app())
    await receiver_server.start_server()
    app = create_simulator_app(
        SimulatorConfig(
            forced=FORCED,
            inbound_sms_url=str(receiver_server.make_url("/twilio/sms/inbound")),
            seed=7,
            **config,
        )
    )
    simulator = TestServer(app)
    await simulator.start_server()
    provider = TwilioProvider(
        account_sid=SID,
        auth_token=TOKEN,
        from_number=FROM,
        callbacks=CallbackUrls(str(receiver_server.make_url(""))),
        api_base=str(simulator.make_url("")),
    )
    try:
        yield World(receiver, provider, app[SIMULATOR_STATE], simulator)
    finally:
        await provider.close()
        await simulator.close()
        await receiver_server.close()


def run(scenario: Callable[[World], Awaitable[T]], **config: Any) -> T:
    async def main() -> T:
        async with world(**config) as w:
            result = await scenario(w)
            assert w.receiver.bad_signatures == 0
            return result

    return asyncio.run(main())


def test_a_human_answers_and_talks_to_an_agent() -> None:
    async def scenario(w: World) -> tuple[list[str], dict[str, str]]:
        w.receiver.answers["1"] = connect_to_agent_twiml(7)
        sid = await w.provider.place_call(attempt_id=1, to=HUMAN)
        await w.state.idle()
        return w.receiver.statuses(sid), w.receiver.final(sid)

    statuses, final = run(scenario, time_scale=600, mean_talk_seconds=60)
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert int(final["CallDuration"]) > 5
    assert final["SequenceNumber"] == "3"
    assert final["CallbackSource"] == "call-progress-events"
    assert final["SipResponseCode"] == "200"


@pytest.mark.parametrize(
    ("to", "statuses", "sip"),
    [
        (BUSY, ["initiated", "ringing", "busy"], "486"),
        (NO_ANSWER, ["initiated", "ringing", "no-answer"], "487"),
        (FAILED, ["failed"], "500"),
    ],
)
def test_unanswered_calls_end_with_their_outcome(to: str, statuses: list[str], sip: str) -> None:
    async def scenario(w: World) -> tuple[list[str], dict[str, str]]:
        sid = await w.provider.place_call(attempt_id=2, to=to)
        await w.state.idle()
        assert not any(path == "/twilio/voice/answer" for path, _ in w.receiver.records)
        return w.receiver.statuses(sid), w.receiver.final(sid)

    seen, final = run(scenario, time_scale=1000)
    assert seen == statuses
    assert final["CallDuration"] == "0"
    assert final["SipResponseCode"] == sip


def test_say_and_hangup_is_a_short_call() -> None:
    async def scenario(w: World) -> dict[str, str]:
        w.receiver.answers["3"] = SAY_AND_HANG_UP
        sid = await w.provider.place_call(attempt_id=3, to=HUMAN, machine_detection=False)
        await w.state.idle()
        answer = [p for path, p in w.receiver.records if path == "/twilio/voice/answer"]
        assert answer[0]["CallStatus"] == "in-progress"
        assert answer[0]["CallSid"] == sid
        return w.receiver.final(sid)

    # The duration counts the webhook's round trip too, in clock seconds; at a
    # modest time scale a loaded machine's latency stays well under a second.
    final = run(scenario, time_scale=10, mean_talk_seconds=600)
    assert final["CallStatus"] == "completed"
    assert 1 <= int(final["CallDuration"]) <= 4  # five words at 2.5 a second


def test_an_answer_url_that_fails_is_asked_again_at_the_fallback_url() -> None:
    async def scenario(w: World) -> tuple[list[dict[str, str]], dict[str, str]]:
        w.receiver.answers["4"] = SAY_AND_HANG_UP
        w.receiver.failing_once.add("4")
        sid = await w.provider.place_call(attempt_id=4, to=HUMAN, machine_detection=False)
        await w.state.idle()
        asked = [p for path, p in w.receiver.records if path == "/twilio/voice/answer"]
        return asked, w.receiver.final(sid)

    asked, final = run(scenario, time_scale=10, mean_talk_seconds=600)
    assert len(asked) == 2
    assert "ErrorCode" not in asked[0]
    assert (asked[1]["ErrorCode"], asked[1]["ErrorUrl"].split("?")[1]) == ("11200", "attempt=4")
    assert 1 <= int(final["CallDuration"]) <= 4, "the fallback's TwiML was played"


def test_a_machine_gets_the_voicemail_after_the_beep() -> None:
    async def scenario(w: World) -> tuple[dict[str, str], list[dict[str, str]]]:
        async def drop_voicemail(params: dict[str, str]) -> None:
            if params["AnsweredBy"] == "machine_end_beep":
                twiml = voicemail_twiml("Northwind Telecom", FROM)
                await w.provider.update_call(params["CallSid"], twiml=twiml)

        w.receiver.answers["4"] = '<Response><Pause length="60"/></Response>'
        w.receiver.on_amd = drop_voicemail
        sid = await w.provider.place_call(attempt_id=4, to=MACHINE)
        await w.state.idle()
        amd = [p for path, p in w.receiver.records if path == "/twilio/voice/amd"]
        return w.receiver.final(sid), amd

    final, amd = run(scenario, time_scale=50)
    assert [p["AnsweredBy"] for p in amd] == ["machine_end_beep"]
    # the greeting (12 s) and the spoken message, not the 60 s pause it replaced
    assert final["CallStatus"] == "completed"
    assert 18 <= int(final["CallDuration"]) < 45


def test_a_machine_left_alone_hangs_up_after_its_greeting() -> None:
    async def scenario(w: World) -> dict[str, str]:
        w.receiver.answers["5"] = '<Response><Pause length="60"/></Response>'
        sid = await w.provider.place_call(attempt_id=5, to=MACHINE)
        await w.state.idle()
        return w.receiver.final(sid)

    final = run(scenario, time_scale=20)
    assert 12 <= int(final["CallDuration"]) <= 20


def test_hang_up_ends_a_live_call() -> None:
    async def scenario(w: World) -> tuple[dict[str, str], str]:
        w.receiver.answers["6"] = connect_to_agent_twiml(3)
        sid = await w.provider.place_call(attempt_id=6, to=HUMAN, machine_detection=False)
        while w.state.calls[sid].status != "in-progress":
            await asyncio.sleep(0.01)
        await w.provider.hang_up(sid)
        await w.state.idle()
        return w.receiver.final(sid), w.state.calls[sid].status

    final, status = run(scenario, time_scale=20, mean_talk_seconds=3000)
    assert status == "completed"
    assert int(final["CallDuration"]) < 60


def test_texts_are_sent_then_delivered() -> None:
    async def scenario(w: World) -> list[dict[str, str]]:
        sid = await w.provider.send_sms(attempt_id=8, to=HUMAN, body="Your plan renews soon.")
        await w.state.idle()
        assert w.state.messages[sid].segments == 1
        return [p for path, p in w.receiver.records if path == "/twilio/sms/status"]

    callbacks = run(scenario, time_scale=1000, sms_delivery_rate=1.0)
    assert [p["MessageStatus"] for p in callbacks] == ["sent", "delivered"]
    assert all(p["SmsStatus"] == p["MessageStatus"] for p in callbacks)
    assert "ErrorCode" not in callbacks[-1]


def test_undelivered_texts_carry_error_30003() -> None:
    async def scenario(w: World) -> list[dict[str, str]]:
        await w.provider.send_sms(attempt_id=9, to=HUMAN, body="x" * 200)
        await w.state.idle()
        return [p for path, p in w.receiver.records if path == "/twilio/sms/status"]

    callbacks = run(scenario, time_scale=1000, sms_delivery_rate=0.0)
    assert [p["MessageStatus"] for p in callbacks] == ["sent", "undelivered"]
    assert callbacks[-1]["ErrorCode"] == "30003"


def test_an_inbound_text_reaches_our_webhook_signed() -> None:
    async def scenario(w: World) -> tuple[dict[str, Any], list[dict[str, str]]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                w.simulator.make_url("/simulator/sms/inbound"),
                data={"From": HUMAN, "To": FROM, "Body": "STOP"},
            ) as response,
        ):
            answer: dict[str, Any] = await response.json()
        inbound = [p for path, p in w.receiver.records if path == "/twilio/sms/inbound"]
        return answer, inbound

    answer, inbound = run(scenario)
    assert answer["status"] == 200
    assert "<Message>Thanks</Message>" in answer["reply"]
    assert inbound[0]["Body"] == "STOP"
    assert inbound[0]["NumMedia"] == "0"
    assert inbound[0]["MessageSid"].startswith("SM")


def test_outcomes_follow_the_configured_rates() -> None:
    rates = {
        Outcome.HUMAN: 0.30,
        Outcome.MACHINE: 0.15,
        Outcome.BUSY: 0.08,
        Outcome.NO_ANSWER: 0.40,
        Outcome.FAILED: 0.07,
    }
    calls = 400

    async def scenario(w: World) -> dict[str, Any]:
        headers = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
        url = w.simulator.make_url(f"/2010-04-01/Accounts/{SID}/Calls.json")
        async with aiohttp.ClientSession(headers=headers) as session:
            for n in range(calls):
                form = {"To": f"+1212555{n:04d}", "From": FROM, "Twiml": "<Response/>"}
                async with session.post(url, data=form) as response:
                    assert response.status == 201
            await w.state.idle()
            async with session.get(w.simulator.make_url("/simulator/stats")) as response:
                stats: dict[str, Any] = await response.json()
        return stats

    stats = run(scenario, time_scale=20000, rates=rates)
    assert stats["calls"] == calls
    assert stats["calls_live"] == 0
    for outcome, share in rates.items():
        assert abs(stats["outcomes"][outcome.value] / calls - share) < 0.07, outcome


def test_rates_must_cover_every_outcome_and_sum_to_one() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SimulatorConfig(rates=dict.fromkeys(Outcome, 0.1))
    with pytest.raises(ValueError, match="every outcome"):
        SimulatorConfig(rates={Outcome.HUMAN: 1.0})


def test_a_wrong_token_is_refused() -> None:
    async def scenario(w: World) -> PermanentProviderError:
        wrong = TwilioProvider(
            account_sid=SID,
            auth_token="not-the-token",
            from_number=FROM,
            callbacks=CallbackUrls("http://127.0.0.1:9"),
            api_base=str(w.simulator.make_url("")),
        )
        try:
            with pytest.raises(PermanentProviderError) as raised:
                await wrong.place_call(attempt_id=1, to=HUMAN)
        finally:
            await wrong.close()
        assert w.state.calls == {}
        return raised.value

    error = run(scenario)
    assert error.status == 401
    assert error.code == 20003
