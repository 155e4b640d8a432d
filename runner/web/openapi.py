"""The OpenAPI 3.1 document of the JSON API, kept by hand beside the routes.

``tests/runner/web/test_api.py`` sends real requests and validates each request and
response against it, so a route that drifts from its description fails there.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["document"]


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error; `fields` names what to correct.")
_DENIED = {
    "401": _json(_ref("Error"), "Not logged in."),
    "403": _json(_ref("Error"), "The user's role may not use this, or the CSRF token is wrong."),
}
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The campaign's name.",
    "schema": {"type": "string"},
}
_FORMAT = {
    "name": "format",
    "in": "query",
    "description": "json (the default) or csv: the rows and columns `telecampaign report "
    "... --csv` writes, sent as a download. Without it, `Accept: text/csv` asks for CSV.",
    "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
}
_READ: list[dict[str, list[str]]] = [{"session": []}]
_WRITE: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
_PAIR = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2}

_SPLIT = {
    "type": "object",
    "required": ["by", "value", "treated", "holdout", "reached", "effect", "ci95"],
    "properties": {
        "by": {"type": "string", "enum": ["segment", "abc", "offer", "agent"]},
        "value": {"type": "string"},
        "treated": {"type": "integer"},
        "holdout": {"type": "integer"},
        "reached": {"type": "integer"},
        "rate_treated": _nullable("number"),
        "rate_holdout": _nullable("number"),
        "effect": _nullable("number"),
        "ci95": _PAIR,
        "value_kept": _nullable("number"),
    },
}

_PERIOD = {
    "type": "object",
    "required": ["period", "active_at_start", "lost", "churn_rate", "target", "customers_saved"],
    "properties": {
        "period": {"type": "string"},
        "complete": {
            "type": "boolean",
            "description": "Ended by the as-of day, the data reaching back to its start; "
            "an incomplete period is not judged against the target.",
        },
        "active_at_start": {"type": "integer"},
        "lost": {"type": "integer"},
        "churn_rate": _nullable("number"),
        "target": {"type": "number"},
        "on_target": _nullable("boolean"),
        "complaints": {"type": "integer"},
        "customers_saved": {"type": "number"},
        "saved_ci95": _PAIR,
        "campaign_cost": {"type": "number"},
        "acquisition_cost_avoided": {"type": "number"},
        "money_saved": {"type": "number"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {
                "type": "string",
                "enum": ["invalid", "not_found", "conflict", "unauthorized", "forbidden", "csrf"],
            },
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The first field at fault."},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Action": {"type": "string", "enum": ["launch", "pause", "resume", "stop"]},
    "Status": {
        "type": "string",
        "enum": ["planned", "running", "paused", "stopped", "completed"],
    },
    "Kind": {
        "type": "string",
        "enum": ["anti-churn", "cross-sell", "up-sell", "win-back", "follow-up"],
    },
    "Campaign": {
        "type": "object",
        "required": ["name", "kind", "status", "treated", "holdout", "actions"],
        "properties": {
            "name": {"type": "string"},
            "kind": _ref("Kind"),
            "status": _ref("Status"),
            "treated": {"type": "integer"},
            "holdout": {"type": "integer"},
            "expected_value": _nullable("number"),
            "created_at": _nullable("string"),
            "launched_at": _nullable("string"),
            "ended_at": _nullable("string"),
            "actions": {"type": "array", "items": _ref("Action")},
        },
    },
    "PlanBody": {
        "type": "object",
        "required": ["kind", "name"],
        "description": "Give `size`, or `agents`, `hours` and `contacts_per_hour`, or "
        "neither (every customer worth a call).",
        "properties": {
            "kind": _ref("Kind"),
            "name": {"type": "string", "minLength": 1, "maxLength": 120},
            "size": {"type": "integer", "minimum": 1},
            "agents": {"type": "integer", "minimum": 1},
            "hours": {"type": "number", "exclusiveMinimum": 0},
            "contacts_per_hour": {"type": "number", "exclusiveMinimum": 0},
            "holdout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.1},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2147483647},
            "dry_run": {"type": "boolean", "default": False},
        },
    },
    "Preview": {
        "type": "object",
        "required": [
            "name",
            "kind",
            "size",
            "treated",
            "holdout",
            "holdout_fraction",
            "seed",
            "expected",
            "exclusions",
        ],
        "properties": {
            "name": {"type": "string"},
            "kind": _ref("Kind"),
            "as_of": {"type": "string"},
            "model_version": {"type": "string"},
            "basis": {"type": "string"},
            "seed": {"type": "integer"},
            "target": _nullable("integer"),
            "size": {"type": "integer"},
            "treated": {"type": "integer"},
            "holdout": {"type": "integer"},
            "holdout_fraction": {"type": "number"},
            "expected": {
                "type": "object",
                "required": ["value"],
                "additionalProperties": {"type": "number"},
            },
            "candidates": {"type": "integer"},
            "not_worth_calling": {"type": "integer"},
            "over_capacity": {"type": "integer"},
            "exclusions": {
                "type": "object",
                "description": "Customers kept off the list, by reason.",
                "additionalProperties": {"type": "integer"},
            },
            "taken_from_lower_lists": {"type": "integer"},
            "holdout_balance_points": {"type": "number"},
        },
    },
    "PlanResult": {
        "type": "object",
        "required": ["stored", "preview"],
        "properties": {"stored": {"type": "boolean"}, "preview": _ref("Preview")},
    },
    "MoveResult": {
        "type": "object",
        "required": ["campaign", "status"],
        "properties": {"campaign": {"type": "string"}, "status": _ref("Status")},
    },
    "Live": {
        "type": "object",
        "required": [
            "campaign",
            "status",
            "dials",
            "connected",
            "right_party_contacts",
            "conversions",
            "abandon_rate",
            "abandon_limit",
            "service_level",
            "dial_level",
            "agents",
        ],
        "properties": {
            "campaign": {"type": "string"},
            "kind": _ref("Kind"),
            "status": _ref("Status"),
            "pacing": {"type": "string"},
            "actions": {"type": "array", "items": _ref("Action")},
            "dials": {"type": "integer"},
            "human_answers": {"type": "integer"},
            "connected": {"type": "integer"},
            "right_party_contacts": {"type": "integer"},
            "conversions": {"type": "integer"},
            "abandoned": {"type": "integer"},
            "abandon_rate": _nullable("number"),
            "abandon_limit": {"type": "number"},
            "over_abandon_limit": {"type": "boolean"},
            "service_level": {
                **_nullable("number"),
                "description": "Share of the last hour's live answers an agent took "
                "within `service_seconds`.",
            },
            "service_seconds": {"type": "integer"},
            "lines_in_flight": {"type": "integer"},
            "dial_level": {
                **_nullable("number"),
                "description": "Lines in flight per agent logged in and not paused.",
            },
            "as_of": {"type": "string"},
            "agents": {
                "type": "object",
                "required": ["by_state", "list", "logged_in"],
                "properties": {
                    "by_state": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                    "logged_in": {"type": "integer"},
                    "list": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["agent", "state", "seconds_in_state"],
                            "properties": {
                                "agent": {"type": "string"},
                                "state": {
                                    "type": "string",
                                    "enum": ["ready", "talk", "wrap", "paused"],
                                },
                                "seconds_in_state": {"type": "integer"},
                                "pause_code": _nullable("string"),
                            },
                        },
                    },
                },
            },
        },
    },
    "SavedReport": {
        "type": "object",
        "required": [
            "campaign",
            "treated",
            "holdout",
            "incremental_saves",
            "ci95",
            "splits",
            "notes",
        ],
        "properties": {
            "campaign": {"type": "string"},
            "kind": _ref("Kind"),
            "treated": {"type": "integer"},
            "holdout": {"type": "integer"},
            "churn_treated": _nullable("number"),
            "churn_holdout": _nullable("number"),
            "incremental_saves": _nullable("number"),
            "ci95": _PAIR,
            "revenue_kept": _nullable("number"),
            "cost_per_save": _nullable("number"),
            "window_complete": {"type": "boolean"},
            "splits": {"type": "array", "items": _SPLIT},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ConversionReport": {
        "type": "object",
        "required": ["campaign", "treated", "holdout", "incremental_conversions", "splits"],
        "properties": {
            "campaign": {"type": "string"},
            "treated": {"type": "integer"},
            "holdout": {"type": "integer"},
            "conversion_treated": _nullable("number"),
            "conversion_holdout": _nullable("number"),
            "incremental_conversions": _nullable("number"),
            "ci95": _PAIR,
            "claimed": {"type": "integer"},
            "confirmed": {"type": "integer"},
            "splits": {"type": "array", "items": _SPLIT},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Kpis": {
        "type": "object",
        "required": ["campaign", "dials", "connects", "abandon_rate", "abandon_limit", "agents"],
        "properties": {
            "campaign": {"type": "string"},
            "dials": {"type": "integer"},
            "live_answers": {"type": "integer"},
            "connects": {"type": "integer"},
            "abandoned": {"type": "integer"},
            "abandon_rate": _nullable("number"),
            "abandon_limit": {"type": "number"},
            "right_party_contacts": {"type": "integer"},
            "conversions": {"type": "integer"},
            "conversion_rate": _nullable("number"),
            "service_level": _nullable("number"),
            "agents": {"type": "array", "items": {"type": "object"}},
        },
    },
    "MonthlyReport": {
        "type": "object",
        "required": [
            "as_of",
            "annual_target",
            "filters",
            "scope",
            "months",
            "quarters",
            "years",
            "notes",
        ],
        "properties": {
            "as_of": {"type": "string", "format": "date"},
            "data_from": {**_nullable("string"), "format": "date"},
            "data_until": {**_nullable("string"), "format": "date"},
            "annual_target": {"type": "number"},
            "acquisition_cost": {"type": "number"},
            "filters": {
                "type": "object",
                "required": ["campaigns", "segment", "offer", "agent"],
                "properties": {
                    "campaigns": {"type": "array", "items": {"type": "string"}},
                    "segment": _nullable("string"),
                    "offer": _nullable("string"),
                    "agent": _nullable("string"),
                },
            },
            "scope": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What the churn and the saves figures cover, in words.",
            },
            "months": {"type": "array", "items": _PERIOD},
            "quarters": {"type": "array", "items": _PERIOD},
            "years": {"type": "array", "items": _PERIOD},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    },
    "VoiceToken": {
        "type": "object",
        "required": ["mode", "identity", "token", "ttl", "sdk_url", "sound_url"],
        "properties": {
            "mode": {"const": "twilio"},
            "identity": {
                "type": "string",
                "description": "The Twilio Client identity, agent-{user id}.",
            },
            "token": {"type": "string", "description": "The access token, a signed JWT."},
            "ttl": {"type": "integer", "description": "Seconds the token lasts."},
            "sdk_url": {"type": "string", "description": "The Voice JS SDK bundle."},
            "sound_url": {"type": "string", "description": "The SDK's sounds: silence."},
        },
    },
    "VoiceSimulated": {
        "type": "object",
        "required": ["mode"],
        "properties": {"mode": {"const": "simulated"}},
    },
}


def _json_or_csv(schema: str, description: str, rows: str) -> dict[str, Any]:
    """A report's answer: JSON, or its CSV rows (``format=csv``) as an attachment."""
    return {
        "description": f"{description} As CSV: {rows}.",
        "headers": {
            "Content-Disposition": {
                "description": 'With CSV: attachment; filename="....csv".',
                "schema": {"type": "string"},
            }
        },
        "content": {
            "application/json": {"schema": _ref(schema)},
            # no "type": the body is the file's bytes, not a JSON string
            "text/csv": {"schema": {"contentMediaType": "text/csv"}},
        },
    }


def _report(summary: str, schema: str, rows: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["reports"],
            "parameters": [_NAME, _FORMAT],
            "security": _READ,
            "responses": {
                "200": _json_or_csv(schema, summary, rows),
                "400": _ERROR,
                "404": _ERROR,
                "409": _ERROR,
                **_DENIED,
            },
        }
    }


def _filter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string"}}


def _console(
    method: str, summary: str, *, path_id: bool = False, created: bool = False
) -> dict[str, Any]:
    """A route of the agent console (``runner.web.console``), listed by path: its bodies are
    described there, so any JSON object is accepted here."""
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["agent"],
        "security": _WRITE if method == "post" else _READ,
        "responses": {
            "200": _json({"type": "object"}, "See runner.web.console."),
            "400": _ERROR,
            "404": _ERROR,
            "409": _ERROR,
            **_DENIED,
        },
    }
    if created:
        operation["responses"]["201"] = _json({"type": "object"}, "See runner.web.console.")
    if path_id:
        operation["parameters"] = [
            {"name": "attempt_id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ]
    if method == "post":
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return {method: operation}


_AGENT_PATHS: Final[dict[str, Any]] = {
    "/api/agent/state": _console("get", "The agent's state and campaign"),
    "/api/agent/login": _console("post", "Log in to a campaign: ready for calls"),
    "/api/agent/ready": _console("post", "Ready again after a pause or wrap-up"),
    "/api/agent/pause": _console("post", "Pause, with a pause code"),
    "/api/agent/logout": _console("post", "Log out of the campaign"),
    "/api/agent/call": _console("get", "The call in hand: the customer card and script"),
    "/api/agent/preview/next": _console(
        "post", "Preview dialing: the next customer's card, before the dial"
    ),
    "/api/agent/preview/dial": _console(
        "post", "Dial the customer being previewed (201 with the attempt)", created=True
    ),
    "/api/agent/preview/skip": _console("post", "Pass on the customer being previewed"),
    "/api/agent/callbacks": _console("get", "The agent's callbacks due"),
    "/api/agent/today": _console("get", "Today's figures"),
    "/api/agent/events": {
        "get": {
            "summary": "Server-sent events: the agent's state and call as they change",
            "tags": ["agent"],
            "security": _READ,
            "responses": {"200": {"description": "text/event-stream"}, **_DENIED},
        }
    },
    "/api/attempts/{attempt_id}/disposition": _console(
        "post", "Record the outcome of the agent's call", path_id=True
    ),
    "/api/agent/voice-token": {
        "get": {
            "summary": "The agent's voice leg: a Twilio access token, or simulated",
            "description": "With real Twilio (no TWILIO_API_BASE, and TWILIO_API_KEY_SID and "
            "TWILIO_API_KEY_SECRET set) an access token with a VoiceGrant for the agent's "
            "client identity, the one answered calls are bridged to, and where the console "
            "loads the Voice JS SDK from. Against the carrier simulator, or without an API "
            'key, 200 with `{"mode": "simulated"}`: the console shows the call states '
            "from the board alone. Fetch a new token before `ttl` seconds have passed.",
            "tags": ["agent"],
            "security": _READ,
            "responses": {
                "200": _json(
                    {"oneOf": [_ref("VoiceToken"), _ref("VoiceSimulated")]},
                    "The token, or the simulated mode.",
                ),
                **_DENIED,
            },
        }
    },
}


_DOCUMENT: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "telecampaign API",
        "version": "1.0.0",
        "description": "Plan, launch and watch calling campaigns; read their reports. "
        "Log in at /login first: the API uses the page session (a cookie), and every "
        "POST sends the session's CSRF token (from GET /api/me) in X-CSRF-Token.",
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": "campaigns"}, {"name": "reports"}, {"name": "agent"}],
    "paths": {
        "/api/campaigns": {
            "get": {
                "summary": "Every campaign, newest first, with the moves it allows",
                "tags": ["campaigns"],
                "security": _READ,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["campaigns"],
                            "properties": {
                                "campaigns": {"type": "array", "items": _ref("Campaign")}
                            },
                        },
                        "The campaigns.",
                    ),
                    **_DENIED,
                },
            }
        },
        "/api/campaigns/plan": {
            "post": {
                "summary": "Preview a call list (dry_run) or store it as a planned campaign",
                "tags": ["campaigns"],
                "security": _WRITE,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PlanBody")}},
                },
                "responses": {
                    "200": _json(_ref("PlanResult"), "The preview; nothing stored."),
                    "201": _json(_ref("PlanResult"), "Stored as planned."),
                    "400": _ERROR,
                    "409": _ERROR,
                    **_DENIED,
                },
            }
        },
        "/api/campaigns/{name}/{action}": {
            "post": {
                "summary": "Launch, pause, resume or stop a campaign",
                "tags": ["campaigns"],
                "security": _WRITE,
                "parameters": [
                    _NAME,
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": _ref("Action"),
                    },
                ],
                "responses": {
                    "200": _json(_ref("MoveResult"), "The campaign's new status."),
                    "404": _ERROR,
                    "409": _ERROR,
                    **_DENIED,
                },
            }
        },
        "/api/campaigns/{name}/live": {
            "get": {
                "summary": "Live figures: dials, connects, abandons against the limit, agents",
                "tags": ["campaigns"],
                "security": _READ,
                "parameters": [_NAME],
                "responses": {
                    "200": _json(_ref("Live"), "The figures now."),
                    "404": _ERROR,
                    **_DENIED,
                },
            }
        },
        "/api/reports/saved/{name}": _report(
            "Saved customers against the holdout", "SavedReport", "one row per split"
        ),
        "/api/reports/conversions/{name}": _report(
            "Conversions against the holdout", "ConversionReport", "one row per split"
        ),
        "/api/reports/kpis/{name}": _report("Campaign and agent KPIs", "Kpis", "one row per agent"),
        "/api/reports/monthly": {
            "get": {
                "summary": "Churn per month, quarter and year against the target",
                "description": "Filters narrow the report; `scope` in the answer says what "
                "each figure covers. A value the store does not know is a 400 naming the "
                "filter in `field`.",
                "tags": ["reports"],
                "security": _READ,
                "parameters": [
                    {
                        "name": "months",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 60},
                    },
                    {"name": "as_of", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "campaign",
                        "in": "query",
                        "description": "Count the saves of these launched anti-churn or "
                        "win-back lists only (repeat the parameter for several).",
                        "style": "form",
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    _filter(
                        "segment",
                        "A segment code: churn, complaints and saves among its customers.",
                    ),
                    _filter("offer", "Count the saves of list entries with this offer only."),
                    _filter(
                        "agent",
                        "A username: count the saves among the customers this agent spoke "
                        "with, against the whole holdout.",
                    ),
                    _FORMAT,
                ],
                "responses": {
                    "200": _json_or_csv(
                        "MonthlyReport", "The report.", "one row per month, quarter and year"
                    ),
                    "400": _ERROR,
                    **_DENIED,
                },
            }
        },
        **_AGENT_PATHS,
    },
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "telecampaign_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
        },
    },
}


def document() -> dict[str, Any]:
    """A fresh copy of the document, safe for a caller to change."""
    return copy.deepcopy(_DOCUMENT)
