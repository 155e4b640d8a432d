"""Who may use each route: one table, read by the auth middleware, deny by default.

Every named route of the app has an entry: ``PUBLIC`` (no login needed) or the set of
roles allowed. A route missing from the table is refused to everybody, so a new page or
API route stays closed until someone decides here who may use it
(``tests/runner/web/test_route_roles.py`` fails until they do).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, TypeAlias

from store.models import Role

__all__ = [
    "ALL_ROLES",
    "BEARER_ROUTES",
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
_AGENT: Final = frozenset({Role.AGENT})
_MANAGER: Final = frozenset({Role.MANAGER})
_REPORTS: Final = frozenset({Role.MANAGER, Role.RETENTION})

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
    # the agent console (runner.web.console): the page and its JSON API
    "agent-home": _AGENT,
    "agent-state": _AGENT,
    "agent-login": _AGENT,
    "agent-ready": _AGENT,
    "agent-pause": _AGENT,
    "agent-logout": _AGENT,
    "agent-call": _AGENT,
    "agent-disposition": _AGENT,
    "agent-preview-next": _AGENT,
    "agent-preview-dial": _AGENT,
    "agent-preview-skip": _AGENT,
    "agent-callbacks": _AGENT,
    "agent-today": _AGENT,
    "agent-events": _AGENT,
    "agent-voice-token": _AGENT,  # runner.web.voice: the Twilio access token of the voice leg
    # the campaign manager's pages (runner.web.manager)
    "manager-home": _MANAGER,
    "manager-plan": _MANAGER,
    "manager-plan-store": _MANAGER,
    "manager-campaign": _MANAGER,
    "manager-campaign-move": _MANAGER,
    "manager-campaign-export": _MANAGER,
    "manager-imports": _MANAGER,
    "manager-rejects": _MANAGER,
    "manager-model": _MANAGER,
    "manager-model-calibration": _MANAGER,
    "manager-matrix": _MANAGER,
    "manager-audit": _MANAGER,  # runner.web.audit_page: the audit trail
    "manager-api-keys": _MANAGER,  # runner.web.api_key_pages: keys for machine clients
    "manager-api-key-add": _MANAGER,
    "manager-api-key-revoke": _MANAGER,
    "manager-campaign-settings": _MANAGER,
    "manager-settings": _MANAGER,
    "manager-settings-change": _MANAGER,
    # the retention reports (runner.web.retention): the manager reads them too
    "retention-home": _REPORTS,
    "retention-monthly": _REPORTS,
    "retention-watchlist": _REPORTS,
    # the JSON API (runner.web.api): campaigns are the manager's, reports are shared
    "api-openapi": ALL_ROLES,
    "api-campaigns": _REPORTS,
    "api-campaign-plan": _MANAGER,
    "api-campaign-move": _MANAGER,
    "api-campaign-live": _MANAGER,
    "api-report-saved": _REPORTS,
    "api-report-conversions": _REPORTS,
    "api-report-kpis": _REPORTS,
    "api-report-monthly": _REPORTS,
    "api-report-watchlist": _REPORTS,
    # erasing a person on request (GDPR art. 17) is the manager's alone
    "api-customer-erase": _MANAGER,
    # settings: the retention team reads them (what its reports were made under)
    "api-campaign-settings": _REPORTS,
    "api-campaign-settings-change": _MANAGER,
    "api-site-settings": _REPORTS,
    "api-site-settings-change": _MANAGER,
}

# Routes an API key (``Authorization: Bearer``, runner.web.bearer) may use, by the same
# roles as above: the JSON API of campaigns and reports. The agent console and the pages
# are for a person at a browser, whose board state and CSRF-guarded session they need.
BEARER_ROUTES: Final = frozenset(
    {
        "api-me",
        "api-openapi",
        "api-campaigns",
        "api-campaign-plan",
        "api-campaign-move",
        "api-campaign-live",
        "api-report-saved",
        "api-report-conversions",
        "api-report-kpis",
        "api-report-monthly",
        "api-report-watchlist",
        "api-customer-erase",
        "api-campaign-settings",
        "api-campaign-settings-change",
        "api-site-settings",
        "api-site-settings-change",
    }
)

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
