"""Who may use each route: one table, read by the auth middleware, deny by default.

Every named route of the app has an entry: ``PUBLIC`` (no login needed) or the set of
roles allowed. A route missing from the table is refused to everybody, so a new page or
API route stays closed until someone decides here who may use it
(``tests/runner/test_route_roles.py`` fails until they do).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, TypeAlias

from store.models import Role

__all__ = [
    "ALL_ROLES",
    "PUBLIC",
    "ROLE_HOMES",
    "ROUTE_ROLES",
    "SESSIONLESS",
    "Access",
    "Public",
]


class Public(enum.Enum):
    """Marks a route anyone may use, logged in or not."""

    PUBLIC = "public"


PUBLIC: Final = Public.PUBLIC
ALL_ROLES: Final = frozenset(Role)
Access: TypeAlias = Public | frozenset[Role]

ROUTE_ROLES: Final[Mapping[str, Access]] = {
    # open to all: the load balancer's probe, the stylesheet, logging in
    "health": PUBLIC,
    "static": PUBLIC,
    "index": PUBLIC,  # sends each visitor to their home or to the login form
    "login": PUBLIC,
    # Twilio calls these; each request is proven by its X-Twilio-Signature instead
    "twilio-voice-status": PUBLIC,
    "twilio-voice-answer": PUBLIC,
    "twilio-voice-amd": PUBLIC,
    "twilio-sms-status": PUBLIC,
    "twilio-sms-inbound": PUBLIC,
    # any logged-in user
    "logout": ALL_ROLES,
    "api-me": ALL_ROLES,
    # each role's pages
    "agent-home": frozenset({Role.AGENT}),
    "manager-home": frozenset({Role.MANAGER}),
    "retention-home": frozenset({Role.RETENTION}),
}

# Public routes the middleware hands on without reading the session, so also without a
# CSRF check: Twilio's signature already proves where a webhook came from, the probe and
# the stylesheet change nothing.
SESSIONLESS: Final = frozenset(
    {
        "health",
        "static",
        "twilio-voice-status",
        "twilio-voice-answer",
        "twilio-voice-amd",
        "twilio-sms-status",
        "twilio-sms-inbound",
    }
)

# where each role lands after logging in, and where `/` sends them
ROLE_HOMES: Final[Mapping[Role, str]] = {
    Role.AGENT: "agent-home",
    Role.MANAGER: "manager-home",
    Role.RETENTION: "retention-home",
}
