"""The agent's voice leg: Twilio's Voice JS SDK in the console, or the simulated leg.

With real Twilio the answer webhook bridges an answered call to the agent's client
identity (``<Dial answerOnBridge><Client>agent-{id}</Client></Dial>``, from
``dialer.provider.connect_to_agent_twiml``). The console registers a ``Device`` of the
Voice JS SDK under that same identity, with an access token from this module, and accepts
the call the board says is theirs. The SDK is one bundle served from the package,
``static/vendor/twilio-voice.min.js`` (``make voice-sdk`` rebuilds it from the version
pinned in ``runner/web/voice_sdk/``), loaded by the console only when the leg is real; its sounds
point at ``static/vendor/silence.wav``, so the page fetches nothing from a CDN.

The leg is simulated when the dialer talks to the carrier simulator (``TWILIO_API_BASE``,
or an ``api_base`` given to ``create_app``) or when no API key is configured
(``TWILIO_API_KEY_SID`` and ``TWILIO_API_KEY_SECRET``): the console then shows the call's
states (ringing, connected, ended) from the board alone, as it always has.

Route (agent role only, see ``runner.web.access``)::

    GET /api/agent/voice-token    {"mode": "twilio", "identity", "token", "ttl", "sdk_url",
                                   "sound_url"}, or {"mode": "simulated"}

The token is a Twilio access token (a JWT signed with the API key's secret) with a
``VoiceGrant`` that lets the identity receive calls, and place them through
``TWILIO_TWIML_APP_SID`` when one is set. Tokens and secrets are never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final, cast

from aiohttp import web
from pydantic import SecretStr
from twilio.jwt.access_token import AccessToken  # type: ignore[import-untyped, unused-ignore]
from twilio.jwt.access_token.grants import VoiceGrant  # type: ignore[import-untyped, unused-ignore]

from dialer.provider import agent_identity
from dialer.webhooks import DIALER
from runner.settings import Settings
from runner.web.keys import SETTINGS, USER

__all__ = [
    "SDK_BUNDLE",
    "SILENCE",
    "VoiceKeys",
    "add_voice_routes",
    "voice_keys",
    "voice_token",
]

log = logging.getLogger("telecampaign.voice")

SDK_BUNDLE: Final = "vendor/twilio-voice.min.js"  # under the app's static route
SILENCE: Final = "vendor/silence.wav"
# where the SDK connects (its README's Content-Security-Policy, default edge): signalling
# and call-quality events; the remote audio plays from a MediaStream
_CONNECT_SRC: Final = (
    "connect-src 'self' https://eventgw.twilio.com wss://voice-js.roaming.twilio.com"
)
_MEDIA_SRC: Final = "media-src 'self' mediastream:"


@dataclass(frozen=True)
class VoiceKeys:
    """What signs the agents' access tokens; ``None`` from ``voice_keys`` when simulated."""

    account_sid: str
    api_key_sid: str
    api_key_secret: SecretStr
    twiml_app_sid: str | None
    ttl: int


def voice_keys(settings: Settings, api_base: str | None) -> VoiceKeys | None:
    """The keys for a real voice leg; ``None`` when it is simulated: the dialer talks to
    the carrier simulator (``api_base`` set), or the API key is not configured."""
    if api_base is not None:
        return None
    key_sid = (settings.twilio_api_key_sid or "").strip()
    secret = settings.twilio_api_key_secret
    if not key_sid or secret is None or not secret.get_secret_value():
        return None
    return VoiceKeys(
        account_sid=settings.twilio_account_sid,
        api_key_sid=key_sid,
        api_key_secret=secret,
        twiml_app_sid=(settings.twilio_twiml_app_sid or "").strip() or None,
        ttl=settings.voice_token_ttl,
    )


def voice_token(keys: VoiceKeys, agent_id: int) -> str:
    """A signed access token letting ``agent_id``'s console take calls as its identity."""
    token = AccessToken(
        keys.account_sid,
        keys.api_key_sid,
        keys.api_key_secret.get_secret_value(),
        identity=agent_identity(agent_id),
        ttl=keys.ttl,
    )
    grant = VoiceGrant(incoming_allow=True, outgoing_application_sid=keys.twiml_app_sid)
    token.add_grant(grant)
    return cast(str, token.to_jwt())


def _keys(app: web.Application) -> VoiceKeys | None:
    return voice_keys(app[SETTINGS], app[DIALER].config.api_base)


def _static_url(request: web.Request, filename: str) -> str:
    return str(request.app.router["static"].url_for(filename=filename))


async def agent_voice_token(request: web.Request) -> web.Response:
    keys = _keys(request.app)
    if keys is None:
        return web.json_response({"mode": "simulated"})
    agent_id = request[USER].id
    body: dict[str, Any] = {
        "mode": "twilio",
        "identity": agent_identity(agent_id),
        "token": voice_token(keys, agent_id),
        "ttl": keys.ttl,
        "sdk_url": _static_url(request, SDK_BUNDLE),
        "sound_url": _static_url(request, SILENCE),
    }
    response = web.json_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _console_policy(request: web.Request, response: web.StreamResponse) -> None:
    """Let the agent console reach Twilio when the leg is real: its page's
    Content-Security-Policy gets the SDK's ``connect-src`` and ``media-src``."""
    route = request.match_info.route
    if route.name != "agent-home" or response.content_type != "text/html":
        return
    if DIALER not in request.app or _keys(request.app) is None:
        return
    policy = response.headers.get("Content-Security-Policy")
    if policy is None:
        return  # no policy: nothing to widen
    directives = [part.strip() for part in policy.split(";") if part.strip()]
    named = {part.split()[0] for part in directives}
    directives += [extra for extra in (_CONNECT_SRC, _MEDIA_SRC) if extra.split()[0] not in named]
    response.headers["Content-Security-Policy"] = "; ".join(directives)


async def _say_when_simulated(app: web.Application) -> None:
    if app[DIALER].config.api_base is None and _keys(app) is None:
        log.warning(
            "real Twilio without TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET: the agents' "
            "consoles cannot take calls (their voice leg is simulated)"
        )


def add_voice_routes(app: web.Application) -> None:
    """The token route, and the console page's policy for the SDK (after ``setup_auth``,
    whose security headers this widens)."""
    app.router.add_get("/api/agent/voice-token", agent_voice_token, name="agent-voice-token")
    app.on_response_prepare.append(_console_policy)
    app.on_startup.append(_say_when_simulated)
