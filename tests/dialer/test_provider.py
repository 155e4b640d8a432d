"""The Twilio provider: requests routed to the API base, errors sorted, TwiML built right."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dialer.provider import (
    CallbackUrls,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    TwilioProvider,
    abandon_twiml,
    agent_identity,
    connect_to_agent_twiml,
    route_url,
    sms_reply_twiml,
    voicemail_twiml,
)

SID = "AC00000000000000000000000000000000"
TO = "+12125550142"


@pytest.mark.parametrize(
    ("url", "routed"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json?PageSize=5",
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Calls.json?PageSize=5",
        ),
        (
            "https://messaging.twilio.com/v1/Services",
            "http://127.0.0.1:8765/v1/Services",
        ),
        ("https://example.com/hook", "https://example.com/hook"),
    ],
)
def test_twilio_hosts_are_sent_to_the_api_base(url: str, routed: str) -> None:
    assert route_url(url, "http://127.0.0.1:8765/") == routed
    assert route_url(url, None) == url


def test_callback_urls_carry_the_attempt() -> None:
    urls = CallbackUrls("http://127.0.0.1:8080/")
    assert urls.voice_status(5) == "http://127.0.0.1:8080/twilio/voice/status?attempt=5"
    assert urls.voice_answer(5) == "http://127.0.0.1:8080/twilio/voice/answer?attempt=5"
    assert urls.voice_amd(5) == "http://127.0.0.1:8080/twilio/voice/amd?attempt=5"
    assert urls.sms_status(5) == "http://127.0.0.1:8080/twilio/sms/status?attempt=5"


def _stub(status: int, code: int | None) -> tuple[web.Application, list[web.Request]]:
    """A Twilio stand-in that answers every create with one error."""
    seen: list[web.Request] = []

    async def answer(request: web.Request) -> web.Response:
        await request.post()
        seen.append(request)
        body = {"code": code, "message": f"The 'To' number {TO} is not valid", "status": status}
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/{resource}", answer)
    return app, seen


def _provider(api_base: str) -> TwilioProvider:
    return TwilioProvider(
        account_sid=SID,
        auth_token="token",
        from_number="+15005550006",
        callbacks=CallbackUrls("http://127.0.0.1:8080"),
        api_base=api_base,
        request_timeout=2.0,
    )


def _error_from_stub(status: int, code: int | None) -> tuple[ProviderError, str]:
    async def main() -> tuple[ProviderError, str]:
        app, seen = _stub(status, code)
        async with TestServer(app) as server:
            provider = _provider(str(server.make_url("")))
            try:
                with pytest.raises(ProviderError) as raised:
                    await provider.place_call(attempt_id=1, to=TO)
            finally:
                await provider.close()
        assert seen[0].path == f"/2010-04-01/Accounts/{SID}/Calls.json"
        return raised.value, seen[0].headers["Authorization"]

    return asyncio.run(main())


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (503, None), (500, 20500)])
def test_busy_or_failing_carrier_is_transient(status: int, code: int | None) -> None:
    error, authorization = _error_from_stub(status, code)
    assert isinstance(error, TransientProviderError)
    assert error.status == status
    # a 429 is refused before any work; a 5xx may come after the call was placed
    assert error.maybe_placed is (status != 429)
    assert authorization.startswith("Basic ")


def test_a_rejected_request_is_permanent_and_keeps_twilio_code() -> None:
    error, _ = _error_from_stub(400, 21211)
    assert isinstance(error, PermanentProviderError)
    assert (error.status, error.code) == (400, 21211)
    assert TO not in str(error)


def test_an_unreachable_carrier_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes

    async def main() -> ProviderError:
        provider = _provider(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(TransientProviderError) as raised:
                await provider.send_sms(attempt_id=1, to=TO, body="hello")
        finally:
            await provider.close()
        return raised.value

    error = asyncio.run(main())
    assert error.status is None
    assert isinstance(error, TransientProviderError)
    assert error.maybe_placed is False, "a connection never made sent nothing"
    assert TO not in str(error)


def test_the_rest_resources_load_with_the_module() -> None:
    """The first call placed, or hang-up asked, must not wait for imports (and what is
    imported at start-up is frozen out of the garbage collector's passes). A fresh
    interpreter: this one may have loaded them already."""
    probe = textwrap.dedent(
        """
        import sys
        from dialer.provider import CallbackUrls, TwilioProvider
        provider = TwilioProvider(
            account_sid="AC" + "0" * 32, auth_token="token", from_number="+15005550006",
            callbacks=CallbackUrls("http://127.0.0.1:8080"), api_base="http://127.0.0.1:1",
        )
        loaded = set(sys.modules)
        provider._client.calls("CA0"), provider._client.messages
        print(sorted(set(sys.modules) - loaded))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _verbs(twiml: str) -> list[str]:
    return [element.tag for element in ET.fromstring(twiml).iter()]  # noqa: S314


def test_connect_to_agent_dials_the_agents_client() -> None:
    twiml = connect_to_agent_twiml(7)
    assert agent_identity(7) == "agent-7"
    assert _verbs(twiml) == ["Response", "Dial", "Client"]
    assert ET.fromstring(twiml).findtext("Dial/Client") == "agent-7"  # noqa: S314


def test_abandon_message_only_informs() -> None:
    twiml = abandon_twiml("Northwind Telecom", "+15005550006")
    assert _verbs(twiml) == ["Response", "Say", "Hangup"]
    said = ET.fromstring(twiml).findtext("Say") or ""  # noqa: S314
    assert "Northwind Telecom" in said
    assert "5 0 0, 5 5 5, 0 0 0 6" in said
    assert not {"offer", "discount", "deal"} & set(said.lower().replace(".", " ").split())


def test_voicemail_asks_for_a_call_back() -> None:
    twiml = voicemail_twiml("Northwind Telecom", "+15005550006")
    assert _verbs(twiml) == ["Response", "Say", "Hangup"]
    said = ET.fromstring(twiml).findtext("Say") or ""  # noqa: S314
    assert "Northwind Telecom" in said
    assert "call us back" in said


def test_sms_reply_is_a_message_or_nothing() -> None:
    assert _verbs(sms_reply_twiml("Reply STOP to stop.")) == ["Response", "Message"]
    assert _verbs(sms_reply_twiml(None)) == ["Response"]
