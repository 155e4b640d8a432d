"""The OpenAPI 3.1 document of the JSON API, built from the route table and the models.

Each documented route has a small declaration below (its summary, body, answers and
parameters), keyed by the route's name; the method and path come from aiohttp's router,
the schemas from the pydantic models of ``runner.web.schemas``. A declared route the router
does not have, or an ``/api/`` route declared nowhere, stops the build.
``tests/runner/web/test_api.py`` sends real requests and validates each request and
response against the document, so a route that drifts from its models fails there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from runner.web import schemas
from runner.web.access import BEARER_ROUTES
from runner.web.console_bodies import (
    DispositionBody,
    LoginBody,
    PauseBody,
    PreviewBody,
    PreviewNextBody,
)
from runner.web.report_query import MonthlyQuery, WatchListQuery
from runner.web.settings_schemas import (
    SettingsChanges,
    SettingsRefused,
    SettingsView,
    SiteSettingsChanges,
)

__all__ = ["document"]

_REFS = "#/components/schemas/{model}"
_WITH_BODY = frozenset({"post", "put", "patch"})
_ERRORS = ("400", "404", "409")


class _Untitled(GenerateJsonSchema):
    """pydantic's schemas without a title on every property: names say enough."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REFS.format(model=model.__name__)}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref(schemas.Error), "An error; `fields` names what to correct.")
_DENIED = {
    "401": _json(_ref(schemas.Error), "Not logged in, or a wrong or revoked API key."),
    "403": _json(
        _ref(schemas.Error),
        "The user's (or key's) role may not use this, an API key on a route for people, "
        "or the CSRF token is wrong.",
    ),
}
_ANY_OBJECT = {"type": "object"}
_FORMAT = {
    "name": "format",
    "in": "query",
    "description": "json (the default) or csv: the rows and columns `telecampaign report "
    "... --csv` writes, sent as a download. Without it, `Accept: text/csv` asks for CSV.",
    "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
}
_PATH_PARAMETERS: Final[dict[str, dict[str, Any]]] = {
    "name": {"description": "The campaign's name.", "schema": {"type": "string"}},
    "action": {"schema": {"type": "string", "enum": ["launch", "pause", "resume", "stop"]}},
    "attempt_id": {"schema": {"type": "integer"}},
}


@dataclass(frozen=True)
class Answer:
    """One answer of a route: a model (or any JSON object, or no content) and its words."""

    description: str
    model: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    any_object: bool = False
    csv_rows: str | None = None  # a report: also CSV, as a download of these rows

    def content(self) -> dict[str, Any]:
        if self.model is None and not self.any_object:
            return {"description": self.description}
        if isinstance(self.model, tuple):
            schema: dict[str, Any] = {"oneOf": [_ref(m) for m in self.model]}
        else:
            schema = _ref(self.model) if self.model is not None else dict(_ANY_OBJECT)
        if self.csv_rows is None:
            return _json(schema, self.description)
        return {
            "description": f"{self.description} As CSV: {self.csv_rows}.",
            "headers": {
                "Content-Disposition": {
                    "description": 'With CSV: attachment; filename="....csv".',
                    "schema": {"type": "string"},
                }
            },
            "content": {
                "application/json": {"schema": schema},
                # no "type": the body is the file's bytes, not a JSON string
                "text/csv": {"schema": {"contentMediaType": "text/csv"}},
            },
        }


@dataclass(frozen=True)
class Route:
    """What the router does not know of a route: its words, body, answers and query."""

    summary: str
    tag: str
    answers: Mapping[str, Answer]
    errors: tuple[str, ...] = _ERRORS
    body: type[BaseModel] | None = None
    body_required: bool = True
    any_body: bool = False  # a POST that takes any JSON object, or none (the console's)
    description: str | None = None
    query: tuple[Mapping[str, Any], ...] = ()


def _report(summary: str, model: type[BaseModel], rows: str) -> Route:
    return Route(
        summary, "reports", {"200": Answer(summary, model, csv_rows=rows)}, query=(_FORMAT,)
    )


def _console(summary: str, *, created: bool = False, body: type[BaseModel] | None = None) -> Route:
    """A route of the agent console (``runner.web.console``), whose answers it describes; a
    POST may come without a body (an empty one is read as ``{}``)."""
    answers = {"200": Answer("See runner.web.console.", any_object=True)}
    if created:
        answers["201"] = Answer("See runner.web.console.", any_object=True)
    return Route(summary, "agent", answers, body=body, body_required=False, any_body=True)


def _query_parameters(model: type[BaseModel]) -> tuple[dict[str, Any], ...]:
    """A query string's parameters from the model that reads it: each field one parameter,
    a list repeated (``campaign=a&campaign=b``)."""
    parameters = []
    for name, field in model.model_json_schema()["properties"].items():
        schema = {k: v for k, v in field.items() if k not in ("title", "description")}
        options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1:  # an optional parameter: absent, not null
            schema = {**options[0], **schema}
        if schema.get("default", 0) is None:
            del schema["default"]
        parameter = {"name": name, "in": "query", "schema": schema}
        if "description" in field:
            parameter["description"] = field["description"]
        if schema.get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return tuple(parameters)


_MONTHLY_QUERY = (*_query_parameters(MonthlyQuery), _FORMAT)
_WATCH_LIST_QUERY = (*_query_parameters(WatchListQuery), _FORMAT)
_VOICE = (
    "With real Twilio (no TWILIO_API_BASE, and TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET "
    "set) an access token with a VoiceGrant for the agent's client identity, the one "
    "answered calls are bridged to, and where the console loads the Voice JS SDK from. "
    "Against the carrier simulator, or without an API key, 200 with "
    '`{"mode": "simulated"}`: the console shows the call states from the board alone. '
    "Fetch a new token before `ttl` seconds have passed."
)
_SETTINGS_CHANGE = (
    "Only the keys given change, as with `telecampaign settings set --file`: a section "
    "merges key by key, the calling window is given whole, null sends a key back to the "
    "default. Checked whole against the regulatory profiles; caller ID numbers are checked "
    "with the carrier (refused when it cannot tell). A new version with who and when; in "
    "force from the next pacing tick."
)

# by route name, in the document's order
ROUTES: Final[dict[str, Route]] = {
    "api-campaigns": Route(
        "Every campaign, newest first, with the moves it allows",
        "campaigns",
        {"200": Answer("The campaigns.", schemas.Campaigns)},
        errors=(),
    ),
    "api-campaign-plan": Route(
        "Preview a call list (dry_run) or store it as a planned campaign",
        "campaigns",
        {
            "200": Answer("The preview; nothing stored.", schemas.PlanResult),
            "201": Answer("Stored as planned.", schemas.PlanResult),
        },
        errors=("400", "409"),
        body=schemas.PlanBody,
    ),
    "api-campaign-move": Route(
        "Launch, pause, resume or stop a campaign",
        "campaigns",
        {"200": Answer("The campaign's new status.", schemas.MoveResult)},
        errors=("404", "409"),
    ),
    "api-campaign-live": Route(
        "Live figures: dials, connects, abandons against the limit, agents",
        "campaigns",
        {"200": Answer("The figures now.", schemas.Live)},
        errors=("404",),
    ),
    "api-report-saved": _report(
        "Saved customers against the holdout", schemas.SavedReport, "one row per split"
    ),
    "api-report-conversions": _report(
        "Conversions against the holdout", schemas.ConversionReport, "one row per split"
    ),
    "api-report-kpis": _report("Campaign and agent KPIs", schemas.Kpis, "one row per agent"),
    "api-report-monthly": Route(
        "Churn per month, quarter and year against the target",
        "reports",
        {
            "200": Answer(
                "The report.", schemas.MonthlyReport, csv_rows="one row per month, quarter and year"
            )
        },
        errors=("400",),
        description="Filters narrow the report; `scope` in the answer says what each figure "
        "covers. A value the store does not know is a 400 naming the filter in `field`.",
        query=_MONTHLY_QUERY,
    ),
    "api-report-watchlist": Route(
        "The satisfaction watch list: customers at risk by their latest survey; promoters",
        "reports",
        {
            "200": Answer(
                "A page of each list.",
                schemas.WatchListReport,
                csv_rows="both lists whole, one row per customer, `list` naming its list",
            )
        },
        errors=("400",),
        description="At risk: 6 or less of 10, or 1-2 (open) and 3 (hidden dissatisfaction) "
        "of 5, on the latest survey; with churn risk, CLV, open complaints and the contacts "
        "since the survey. Promoters (9-10 of 10, 5 of 5) apart.",
        query=_WATCH_LIST_QUERY,
    ),
    "api-customer-erase": Route(
        "Erase customers on request (GDPR art. 17)",
        "customers",
        {"200": Answer("What was erased; unknown ids listed.", schemas.ErasureResult)},
        errors=("400",),
        body=schemas.ErasureBody,
        description="Removes or replaces for good each customer's name, number, ids, notes "
        "and message bodies everywhere they are stored, and the reject-file lines that hold "
        "them; keeps keyed hashes of the id and numbers so no import or list brings them "
        "back, and the anonymous facts the reports count. All the ids in one transaction.",
    ),
    "api-campaign-settings": Route(
        "A campaign's settings in force, their version and history",
        "settings",
        {"200": Answer("The settings.", SettingsView)},
        errors=("404",),
    ),
    "api-campaign-settings-change": Route(
        "Change a campaign's settings",
        "settings",
        {
            "200": Answer("The settings now in force.", SettingsView),
            "422": Answer("Refused whole, each field named; nothing changed.", SettingsRefused),
        },
        errors=("404",),
        body=SettingsChanges,
        description=_SETTINGS_CHANGE,
    ),
    "api-site-settings": Route(
        "The site-wide settings, their version and history",
        "settings",
        {"200": Answer("The settings, with each country's regulatory profile.", SettingsView)},
        errors=(),
    ),
    "api-site-settings-change": Route(
        "Change the site-wide settings",
        "settings",
        {
            "200": Answer("The settings now in force.", SettingsView),
            "422": Answer(
                "Refused whole, each field named (and the campaign that could not run under "
                "it); nothing changed.",
                SettingsRefused,
            ),
        },
        errors=(),
        body=SiteSettingsChanges,
        description=_SETTINGS_CHANGE,
    ),
    "agent-state": _console("The agent's state and campaign"),
    "agent-login": _console("Log in to a campaign: ready for calls", body=LoginBody),
    "agent-ready": _console("Ready again after a pause or wrap-up"),
    "agent-pause": _console("Pause, with a pause code", body=PauseBody),
    "agent-logout": _console("Log out of the campaign"),
    "agent-call": _console("The call in hand: the customer card and script"),
    "agent-preview-next": _console(
        "Preview dialing: the next customer's card, before the dial", body=PreviewNextBody
    ),
    "agent-preview-dial": _console(
        "Dial the customer being previewed (201 with the attempt)", created=True, body=PreviewBody
    ),
    "agent-preview-skip": _console("Pass on the customer being previewed", body=PreviewBody),
    "agent-callbacks": _console("The agent's callbacks due"),
    "agent-today": _console("Today's figures"),
    "agent-events": Route(
        "Server-sent events: the agent's state and call as they change",
        "agent",
        {"200": Answer("text/event-stream")},
        errors=(),
    ),
    "agent-disposition": _console("Record the outcome of the agent's call", body=DispositionBody),
    "agent-voice-token": Route(
        "The agent's voice leg: a Twilio access token, or simulated",
        "agent",
        {
            "200": Answer(
                "The token, or the simulated mode.", (schemas.VoiceToken, schemas.VoiceSimulated)
            )
        },
        errors=(),
        description=_VOICE,
    ),
}
# under /api/ but not part of the document: who is logged in, and the document itself
UNDOCUMENTED: Final = frozenset({"api-me", "api-openapi"})
# each route's ways in: a person's session (with the CSRF token on a POST), and for the
# routes of runner.web.access.BEARER_ROUTES an API key instead
_READ: list[dict[str, list[str]]] = [{"session": []}]
_WRITE: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_INFO = {
    "title": "telecampaign API",
    "version": "1.0.0",
    "description": "Plan, launch and watch calling campaigns; read their reports. Two ways "
    "in. A person logs in at /login: the API uses the page session (a cookie), and every "
    "POST or PATCH sends the session's CSRF token (from GET /api/me) in X-CSRF-Token. A "
    "machine client sends an API key (`telecampaign apikey add`) as `Authorization: Bearer "
    "<key>`, with no cookie (a request with both is refused with 400) and no CSRF token, on "
    "the routes whose security lists `bearer`; the key's role decides like a user's (403), a "
    "wrong or revoked key gets 401, and every request made with a key is audited.",
}
_SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "telecampaign_session"},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "tck_<12 hex>_<43 characters>",
        "description": "An API key made by a manager; never together with the cookie.",
    },
}


def _components() -> dict[str, Any]:
    """The JSON schema of every model the routes name, each under its own name (with
    the models they hold): bodies as they are validated, answers as they are written."""
    modes: dict[type[BaseModel], JsonSchemaMode] = {schemas.Error: "serialization"}
    for route in ROUTES.values():
        if route.body is not None:
            modes[route.body] = "validation"
        for answer in route.answers.values():
            models = answer.model if isinstance(answer.model, tuple) else (answer.model,)
            modes.update((model, "serialization") for model in models if model is not None)
    _, top = models_json_schema(list(modes.items()), ref_template=_REFS, schema_generator=_Untitled)
    return dict(sorted(top["$defs"].items()))


def _operation(method: str, path_names: list[str], route: Route, *, bearer: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary}
    if route.description:
        operation["description"] = route.description
    operation["tags"] = [route.tag]
    operation["security"] = (_WRITE if method in _WITH_BODY else _READ) + (
        _BEARER if bearer else []
    )
    parameters = [
        {"name": name, "in": "path", "required": True, **_PATH_PARAMETERS[name]}
        for name in path_names
    ]
    parameters += [dict(p) for p in route.query]
    if parameters:
        operation["parameters"] = parameters
    if method in _WITH_BODY and (route.body is not None or route.any_body):
        schema = _ref(route.body) if route.body is not None else dict(_ANY_OBJECT)
        operation["requestBody"] = {
            "required": route.body is not None and route.body_required,
            "content": {"application/json": {"schema": schema}},
        }
    responses = {status: answer.content() for status, answer in route.answers.items()}
    responses.update(dict.fromkeys(route.errors, _ERROR))
    responses.update(_DENIED)  # every route here is behind a login
    if bearer:  # a key and a session cookie on one request
        responses.setdefault("400", _ERROR)
    operation["responses"] = responses
    return operation


def _paths(router: web.UrlDispatcher) -> dict[str, Any]:
    """The declared routes, each at the path and with the method the router gives it."""
    paths: dict[str, Any] = {}
    found = set()
    for resource_route in router.routes():
        name = resource_route.name
        if resource_route.method == "HEAD":
            continue  # aiohttp adds one beside each GET: the GET describes both
        path = resource_route.resource.canonical if resource_route.resource else ""
        if name in ROUTES:
            method = resource_route.method.lower()
            names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
            paths.setdefault(path, {})[method] = _operation(
                method, names, ROUTES[name], bearer=name in BEARER_ROUTES
            )
            found.add(name)
        elif path.startswith("/api/") and name not in UNDOCUMENTED:
            raise LookupError(f"{resource_route.method} {path} ({name}) is not described")
    missing = set(ROUTES) - found
    if missing:
        raise LookupError(f"described but not routed: {', '.join(sorted(missing))}")
    return paths


def document(router: web.UrlDispatcher) -> dict[str, Any]:
    """The document for ``router``'s routes (the app's), a fresh copy."""
    return {
        "openapi": "3.1.0",
        "info": dict(_INFO),
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "campaigns"},
            {"name": "settings"},
            {"name": "reports"},
            {"name": "customers"},
            {"name": "agent"},
        ],
        "paths": _paths(router),
        "components": {"schemas": _components(), "securitySchemes": _SECURITY_SCHEMES},
    }
