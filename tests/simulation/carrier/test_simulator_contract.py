"""The simulator against Twilio's own OpenAPI description of the 2010-04-01 API.

Requests come from the real ``twilio`` client (through TwilioProvider pointed at the
simulator) and are captured as they arrive, bytes and all; each one and the simulator's
answer are checked with openapi-core against the spec, with the simulator's address
standing in for the spec's server, https://api.twilio.com. The spec declares no error
responses, so an error body is checked against Twilio's documented error shape instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from jsonschema import validate as validate_json
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from dialer.provider import (
    CallbackUrls,
    PermanentProviderError,
    TwilioProvider,
    connect_to_agent_twiml,
)
from simulation.carrier.config import SimulatorConfig
from simulation.carrier.server import create_simulator_app
from simulation.carrier.state import SIMULATOR_STATE

SPEC = Path(__file__).resolve().parents[4] / "shared" / "data" / "twilio_api_v2010.json"
TWILIO = "https://api.twilio.com"
SID = "AC00000000000000000000000000000000"
TOKEN = "simulator-token"
TO = "+12125550142"
ERROR_SHAPE = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": "^https://www\\.twilio\\.com/docs/errors/"},
        "status": {"type": "integer"},
    },
}


@dataclass
class Exchange:
    request: MockRequest
    response: MockResponse


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    if not SPEC.is_file():
        pytest.skip(f"Twilio's OpenAPI spec is not on this machine (looked for {SPEC})")
    return OpenAPI.from_dict(json.loads(SPEC.read_text()))


def _recorder(exchanges: list[Exchange]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()  # kept by aiohttp, so the handler still reads the form
        response = await handler(request)
        assert isinstance(response, web.Response)
        assert isinstance(response.body, bytes)
        exchanges.append(
            Exchange(
                MockRequest(
                    TWILIO,
                    request.method,
                    request.path,
                    args=list(request.query.items()),  # type: ignore[arg-type]
                    headers=dict(request.headers),
                    data=body,
                    content_type=request.content_type,
                ),
                MockResponse(response.body, response.status, content_type=response.content_type),
            )
        )
        return response

    return record


def _exchanges(scenario: Callable[[TwilioProvider], Awaitable[None]]) -> list[Exchange]:
    async def main() -> list[Exchange]:
        exchanges: list[Exchange] = []
        app = create_simulator_app(SimulatorConfig(time_scale=1000, seed=1))
        app.middlewares.insert(0, _recorder(exchanges))
        async with TestServer(app) as server:
            provider = TwilioProvider(
                account_sid=SID,
                auth_token=TOKEN,
                from_number="+15005550006",
                # nothing listens here: the callbacks fail quietly, which is not under test
                callbacks=CallbackUrls("http://127.0.0.1:9"),
                api_base=str(server.make_url("")),
            )
            try:
                await scenario(provider)
            finally:
                await provider.close()
                for call in app[SIMULATOR_STATE].calls.values():
                    call.hang_up = True
                    call.wake.set()
        return exchanges

    return asyncio.run(main())


def _check(openapi: OpenAPI, exchange: Exchange) -> dict[str, Any]:
    openapi.validate_request(exchange.request)
    openapi.validate_response(exchange.request, exchange.response)
    body: dict[str, Any] = json.loads(exchange.response.data)
    return body


def test_calls_create_update_and_fetch_follow_the_spec(openapi: OpenAPI) -> None:
    async def scenario(provider: TwilioProvider) -> None:
        sid = await provider.place_call(attempt_id=1, to=TO)
        await provider.update_call(sid, twiml=connect_to_agent_twiml(2))
        # the library's own fetch, through the same routed client
        await provider._client.calls(sid).fetch_async()
        await provider.hang_up(sid)

    create, update, fetch, hang_up = _exchanges(scenario)
    created = _check(openapi, create)
    assert create.response.status_code == 201
    assert created["status"] == "queued"
    assert created["direction"] == "outbound-api"
    form = create.request.body.decode()
    assert "StatusCallbackEvent=initiated" in form
    assert "StatusCallbackEvent=completed" in form
    assert "MachineDetection=DetectMessageEnd" in form
    assert "AsyncAmd=true" in form
    for exchange in (update, fetch, hang_up):
        assert exchange.response.status_code == 200
        assert _check(openapi, exchange)["sid"] == created["sid"]
    assert fetch.request.method == "get"


def test_messages_create_follows_the_spec(openapi: OpenAPI) -> None:
    async def scenario(provider: TwilioProvider) -> None:
        await provider.send_sms(attempt_id=3, to=TO, body="Ваш тариф обновлён" * 5)

    (create,) = _exchanges(scenario)
    message = _check(openapi, create)
    assert create.response.status_code == 201
    assert message["sid"].startswith("SM")
    assert message["num_segments"] == "2"  # 90 UCS-2 characters: two 67-character parts


def test_the_lists_of_our_calls_and_texts_to_a_number_follow_the_spec(openapi: OpenAPI) -> None:
    found: dict[str, Any] = {}

    async def scenario(provider: TwilioProvider) -> None:
        first = await provider.place_call(attempt_id=1, to=TO)
        await provider.place_call(attempt_id=2, to="+12125550143")
        second = await provider.place_call(attempt_id=3, to=TO)
        text = await provider.send_sms(attempt_id=4, to=TO, body="Your plan")
        found["calls"] = await provider.calls_to(TO)
        found["texts"] = await provider.messages_to(TO)
        found["expected"] = ([second, first], [text])

    *_, calls, texts = _exchanges(scenario)
    for exchange in (calls, texts):
        assert exchange.response.status_code == 200
        _check(openapi, exchange)
    calls_sids, text_sids = found["expected"]
    assert [sid for sid, _, _ in found["calls"]] == calls_sids, "newest first, that number only"
    assert [sid for sid, _ in found["texts"]] == text_sids


def test_the_accounts_numbers_follow_the_spec(openapi: OpenAPI) -> None:
    found: list[str] = []

    async def scenario(provider: TwilioProvider) -> None:
        found.extend(await provider.owned_numbers())

    (listed,) = _exchanges(scenario)
    assert listed.response.status_code == 200
    _check(openapi, listed)
    assert found == list(SimulatorConfig().owned_numbers)


def test_an_error_answer_has_twilios_error_shape(openapi: OpenAPI) -> None:
    async def scenario(provider: TwilioProvider) -> None:
        with pytest.raises(PermanentProviderError) as raised:
            await provider.update_call("CA" + "0" * 32, twiml="<Response/>")
        assert (raised.value.status, raised.value.code) == (404, 20404)

    (update,) = _exchanges(scenario)
    openapi.validate_request(update.request)
    assert update.response.status_code == 404
    validate_json(json.loads(update.response.data), ERROR_SHAPE)
