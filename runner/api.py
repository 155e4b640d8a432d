"""The JSON API under ``/api/``: plan, move and watch campaigns; read the reports.

Every route is described in ``runner.openapi`` (served at ``/api/openapi.json``) and
guarded by ``runner.access`` like the pages. Errors are JSON,
``{"error": code, "message": text, "field": name, "fields": {name: text}}``:

    400 invalid      the body or a parameter cannot be used; ``fields`` says which
    404 not_found    no campaign of that name, or no such action
    409 conflict     the store's state refuses it: the name is taken, the campaign's
                     status does not allow the move, nothing is scored yet

Planning, moves and reports read or write much of the store, so they run in a thread
(``asyncio.to_thread``); short reads go through ``Dialer.store``. The event loop never
waits on the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from campaigns.errors import CampaignError, CampaignNotFoundError
from campaigns.lifecycle import move
from campaigns.monthly import monthly_report
from campaigns.planner import plan
from campaigns.reports import conversion_report, saved_report
from dialer.webhooks import DIALER
from runner.desk import (
    ACTIONS,
    FieldErrors,
    agent_names,
    agents_by_state,
    campaign_rows,
    kpis_for,
    live_counts,
    parse_plan,
)
from runner.openapi import document

__all__ = ["add_api_routes", "api_error", "live_view", "move_campaign", "run_plan"]


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
    if "exists already" in str(exc):  # the planner's check of a unique name
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


async def run_plan(request: web.Request, data: Mapping[str, Any], *, dry_run: bool) -> Any:
    """Parse and run a plan; raises FieldErrors or CampaignError for the caller to show."""
    plan_request = parse_plan(data)
    engine = request.app[DIALER].engine
    return await asyncio.to_thread(plan, engine, plan_request, dry_run=dry_run)


async def move_campaign(request: web.Request, name: str, action: str) -> str:
    """Apply ``action``; returns the new status. Launch and resume wake the pacer at once
    instead of at its next round."""
    dialer = request.app[DIALER]
    campaign = await asyncio.to_thread(move, dialer.engine, name, action)
    if action in ("launch", "resume"):
        await dialer.nudge(campaign.id)
    return campaign.status.value


async def live_view(request: web.Request, name: str) -> dict[str, Any]:
    """A campaign's live figures with its agents by state and the dial level."""
    dialer = request.app[DIALER]
    now = dialer.clock.utcnow()
    counts = await dialer.store(lambda s: live_counts(s, name, now))
    statuses = await dialer.board.agents(counts.campaign_id)
    ids = [s.agent_id for s in statuses]
    names = await dialer.store(lambda s: agent_names(s, ids))
    agents = agents_by_state(statuses, names, dialer.clock.now())
    body = counts.body
    logged_in = agents["logged_in"] - agents["by_state"].get("paused", 0)
    # lines dialled per agent able to take a call: what the pacer is running at
    body["dial_level"] = round(body["lines_in_flight"] / logged_in, 2) if logged_in else None
    body["agents"] = agents
    return body


# --- handlers -----------------------------------------------------------------------


async def list_campaigns(request: web.Request) -> web.Response:
    rows = await request.app[DIALER].store(campaign_rows)
    return web.json_response({"campaigns": rows})


async def plan_campaign(request: web.Request) -> web.Response:
    try:
        data = await _json_body(request)
        dry_run = data.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise FieldErrors({"dry_run": "true to preview only, false to store the plan"})
        result = await run_plan(request, data, dry_run=dry_run)
    except FieldErrors as exc:
        return api_error(400, "invalid", "the plan cannot be made as asked", exc.fields)
    except CampaignError as exc:
        return _campaign_error(exc)
    return web.json_response(
        {"stored": not dry_run, "preview": result.preview}, status=200 if dry_run else 201
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


async def _report(request: web.Request, build: Any) -> web.Response:
    engine = request.app[DIALER].engine
    try:
        report = await asyncio.to_thread(build, engine, request.match_info["name"])
    except CampaignError as exc:
        return _campaign_error(exc)
    return web.json_response(report.to_json())


async def saved(request: web.Request) -> web.Response:
    return await _report(request, saved_report)


async def conversions(request: web.Request) -> web.Response:
    return await _report(request, conversion_report)


async def kpis(request: web.Request) -> web.Response:
    return await _report(request, kpis_for)


def monthly_params(query: Mapping[str, str]) -> tuple[int, dt.date | None]:
    """``months`` and ``as_of`` from a query string; FieldErrors names a bad one."""
    errors = {}
    months = 12
    as_of = None
    if query.get("months"):
        try:
            months = int(query["months"])
            if not 1 <= months <= 60:
                raise ValueError(months)
        except ValueError:
            errors["months"] = "a whole number of months from 1 to 60"
    if query.get("as_of"):
        try:
            as_of = dt.date.fromisoformat(query["as_of"])
        except ValueError:
            errors["as_of"] = "a date as YYYY-MM-DD"
    if errors:
        raise FieldErrors(errors)
    return months, as_of


async def monthly(request: web.Request) -> web.Response:
    try:
        months, as_of = monthly_params(request.query)
    except FieldErrors as exc:
        return api_error(400, "invalid", "the report cannot be made as asked", exc.fields)
    engine = request.app[DIALER].engine
    report = await asyncio.to_thread(monthly_report, engine, months=months, as_of=as_of)
    return web.json_response(report.to_json())


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


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
