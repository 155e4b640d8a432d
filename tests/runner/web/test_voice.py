"""The agent's voice leg: the access token route in both modes, the page's policy for the
SDK, the SDK bundle served from the package, and the TwiML of an answered call dialing the
identity the token carries."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from dialer.provider import agent_identity
from dialer.webhooks import DIALER
from runner.settings import Settings
from runner.web.access import ROUTE_ROLES
from runner.web.pages import STATIC
from runner.web.voice import SDK_BUNDLE, SILENCE, voice_keys
from store.models import Attempt, AttemptStatus, Channel, EntryStatus, ListEntry, Role
from tests.dialer.dial_base import build_running_campaign
from tests.runner.web.openapi_check import call
from tests.runner.web_harness import SECRET, Client, RunWeb, login_as

ACCOUNT = "AC" + "a1" * 16
KEY_SID = "SK" + "b2" * 16
KEY_SECRET = "k" * 32  # API key secrets are 32 characters
APP_SID = "AP" + "c3" * 16
AUTH_TOKEN = "voice-test-auth-token"
PUBLIC = "http://dialer.example.com"  # https would make the session cookie secure-only
URL = "/api/agent/voice-token"
VOICE_ENV = (
    "TWILIO_API_BASE",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_TWIML_APP_SID",
    "TELECAMPAIGN_VOICE_TOKEN_TTL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VOICE_ENV:
        monkeypatch.delenv(name, raising=False)


def _settings(tmp_path: Path, db_url: str, **env: Any) -> Settings:
    values: dict[str, Any] = {
        "TELECAMPAIGN_HOME": tmp_path / "home",
        "DATABASE_URL": db_url,
        "TELECAMPAIGN_SECRET_KEY": SECRET,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC,
        **env,
    }
    return Settings(**values)


@pytest.fixture
def twilio_settings(tmp_path: Path, db_url: str) -> Settings:
    """Real Twilio (no TWILIO_API_BASE) with an API key for the voice tokens."""
    return _settings(
        tmp_path,
        db_url,
        TWILIO_API_KEY_SID=KEY_SID,
        TWILIO_API_KEY_SECRET=KEY_SECRET,
        TELECAMPAIGN_VOICE_TOKEN_TTL=900,
    )


def _decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, KEY_SECRET, algorithms=["HS256"])
    return claims


def test_only_agents_may_ask_for_a_voice_token() -> None:
    assert ROUTE_ROLES["agent-voice-token"] == frozenset({Role.AGENT})


def test_the_token_carries_the_agents_identity_and_an_incoming_voice_grant(
    run_web: RunWeb, twilio_settings: Settings, users: dict[str, int]
) -> None:
    async def scenario(client: Client) -> None:
        status, body = await call(client, "GET", URL, valid_request=False)  # no session
        assert (status, body["error"]) == (401, "unauthorized")
        for role in ("manager", "retention"):
            await login_as(client, role)
            status, body = await call(client, "GET", URL)
            assert (status, body["error"]) == (403, "forbidden")

        await login_as(client, "agent")
        before = int(time.time())
        status, body = await call(client, "GET", URL)
        after = int(time.time())
        assert status == 200
        identity = agent_identity(users["ann"])
        assert (body["mode"], body["identity"], body["ttl"]) == ("twilio", identity, 900)

        header = jwt.get_unverified_header(body["token"])
        assert (header["alg"], header["cty"]) == ("HS256", "twilio-fpa;v=1")
        claims = _decode(body["token"])
        assert claims["iss"] == KEY_SID
        assert claims["sub"] == ACCOUNT
        assert claims["grants"]["identity"] == identity
        assert claims["grants"]["voice"] == {"incoming": {"allow": True}}
        assert before + 900 <= claims["exp"] <= after + 900
        assert claims["exp"] - claims["nbf"] == 900
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(body["token"], "x" * 32, algorithms=["HS256"])

        response = await client.get(URL)
        assert response.headers["Cache-Control"] == "no-store"
        again = await response.json()
        assert _decode(again["token"])["grants"]["identity"] == identity

    run_web(scenario, settings=twilio_settings)


def test_a_twiml_app_lets_the_token_place_calls(
    run_web: RunWeb, tmp_path: Path, db_url: str
) -> None:
    settings = _settings(
        tmp_path,
        db_url,
        TWILIO_API_KEY_SID=KEY_SID,
        TWILIO_API_KEY_SECRET=KEY_SECRET,
        TWILIO_TWIML_APP_SID=APP_SID,
    )

    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        status, body = await call(client, "GET", URL)
        assert (status, body["ttl"]) == (200, 3600)
        voice = _decode(body["token"])["grants"]["voice"]
        assert voice["incoming"] == {"allow": True}
        assert voice["outgoing"]["application_sid"] == APP_SID

    run_web(scenario, settings=settings)


@pytest.mark.parametrize(
    "env",
    [
        # the carrier simulator, even with a key
        {
            "TWILIO_API_BASE": "http://127.0.0.1:9",
            "TWILIO_API_KEY_SID": KEY_SID,
            "TWILIO_API_KEY_SECRET": KEY_SECRET,
        },
        {},  # real Twilio without an API key
        {"TWILIO_API_KEY_SID": KEY_SID},  # half a key
    ],
    ids=["simulator", "no-key", "no-secret"],
)
def test_the_leg_is_simulated_against_the_simulator_or_without_a_key(
    run_web: RunWeb, tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    settings = _settings(tmp_path, db_url, **env)

    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        assert await call(client, "GET", URL) == (200, {"mode": "simulated"})
        page = await client.get("/agent")
        assert page.status == 200
        assert "twilio.com" not in page.headers["Content-Security-Policy"]
        assert "twilio-voice" not in await page.text(), "the simulated console stays light"

    run_web(scenario, settings=settings)


def test_the_simulated_leg_is_the_default(run_web: RunWeb) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        assert await call(client, "GET", URL) == (200, {"mode": "simulated"})

    run_web(scenario)  # the suite's settings: no API key


def test_an_api_base_given_to_the_app_means_the_simulator(twilio_settings: Settings) -> None:
    assert voice_keys(twilio_settings, None) is not None
    assert voice_keys(twilio_settings, "http://127.0.0.1:9") is None
    blank = twilio_settings.model_copy(update={"twilio_api_key_sid": "  "})
    assert voice_keys(blank, None) is None


def test_the_console_may_reach_twilio_when_the_leg_is_real(
    run_web: RunWeb, twilio_settings: Settings
) -> None:
    async def scenario(client: Client) -> None:
        await login_as(client, "agent")
        page = await client.get("/agent")
        assert page.status == 200
        policy = [p.strip() for p in page.headers["Content-Security-Policy"].split(";")]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        connect = next(p for p in policy if p.startswith("connect-src "))
        assert connect.split()[1:] == [
            "'self'",
            "https://eventgw.twilio.com",
            "wss://voice-js.roaming.twilio.com",
        ]
        assert "media-src 'self' mediastream:" in policy
        assert not any(p.startswith("script-src") for p in policy), "scripts stay 'self'"
        # other pages keep the strict policy
        me = await client.get("/login", allow_redirects=False)
        assert "twilio.com" not in me.headers.get("Content-Security-Policy", "")

    run_web(scenario, settings=twilio_settings)


def test_the_sdk_bundle_is_served_from_the_package(
    run_web: RunWeb, twilio_settings: Settings
) -> None:
    bundle = STATIC / SDK_BUNDLE
    assert bundle.stat().st_size > 50_000, "one bundle with the whole SDK in it"
    assert (bundle.parent / "twilio-voice.LICENSE.txt").is_file()

    async def scenario(client: Client) -> None:
        response = await client.get("/static/" + SDK_BUNDLE)
        assert response.status == 200
        assert "javascript" in response.content_type
        text = await response.text()
        assert "window.TwilioVoice" in text or "TwilioVoice=" in text
        assert "Device" in text
        assert "tokenWillExpire" in text

        await login_as(client, "agent")
        _, body = await call(client, "GET", URL)
        assert body["sdk_url"].startswith("/static/" + SDK_BUNDLE + "?v=")
        assert body["sound_url"].startswith("/static/" + SILENCE)
        versioned = await client.get(body["sdk_url"])
        assert versioned.status == 200
        assert await versioned.read() == bundle.read_bytes()
        sound = await client.get(body["sound_url"])
        assert sound.status == 200
        assert (await sound.read())[:4] == b"RIFF"

    run_web(scenario, settings=twilio_settings)


def test_the_bundle_is_built_from_the_pinned_sdk() -> None:
    voice = STATIC.parent / "voice_sdk"
    package = json.loads((voice / "package.json").read_text())
    lock = json.loads((voice / "package-lock.json").read_text())
    pinned = package["dependencies"]["@twilio/voice-sdk"]
    assert pinned[0].isdigit(), "an exact version, no range"
    assert lock["packages"]["node_modules/@twilio/voice-sdk"]["version"] == pinned
    assert f'"{pinned}"' in (STATIC / SDK_BUNDLE).read_text(), "the bundle is that version"
    assert package["devDependencies"]["esbuild"][0].isdigit()


def test_an_answered_call_dials_the_identity_the_token_carries(
    run_web: RunWeb, twilio_settings: Settings, engine: Engine, users: dict[str, int]
) -> None:
    campaign_id, customers = build_running_campaign(engine, 1, name="Voice leg")

    async def scenario(client: Client) -> None:
        dialer = client.server.app[DIALER]
        csrf = await login_as(client, "agent")
        _, grant = await call(client, "GET", URL)
        identity = _decode(grant["token"])["grants"]["identity"]
        response = await client.post(
            "/api/agent/login", json={"campaign_id": campaign_id}, headers={"X-CSRF-Token": csrf}
        )
        assert (response.status, (await response.json())["state"]) == (200, "ready")

        now = dialer.clock.utcnow()

        def dial(session: Session) -> int:
            entry = session.scalars(
                select(ListEntry).where(ListEntry.customer_id == customers[0])
            ).one()
            entry.status = EntryStatus.IN_PROGRESS
            attempt = Attempt(
                campaign_id=campaign_id,
                list_entry_id=entry.id,
                customer_id=customers[0],
                channel=Channel.CALL,
                phone="+12125550100",
                status=AttemptStatus.INITIATED,
                created_at=now,
                started_at=now,
            )
            session.add(attempt)
            session.flush()
            return attempt.id

        attempt_id = await dialer.gateway.write(dial)
        path = f"/twilio/voice/answer?attempt={attempt_id}"
        params = {"CallSid": f"CA{attempt_id:032x}", "CallStatus": "in-progress"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, params)
        answer = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status == 200, await answer.text()
        twiml = ET.fromstring(await answer.text())  # noqa: S314 (our own answer)
        dial_node = twiml.find("Dial")
        assert dial_node is not None
        assert dial_node.get("answerOnBridge") == "true"
        clients = [node.text for node in dial_node.findall("Client")]
        assert clients == [identity] == [agent_identity(users["ann"])]

        state = await (await client.get("/api/agent/state")).json()
        assert (state["state"], state["attempt_id"]) == ("talk", attempt_id)

    run_web(scenario, settings=twilio_settings)
