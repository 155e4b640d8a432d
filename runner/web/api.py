"""The JSON API under ``/api/``: plan, move and watch campaigns; read the reports; the
settings of campaigns and the site (``runner.web.settings_api``).

Every route is described in ``runner.web.openapi`` (served at ``/api/openapi.json``), built
from this route table and the models of ``runner.web.schemas``, and guarded by
``runner.web.access`` like the pages. Errors are JSON,
``{"error": code, "message": text, "field": name, "fields": {name: text}}``:

    400 invalid      the body or a parameter cannot be used; ``fields`` says which
    404 not_found    no campaign of that name, or no such action
    409 conflict     the store's state refuses it: the name is taken, the campaign's
                     status does not allow the move, nothing is scored yet

The reports answer JSON, or CSV with ``?format=csv`` (or ``Accept: text/csv``): the rows
and columns ``telecampaign report ... --csv`` writes, from the same writer, as a download.

Planning, moves and reports read or write much of the store, so they run on a thread of
their own (the store gateway's ``batch``); short reads go through its ``write``. The
event loop never waits on the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Engine

from campaigns.errors import CampaignError, CampaignNameTaken, CampaignNotFoundError
from campaigns.lifecycle import move
from campaigns.monthly import FilterError, MonthlyReport, monthly_report
from campaigns.plan_request import PlanRequest, PlanRequestError
from campaigns.planner import Plan, plan
from campaigns.reports import conversion_report, saved_report
from campaigns.watchlist import watch_list
from dialer.kpis import kpis_for
from dialer.webhooks import DIALER
from runner.privacy import erase_in_store
from runner.reports.csv import Report, csv_text
from runner.web.desk import (
    ACTIONS,
    FieldErrors,
    agent_names,
    agents_by_state,
    campaign_rows,
    live_counts,
)
from runner.web.keys import SETTINGS
from runner.web.openapi import document
from runner.web.report_query import monthly_query, watch_list_query
from runner.web.schemas import ErasureBody, PlanBody
from runner.web.settings_api import add_settings_api_routes
from runner.web.trail import actor_of, audit
from store.audit import AuditAction

__all__ = [
    "add_api_routes",
    "api_error",
    "live_view",
    "move_campaign",
    "run_plan",
]

FORMATS = ("json", "csv")


def api_error(
    status: int, error: str, message: str, fields: Mapping[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if fields:
        body["field"] = next(iter(fields))
        body["fields"] = dict(fields)
    return web.json_response(body, status=status)


def _campaign_error(exc: CampaignError) -> web.Response:
    if isinstance(exc, CampaignNotFoundError):
        return api_error(404, "not_found", str(exc), {"name": str(exc)})
    if isinstance(exc, CampaignNameTaken):
        return api_error(409, "conflict", str(exc), {"name": str(exc)})
    return api_error(409, "conflict", str(exc))


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FieldErrors({"body": "send a JSON object (Content-Type: application/json)"}) from None
    if not isinstance(body, dict):
        raise FieldErrors({"body": "send a JSON object, not a list or a plain value"})
    return body


# --- shared with the pages ----------------------------------------------------------


async def run_plan(request: web.Request, plan_request: PlanRequest, *, dry_run: bool) -> Plan:
    """Run a plan, its settings' first version and the audit trail the requester's;
    raises CampaignError for the caller to show."""
    asked = plan_request.model_copy(update={"actor": actor_of(request).label})
    result = await request.app[DIALER].gateway.batch(plan, asked, dry_run=dry_run)
    target = ("campaign", result.campaign_id) if result.campaign_id is not None else None
    detail = {"name": plan_request.name, "kind": str(plan_request.kind), "dry_run": dry_run}
    await audit(request, AuditAction.PLAN, target=target, detail=detail)
    return result


async def move_campaign(request: web.Request, name: str, action: str) -> str:
    """Apply ``action`` and record it on the audit trail; returns the new status. Launch
    and resume wake the pacer at once instead of at its next round."""
    dialer = request.app[DIALER]
    campaign = await dialer.gateway.batch(move, name, action)
    await audit(
        request, AuditAction(action), target=("campaign", campaign.id), detail={"name": name}
    )
    if action in ("launch", "resume"):
        await dialer.nudge(campaign.id)
    return campaign.status.value


async def live_view(request: web.Request, name: str) -> dict[str, Any]:
    """A campaign's live figures with its agents by state and the dial level."""
    dialer = request.app[DIALER]
    now = dialer.clock.utcnow()
    counts = await dialer.gateway.write(lambda s: live_counts(s, name, now))
    statuses = await dialer.board.agents(counts.campaign_id)
    ids = [s.agent_id for s in statuses]
    names = await dialer.gateway.write(lambda s: agent_names(s, ids))
    agents = agents_by_state(statuses, names, dialer.clock.now())
    body = counts.body
    logged_in = agents["logged_in"] - agents["by_state"].get("paused", 0)
    # lines dialled per agent able to take a call: what the pacer is running at
    body["dial_level"] = round(body["lines_in_flight"] / logged_in, 2) if logged_in else None
    body["agents"] = agents
    return body


# --- handlers -----------------------------------------------------------------------


async def list_campaigns(request: web.Request) -> web.Response:
    rows = await request.app[DIALER].gateway.write(campaign_rows)
    return web.json_response({"campaigns": rows})


async def plan_campaign(request: web.Request) -> web.Response:
    try:
        body = PlanBody(**await _json_body(request))
        result = await run_plan(request, body.plan_request(), dry_run=body.dry_run)
    except (FieldErrors, PlanRequestError) as exc:  # a body that is no JSON object, or its fields
        return api_error(400, "invalid", "the plan cannot be made as asked", exc.fields)
    except CampaignError as exc:
        return _campaign_error(exc)
    return web.json_response(
        {"stored": not body.dry_run, "preview": result.preview},
        status=200 if body.dry_run else 201,
    )


async def move_action(request: web.Request) -> web.Response:
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in ACTIONS:
        return api_error(
            404, "not_found", f"no action {action!r}: use {', '.join(ACTIONS)}", {"action": action}
        )
    try:
        status = await move_campaign(request, name, action)
    except CampaignError as exc:
        return _campaign_error(exc)
    return web.json_response({"campaign": name, "status": status})


async def campaign_live(request: web.Request) -> web.Response:
    try:
        body = await live_view(request, request.match_info["name"])
    except CampaignError as exc:
        return _campaign_error(exc)
    return web.json_response(body)


def wants_csv(request: web.Request) -> bool:
    """CSV when ``?format=csv``, or without ``format`` when the Accept header ranks
    text/csv above JSON; FieldErrors names a ``format`` that is neither."""
    chosen = request.query.get("format")
    if chosen is not None:
        if chosen not in FORMATS:
            raise FieldErrors({"format": f"choose {' or '.join(FORMATS)}"})
        return chosen == "csv"
    ranks = {"application/json": 0.0, "text/csv": 0.0}
    for part in request.headers.get("Accept", "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        for kind in ranks:
            if media.lower() == kind:
                ranks[kind] = max(ranks[kind], quality)
    return ranks["text/csv"] > ranks["application/json"]


def _filename(*parts: str) -> str:
    """A download name from report words: letters, digits, dashes and underscores only."""
    text = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "report"


def report_response(report: Report, csv: bool, name: str) -> web.Response:
    """The report as JSON, or as the CLI's CSV, a download named ``name``.csv."""
    if not csv:
        return web.json_response(report.to_json())
    return web.Response(
        text=csv_text(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(name)}.csv"'},
    )


async def _report(
    request: web.Request, build: Callable[[Any, str], Report], kind: str
) -> web.Response:
    try:
        csv = wants_csv(request)
    except FieldErrors as exc:
        return api_error(400, "invalid", "the report cannot be made as asked", exc.fields)
    name = request.match_info["name"]
    try:
        report = await request.app[DIALER].gateway.batch(build, name)
    except CampaignError as exc:
        return _campaign_error(exc)
    return report_response(report, csv, _filename(kind, name))


async def saved(request: web.Request) -> web.Response:
    return await _report(request, saved_report, "saved")


async def conversions(request: web.Request) -> web.Response:
    return await _report(request, conversion_report, "conversions")


async def kpis(request: web.Request) -> web.Response:
    return await _report(request, kpis_for, "kpis")


async def monthly(request: web.Request) -> web.Response:
    try:
        csv = wants_csv(request)
        asked = monthly_query(request.query)
    except FieldErrors as exc:
        return api_error(400, "invalid", "the report cannot be made as asked", exc.fields)

    def build(engine: Engine) -> MonthlyReport:
        return monthly_report(engine, months=asked.months, as_of=asked.as_of, filters=asked.filters)

    try:
        report = await request.app[DIALER].gateway.batch(build)
    except FilterError as exc:
        return api_error(400, "invalid", "no such value to filter by", exc.fields)
    return report_response(report, csv, _filename("monthly", report.as_of.isoformat()))


async def watchlist(request: web.Request) -> web.Response:
    """A page of the watch list and the promoters as JSON; as CSV, both lists whole."""
    try:
        csv = wants_csv(request)
        asked = watch_list_query(request.query)
    except FieldErrors as exc:
        return api_error(400, "invalid", "the watch list cannot be read as asked", exc.fields)
    watch = await request.app[DIALER].gateway.batch(watch_list)
    if csv:
        return report_response(watch, csv, "watchlist")
    return web.json_response(watch.to_json(offset=asked.offset, limit=asked.limit))


async def erase_customers(request: web.Request) -> web.Response:
    """Erase customers on request; unknown ids are listed in the answer, not refused."""
    try:
        body = ErasureBody.model_validate(await _json_body(request))
    except FieldErrors as exc:
        return api_error(400, "invalid", "send the ids to erase", exc.fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        return api_error(400, "invalid", "send the ids to erase", {field: first["msg"]})
    # a thread and transaction apart: a long request must not hold the dialer's writes
    result = await request.app[DIALER].gateway.batch(
        erase_in_store, request.app[SETTINGS], body.ids
    )
    return web.json_response(result.as_json())


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app.router))


def add_api_routes(app: web.Application) -> None:
    add = app.router
    add.add_get("/api/openapi.json", openapi, name="api-openapi")
    add.add_get("/api/campaigns", list_campaigns, name="api-campaigns")
    add.add_post("/api/campaigns/plan", plan_campaign, name="api-campaign-plan")
    add.add_get("/api/campaigns/{name}/live", campaign_live, name="api-campaign-live")
    add.add_post("/api/campaigns/{name}/{action}", move_action, name="api-campaign-move")
    add.add_get("/api/reports/saved/{name}", saved, name="api-report-saved")
    add.add_get("/api/reports/conversions/{name}", conversions, name="api-report-conversions")
    add.add_get("/api/reports/kpis/{name}", kpis, name="api-report-kpis")
    add.add_get("/api/reports/monthly", monthly, name="api-report-monthly")
    add.add_get("/api/reports/watchlist", watchlist, name="api-report-watchlist")
    add.add_post("/api/customers/erase", erase_customers, name="api-customer-erase")
    add_settings_api_routes(app)
