"""Who may call the webhooks: Twilio's signature over the URL and every parameter, on
every route, checked the way Twilio's own validator does; a callback must name its call."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from dialer.context import Dialer
from dialer.webhooks import _signature_holds
from store.models import Attempt, DncEntry, InboundMessage
from tests.dialer.webhook_client import BASE, TOKEN, Hooks, S, Scenario, _attempt

ROUTES = (
    "/twilio/voice/status",
    "/twilio/voice/answer",
    "/twilio/voice/amd",
    "/twilio/sms/status",
    "/twilio/sms/inbound",
)


def test_every_route_refuses_a_missing_wrong_or_misplaced_signature(
    run_hooks: Callable[[Scenario], None],
) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        params = {
            "CallSid": "CA" + "1" * 32,
            "CallStatus": "completed",
            "MessageSid": "SM" + "1" * 32,
            "MessageStatus": "delivered",
            "From": "+12125550000",
            "Body": "STOP",
            "AnsweredBy": "machine_end_beep",
        }
        for route in ROUTES:
            path = f"{route}?attempt={attempt_id}"
            elsewhere = h.validator.compute_signature("https://evil.example.com" + path, params)
            forged = RequestValidator("not-the-token").compute_signature(BASE + path, params)
            for signature in ("", "bm9wZQ==", elsewhere, forged):
                code, _ = await h.post(path, params, signature=signature)
                assert code == 403, (route, signature)
            # a valid signature over other parameters does not cover these
            tampered = h.validator.compute_signature(BASE + path, {**params, "Body": "START"})
            code, _ = await h.post(path, params, signature=tampered)
            assert code == 403, route
        attempt = h.store(lambda s: s.get(Attempt, attempt_id))
        assert attempt.status is S.INITIATED
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(DncEntry))) == 0
        assert h.store(lambda s: s.scalar(select(func.count()).select_from(InboundMessage))) == 0

    run_hooks(scenario)


def test_a_callback_must_name_its_call(run_hooks: Callable[[Scenario], None]) -> None:
    async def scenario(h: Hooks) -> None:
        attempt_id = h.store(lambda s: _attempt(s, h.campaign_id))
        for route, params in (
            ("/twilio/voice/status", {"CallStatus": "completed"}),
            ("/twilio/voice/answer", {"CallStatus": "in-progress"}),
            ("/twilio/voice/amd", {"AnsweredBy": "human"}),
            ("/twilio/sms/status", {"MessageStatus": "delivered"}),
        ):
            code, body = await h.post(f"{route}?attempt={attempt_id}", params)
            assert code == 400, (route, body)
        assert h.store(lambda s: s.get(Attempt, attempt_id)).status is S.INITIATED

    run_hooks(scenario)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=24), max_size=8),
    st.sampled_from(
        [
            BASE + "/twilio/voice/status?attempt=7",
            "https://dialer.example.com:443/twilio/voice/status?attempt=7",
            "http://127.0.0.1:8080/twilio/sms/inbound",
        ]
    ),
)
def test_the_signature_check_agrees_with_twilios_validator(
    params: dict[str, str], url: str
) -> None:
    validator = RequestValidator(TOKEN)
    dialer = cast(
        Dialer, SimpleNamespace(config=SimpleNamespace(auth_token=TOKEN), validator=validator)
    )
    parts = urlsplit(url)
    portless = urlunsplit(parts._replace(netloc=parts.hostname or ""))
    forged = RequestValidator("not-the-token")
    for signed_url in (url, portless):
        for signature in (
            validator.compute_signature(signed_url, params),
            forged.compute_signature(signed_url, params),
            validator.compute_signature(signed_url, {**params, "Extra": "1"}),
        ):
            expected = validator.validate(url, params, signature)
            assert _signature_holds(dialer, url, params, signature) is expected
