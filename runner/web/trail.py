"""The audit trail from a request: who is asking (a user, an API key) and from where.

``actor_of(request)`` names the person or key behind a request, with the client's address
as ``runner.web.login_throttle.client_address`` resolves it (the ``X-Forwarded-For`` of a
trusted proxy, else the peer). ``audit(request, ...)`` writes one row through
``store.audit.record``, the trail's one way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from dialer.webhooks import DIALER
from runner.web.keys import API_KEY, USER
from runner.web.login_throttle import client_address
from store.audit import Actor, ActorKind, AuditAction, record

__all__ = ["actor_of", "audit"]


def actor_of(request: web.Request) -> Actor:
    """The user or API key behind ``request``, with the client's address."""
    address = client_address(request)
    key = request.get(API_KEY)
    if key is not None:
        return Actor(ActorKind.API_KEY, key.name, api_key_id=key.id, address=address)
    user = request.get(USER)
    if user is not None:
        return Actor(ActorKind.USER, user.username, user_id=user.id, address=address)
    return Actor(ActorKind.ANONYMOUS, "anonymous", address=address)


async def audit(
    request: web.Request,
    action: AuditAction,
    *,
    target: tuple[str, int | str] | None = None,
    detail: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """Record ``action`` by whoever made ``request`` (or ``actor``), as one statement."""
    who = actor or actor_of(request)
    await request.app[DIALER].gateway.write_one(
        lambda s: record(s, who, action, target=target, detail=detail)
    )
