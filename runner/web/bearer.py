"""Requests made with an API key: ``Authorization: Bearer tck_...``, for machine clients.

``runner.web.auth``'s middleware hands every request with ``Authorization: Bearer`` here
(another scheme, a proxy's Basic say, is not ours and is left alone). In this order:

    a session cookie as well    400: one request, one identity (see below)
    ``Bearer`` and no key       401
    no such key                 401 (logged with the key's public prefix only)
    a revoked key               401, at once: the key is read from the store every time
    route not open to keys      403: only ``runner.web.access.BEARER_ROUTES`` take one
    the key's role not allowed  403, as for a user of that role
    otherwise                   the handler runs, with no CSRF check

A key travels in a header a browser never adds by itself, so a forged cross-site request
cannot carry it and no CSRF token is needed. A request with both a key and a session
cookie is refused with 400 rather than 401: neither credential is known to be wrong, the
request itself is malformed, and answering it under either identity would be a guess. A
browser script that holds a key would otherwise also act with the page's session.

Every request a valid key (revoked or not) makes is one row of the audit trail: the key,
the route, the method and the status answered.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from dialer.webhooks import DIALER
from runner.web.access import BEARER_ROUTES, Access, Public
from runner.web.api_keys import ApiKeyInfo, check_key
from runner.web.keys import API_KEY
from runner.web.login_throttle import client_address
from runner.web.trail import audit
from store.audit import Actor, ActorKind, AuditAction

__all__ = ["AUTHORIZATION", "bearer_request", "sends_bearer"]

log = logging.getLogger("telecampaign.auth")

AUTHORIZATION = "Authorization"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telecampaign"'}
_BAD_KEY = {"WWW-Authenticate": 'Bearer realm="telecampaign", error="invalid_token"'}


def sends_bearer(request: web.Request) -> bool:
    """Whether the request carries ``Authorization: Bearer ...``. Other schemes are left
    alone: a reverse proxy that asks people for a password of its own (Basic) may pass its
    header on with every page a browser requests."""
    scheme, _, _ = request.headers.get(AUTHORIZATION, "").partition(" ")
    return scheme.lower() == "bearer"


def _refuse(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status, headers=headers)


async def _used(request: web.Request, key: ApiKeyInfo, name: str | None, status: int) -> None:
    """One row of the trail for the request: the key, route, method and status."""
    actor = Actor(ActorKind.API_KEY, key.name, api_key_id=key.id, address=client_address(request))
    detail = {"route": name, "method": request.method, "status": status}
    await audit(
        request, AuditAction.APIKEY_USE, target=("apikey", key.id), detail=detail, actor=actor
    )


async def bearer_request(
    request: web.Request,
    handler: Handler,
    name: str | None,
    access: Access | None,
    cookie_name: str,
) -> web.StreamResponse:
    """Answer a request that came with an ``Authorization`` header."""
    if cookie_name in request.cookies:
        return _refuse(
            400,
            "ambiguous_credentials",
            "Send either an API key (Authorization: Bearer) or a session cookie, not both.",
        )
    _, _, token = request.headers[AUTHORIZATION].partition(" ")
    if not token.strip():
        return _refuse(
            401, "unauthorized", "Send the API key as 'Authorization: Bearer tck_...'.", _CHALLENGE
        )
    found = await request.app[DIALER].gateway.read_apart(
        lambda s: check_key(s, token.strip()), quick=True
    )
    key = found.key
    if key is None:
        log.info("a request with an unknown API key was refused (%s)", token.strip()[:16])
        return _refuse(401, "unauthorized", "This API key is not valid.", _BAD_KEY)
    if found.revoked:
        await _used(request, key, name, 401)
        return _refuse(401, "unauthorized", "This API key has been revoked.", _BAD_KEY)
    request[API_KEY] = key
    status = 500
    try:
        response = await _answer(request, handler, name, access, key)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        await _used(request, key, name, status)


async def _answer(
    request: web.Request,
    handler: Handler,
    name: str | None,
    access: Access | None,
    key: ApiKeyInfo,
) -> web.StreamResponse:
    if name not in BEARER_ROUTES or access is None:
        return _refuse(
            403,
            "forbidden",
            "This address is for a person logged in, not for an API key: keys may use the "
            "routes the OpenAPI document marks with the bearer scheme.",
        )
    if not isinstance(access, Public) and key.role not in access:
        allowed = " or ".join(sorted(role.value for role in access))
        return _refuse(
            403,
            "forbidden",
            f"This is for the {allowed} role; the key {key.name!r} has the {key.role.value} role.",
        )
    return await handler(request)
